"""What `cargo xtask dist --check` runs in a fresh venv holding only the wheel, with no Rust
toolchain on PATH: the Python API, the wheel's `wyvern` command and the tarball's binary each
download the sandbox order from the replica the wheel carries, verified.

    python dist-check.py TARBALL_WYVERN DOWNLOADS
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import wyvern

tarball_binary, downloads = sys.argv[1], Path(sys.argv[2])
for tool in ("cargo", "rustc"):
    assert shutil.which(tool) is None, f"{tool} is on PATH: {shutil.which(tool)}"
assert "site-packages" in wyvern.__file__, f"wyvern imported from {wyvern.__file__}, not the installed wheel"

with wyvern.sandbox.serve() as api:
    client = wyvern.Client(token=wyvern.sandbox.TOKEN, api_url=api)
    results = client.download(wyvern.sandbox.ORDER, to=downloads / "python")
    assert [(r.status, r.verified) for r in results] == [("downloaded", True)], results
    print(f"the wheel's Python API: {results[0].bytes} bytes, verified, sha256 {results[0].sha256}")
    env = {**os.environ, "WYVERN_TOKEN": wyvern.sandbox.TOKEN}
    # The console script pip installed beside this interpreter (the venv is not activated).
    installed = shutil.which("wyvern", path=str(Path(sys.executable).parent))
    commands = (("the wheel's wyvern", "wheel", installed), ("the tarball's wyvern", "tarball", tarball_binary))
    for name, folder, command in commands:
        assert command, f"{name} is not installed"
        version = subprocess.run([command, "--version"], check=True, capture_output=True, text=True).stdout.strip()
        assert version == f"wyvern {wyvern.__version__}", (version, wyvern.__version__)
        dest = downloads / folder
        done = subprocess.run(
            [command, "--api-url", api, "--json", "order", "download", wyvern.sandbox.ORDER, "--to", str(dest)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert done.returncode == 0, done
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        delivered = [line for line in lines if line.get("status") == "downloaded"]
        assert len(delivered) == 1 and delivered[0].get("verified") is True, lines
        print(f"{name} ({command}): {version}, downloaded and verified the sandbox order")
