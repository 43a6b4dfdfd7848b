//! The grid of a catalog's raster asset, from the GeoTIFF's own header: STAC's projection
//! extension (`proj:code`, or `proj:epsg` in an item of its v1, `proj:shape`, `proj:transform`,
//! `proj:bbox`) and raster extension (`raster:bands`), so that odc-stac opens an extracted
//! deliverable's files on the right grid without guessing (a zipped one's assets point at the
//! zip, which readers reach through `archive:href`).

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
/// `raster:bands` is written for at most this many bands (a header can claim billions; the most
/// spectral of sensors has a few hundred).
const MAX_BANDS: u32 = 4096;

/// Whether an item's extensions name the projection extension's v1 (`proj:epsg`, not
/// `proj:code`).
pub(crate) fn projection_v1(extensions: &[String]) -> bool {
    extensions.iter().any(|e| e.contains("/projection/v1."))
}

/// Adds the grid of `raster` to `asset`, and names the extensions it uses in `extensions`. The
/// grid (CRS, shape, transform, bbox) goes in as one: an asset that states any of it keeps its
/// own. `raster:bands` (each band's data type and nodata) goes in only where the asset describes
/// no bands (`raster:bands`, or STAC 1.1's `bands`) and the item is not of the raster
/// extension's v2.
pub(crate) fn add(asset: &mut Map<String, Value>, raster: &Raster, extensions: &mut Vec<String>) {
    let v1 = projection_v1(extensions);
    let stated = ["proj:epsg", "proj:code", "proj:wkt2", "proj:projjson", "proj:shape", "proj:transform", "proj:bbox"];
    if !stated.iter().any(|key| asset.contains_key(*key)) {
        match raster.epsg {
            Some(epsg) if v1 => asset.insert("proj:epsg".into(), json!(epsg)),
            Some(epsg) => asset.insert("proj:code".into(), json!(format!("EPSG:{epsg}"))),
            None => None,
        };
        asset.insert("proj:shape".into(), json!([raster.height, raster.width]));
        if let Some(transform) = raster.transform {
            asset.insert("proj:transform".into(), json!(transform));
            asset.insert("proj:bbox".into(), json!(bbox(&transform, raster.width, raster.height)));
        }
        if !v1 && !extensions.iter().any(|e| e.contains("/projection/")) {
            extensions.push(PROJECTION_EXTENSION.to_owned());
        }
    }
    let described = asset.contains_key("raster:bands") || asset.contains_key("bands");
    if !described && raster.bands <= MAX_BANDS && !extensions.iter().any(|e| e.contains("/raster/v2")) {
        asset.insert("raster:bands".into(), Value::Array(vec![band(raster); raster.bands as usize]));
        if !extensions.iter().any(|e| e.contains("/raster/")) {
            extensions.push(RASTER_EXTENSION.to_owned());
        }
    }
}

/// A band as the header describes it: its data type (STAC's names) and nodata.
fn band(raster: &Raster) -> Value {
    let data_type = match raster.data_type.as_str() {
        known @ ("int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64" | "float16"
        | "float32" | "float64") => known.to_owned(),
        // The header's complexN is N bits a number: a float or an int pair.
        "complex64" => "cfloat32".to_owned(),
        "complex128" => "cfloat64".to_owned(),
        _ => "other".to_owned(),
    };
    let mut band = json!({ "data_type": data_type });
    // A number, or STAC's "nan", "inf", "-inf"; left out when it is neither.
    let nodata = raster.nodata.as_deref().and_then(|text| match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Some(json!(value)),
        Ok(value) if value.is_nan() => Some(json!("nan")),
        Ok(value) => Some(json!(if value > 0.0 { "inf" } else { "-inf" })),
        Err(_) => None,
    });
    if let Some(nodata) = nodata {
        band["nodata"] = nodata;
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
            // A file that cannot be read (gone since the listing) is left out, not the item.
            let Ok(head) = sink.get_range(&object.path, 0..object.size.min(limit)).await else { break };
            header = read_header(name, &head).ok();
            // The georeferencing tags can lie past the first read, behind long offset arrays.
            let whole = header.as_ref().is_some_and(|r: &Raster| r.transform.is_some() && r.epsg.is_some());
            if whole || object.size <= limit {
                break;
            }
        }
        rasters.extend(header);
    }
    Ok(rasters)
}

#[cfg(test)]
mod tests {
    use super::{add, bbox};

    fn raster(bands: u32) -> wyvern_unpack::Raster {
        wyvern_unpack::Raster {
            name: "a.tif".to_owned(),
            width: 4,
            height: 8,
            bands,
            data_type: "uint16".to_owned(),
            epsg: Some(32611),
            nodata: Some("65535".to_owned()),
            compression: "none".to_owned(),
            predictor: "none".to_owned(),
            tiled: false,
            block: [4, 8],
            interleave: "pixel".to_owned(),
            bigtiff: false,
            overviews: Some(0),
            scale: None,
            offset: None,
            transform: Some([5.0, 0.0, 500000.0, 0.0, -5.0, 4100000.0]),
        }
    }

    #[test]
    fn the_grid_is_the_header_s_and_what_the_item_says_stays() {
        let mut asset = serde_json::Map::new();
        let mut extensions = Vec::new();
        add(&mut asset, &raster(3), &mut extensions);
        assert_eq!(asset["proj:code"], "EPSG:32611");
        assert_eq!(asset["proj:shape"], serde_json::json!([8, 4]));
        assert_eq!(asset["proj:bbox"], serde_json::json!([500000.0, 4099960.0, 500020.0, 4100000.0]));
        assert_eq!(asset["raster:bands"].as_array().map(Vec::len), Some(3));
        assert_eq!(asset["raster:bands"][0], serde_json::json!({"data_type": "uint16", "nodata": 65535.0}));
        assert_eq!(extensions.len(), 2, "{extensions:?}");

        // An asset that states part of its grid keeps all of its own (no mixed grid); one that
        // describes its bands keeps them.
        let mut asset = serde_json::Map::new();
        asset.insert("proj:epsg".into(), serde_json::json!(4326));
        asset.insert("bands".into(), serde_json::json!([{"name": "b1"}]));
        add(&mut asset, &raster(3), &mut Vec::new());
        assert_eq!(asset.keys().collect::<Vec<_>>(), ["bands", "proj:epsg"], "{asset:?}");

        // An item of the projection extension's v1 gets proj:epsg; a header that claims billions
        // of bands gets no raster:bands (and no memory for them).
        let mut asset = serde_json::Map::new();
        let mut extensions = vec!["https://stac-extensions.github.io/projection/v1.1.0/schema.json".to_owned()];
        add(&mut asset, &raster(u32::MAX), &mut extensions);
        assert_eq!(asset["proj:epsg"], 32611);
        assert!(!asset.contains_key("proj:code") && !asset.contains_key("raster:bands"), "{asset:?}");
        assert_eq!(extensions.len(), 1, "{extensions:?}");
    }

    #[test]
    fn the_bbox_is_the_pixels_corners() {
        let north_up = [0.5, 0.0, 100.0, 0.0, -0.25, 50.0];
        assert_eq!(bbox(&north_up, 4, 8), [100.0, 48.0, 102.0, 50.0]);
        let rotated = [0.0, 1.0, 10.0, 1.0, 0.0, 20.0];
        assert_eq!(bbox(&rotated, 3, 2), [10.0, 20.0, 12.0, 23.0]);
    }
}
