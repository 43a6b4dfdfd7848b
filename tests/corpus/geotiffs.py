#!/usr/bin/env python3
"""Writes deliverables holding GeoTIFFs written by GDAL itself (through rasterio), for
`cargo xtask test`: tiled COGs with overviews, LZW and DEFLATE with predictors, a BigTIFF, float32
L1B radiance in EPSG:4326 with nodata -9999, uint16 L2A reflectance in UTM with nodata 65535 and
scale 0.0001, and uint8 masks. Each zip carries a STAC item (projection extension 1.x or 2.x,
raster:bands with scale and offset, file:checksum). manifest.json records what GDAL says of each
GeoTIFF, for crates/cli/tests/it/corpus.rs to compare with `wyvern inspect`.

usage: geotiffs.py OUT_DIR
       geotiffs.py --compare ZIP EXTRACTED_DIR   (exit 0 when GDAL reads every GeoTIFF the same
                                                  through /vsizip/ and from the extracted files)
"""

import hashlib
import json
import os
import sys
import tempfile
import zipfile

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin


def multihash_sha256(data):
    return "1220" + hashlib.sha256(data).hexdigest()


def multihash_blake2b(data):
    return "c0e40240" + hashlib.blake2b(data, digest_size=64).hexdigest()


# name, driver options, dtype, bands, crs, nodata, scale, offset, size, STAC projection version
RASTERS = [
    {
        "name": "l2a-cog-lzw-utm",
        "profile": {"driver": "COG", "compress": "LZW", "predictor": 2, "blocksize": 64, "overview_resampling": "average"},
        "dtype": "uint16", "bands": 31, "epsg": 32611, "nodata": 65535, "scale": 0.0001, "offset": 0.0,
        "size": (300, 260), "level": "L2A", "proj": 2,
    },
    {
        "name": "l1b-cog-deflate-4326",
        "profile": {"driver": "COG", "compress": "DEFLATE", "predictor": 3, "blocksize": 128},
        "dtype": "float32", "bands": 23, "epsg": 4326, "nodata": -9999.0, "scale": None, "offset": None,
        "size": (400, 350), "level": "L1B", "proj": 1,
    },
    {
        "name": "l1b-bigtiff-striped",
        "profile": {"driver": "GTiff", "compress": "DEFLATE", "bigtiff": "YES", "tiled": False},
        "dtype": "float32", "bands": 4, "epsg": 4326, "nodata": -9999.0, "scale": None, "offset": None,
        "size": (120, 90), "level": "L1B", "proj": 1, "point": True,
    },
    {
        "name": "mask-cog-uint8",
        "profile": {"driver": "COG", "compress": "DEFLATE", "blocksize": 64},
        "dtype": "uint8", "bands": 4, "epsg": 32611, "nodata": 255, "scale": None, "offset": None,
        "size": (300, 260), "level": "L2A", "proj": 2,
    },
]


def pixels(spec):
    width, height = spec["size"]
    rng = np.random.default_rng(len(spec["name"]))
    if spec["dtype"] == "float32":
        data = rng.normal(80.0, 20.0, (spec["bands"], height, width)).astype("float32")
    elif spec["dtype"] == "uint16":
        data = rng.integers(0, 10_000, (spec["bands"], height, width)).astype("uint16")
    else:
        data = rng.integers(0, 2, (spec["bands"], height, width)).astype("uint8")
    data[:, :5, :] = spec["nodata"]
    return data


def write_tiff(spec, path):
    width, height = spec["size"]
    if spec["epsg"] == 4326:
        transform = from_origin(-62.41, -17.57, 4.7e-5, 4.5e-5)
    else:
        transform = from_origin(500000.0, 4100000.0, 5.0, 5.0)
    profile = dict(spec["profile"])
    profile.update(width=width, height=height, count=spec["bands"], dtype=spec["dtype"],
                   crs=CRS.from_epsg(spec["epsg"]), transform=transform, nodata=spec["nodata"])
    with rasterio.open(path, "w", **profile) as dst:
        if spec.get("point"):
            # PixelIsPoint: GDAL writes the tiepoint at the first pixel's centre.
            dst.update_tags(AREA_OR_POINT="Point")
        dst.write(pixels(spec))
        if spec["scale"] is not None:
            dst.scales = [spec["scale"]] * spec["bands"]
            dst.offsets = [spec["offset"]] * spec["bands"]
        dst.descriptions = [f"Band_{445 + 14 * i}nm" for i in range(spec["bands"])]
    if spec.get("point"):
        with rasterio.open(path) as src:
            assert src.tags().get("AREA_OR_POINT") == "Point", "GDAL did not write a PixelIsPoint GeoTIFF"


def facts(path):
    """What GDAL says of a GeoTIFF: the facts `wyvern inspect` must report the same."""
    with rasterio.open(path) as src:
        tags = src.tags(ns="IMAGE_STRUCTURE")
        return {
            "width": src.width,
            "height": src.height,
            "bands": src.count,
            "data_type": src.dtypes[0],
            "epsg": src.crs.to_epsg(),
            "nodata": src.nodata,
            "compression": (tags.get("COMPRESSION") or "none").lower(),
            "tiled": src.profile.get("tiled", False),
            "block": [src.block_shapes[0][1], src.block_shapes[0][0]],
            "overviews": len(src.overviews(1)),
            "scale": src.scales[0] if src.scales[0] != 1.0 else None,
            "offset": src.offsets[0] if src.scales[0] != 1.0 else None,
            "predictor": {None: "none", "1": "none", "2": "horizontal", "3": "floating-point"}[tags.get("PREDICTOR")],
            "transform": list(src.transform)[:6],
        }


def item(spec, stem, members):
    width, height = spec["size"]
    properties = {
        "datetime": "2025-09-27T14:52:20Z",
        "platform": "Dragonette-004",
        "processing:level": spec["level"],
        "proj:shape": [height, width],
    }
    extensions = ["https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                  "https://stac-extensions.github.io/file/v2.1.0/schema.json"]
    if spec["proj"] == 2:
        properties["proj:code"] = f"EPSG:{spec['epsg']}"
        extensions.append("https://stac-extensions.github.io/projection/v2.0.0/schema.json")
    else:
        properties["proj:epsg"] = spec["epsg"]
        extensions.append("https://stac-extensions.github.io/projection/v1.1.0/schema.json")
    raster_band = {"nodata": spec["nodata"], "data_type": spec["dtype"]}
    if spec["scale"] is not None:
        raster_band.update(scale=spec["scale"], offset=spec["offset"])
    assets = {}
    for key, (name, data, roles) in members.items():
        asset = {"href": f"./{name}", "roles": roles, "file:size": len(data),
                 "file:checksum": multihash_sha256(data) if key == "data" else multihash_blake2b(data)}
        if key == "data":
            asset["type"] = "image/tiff; application=geotiff; profile=cloud-optimized"
            asset["raster:bands"] = [raster_band] * spec["bands"]
            asset["eo:bands"] = [{"name": f"Band_{445 + 14 * i}nm", "center_wavelength": (445 + 14 * i) / 1000}
                                 for i in range(spec["bands"])]
        assets[key] = asset
    return {"type": "Feature", "stac_version": "1.0.0", "stac_extensions": extensions, "id": stem,
            "geometry": None, "bbox": [-62.41, -17.83, -62.16, -17.57], "properties": properties,
            "links": [], "assets": assets}


def write_all(out):
    os.makedirs(out, exist_ok=True)
    manifest = []
    for spec in RASTERS:
        stem = f"wyvern_dragonette-004_20250927T145218_{spec['name']}"
        with tempfile.TemporaryDirectory() as tmp:
            tiff = os.path.join(tmp, stem + ".tiff")
            write_tiff(spec, tiff)
            expected = facts(tiff)
            data = open(tiff, "rb").read()
        folder = f"{spec['name']}/{stem}"
        thumbnail = bytes(range(256)) * 8
        members = {"data": (f"{stem}.tiff", data, ["data"]),
                   "thumbnail": (f"{stem}_thumbnail.png", thumbnail, ["thumbnail"])}
        document = json.dumps(item(spec, stem, members), indent=1).encode()
        path = os.path.join(out, spec["name"] + ".zip")
        # A seekable writer for the first half, a streaming one (data descriptors) for the rest.
        streaming = RASTERS.index(spec) % 2 == 1
        target = open(path, "wb")
        with zipfile.ZipFile(_Unseekable(target) if streaming else target, "w") as z:
            z.writestr(f"{folder}/{stem}.json", document, zipfile.ZIP_DEFLATED)
            z.writestr(f"{folder}/{stem}.tiff", data, zipfile.ZIP_STORED)
            z.writestr(f"{folder}/{stem}_thumbnail.png", thumbnail, zipfile.ZIP_DEFLATED)
        target.close()
        manifest.append({"file": spec["name"] + ".zip", "member": f"{folder}/{stem}.tiff", "gdal": expected,
                         "stac": {"epsg": spec["epsg"], "proj_code": f"EPSG:{spec['epsg']}", "scale": spec["scale"],
                                  "offset": spec["offset"], "level": spec["level"]}})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest)} deliverables with GDAL GeoTIFFs in {out}")


class _Unseekable:
    def __init__(self, target):
        self.target = target

    def write(self, data):
        return self.target.write(data)

    def flush(self):
        self.target.flush()


def compare(zip_path, extracted):
    """Every GeoTIFF read through /vsizip/ and from the extracted files, pixel for pixel."""
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if n.endswith(".tiff")]
    for name in names:
        with rasterio.open(f"/vsizip/{os.path.abspath(zip_path)}/{name}") as a, \
                rasterio.open(os.path.join(extracted, name)) as b:
            if a.profile != b.profile or not np.array_equal(a.read(), b.read(), equal_nan=True):
                print(f"{name}: the extracted file does not read as the zipped one", file=sys.stderr)
                return 1
            for level in range(len(a.overviews(1))):
                factor = a.overviews(1)[level]
                shape = (a.count, a.height // factor, a.width // factor)
                if not np.array_equal(a.read(out_shape=shape), b.read(out_shape=shape), equal_nan=True):
                    print(f"{name}: overview {level} differs", file=sys.stderr)
                    return 1
    print(f"{len(names)} GeoTIFFs read the same from the zip and from the extracted files")
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    write_all(sys.argv[1])
