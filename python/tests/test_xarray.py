"""A catalog written by `client.sync(..., extract=True)` and `wyvern.catalog` loads into xarray
with odc-stac on the GeoTIFF's own grid and CRS, pixel for pixel as rasterio reads the file:
its raster assets carry the projection extension's grid (`proj:shape`, `proj:transform`,
`proj:bbox`, the CRS) from the GeoTIFF headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import odc.stac
import pystac
import rasterio

import wyvern

SANDBOX = wyvern.sandbox


def test_an_extracted_catalog_loads_in_odc_stac_as_rasterio_reads_it(client: wyvern.Client, dest: Path) -> None:
    client.sync([SANDBOX.ORDER], to=dest, extract=True)
    wyvern.catalog(dest)
    item = pystac.Item.from_file(str(dest / SANDBOX.ORDER / f"{SANDBOX.DELIVERABLE}.item.json"))
    gridded = {key: asset for key, asset in item.assets.items() if "proj:transform" in asset.extra_fields}
    cog = next(key for key, asset in gridded.items() if "data" in (asset.roles or []))
    assert len(gridded) >= 3, list(item.assets)
    with rasterio.open(item.assets[cog].get_absolute_href()) as src:
        reference, transform, crs, count = src.read(), src.transform, src.crs, src.count
    fields = item.assets[cog].extra_fields
    assert fields["proj:shape"] == list(reference.shape[1:])
    assert np.allclose(fields["proj:transform"], list(transform)[:6])
    assert len(fields["raster:bands"]) == count

    # A mask the item gives no bands for: its raster:bands come from its header.
    mask = next(key for key, asset in gridded.items() if "data" not in (asset.roles or []))
    with rasterio.open(item.assets[mask].get_absolute_href()) as src:
        mask_pixels, mask_dtypes = src.read(), src.dtypes
    assert [band["data_type"] for band in item.assets[mask].extra_fields["raster:bands"]] == list(mask_dtypes)
    loaded = odc.stac.load([item], bands=[mask])
    assert np.array_equal(loaded[mask].values[0], mask_pixels[0])

    # Every band of the multi-band COG, as odc-stac names them (`<asset>.<n>`), on the file's grid.
    for band in (1, count):
        name = cog if band == 1 else f"{cog}.{band}"
        loaded = odc.stac.load([item], bands=[name])
        assert loaded.odc.geobox.crs == crs.to_string()
        assert loaded.odc.geobox.shape == reference.shape[1:]
        assert np.allclose(list(loaded.odc.geobox.affine)[:6], list(transform)[:6])
        assert np.array_equal(loaded[name].values[0], reference[band - 1], equal_nan=True), band
