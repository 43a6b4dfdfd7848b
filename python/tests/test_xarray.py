"""A catalog written by `client.sync(..., extract=True)` and `wyvern.catalog` loads into xarray
with odc-stac on the GeoTIFF's own grid and CRS, pixel for pixel as rasterio reads the file:
its raster assets carry the projection extension's grid (`proj:shape`, `proj:transform`,
`proj:bbox`, the CRS) from the GeoTIFF headers. With band assets (a VRT per band), stackstac
stacks the same bands, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import odc.stac
import pystac
import rasterio
import stackstac

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


def test_band_assets_load_in_stackstac_as_rasterio_reads_each_band(client: wyvern.Client, dest: Path) -> None:
    """stackstac takes an asset to be one band: `band_assets=True` gives each band of a
    multi-band GeoTIFF an asset of its own (a VRT of that band, on the file's grid)."""
    client.sync([SANDBOX.ORDER], to=dest, extract=True)
    wyvern.catalog(dest, band_assets=True)
    item = pystac.Item.from_file(str(dest / SANDBOX.ORDER / f"{SANDBOX.DELIVERABLE}.item.json"))
    cog = next(key for key, asset in item.assets.items() if "data" in (asset.roles or []) and ".b" not in key)
    with rasterio.open(item.assets[cog].get_absolute_href()) as src:
        reference, count = src.read(), src.count
    keys = [f"{cog}.b{band}" for band in (1, count)]
    assert all(key in item.assets for key in keys) and f"{cog}.b{count + 1}" not in item.assets
    # stackstac reads hrefs as given: made absolute, as pystac does on request.
    stacked = stackstac.stack(
        [item.make_asset_hrefs_absolute()], assets=keys, snap_bounds=False, rescale=False, dtype="float64",
        fill_value=np.nan,
    )
    values = stacked.compute().values
    assert stacked.shape[-2:] == reference.shape[1:], stacked.shape
    nodata = item.assets[cog].extra_fields["raster:bands"][0].get("nodata")
    for index, band in enumerate((1, count)):
        expected = reference[band - 1].astype("float64")
        if nodata is not None:
            expected[expected == nodata] = np.nan
        assert np.array_equal(values[0, index], expected, equal_nan=True), band
