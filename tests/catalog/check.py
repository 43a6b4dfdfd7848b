#!/usr/bin/env python3
"""Reads back the STAC catalog `wyvern catalog` (or `sync --catalog`) wrote, as a user would:
pystac walks it from the root, every asset is resolved and its bytes found, and every image asset
is opened with rasterio (GDAL): extracted files directly, zipped members through /vsizip/ and,
when the item gives their byte range (archive:start/end), through /vsisubfile/ too, which must read
the same pixels. A member's bytes in its range must match the checksum its archive entry carries.

usage: check.py ROOT_CATALOG     (a path, or s3://bucket/prefix/catalog.json with the emulator's
                                  AWS_* variables set)
prints one JSON object: {"items": [...deliverable ids], "assets": n, "images": n, "ranges": n}
exits 1 with the reasons when anything does not resolve or read.
"""

import hashlib
import io
import json
import os
import sys
import zipfile
from urllib.parse import urlparse

import pystac
import rasterio
from pystac.stac_io import DefaultStacIO

S3 = None


def s3():
    global S3
    if S3 is None:
        import boto3

        S3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return S3


def split_s3(href):
    url = urlparse(href)
    return url.netloc, url.path.lstrip("/")


class S3StacIO(DefaultStacIO):
    def read_text(self, source, *args, **kwargs):
        href = str(source)
        if href.startswith("s3://"):
            bucket, key = split_s3(href)
            return s3().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        return super().read_text(source, *args, **kwargs)


def read_range(href, start, end):
    if href.startswith("s3://"):
        bucket, key = split_s3(href)
        return s3().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"].read()
    with open(href, "rb") as f:
        f.seek(start)
        return f.read(end - start + 1)


def read_all(href):
    if href.startswith("s3://"):
        bucket, key = split_s3(href)
        return s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(href, "rb") as f:
        return f.read()


def exists(href):
    if href.startswith("s3://"):
        bucket, key = split_s3(href)
        s3().head_object(Bucket=bucket, Key=key)
        return True
    return os.path.isfile(href)


def gdal_path(href):
    """What GDAL opens for an href: /vsis3/ for objects."""
    if href.startswith("s3://"):
        bucket, key = split_s3(href)
        return f"/vsis3/{bucket}/{key}"
    return os.path.abspath(href)


def multihash_matches(checksum, data):
    prefixes = {"1220": lambda d: hashlib.sha256(d).hexdigest(),
                "c0e40240": lambda d: hashlib.blake2b(d, digest_size=64).hexdigest()}
    for prefix, digest in prefixes.items():
        if checksum.startswith(prefix):
            return checksum[len(prefix):] == digest(data)
    return True  # another algorithm: not this script's to check


def is_image(media_type):
    return media_type is not None and "image/tiff" in media_type


def pixels(path):
    with rasterio.open(path) as src:
        band = src.read(1)
        return (src.width, src.height, src.count, hashlib.sha256(band.tobytes()).hexdigest())


def main():
    root = sys.argv[1]
    if root.startswith("s3://"):
        pystac.StacIO.set_default(S3StacIO)
        endpoint = urlparse(os.environ["AWS_ENDPOINT"])
        os.environ.update(AWS_S3_ENDPOINT=endpoint.netloc, AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE")
    catalog = pystac.Catalog.from_file(root)
    errors, items, counts = [], [], {"assets": 0, "images": 0, "ranges": 0}
    zips = {}
    for item in catalog.get_items(recursive=True):
        deliverable = item.properties.get("wyvern:deliverable_id")
        if not item.properties.get("wyvern:order_id") and deliverable is None:
            errors.append(f"{item.id}: no wyvern:order_id / wyvern:deliverable_id")
        if not item.get_self_href().endswith(f"{deliverable}.item.json"):
            errors.append(f"{item.get_self_href()}: not the item of {deliverable}")
        items.append(deliverable)
        for key, asset in item.assets.items():
            href = asset.get_absolute_href()
            if href is None or "://" in asset.href and not asset.href.startswith("s3://"):
                continue  # an absolute link outside the deliverable
            counts["assets"] += 1
            try:
                if not exists(href):
                    errors.append(f"{deliverable}/{key}: {href} does not exist")
                    continue
                fields = asset.extra_fields
                member = fields.get("archive:href")
                if member is None:
                    if is_image(asset.media_type):
                        pixels(gdal_path(href))
                        counts["images"] += 1
                    continue
                if href not in zips:
                    zips[href] = zipfile.ZipFile(io.BytesIO(read_all(href)))
                data = zips[href].read(member)
                entry = fields["archive"][0]
                if entry["href"] != member:
                    errors.append(f"{deliverable}/{key}: archive entry names {entry['href']}, not {member}")
                if "file:checksum" in entry and not multihash_matches(entry["file:checksum"], data):
                    errors.append(f"{deliverable}/{key}: {member} does not match its file:checksum")
                if "archive:start" in fields:
                    start, end = fields["archive:start"], fields["archive:end"]
                    if entry.get("range") != [start, end]:
                        errors.append(f"{deliverable}/{key}: range {entry.get('range')} vs {start}..{end}")
                    if read_range(href, start, end) != data:
                        errors.append(f"{deliverable}/{key}: bytes {start}..{end} of the zip are not {member}")
                    counts["ranges"] += 1
                if is_image(fields.get("archive:type")):
                    zipped = pixels(f"/vsizip/{gdal_path(href)}/{member}")
                    if "archive:start" in fields:
                        start, end = fields["archive:start"], fields["archive:end"]
                        ranged = pixels(f"/vsisubfile/{start}_{end - start + 1},{gdal_path(href)}")
                        if ranged != zipped:
                            errors.append(f"{deliverable}/{key}: /vsisubfile/ reads other pixels than /vsizip/")
                    counts["images"] += 1
            except Exception as e:  # every failure is reported, with its asset
                errors.append(f"{deliverable}/{key}: {type(e).__name__}: {e}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"items": sorted(items), **counts}))


if __name__ == "__main__":
    main()
