//! GeoTIFF headers, read without decoding pixels, from the first bytes of a member.

use std::io::Cursor;

use serde::Serialize;
use tiff::decoder::Decoder;
use tiff::tags::Tag;

/// How many bytes from the start of a TIFF member are read for its header. Cloud-optimised
/// GeoTIFFs keep their directories at the front.
pub const HEADER_BYTES: usize = 1 << 20;

/// The facts of a GeoTIFF header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Raster {
    /// The member.
    pub name: String,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Samples per pixel.
    pub bands: u32,
    /// e.g. `float32`, `uint8`.
    pub data_type: String,
    /// From the GeoKeys (ProjectedCSType, else GeographicType).
    pub epsg: Option<u16>,
    /// `GDAL_NODATA`.
    pub nodata: Option<String>,
    /// e.g. `none`, `lzw`, `deflate`.
    pub compression: String,
    /// Tiled (as a COG) rather than stripped.
    pub tiled: bool,
    /// Further images after the first (overviews, masks), when the header holds them.
    pub overviews: Option<u32>,
}

/// Reads the header of a TIFF from its first bytes, or says why it cannot.
pub fn read_header(name: &str, head: &[u8]) -> Result<Raster, String> {
    let mut decoder = Decoder::new(Cursor::new(head)).map_err(|e| format!("not a readable TIFF header: {e}"))?;
    let (width, height) = decoder.dimensions().map_err(|e| e.to_string())?;
    let bands = decoder.find_tag_unsigned::<u32>(Tag::SamplesPerPixel).ok().flatten().unwrap_or(1);
    let bits = decoder.get_tag_u16_vec(Tag::BitsPerSample).ok().and_then(|v| v.first().copied()).unwrap_or(1);
    let format = decoder.get_tag_u16_vec(Tag::SampleFormat).ok().and_then(|v| v.first().copied()).unwrap_or(1);
    let data_type = match format {
        3 => format!("float{bits}"),
        2 => format!("int{bits}"),
        _ => format!("uint{bits}"),
    };
    let compression = match decoder.find_tag_unsigned::<u16>(Tag::Compression).ok().flatten().unwrap_or(1) {
        1 => "none".to_owned(),
        5 => "lzw".to_owned(),
        7 => "jpeg".to_owned(),
        8 | 32946 => "deflate".to_owned(),
        32773 => "packbits".to_owned(),
        34887 => "lerc".to_owned(),
        50000 => "zstd".to_owned(),
        other => format!("code {other}"),
    };
    let tiled = decoder.find_tag(Tag::TileWidth).ok().flatten().is_some();
    let nodata = decoder.get_tag_ascii_string(Tag::GdalNodata).ok().map(|s| s.trim_end_matches('\0').trim().to_owned());
    let epsg = decoder.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).ok().and_then(|keys| epsg_of(&keys));
    let mut overviews = Some(0);
    while decoder.more_images() {
        match decoder.next_image() {
            Ok(()) => overviews = overviews.map(|n| n + 1),
            Err(_) => {
                overviews = None;
                break;
            }
        }
    }
    Ok(Raster { name: name.to_owned(), width, height, bands, data_type, epsg, nodata, compression, tiled, overviews })
}

/// The EPSG code in a GeoKeyDirectory: ProjectedCSType (3072), else GeographicType (2048).
fn epsg_of(keys: &[u16]) -> Option<u16> {
    let entries: Vec<&[u16]> = keys.get(4..)?.chunks_exact(4).collect();
    let direct =
        |id: u16| entries.iter().find(|e| e[0] == id && e[1] == 0).map(|e| e[3]).filter(|&v| v != 0 && v != 32767);
    direct(3072).or_else(|| direct(2048))
}

#[cfg(test)]
mod tests {
    use super::epsg_of;

    #[test]
    fn epsg_prefers_the_projected_code() {
        assert_eq!(epsg_of(&[1, 1, 0, 2, 1024, 0, 1, 2, 2048, 0, 1, 4326]), Some(4326));
        assert_eq!(epsg_of(&[1, 1, 0, 2, 2048, 0, 1, 4326, 3072, 0, 1, 32611]), Some(32611));
        assert_eq!(epsg_of(&[1, 1, 0, 1, 3072, 0, 1, 32767]), None);
        assert_eq!(epsg_of(&[1, 1]), None);
    }
}
