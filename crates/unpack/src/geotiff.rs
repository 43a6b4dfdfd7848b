//! GeoTIFF headers, read without decoding pixels, from the first bytes of a member: classic TIFF
//! and BigTIFF, either byte order, every image directory (the overviews of a COG), the GeoKeys,
//! and GDAL's nodata and metadata tags.
//!
//! Only the directories are read, so a small reader of our own does it: a full TIFF decoder
//! would bring pixel codecs this never uses, and the one tried (the `tiff` crate) printed
//! debugging lines on malformed headers.

use serde::Serialize;

/// How many bytes from the start of a TIFF member are read for its header. Cloud-optimised
/// GeoTIFFs keep their directories at the front.
pub const HEADER_BYTES: usize = 1 << 20;
/// Image directories followed, at most (a COG has one per overview, and one per mask).
const MAX_IMAGES: usize = 64;

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
    /// e.g. `float32`, `uint16`.
    pub data_type: String,
    /// From the GeoKeys (ProjectedCSType, else GeographicType).
    pub epsg: Option<u16>,
    /// `GDAL_NODATA`.
    pub nodata: Option<String>,
    /// e.g. `none`, `lzw`, `deflate`.
    pub compression: String,
    /// `none`, `horizontal` or `floating-point`.
    pub predictor: String,
    /// Tiled (as a COG) rather than stripped.
    pub tiled: bool,
    /// Tile width and height, or width and rows per strip.
    pub block: [u32; 2],
    /// `pixel` (chunky) or `band` (planar).
    pub interleave: String,
    /// A BigTIFF (64-bit offsets) rather than a classic TIFF.
    pub bigtiff: bool,
    /// Reduced-resolution images after the first (a COG's overviews), when the header holds
    /// every directory.
    pub overviews: Option<u32>,
    /// The first band's scale, from GDAL's metadata (`GDAL_METADATA`), when it says.
    pub scale: Option<f64>,
    /// The first band's offset, from GDAL's metadata, when it says.
    pub offset: Option<f64>,
    /// Where its pixels are: the affine transform from (column, row) to the CRS's x and y, in
    /// rasterio's and STAC's `proj:transform` order `[a, b, c, d, e, f]` (x = a·col + b·row + c,
    /// y = d·col + e·row + f), of the pixels' corners, from ModelTransformation or
    /// ModelPixelScale with ModelTiepoint (a `PixelIsPoint` raster shifted by half a pixel, as
    /// GDAL does).
    pub transform: Option<[f64; 6]>,
}

/// Reads the header of a TIFF from its first bytes, or says why it cannot.
pub fn read_header(name: &str, head: &[u8]) -> Result<Raster, String> {
    let tiff = Tiff::open(head)?;
    let first = tiff.directory(tiff.first)?;
    let width = first.number(256).ok_or("no ImageWidth")?;
    let height = first.number(257).ok_or("no ImageLength")?;
    let bands = first.number(277).unwrap_or(1);
    // SamplesPerPixel is a SHORT in TIFF: a header claiming more (or none) is not one to trust.
    if bands == 0 || bands > u32::from(u16::MAX) {
        return Err(format!("a TIFF of {bands} samples per pixel"));
    }
    let bits = first.number(258).unwrap_or(1);
    let data_type = match first.number(339).unwrap_or(1) {
        3 => format!("float{bits}"),
        2 => format!("int{bits}"),
        5 | 6 => format!("complex{bits}"),
        _ => format!("uint{bits}"),
    };
    let compression = compression_name(first.number(259).unwrap_or(1));
    let predictor = predictor_name(first.number(317).unwrap_or(1));
    let tiled = first.number(322).is_some();
    let block = if tiled {
        [first.number(322).unwrap_or(0), first.number(323).unwrap_or(0)]
    } else {
        [width, first.number(278).unwrap_or(height).min(height)]
    };
    let interleave = if first.number(284) == Some(2) { "band" } else { "pixel" }.to_owned();
    let nodata = first.text(42113).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let epsg = first.numbers(34735).and_then(|keys| epsg_of(&keys));
    let metadata = first.text(42112).unwrap_or_default();
    let scale = band_metadata(&metadata, "scale");
    let offset = band_metadata(&metadata, "offset");
    let overviews = count_overviews(&tiff, first.next);
    let transform = transform_of(&first);
    Ok(Raster {
        name: name.to_owned(),
        width,
        height,
        bands,
        data_type,
        epsg,
        nodata,
        compression,
        predictor,
        tiled,
        block,
        interleave,
        bigtiff: tiff.big,
        overviews,
        scale,
        offset,
        transform,
    })
}

/// The raster's affine transform (see [`Raster::transform`]).
fn transform_of(image: &Directory<'_>) -> Option<[f64; 6]> {
    let point = image.numbers(34735).is_some_and(|keys| geo_key(&keys, 1025) == Some(2));
    // As GDAL reads them: ModelPixelScale with ModelTiepoint first (a scale of zero is none;
    // rows go south whatever the scale's sign), else ModelTransformation, a 4x4 matrix row by row.
    let scaled = match (image.doubles(33550), image.doubles(33922)) {
        (Some(scale), Some(tie)) if scale.len() >= 2 && tie.len() >= 6 && scale[0] != 0.0 && scale[1] != 0.0 => {
            let (a, e) = (scale[0], -scale[1].abs());
            Some([a, 0.0, tie[3] - tie[0] * a, 0.0, e, tie[4] - tie[1] * e])
        }
        _ => None,
    };
    let matrix = || image.doubles(34264).filter(|m| m.len() == 16).map(|m| [m[0], m[1], m[3], m[4], m[5], m[7]]);
    let [a, b, c, d, e, f] = scaled.or_else(matrix)?;
    let transform = if point { [a, b, c - (a + b) / 2.0, d, e, f - (d + e) / 2.0] } else { [a, b, c, d, e, f] };
    transform.iter().all(|v| v.is_finite()).then_some(transform)
}

/// The name of a TIFF compression code.
fn compression_name(code: u32) -> String {
    match code {
        1 => "none".to_owned(),
        5 => "lzw".to_owned(),
        6 | 7 => "jpeg".to_owned(),
        8 | 32946 => "deflate".to_owned(),
        32773 => "packbits".to_owned(),
        34887 => "lerc".to_owned(),
        34925 => "lzma".to_owned(),
        50000 => "zstd".to_owned(),
        50001 => "webp".to_owned(),
        other => format!("code {other}"),
    }
}

/// The name of a TIFF predictor code.
fn predictor_name(code: u32) -> String {
    match code {
        1 => "none".to_owned(),
        2 => "horizontal".to_owned(),
        3 => "floating-point".to_owned(),
        other => format!("code {other}"),
    }
}

/// The overviews among the directories after the first (from `next`): those with bit 0 of
/// NewSubfileType set (masks, bit 2, are not overviews). `None` when they cannot all be read
/// (they lie past the bytes read, or loop).
fn count_overviews(tiff: &Tiff<'_>, mut next: u64) -> Option<u32> {
    let mut overviews = 0;
    let mut seen = vec![tiff.first];
    while next != 0 {
        if seen.len() >= MAX_IMAGES || seen.contains(&next) {
            return None;
        }
        seen.push(next);
        let image = tiff.directory(next).ok()?;
        let kind = image.number(254).unwrap_or(0);
        if kind & 1 == 1 && kind & 4 == 0 {
            overviews += 1;
        }
        next = image.next;
    }
    Some(overviews)
}

/// The TIFF's framing: byte order, classic or big, where the first directory is.
struct Tiff<'a> {
    bytes: &'a [u8],
    little: bool,
    big: bool,
    first: u64,
}

/// One image file directory: its entries as (tag, type, count, value or offset field).
struct Directory<'a> {
    tiff: &'a Tiff<'a>,
    entries: Vec<(u16, u16, u64, &'a [u8])>,
    next: u64,
}

impl<'a> Tiff<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, String> {
        let little = match bytes.get(..2) {
            Some(b"II") => true,
            Some(b"MM") => false,
            _ => return Err("not a TIFF: no byte-order mark".to_owned()),
        };
        let mut tiff = Self { bytes, little, big: false, first: 0 };
        match tiff.uint(2, 2)? {
            42 => tiff.first = tiff.uint(4, 4)?,
            43 => {
                if tiff.uint(4, 2)? != 8 {
                    return Err("a BigTIFF with an offset size other than 8".to_owned());
                }
                tiff.big = true;
                tiff.first = tiff.uint(8, 8)?;
            }
            other => return Err(format!("not a TIFF: version {other}")),
        }
        Ok(tiff)
    }

    /// An unsigned integer of `len` bytes (1, 2, 4 or 8) at `at`.
    fn uint(&self, at: u64, len: usize) -> Result<u64, String> {
        let bytes = usize::try_from(at)
            .ok()
            .and_then(|at| self.bytes.get(at..at.checked_add(len)?))
            .ok_or_else(|| format!("the header reaches past the first {} bytes", self.bytes.len()))?;
        Ok(self.decode(bytes))
    }

    /// The unsigned integer `bytes` hold, in this TIFF's byte order.
    fn decode(&self, bytes: &[u8]) -> u64 {
        bytes.iter().enumerate().fold(0u64, |value, (i, &b)| {
            if self.little { value | u64::from(b) << (8 * i) } else { value << 8 | u64::from(b) }
        })
    }

    fn directory(&'a self, at: u64) -> Result<Directory<'a>, String> {
        let (count_len, entry_len, value_len) = if self.big { (8, 20, 8) } else { (2, 12, 4) };
        let count = self.uint(at, count_len)?;
        if count > 4096 {
            return Err(format!("an image directory of {count} entries"));
        }
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count {
            let entry = at + count_len as u64 + i * entry_len;
            let tag = self.uint(entry, 2)? as u16;
            let kind = self.uint(entry + 2, 2)? as u16;
            // The count and the value (or its offset) are 4 bytes each in a classic TIFF, 8 in a
            // BigTIFF.
            let count = self.uint(entry + 4, value_len)?;
            let field = self.slice(entry + 4 + value_len as u64, value_len)?;
            entries.push((tag, kind, count, field));
        }
        let next = self.uint(at + count_len as u64 + count * entry_len, value_len)?;
        Ok(Directory { tiff: self, entries, next })
    }

    fn slice(&self, at: u64, len: usize) -> Result<&'a [u8], String> {
        usize::try_from(at)
            .ok()
            .and_then(|at| self.bytes.get(at..at.checked_add(len)?))
            .ok_or_else(|| format!("the header reaches past the first {} bytes", self.bytes.len()))
    }
}

/// The size in bytes of one value of a TIFF field type.
fn type_size(kind: u16) -> Option<usize> {
    Some(match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

impl<'a> Directory<'a> {
    /// The bytes of a tag's values: inline, or where its offset points.
    fn values(&self, tag: u16) -> Option<(u16, u64, &'a [u8])> {
        let &(_, kind, count, field) = self.entries.iter().find(|e| e.0 == tag)?;
        let len = usize::try_from(count).ok()?.checked_mul(type_size(kind)?)?;
        let bytes =
            if len <= field.len() { &field[..len] } else { self.tiff.slice(self.tiff.decode(field), len).ok()? };
        Some((kind, count, bytes))
    }

    /// An integer tag's values.
    fn numbers(&self, tag: u16) -> Option<Vec<u64>> {
        let (kind, _, bytes) = self.values(tag)?;
        let size = match kind {
            1 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 13 => 4,
            16..=18 => 8,
            _ => return None,
        };
        Some(bytes.chunks_exact(size).map(|chunk| self.tiff.decode(chunk)).collect())
    }

    /// A DOUBLE tag's values.
    fn doubles(&self, tag: u16) -> Option<Vec<f64>> {
        let (kind, _, bytes) = self.values(tag)?;
        (kind == 12).then(|| bytes.chunks_exact(8).map(|chunk| f64::from_bits(self.tiff.decode(chunk))).collect())
    }

    /// The first value of an integer tag (that fits in 32 bits).
    fn number(&self, tag: u16) -> Option<u32> {
        self.numbers(tag)?.first().and_then(|&v| u32::try_from(v).ok())
    }

    /// An ASCII tag, up to its first NUL.
    fn text(&self, tag: u16) -> Option<String> {
        let (kind, _, bytes) = self.values(tag)?;
        if kind != 2 {
            return None;
        }
        let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
        Some(String::from_utf8_lossy(text).into_owned())
    }
}

/// The EPSG code in a GeoKeyDirectory: ProjectedCSType (3072), else GeographicType (2048).
fn epsg_of(keys: &[u64]) -> Option<u16> {
    let direct = |id| geo_key(keys, id).and_then(|v| u16::try_from(v).ok()).filter(|&v| v != 0 && v != 32767);
    direct(3072).or_else(|| direct(2048))
}

/// A GeoKey whose value the directory holds itself (a short, not a reference to another tag).
fn geo_key(keys: &[u64], id: u64) -> Option<u64> {
    keys.get(4..)?.chunks_exact(4).find(|e| e[0] == id && e[1] == 0).map(|e| e[3])
}

/// A value GDAL keeps for the first band in its metadata XML, e.g.
/// `<Item name="SCALE" sample="0" role="scale">0.0001</Item>`.
fn band_metadata(xml: &str, role: &str) -> Option<f64> {
    let document = roxmltree::Document::parse(xml).ok()?;
    document
        .descendants()
        .filter(|n| n.has_tag_name("Item") && n.attribute("role") == Some(role))
        .find(|n| n.attribute("sample").is_none_or(|s| s == "0"))
        .and_then(|n| n.text())
        .and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{band_metadata, epsg_of, read_header};

    #[test]
    fn epsg_prefers_the_projected_code() {
        assert_eq!(epsg_of(&[1, 1, 0, 2, 1024, 0, 1, 2, 2048, 0, 1, 4326]), Some(4326));
        assert_eq!(epsg_of(&[1, 1, 0, 2, 2048, 0, 1, 4326, 3072, 0, 1, 32611]), Some(32611));
        assert_eq!(epsg_of(&[1, 1, 0, 1, 3072, 0, 1, 32767]), None);
        assert_eq!(epsg_of(&[1, 1]), None);
    }

    #[test]
    fn gdal_metadata_scale_and_offset() {
        let xml = r#"<GDALMetadata>
  <Item name="OFFSET" sample="0" role="offset">0</Item>
  <Item name="SCALE" sample="0" role="scale">0.0001</Item>
  <Item name="SCALE" sample="1" role="scale">0.5</Item>
</GDALMetadata>"#;
        assert_eq!(band_metadata(xml, "scale"), Some(0.0001));
        assert_eq!(band_metadata(xml, "offset"), Some(0.0));
        assert_eq!(band_metadata("", "scale"), None);
    }

    /// A little-endian classic TIFF of 4 x 3 pixels with these SHORT and DOUBLE tags, by hand.
    fn georeferenced(shorts: &[(u16, Vec<u16>)], doubles: &[(u16, Vec<f64>)]) -> Vec<u8> {
        let mut entries: Vec<(u16, u16, u32, Vec<u8>)> =
            vec![(256, 3, 1, 4u16.to_le_bytes().to_vec()), (257, 3, 1, 3u16.to_le_bytes().to_vec())];
        entries.extend(
            shorts.iter().map(|(tag, v)| (*tag, 3, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())),
        );
        entries.extend(
            doubles.iter().map(|(tag, v)| (*tag, 12, v.len() as u32, v.iter().flat_map(|x| x.to_le_bytes()).collect())),
        );
        entries.sort_by_key(|e| e.0);
        let mut data_at = 8 + 2 + 12 * entries.len() + 4;
        let (mut ifd, mut data) = ((entries.len() as u16).to_le_bytes().to_vec(), Vec::new());
        for (tag, kind, count, bytes) in &entries {
            ifd.extend(tag.to_le_bytes());
            ifd.extend(kind.to_le_bytes());
            ifd.extend(count.to_le_bytes());
            if bytes.len() <= 4 {
                ifd.extend(bytes.iter().copied().chain(std::iter::repeat(0)).take(4));
            } else {
                ifd.extend((data_at as u32).to_le_bytes());
                data.extend(bytes);
                data_at += bytes.len();
            }
        }
        ifd.extend(0u32.to_le_bytes());
        [&b"II\x2a\0\x08\0\0\0"[..], &ifd, &data].concat()
    }

    #[test]
    fn the_transform_is_read_as_gdal_reads_it() {
        let transform = |shorts: &[(u16, Vec<u16>)], doubles: &[(u16, Vec<f64>)]| {
            read_header("t.tif", &georeferenced(shorts, doubles)).expect("read").transform
        };
        // A tiepoint away from the first pixel's corner.
        let tied = [(33550, vec![2.0, 3.0, 0.0]), (33922, vec![10.0, 20.0, 0.0, 1000.0, 5000.0, 0.0])];
        assert_eq!(transform(&[], &tied), Some([2.0, 0.0, 980.0, 0.0, -3.0, 5060.0]));
        // A rotated matrix; the scale and tiepoint win when both are there, as in GDAL.
        let matrix =
            (34264, vec![1.0, 0.5, 0.0, 100.0, 0.25, -2.0, 0.0, 200.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(transform(&[], std::slice::from_ref(&matrix)), Some([1.0, 0.5, 100.0, 0.25, -2.0, 200.0]));
        assert_eq!(
            transform(&[], &[matrix.clone(), tied[0].clone(), tied[1].clone()]),
            Some([2.0, 0.0, 980.0, 0.0, -3.0, 5060.0])
        );
        // PixelIsPoint (GTRasterTypeGeoKey 1025 = 2): half a pixel back along both pixel axes.
        let point = [(34735, vec![1, 1, 0, 1, 1025, 0, 1, 2])];
        assert_eq!(transform(&point, std::slice::from_ref(&matrix)), Some([1.0, 0.5, 99.25, 0.25, -2.0, 200.875]));
        // A scale of zero is none; a matrix of another length is none either.
        let flat = [(33550, vec![0.0, 3.0, 0.0]), tied[1].clone()];
        assert_eq!(transform(&[], &flat), None);
        assert_eq!(transform(&[], &[(34264, vec![1.0; 8])]), None);
    }

    /// A big-endian classic TIFF and a little-endian BigTIFF, each 3 x 2 uint16 with one
    /// strip, written by hand.
    #[test]
    fn both_byte_orders_and_bigtiff() {
        let classic: Vec<u8> = [
            &b"MM\0\x2a\0\0\0\x08"[..],
            &[0, 3],
            &[1, 0, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0],
            &[1, 1, 0, 3, 0, 0, 0, 1, 0, 2, 0, 0],
            &[1, 2, 0, 3, 0, 0, 0, 1, 0, 16, 0, 0],
            &[0, 0, 0, 0],
        ]
        .concat();
        let raster = read_header("a.tif", &classic).expect("read");
        assert_eq!((raster.width, raster.height, raster.data_type.as_str(), raster.bigtiff), (3, 2, "uint16", false));
        let mut big = b"II\x2b\0\x08\0\0\0\x10\0\0\0\0\0\0\0".to_vec();
        big.extend_from_slice(&2u64.to_le_bytes());
        for (tag, value) in [(256u16, 3u64), (257, 2)] {
            big.extend_from_slice(&tag.to_le_bytes());
            big.extend_from_slice(&16u16.to_le_bytes());
            big.extend_from_slice(&1u64.to_le_bytes());
            big.extend_from_slice(&value.to_le_bytes());
        }
        big.extend_from_slice(&0u64.to_le_bytes());
        let raster = read_header("b.tif", &big).expect("read");
        assert_eq!((raster.width, raster.height, raster.bigtiff, raster.overviews), (3, 2, true, Some(0)));
        assert!(read_header("c.tif", &big[..40]).is_err());
        assert!(read_header("d.tif", b"PK\x03\x04").is_err());
    }
}
