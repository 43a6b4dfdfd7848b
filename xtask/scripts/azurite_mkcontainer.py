"""Create a blob container in Azurite with one SharedKey-signed request (standard library only).

usage: azurite_mkcontainer.py http://127.0.0.1:10000 container-name
"""
import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VERSION = "2021-08-06"


def main(endpoint: str, container: str) -> int:
    date = formatdate(usegmt=True)
    canonical_headers = f"x-ms-date:{date}\nx-ms-version:{VERSION}\n"
    resource = f"/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
    to_sign = "PUT\n" + "\n" * 11 + canonical_headers + resource
    signature = base64.b64encode(hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
    request = urllib.request.Request(
        f"{endpoint}/{ACCOUNT}/{container}?restype=container",
        method="PUT",
        headers={"x-ms-date": date, "x-ms-version": VERSION, "Authorization": f"SharedKey {ACCOUNT}:{signature}", "Content-Length": "0"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return 0 if response.status == 201 else 1
    except urllib.error.HTTPError as error:
        if error.code == 409:  # already exists
            return 0
        print(f"creating container {container}: HTTP {error.code}: {error.read()[:300]!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
