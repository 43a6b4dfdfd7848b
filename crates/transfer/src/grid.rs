//! The grid of a catalog's raster asset, from the GeoTIFF's own header: STAC's projection
//! extension (`proj:code`, or `proj:epsg` in an item of its v1, `proj:shape`, `proj:transform`,
//! `proj:bbox`) and raster extension (`raster:bands`), so that odc-stac and stackstac open an
//! extracted or zipped deliverable on the right grid without guessing.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use wyvern_sinks::Sink;
use wyvern_unpack::{HEADER_BYTES, Raster, read_header};

use crate::Result;
use crate::holdings::{Objects, under};

/// The projection extension this tool writes (`proj:code`).
pub(crate) const PROJECTION_EXTENSION: &str = "https://stac-extensions.github.io/projection/v2.0.0/schema.json";
/// The raster extension (`raster:bands`).
pub(crate) const RASTER_EXTENSION: &str = "https://stac-extensions.github.io/raster/v1.1.0/schema.json";
/// A TIFF's directories are usually in its first few KiB: more is read only when needed.
const FIRST_READ: u64 = 64 << 10;

/// Whether an item's extensions name the projection extension's v1 (`proj:epsg`, not
/// `proj:code`).
pub(crate) fn projection_v1(extensions: &[String]) -> bool {
    extensions.iter().any(|e| e.contains("/projection/v1."))
}

/// Adds the grid of `raster` to `asset` (what the asset says already stays), and names the
/// extensions it uses in `extensions`.
pub(crate) fn add(asset: &mut Map<String, Value>, raster: &Raster, extensions: &mut Vec<String>) {
    let v1 = projection_v1(extensions);
    let mut set = |key: &str, value: Value| {
        asset.entry(key.to_owned()).or_insert(value);
    };
    if let Some(epsg) = raster.epsg {
        if v1 {
            set("proj:epsg", json!(epsg));
        } else {
            set("proj:code", json!(format!("EPSG:{epsg}")));
        }
    }
    set("proj:shape", json!([raster.height, raster.width]));
    if let Some(transform) = raster.transform {
        set("proj:transform", json!(transform));
        set("proj:bbox", json!(bbox(&transform, raster.width, raster.height)));
    }
    set("raster:bands", Value::Array(vec![band(raster); raster.bands as usize]));
    if !v1 && !extensions.iter().any(|e| e.contains("/projection/")) {
        extensions.push(PROJECTION_EXTENSION.to_owned());
    }
    if !extensions.iter().any(|e| e.contains("/raster/")) {
        extensions.push(RASTER_EXTENSION.to_owned());
    }
}

/// A band as the header describes it: its data type, nodata, and GDAL's scale and offset.
fn band(raster: &Raster) -> Value {
    let mut band = json!({ "data_type": raster.data_type });
    if let Some(nodata) = &raster.nodata {
        // A number, or STAC's "nan", "inf", "-inf".
        band["nodata"] = match nodata.parse::<f64>() {
            Ok(value) if value.is_finite() => json!(value),
            Ok(value) if value.is_nan() => json!("nan"),
            Ok(value) => json!(if value > 0.0 { "inf" } else { "-inf" }),
            Err(_) => Value::Null,
        };
    }
    if let Some(scale) = raster.scale {
        band["scale"] = json!(scale);
    }
    if let Some(offset) = raster.offset {
        band["offset"] = json!(offset);
    }
    band
}

/// The bounds, in the raster's CRS, of its `width` x `height` pixels under `transform`.
fn bbox(&[a, b, c, d, e, f]: &[f64; 6], width: u32, height: u32) -> [f64; 4] {
    let (w, h) = (f64::from(width), f64::from(height));
    let corners =
        [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)].map(|(col, row)| (a * col + b * row + c, d * col + e * row + f));
    let (xs, ys) = (corners.map(|p| p.0), corners.map(|p| p.1));
    let min = |v: [f64; 4]| v.into_iter().fold(f64::INFINITY, f64::min);
    let max = |v: [f64; 4]| v.into_iter().fold(f64::NEG_INFINITY, f64::max);
    [min(xs), min(ys), max(xs), max(ys)]
}

/// The headers of the GeoTIFFs extracted under `folder` (at most [`wyvern_unpack::MAX_KEPT`]),
/// each named by its path in the folder; one that cannot be read is left out.
pub(crate) async fn extracted(sink: &Arc<dyn Sink>, folder: &str, objects: &Objects) -> Result<Vec<Raster>> {
    let tiffs = under(objects, folder).into_iter().filter(|(key, _)| {
        let key = key.to_ascii_lowercase();
        key.ends_with(".tif") || key.ends_with(".tiff")
    });
    let mut rasters = Vec::new();
    for (key, object) in tiffs.take(wyvern_unpack::MAX_KEPT) {
        let name = &key[folder.len() + 1..];
        let mut header = None;
        for limit in [FIRST_READ, HEADER_BYTES as u64] {
            let head = sink.get_range(&object.path, 0..object.size.min(limit)).await?;
            header = read_header(name, &head).ok();
            if header.is_some() || object.size <= limit {
                break;
            }
        }
        rasters.extend(header);
    }
    Ok(rasters)
}

#[cfg(test)]
mod tests {
    use super::bbox;

    #[test]
    fn the_bbox_is_the_pixels_corners() {
        let north_up = [0.5, 0.0, 100.0, 0.0, -0.25, 50.0];
        assert_eq!(bbox(&north_up, 4, 8), [100.0, 48.0, 102.0, 50.0]);
        let rotated = [0.0, 1.0, 10.0, 1.0, 0.0, 20.0];
        assert_eq!(bbox(&rotated, 3, 2), [10.0, 20.0, 12.0, 23.0]);
    }
}
