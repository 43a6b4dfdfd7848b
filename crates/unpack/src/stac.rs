//! The STAC catalog and item inside a deliverable, read tolerantly (roles as a string or a list,
//! hrefs relative or absolute, bands in `eo:bands` on the asset, in `properties`, or STAC 1.1
//! `bands`), and the kind of each member.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::document::{Document, on_earth};

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The data GeoTIFF.
    Imagery,
    /// The data mask or the pixel-quality mask.
    Mask,
    /// The STAC item.
    Metadata,
    /// The STAC catalog.
    Catalog,
    /// The full-resolution preview.
    Preview,
    /// The thumbnail.
    Thumbnail,
    /// Anything else.
    Other,
}

impl Kind {
    /// The kind by Wyvern's file-name convention (`wyvern_<platform>_<time>_<id>[_<level>][_<aux>].<ext>`).
    pub fn from_name(name: &str) -> Self {
        let file = name.rsplit(['/', '\\']).next().unwrap_or(name).to_ascii_lowercase();
        let (stem, ext) = file.rsplit_once('.').unwrap_or((&file, ""));
        match ext {
            "json" if stem == "catalog" => Self::Catalog,
            "json" => Self::Metadata,
            "tif" | "tiff" if stem.ends_with("_data_mask") || stem.ends_with("_pixel_quality_mask") => Self::Mask,
            "tif" | "tiff" => Self::Imagery,
            "png" | "jpg" | "jpeg" if stem.ends_with("_thumbnail") => Self::Thumbnail,
            "png" | "jpg" | "jpeg" if stem.ends_with("_preview") => Self::Preview,
            _ => Self::Other,
        }
    }

    /// The kind from STAC asset roles, when they say.
    pub fn from_roles(roles: &[String]) -> Option<Self> {
        let has = |role: &str| roles.iter().any(|r| r == role);
        if has("data-mask") {
            Some(Self::Mask)
        } else if has("data") {
            Some(Self::Imagery)
        } else if has("thumbnail") {
            Some(Self::Thumbnail)
        } else if has("overview") || has("visual") {
            Some(Self::Preview)
        } else if has("metadata") {
            Some(Self::Metadata)
        } else {
            None
        }
    }
}

/// One band of the imagery: its `eo:bands` and `raster:bands` entries (STAC 1.0), or its STAC
/// 1.1 `bands` entry, taken together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// e.g. `Band_503nm`.
    pub name: Option<String>,
    /// Centre wavelength in micrometres.
    pub wavelength_um: Option<f64>,
    /// Multiply stored values by this (`scale`, or `raster:scale` in STAC 1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Then add this (`offset`, or `raster:offset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
    /// The nodata value (a number, or `"nan"`, `"inf"`, `"-inf"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodata: Option<Value>,
    /// e.g. `float32`, `uint16`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// The unit of the values, e.g. `W⋅sr-1⋅m-2⋅µm-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One asset of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    /// Its key in `assets`.
    pub key: String,
    /// The member it points to, when it points into the zip.
    pub member: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// `file:size`.
    pub size: Option<u64>,
    /// `file:checksum` (a multihash, hex).
    pub checksum: Option<String>,
}

/// The facts of a STAC item that matter to a user and to verification, read within bounds (see
/// [`crate::document`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The member holding it.
    pub member: String,
    /// `id`.
    pub id: Option<String>,
    /// `properties.datetime`, else `start_datetime`.
    pub datetime: Option<String>,
    /// `properties.platform`.
    pub platform: Option<String>,
    /// `properties["processing:level"]`.
    pub processing_level: Option<String>,
    /// `properties["eo:cloud_cover"]`, a percentage.
    pub cloud_cover: Option<f64>,
    /// `bbox` when it is a bbox on Earth, else the extent of the footprint's vertices.
    pub bbox: Option<Vec<f64>>,
    /// `properties["proj:shape"]`: rows, columns.
    pub shape: Option<Vec<u64>>,
    /// The EPSG code: `properties["proj:epsg"]` (projection extension 1.x), or the code of
    /// `properties["proj:code"]` when it is `EPSG:<n>` (2.x).
    pub epsg: Option<u64>,
    /// `properties["proj:code"]` (projection extension 2.x), e.g. `EPSG:32611`; `EPSG:<proj:epsg>`
    /// for 1.x items.
    pub proj_code: Option<String>,
    /// The imagery's bands (the first [`MAX_BANDS`]).
    pub bands: Vec<Band>,
    /// The band arrays found and their lengths (e.g. `eo:bands` 31, `raster:bands` 31), each
    /// checked against the GeoTIFF.
    #[serde(skip)]
    pub band_lists: Vec<(String, usize)>,
    /// Assets (not printed in the item summary; used by the checks).
    #[serde(skip)]
    pub assets: Vec<Asset>,
    /// The item as read, within bounds (for a catalog of the destination).
    #[serde(skip)]
    pub document: Arc<Document>,
}

/// At most this many bands are described (the arrays' lengths are checked whatever they are).
pub const MAX_BANDS: usize = 4096;
/// Text facts (platform, level, names...) longer than this are cut.
const MAX_FACT: usize = 1024;

/// The members a catalog's `rel: "item"` links point to (relative links only; absolute ones
/// point outside the zip and are not followed).
pub fn catalog_items(member: &str, catalog: &Document) -> Vec<String> {
    catalog.item_links.iter().filter_map(|href| resolve(member, href)).collect()
}

/// A relative href resolved against the folder of `member`; `None` for absolute URLs and paths,
/// and for hrefs that climb out of the zip.
pub fn resolve(member: &str, href: &str) -> Option<String> {
    // A scheme (`file:`, `https:`, `c:`) can only be in the first segment of a URI reference.
    let scheme = href.split('/').next().is_some_and(|first| first.contains(':'));
    if scheme || href.starts_with('/') || href.starts_with('\\') {
        return None;
    }
    let mut segments: Vec<&str> = member.split('/').collect();
    segments.pop();
    for part in href.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            other => segments.push(other),
        }
    }
    Some(segments.join("/"))
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(one)) => vec![fact(one)],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(fact).collect(),
        _ => Vec::new(),
    }
}

/// A text fact, cut at [`MAX_FACT`] bytes.
fn fact(text: &str) -> String {
    crate::document::cut(text, MAX_FACT)
}

/// The entries of a band array, when `value` is one.
fn band_array(value: Option<&Value>) -> Option<&Vec<Value>> {
    value?.as_array().filter(|bands| !bands.is_empty())
}

/// The first band array found under one of `keys` in the first of `places` that has one, with
/// its key.
fn find_bands<'a>(
    places: &[Option<&'a Map<String, Value>>],
    keys: &[&'static str],
) -> Option<(&'static str, &'a Vec<Value>)> {
    places.iter().flatten().find_map(|place| keys.iter().find_map(|&key| Some((key, band_array(place.get(key))?))))
}

/// The bands, from the spectral entries (`eo:bands`, or STAC 1.1 `bands`) and the raster entries
/// (`raster:bands`, or the same `bands`), matched by position.
fn merge_bands(spectral: Option<&Vec<Value>>, raster: Option<&Vec<Value>>) -> Vec<Band> {
    let empty = Vec::new();
    let (spectral, raster) = (spectral.unwrap_or(&empty), raster.unwrap_or(&empty));
    let number = |band: Option<&Value>, keys: &[&str]| {
        keys.iter().find_map(|key| band.and_then(|b| b.get(*key)).and_then(Value::as_f64))
    };
    let text = |band: Option<&Value>, key: &str| band.and_then(|b| b.get(key)).and_then(Value::as_str).map(fact);
    (0..spectral.len().max(raster.len()).min(MAX_BANDS))
        .map(|i| {
            let (eo, r) = (spectral.get(i), raster.get(i));
            Band {
                name: text(eo, "name").or_else(|| text(r, "name")),
                wavelength_um: number(eo, &["center_wavelength", "eo:center_wavelength"]),
                scale: number(r, &["scale", "raster:scale"]),
                offset: number(r, &["offset", "raster:offset"]),
                nodata: r.and_then(|b| b.get("nodata")).filter(|v| v.is_number() || v.is_string()).cloned(),
                data_type: text(r, "data_type"),
                unit: text(r, "unit"),
            }
        })
        .collect()
}

/// Whether a bbox (4 or 6 numbers) lies on Earth.
fn bbox_on_earth(bbox: &[f64]) -> bool {
    let half = bbox.len() / 2;
    half >= 2 && on_earth([bbox[0], bbox[1]]) && on_earth([bbox[half], bbox[half + 1]])
}

/// Reads the item `document`, found in `member`.
pub fn parse_item(member: &str, document: &Arc<Document>) -> Item {
    let properties = &document.properties;
    let text = |key: &str| properties.get(key).and_then(Value::as_str).map(fact);
    let asset_list = document.assets.as_deref().unwrap_or_default();
    let assets: Vec<Asset> = asset_list
        .iter()
        .map(|(key, asset)| Asset {
            key: key.clone(),
            member: asset.get("href").and_then(Value::as_str).and_then(|href| resolve(member, href)),
            roles: string_list(asset.get("roles")),
            size: asset.get("file:size").and_then(Value::as_u64),
            checksum: asset.get("file:checksum").and_then(Value::as_str).map(fact),
        })
        .collect();
    let data_asset = asset_list
        .iter()
        .map(|(_, asset)| asset)
        .find(|asset| string_list(asset.get("roles")).iter().any(|r| r == "data"));
    // Bands sit on the data asset (Wyvern's items), in the properties, or (STAC 1.1) in `bands`
    // on either, which holds the spectral and raster facts together.
    let top: Map<String, Value> = document.bands.iter().map(|bands| ("bands".to_owned(), bands.clone())).collect();
    let places = [data_asset, Some(properties), Some(&top)];
    let spectral = find_bands(&places, &["eo:bands", "bands"]);
    let raster = find_bands(&places, &["raster:bands", "bands"]);
    let bands = merge_bands(spectral.map(|(_, b)| b), raster.map(|(_, b)| b));
    let mut band_lists: Vec<(String, usize)> =
        spectral.into_iter().chain(raster).map(|(key, list)| (key.to_owned(), list.len())).collect();
    band_lists.dedup();
    let proj_code = text("proj:code");
    let epsg = properties
        .get("proj:epsg")
        .and_then(Value::as_u64)
        .or_else(|| proj_code.as_deref()?.strip_prefix("EPSG:")?.parse().ok());
    let bbox = document.bbox.clone().filter(|bbox| bbox_on_earth(bbox)).or_else(|| {
        let footprint = document.geometry.as_ref()?;
        Some(footprint.extent.to_vec())
    });
    Item {
        member: member.to_owned(),
        id: document.id.as_deref().map(fact),
        datetime: text("datetime").or_else(|| text("start_datetime")),
        platform: text("platform"),
        processing_level: text("processing:level"),
        cloud_cover: properties.get("eo:cloud_cover").and_then(Value::as_f64),
        bbox,
        shape: properties
            .get("proj:shape")
            .and_then(Value::as_array)
            .map(|s| s.iter().take(8).filter_map(Value::as_u64).collect()),
        proj_code: proj_code.or_else(|| epsg.map(|code| format!("EPSG:{code}"))),
        epsg,
        bands,
        band_lists,
        assets,
        document: Arc::clone(document),
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, resolve};

    #[test]
    fn kinds_by_name() {
        let stem = "g_l1b/wyvern_dragonette-004_20250927T145218_edb4d3af";
        for (name, kind) in [
            (format!("{stem}.tiff"), Kind::Imagery),
            (format!("{stem}_data_mask.tiff"), Kind::Mask),
            (format!("{stem}_pixel_quality_mask.tif"), Kind::Mask),
            (format!("{stem}_preview.png"), Kind::Preview),
            (format!("{stem}_thumbnail.png"), Kind::Thumbnail),
            (format!("{stem}.json"), Kind::Metadata),
            ("g_l1b/catalog.json".to_owned(), Kind::Catalog),
            ("README.txt".to_owned(), Kind::Other),
        ] {
            assert_eq!(Kind::from_name(&name), kind, "{name}");
        }
    }

    #[test]
    fn hrefs_resolve_against_the_member_folder() {
        assert_eq!(resolve("a/b/item.json", "./x.tiff").as_deref(), Some("a/b/x.tiff"));
        assert_eq!(resolve("a/catalog.json", "./b/item.json").as_deref(), Some("a/b/item.json"));
        assert_eq!(resolve("a/b/item.json", "../catalog.json").as_deref(), Some("a/catalog.json"));
        assert_eq!(resolve("a/b/item.json", "https://h/x.tiff"), None);
        for outside in ["/etc/shadow", "file:///etc/passwd", "//evil.example/x.tiff", "../../../x", "c:x", "\\\\h\\x"] {
            assert_eq!(resolve("a/item.json", outside), None, "{outside}");
        }
    }
}
