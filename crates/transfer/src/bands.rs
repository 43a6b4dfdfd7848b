//! An asset per band of a catalog's multi-band rasters (`--band-assets`), for the tools that
//! take an asset to be one band (stackstac): a GDAL VRT per band in a folder beside the item
//! (`<deliverable>.bands/`), naming its band of the extracted GeoTIFF by a path relative to
//! itself, and an asset for it with the file's grid and that band's `raster:bands` and
//! `eo:bands` entries.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// A raster asset gets band assets for at most this many bands (a header can claim billions;
/// the most spectral of sensors has a few hundred).
const MAX_BANDS: usize = 1024;

/// One band of a raster asset: its asset (under `key`) and its VRT (`file`, in the bands'
/// folder, and its text).
pub(crate) struct Band {
    pub(crate) key: String,
    pub(crate) asset: Value,
    pub(crate) file: String,
    pub(crate) vrt: String,
}

/// The band assets of one deliverable's item, and the VRTs they need.
pub(crate) struct Files {
    /// The bands' folder, as an href from the item (`./<deliverable>.bands`).
    folder: String,
    /// The members' folder from the bands' folder (`../<deliverable>/`).
    members: String,
    slugs: std::collections::HashSet<String>,
    /// Each VRT: its name in the bands' folder, and its text.
    pub(crate) vrts: Vec<(String, String)>,
}

impl Files {
    /// For the item of a deliverable named `deliverable` whose members are in the folder
    /// `members` beside it.
    pub(crate) fn new(deliverable: &str, members: &str) -> Self {
        Self {
            folder: format!("./{deliverable}.bands"),
            members: format!("../{members}/"),
            slugs: std::collections::HashSet::new(),
            vrts: Vec::new(),
        }
    }

    /// Adds to `assets` the band assets of the asset `key` (`asset`), the file of the member
    /// `member`: none when it is not a raster of several bands.
    pub(crate) fn add(&mut self, key: &str, asset: &Map<String, Value>, member: &str, assets: &mut Map<String, Value>) {
        let mut slug = slug(key);
        if !self.slugs.insert(slug.clone()) {
            slug = format!("{slug}-{}", self.slugs.len());
            self.slugs.insert(slug.clone());
        }
        for band in split(key, asset, &format!("{}{member}", self.members), &self.folder, &slug) {
            if !assets.contains_key(&band.key) {
                assets.insert(band.key, band.asset);
                self.vrts.push((band.file, band.vrt));
            }
        }
    }
}

/// The grid of a raster asset, as VRTs write it.
struct Grid {
    width: u64,
    height: u64,
    /// GDAL's order: x origin, pixel width, row rotation, y origin, column rotation, pixel height.
    geotransform: String,
    srs: Option<String>,
}

impl Grid {
    fn of(asset: &Map<String, Value>) -> Option<Self> {
        let shape: Vec<u64> = asset.get("proj:shape")?.as_array()?.iter().filter_map(Value::as_u64).collect();
        let transform: Vec<f64> = asset.get("proj:transform")?.as_array()?.iter().filter_map(Value::as_f64).collect();
        let (&[height, width], Some(&[a, b, c, d, e, f])) = (shape.as_slice(), transform.get(..6)) else {
            return None;
        };
        let srs = match (asset.get("proj:epsg").and_then(Value::as_u64), asset.get("proj:code").and_then(Value::as_str))
        {
            (Some(epsg), _) => Some(format!("EPSG:{epsg}")),
            (None, Some(code)) => Some(code.to_owned()),
            (None, None) => asset.get("proj:wkt2").and_then(Value::as_str).map(str::to_owned),
        };
        Some(Self { width, height, geotransform: format!("{c}, {a}, {b}, {f}, {d}, {e}"), srs })
    }
}

/// The band assets of the raster asset `key` (`asset` as the item holds it, its grid
/// included), whose file is at `source` from the bands' folder (`folder`, as an href from the
/// item). `slug` names its VRTs (`<slug>.<band>.vrt`). None unless the asset has more than one
/// band in `raster:bands`, each of a data type GDAL has, and a whole grid (`proj:shape`,
/// `proj:transform`).
pub(crate) fn split(key: &str, asset: &Map<String, Value>, source: &str, folder: &str, slug: &str) -> Vec<Band> {
    let bands = asset.get("raster:bands").and_then(Value::as_array).filter(|b| (2..=MAX_BANDS).contains(&b.len()));
    let (Some(bands), Some(grid)) = (bands, Grid::of(asset)) else { return Vec::new() };
    let Some(types) = bands.iter().map(|band| gdal_type(band.get("data_type")?.as_str()?)).collect::<Option<Vec<_>>>()
    else {
        return Vec::new();
    };
    let eo = asset.get("eo:bands").and_then(Value::as_array).filter(|eo| eo.len() == bands.len());
    let title = asset.get("title").and_then(Value::as_str).unwrap_or(key);
    let mut common = asset.clone();
    for own in ["href", "type", "title", "raster:bands", "eo:bands", "bands", "roles"] {
        common.remove(own);
    }
    common.retain(|field, _| !field.starts_with("file:") && !field.starts_with("alternate"));
    (0..bands.len())
        .map(|i| {
            let number = i + 1;
            let file = format!("{slug}.{number}.vrt");
            let mut band = common.clone();
            let name = eo.and_then(|eo| eo[i].get("name")?.as_str()).map_or_else(String::new, |n| format!(" ({n})"));
            band.insert("href".into(), json!(format!("{folder}/{file}")));
            band.insert("type".into(), json!("application/xml"));
            band.insert("title".into(), json!(format!("{title}, band {number}{name}")));
            band.insert("roles".into(), json!(["data"]));
            band.insert("raster:bands".into(), json!([bands[i]]));
            if let Some(eo) = eo {
                band.insert("eo:bands".into(), json!([eo[i]]));
            }
            let vrt = vrt(&grid, types[i], bands[i].get("nodata"), source, number);
            Band { key: format!("{key}.b{number}"), asset: Value::Object(band), file, vrt }
        })
        .collect()
}

/// A VRT of band `number` of the file at `source` (relative to the VRT).
fn vrt(grid: &Grid, data_type: &str, nodata: Option<&Value>, source: &str, number: usize) -> String {
    let mut text = format!("<VRTDataset rasterXSize=\"{}\" rasterYSize=\"{}\">\n", grid.width, grid.height);
    if let Some(srs) = &grid.srs {
        let _ = writeln!(text, "  <SRS>{}</SRS>", escape(srs));
    }
    let _ = writeln!(text, "  <GeoTransform>{}</GeoTransform>", grid.geotransform);
    let _ = writeln!(text, "  <VRTRasterBand dataType=\"{data_type}\" band=\"1\">");
    let nodata = match nodata {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if matches!(s.as_str(), "nan" | "inf" | "-inf") => Some(s.clone()),
        _ => None,
    };
    if let Some(nodata) = nodata {
        let _ = writeln!(text, "    <NoDataValue>{nodata}</NoDataValue>");
    }
    let _ = write!(
        text,
        "    <SimpleSource>\n      <SourceFilename relativeToVRT=\"1\">{}</SourceFilename>\n      \
         <SourceBand>{number}</SourceBand>\n    </SimpleSource>\n  </VRTRasterBand>\n</VRTDataset>\n",
        escape(source)
    );
    text
}

/// GDAL's name of a STAC `data_type`; `None` for one it has not.
fn gdal_type(data_type: &str) -> Option<&'static str> {
    Some(match data_type {
        "int8" => "Int8",
        "uint8" => "Byte",
        "int16" => "Int16",
        "uint16" => "UInt16",
        "int32" => "Int32",
        "uint32" => "UInt32",
        "int64" => "Int64",
        "uint64" => "UInt64",
        "float32" => "Float32",
        "float64" => "Float64",
        "cint16" => "CInt16",
        "cint32" => "CInt32",
        "cfloat32" => "CFloat32",
        "cfloat64" => "CFloat64",
        _ => return None,
    })
}

/// A name for files from an asset's key: letters and digits kept, runs of anything else one `-`.
fn slug(key: &str) -> String {
    let mut slug = String::new();
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() { "asset".to_owned() } else { slug.to_owned() }
}

/// Text for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{slug, split};

    #[test]
    fn each_band_gets_an_asset_and_a_vrt_of_its_band_on_the_file_s_grid() {
        let asset = json!({
            "href": "./d/a b.tif", "type": "image/tiff", "title": "COG", "roles": ["data"], "file:size": 9,
            "proj:epsg": 4326, "proj:shape": [2, 3], "proj:transform": [0.5, 0.0, 10.0, 0.0, -0.25, 50.0],
            "raster:bands": [{"data_type": "uint16", "nodata": 0}, {"data_type": "float32", "nodata": "nan"}],
            "eo:bands": [{"name": "B1"}, {"name": "B2"}]
        });
        let bands = split("COG", asset.as_object().unwrap(), "../d/a b.tif", "./x.bands", "cog");
        assert_eq!(bands.len(), 2);
        let second = &bands[1];
        assert_eq!((second.key.as_str(), second.file.as_str()), ("COG.b2", "cog.2.vrt"));
        assert_eq!(second.asset["href"], "./x.bands/cog.2.vrt");
        assert_eq!(second.asset["title"], "COG, band 2 (B2)");
        assert_eq!(second.asset["raster:bands"], json!([{"data_type": "float32", "nodata": "nan"}]));
        assert_eq!(second.asset["proj:shape"], json!([2, 3]));
        assert!(second.asset.get("file:size").is_none(), "the VRT is not the file");
        for needle in [
            "rasterXSize=\"3\" rasterYSize=\"2\"",
            "<SRS>EPSG:4326</SRS>",
            "<GeoTransform>10, 0.5, 0, 50, 0, -0.25</GeoTransform>",
            "dataType=\"Float32\"",
            "<NoDataValue>nan</NoDataValue>",
            "<SourceFilename relativeToVRT=\"1\">../d/a b.tif</SourceFilename>",
            "<SourceBand>2</SourceBand>",
        ] {
            assert!(second.vrt.contains(needle), "{needle}: {}", second.vrt);
        }
        let one = json!({"proj:shape": [2, 3], "proj:transform": [1, 0, 0, 0, -1, 0], "raster:bands": [{"data_type": "uint8"}]});
        assert!(split("x", one.as_object().unwrap(), "s", "f", "x").is_empty(), "one band: its file is its asset");
        assert_eq!(slug("Cloud optimized GeoTiff"), "cloud-optimized-geotiff");
        assert_eq!(slug("<&>"), "asset");
    }
}
