#!/usr/bin/env python3
"""Writes the differential zip corpus for `cargo xtask test`.

Valid zips come from independent writers (Python's zipfile seekable and streaming, stream-zip,
Info-ZIP zip, libarchive's bsdtar, 7-Zip, Java's jar and Node's yazl when present); ambiguous or
malformed ones are derived from them byte by byte. For every valid zip, manifest.json records
what Python's zipfile and Info-ZIP's unzip read: each file member's name and SHA-256. The Rust
test (crates/cli/tests/it/corpus.rs) checks that `wyvern verify` accepts exactly the valid ones
and that `wyvern extract` writes what both readers read.

usage: zips.py OUT_DIR
"""

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

OUT = sys.argv[1]
VALID, BAD = os.path.join(OUT, "valid"), os.path.join(OUT, "ambiguous")


def noise(n, seed):
    state = seed | 1
    out = bytearray()
    for _ in range(n):
        state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 7
        state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
        out.append(state & 0xFF)
    return bytes(out)


class _Unseekable(io.RawIOBase):
    """A write-only stream without tell(): zipfile then writes data descriptors."""

    def __init__(self, target):
        self.target = target

    def writable(self):
        return True

    def write(self, data):
        return self.target.write(data)


def inner_zip():
    """A zip held stored inside the others: its bytes are full of zip signatures."""
    buf = io.BytesIO()
    with zipfile.ZipFile(_Unseekable(buf), "w", zipfile.ZIP_STORED) as z:
        z.writestr("inner/a.bin", noise(2000, 3))
        z.writestr("inner/b.txt", b"PK\x07\x08 and PK\x03\x04 inside")
    return buf.getvalue()


def multihash(code, digest):
    """A multihash in hex: the code and the length as varints, then the digest."""

    def varint(n):
        out = bytearray()
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out)

    return (varint(code) + varint(len(digest)) + digest).hex()


CHECKSUMS = [
    (0x12, lambda d: hashlib.sha256(d).digest()),
    (0xB240, lambda d: hashlib.blake2b(d, digest_size=64).digest()),
    (0x16, lambda d: hashlib.sha3_256(d).digest()),
    (0x13, lambda d: hashlib.sha512(d).digest()),
    (0xD5, lambda d: hashlib.md5(d).digest()),
]


def deliverable(files):
    """A deliverable-like tree: folders, the files, a STAC catalog and an item whose assets
    carry each file's size and a checksum (a different algorithm for each)."""
    assets = {}
    for i, (name, data) in enumerate(files.items()):
        code, digest = CHECKSUMS[i % len(CHECKSUMS)]
        assets[f"asset{i}"] = {
            "href": "./" + name,
            "roles": ["data"] if name.endswith(".bin") and "image" in name else ["metadata"],
            "file:size": len(data),
            "file:checksum": multihash(code, digest(data)),
        }
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "corpus-item",
        "geometry": None,
        "properties": {"datetime": "2025-09-27T14:52:20Z"},
        "links": [],
        "assets": assets,
    }
    catalog = {"type": "Catalog", "stac_version": "1.0.0", "id": "corpus", "description": "zip corpus",
               "links": [{"rel": "item", "href": "./item.json"}]}
    tree = {"product/": None, "product/data/": None, "product/catalog.json": json.dumps(catalog).encode()}
    tree.update({"product/" + name: data for name, data in files.items()})
    tree["product/item.json"] = json.dumps(item, indent=1).encode()
    return tree


# The tree every writer packs: folders, an empty file, JSON, incompressible and compressible
# data, and a member that is itself a zip.
FILES = {
    "data/image.bin": noise(300_000, 1),
    "data/mask.bin": bytes(200_000),
    "data/empty.txt": b"",
    "data/nested.zip": inner_zip(),
    "notes.txt": b"PK\x05\x06 is the end record's signature\n" * 40,
}
TREE = deliverable(FILES)
UTF8_TREE = deliverable({"données/é.txt": "café".encode(), "a b/c.json": b"{}", **FILES})


def materialise(root):
    for name, data in TREE.items():
        path = os.path.join(root, name)
        if data is None:
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as f:
                f.write(data)


def python_writer(path, method, streaming, zip64=False, names=TREE):
    target = open(path, "wb")
    with zipfile.ZipFile(_Unseekable(target) if streaming else target, "w", method) as z:
        for name, data in names.items():
            if data is None:
                z.writestr(zipfile.ZipInfo(name), b"")
            else:
                info = zipfile.ZipInfo(name, date_time=(2025, 9, 27, 14, 52, 18))
                info.compress_type = method
                with z.open(info, "w", force_zip64=zip64) as member:
                    member.write(data)
    target.close()


def stream_zip_writer(path, method_name):
    import stream_zip
    from datetime import datetime

    method = getattr(stream_zip, method_name)
    now = datetime(2025, 9, 27, 14, 52, 18)

    def members():
        for name, data in TREE.items():
            if data is None:
                continue
            yield name, now, 0o600, method, (data,)

    with open(path, "wb") as f:
        for chunk in stream_zip.stream_zip(members()):
            f.write(chunk)


def run(command, cwd, stdout=None):
    subprocess.run(command, cwd=cwd, check=True, stdout=stdout, stderr=subprocess.DEVNULL)


def piped(command, cwd, path):
    """A writer's output through a pipe, so that it cannot seek back (it writes descriptors)."""
    with open(path, "wb") as out:
        writer = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        shutil.copyfileobj(writer.stdout, out)
        if writer.wait() != 0:
            raise SystemExit(f"{command} failed")


def writers(tree):
    """(name, function writing the zip to a path); each needs only what the machine has."""
    out = [
        ("python-seekable-deflated", lambda p: python_writer(p, zipfile.ZIP_DEFLATED, False)),
        ("python-seekable-stored", lambda p: python_writer(p, zipfile.ZIP_STORED, False)),
        ("python-streaming-deflated", lambda p: python_writer(p, zipfile.ZIP_DEFLATED, True)),
        ("python-streaming-stored", lambda p: python_writer(p, zipfile.ZIP_STORED, True)),
        ("python-streaming-zip64-deflated", lambda p: python_writer(p, zipfile.ZIP_DEFLATED, True, zip64=True)),
        ("python-streaming-zip64-stored", lambda p: python_writer(p, zipfile.ZIP_STORED, True, zip64=True)),
        (
            "python-utf8-names",
            lambda p: python_writer(p, zipfile.ZIP_DEFLATED, True, names=UTF8_TREE),
        ),
        ("stream-zip-zip64", lambda p: stream_zip_writer(p, "ZIP_64")),
        ("stream-zip-zip32", lambda p: stream_zip_writer(p, "ZIP_32")),
        ("stream-zip-stored64", lambda p: stream_zip_writer(p, "NO_COMPRESSION_64")),
        ("stream-zip-stored32", lambda p: stream_zip_writer(p, "NO_COMPRESSION_32")),
        ("infozip-deflated", lambda p: run(["zip", "-q", "-r", p, "product"], tree)),
        ("infozip-stored", lambda p: run(["zip", "-q", "-0", "-r", p, "product"], tree)),
        ("infozip-zip64", lambda p: run(["zip", "-q", "-fz", "-r", p, "product"], tree)),
        ("infozip-streamed", lambda p: piped(["zip", "-q", "-r", "-", "product"], tree, p)),
        ("infozip-streamed-stored", lambda p: piped(["zip", "-q", "-0", "-r", "-", "product"], tree, p)),
        ("bsdtar-deflated", lambda p: run(["bsdtar", "-c", "-f", p, "--format", "zip", "product"], tree)),
        (
            "bsdtar-stored",
            lambda p: run(["bsdtar", "-c", "-f", p, "--format", "zip", "--options", "zip:compression=store", "product"], tree),
        ),
        ("bsdtar-streamed", lambda p: piped(["bsdtar", "-c", "-f", "-", "--format", "zip", "product"], tree, p)),
        ("7zip-deflated", lambda p: run([SEVEN_ZIP, "a", "-tzip", "-bso0", "-bsp0", p, "product"], tree)),
        ("7zip-stored", lambda p: run([SEVEN_ZIP, "a", "-tzip", "-mm=Copy", "-bso0", "-bsp0", p, "product"], tree)),
    ]
    if shutil.which("jar"):
        out.append(("java-jar-deflated", lambda p: run(["jar", "cfM", p, "product"], tree)))
        out.append(("java-jar-stored", lambda p: run(["jar", "cf0M", p, "product"], tree)))
    if YAZL:
        out.append(("node-yazl", lambda p: run(["node", YAZL_SCRIPT, p, "product"], tree)))
    return out


SEVEN_ZIP = shutil.which("7zz") or shutil.which("7z") or "7zz"
YAZL = os.environ.get("WYVERN_CORPUS_YAZL")
YAZL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yazl.js")


def python_view(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist() if not i.is_dir()}


def unzip_view(path):
    names = subprocess.run(["unzip", "-Z1", path], check=True, capture_output=True).stdout.decode().splitlines()
    view = {}
    for name in names:
        if name.endswith("/"):
            continue
        data = subprocess.run(["unzip", "-p", path, name], check=True, capture_output=True).stdout
        view[name] = hashlib.sha256(data).hexdigest()
    return view


# --- ambiguous or malformed zips, derived from valid ones ---

def find_end(data):
    return data.rindex(b"PK\x05\x06")


def central_records(data):
    end = find_end(data)
    count, size, offset = struct.unpack_from("<HII", data, end + 10)
    records, at = [], offset
    for _ in range(count):
        n, e, c = struct.unpack_from("<HHH", data, at + 28)
        records.append((at, 46 + n + e + c))
        at += 46 + n + e + c
    return end, offset, size, records


def eocd_skips_first(data):
    """The false pass of issue 10: the end record leaves the first central record out."""
    data = bytearray(data)
    end, offset, size, records = central_records(data)
    first = records[0][1]
    struct.pack_into("<HHII", data, end + 8, len(records) - 1, len(records) - 1, size - first, offset + first)
    return bytes(data)


def eocd_count(data):
    data = bytearray(data)
    end = find_end(data)
    count = struct.unpack_from("<H", data, end + 10)[0]
    struct.pack_into("<HH", data, end + 8, count + 1, count + 1)
    return bytes(data)


def prefixed(data):
    # Python's zipfile still reads this (it allows for prepended bytes); unzip warns.
    return b"#!/bin/sh\nexit 0\n" + data


def gap_before_directory(data):
    end, offset, size, _ = central_records(data)
    junk = b"hidden bytes that belong to no member"
    out = bytearray(data[:offset] + junk + data[offset:])
    struct.pack_into("<I", out, end + len(junk) + 16, offset + len(junk))
    return bytes(out)


def comment_with_end_record(data):
    end = find_end(data)
    fake = b"PK\x05\x06" + bytes(18)
    comment = b"see " + fake
    return data[: end + 20] + struct.pack("<H", len(comment)) + comment


def duplicate_record(data):
    """Two central records for one local header (members that overlap)."""
    end, offset, size, records = central_records(data)
    at, length = records[-1]
    record = data[at : at + length]
    out = bytearray(data[: offset + size] + record + data[offset + size :])
    count = len(records) + 1
    struct.pack_into("<HHI", out, end + length + 8, count, count, size + length)
    return bytes(out)


def renamed_in_directory(data):
    end, offset, size, records = central_records(data)
    at, _ = records[-1]
    n = struct.unpack_from("<H", data, at + 28)[0]
    out = bytearray(data)
    out[at + 46 + n - 1] ^= 0x01
    return bytes(out)


def flipped_data_byte(data):
    out = bytearray(data)
    at = data.index(noise(64, 1))  # the start of image.tiff, stored
    out[at + 1000] ^= 0x40
    return bytes(out)


def trailing(data):
    return data + b"<html>error page</html>"


def truncated(data):
    return data[: len(data) * 2 // 3]


DERIVED = [
    ("eocd-skips-first-entry", eocd_skips_first),
    ("eocd-count-off-by-one", eocd_count),
    ("prefixed-bytes", prefixed),
    ("gap-before-directory", gap_before_directory),
    ("comment-holds-end-record", comment_with_end_record),
    ("two-records-one-member", duplicate_record),
    ("name-differs-in-directory", renamed_in_directory),
    ("flipped-data-byte", flipped_data_byte),
    ("trailing-garbage", trailing),
    ("truncated", truncated),
]


def main():
    for folder in (VALID, BAD):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    manifest = {"valid": [], "ambiguous": []}
    with tempfile.TemporaryDirectory() as tree:
        materialise(tree)
        for name, write in writers(tree):
            path = os.path.join(VALID, name + ".zip")
            write(os.path.abspath(path))
            python, unzip = python_view(path), unzip_view(path)
            if python != unzip:
                raise SystemExit(f"{name}: Python and unzip disagree: {python} vs {unzip}")
            manifest["valid"].append({"file": f"valid/{name}.zip", "writer": name, "members": python})
    # Derived from a seekable and a streaming zip: stored members, descriptors, both.
    for source in ("python-seekable-stored", "python-streaming-stored", "infozip-deflated"):
        with open(os.path.join(VALID, source + ".zip"), "rb") as f:
            data = f.read()
        for name, derive in DERIVED:
            if name == "flipped-data-byte" and source == "infozip-deflated":
                continue
            path = os.path.join(BAD, f"{source}--{name}.zip")
            with open(path, "wb") as f:
                f.write(derive(data))
            manifest["ambiguous"].append({"file": f"ambiguous/{source}--{name}.zip", "why": name})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(f"{len(manifest['valid'])} valid zips, {len(manifest['ambiguous'])} ambiguous or malformed ones in {OUT}")


if __name__ == "__main__":
    main()
