//! A minimal streaming GeoTIFF writer: classic little-endian TIFF, chunky strips, uncompressed,
//! with the GeoTIFF and GDAL tags Wyvern products carry. The header and directory come first
//! (as in a cloud-optimised layout), so pixel rows can be streamed straight into a zip member.

use std::io::{self, Write};

/// The sample type of every band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// IEEE float32 (radiance).
    F32,
    /// uint8 (masks).
    U8,
}

impl SampleKind {
    /// Bytes per sample.
    pub fn bytes(self) -> u32 {
        match self {
            Self::F32 => 4,
            Self::U8 => 1,
        }
    }
}

/// North-up geographic placement: the top-left corner and the pixel size, in degrees.
#[derive(Debug, Clone, Copy)]
pub struct GeoRef {
    /// Longitude of the top-left corner.
    pub west: f64,
    /// Latitude of the top-left corner.
    pub north: f64,
    /// Pixel width in degrees.
    pub pixel_width: f64,
    /// Pixel height in degrees.
    pub pixel_height: f64,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct TiffSpec {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bands.
    pub bands: u16,
    /// Sample type.
    pub kind: SampleKind,
    /// `GDAL_NODATA`, as text.
    pub nodata: String,
    /// Where it is (EPSG:4326).
    pub geo: GeoRef,
    /// One description per band, written to `GDAL_METADATA`.
    pub band_names: Vec<String>,
}

impl TiffSpec {
    /// Bytes in one row of pixels.
    pub fn row_bytes(&self) -> u64 {
        u64::from(self.width) * u64::from(self.bands) * u64::from(self.kind.bytes())
    }

    fn rows_per_strip(&self) -> u32 {
        u32::try_from(((1u64 << 20) / self.row_bytes().max(1)).clamp(1, u64::from(self.height.max(1)))).unwrap_or(1)
    }

    /// The file's size in bytes, known before writing.
    pub fn file_size(&self) -> u64 {
        let layout = self.layout();
        layout.data_start + self.row_bytes() * u64::from(self.height)
    }

    fn layout(&self) -> Layout {
        let entries = self.entries();
        let strips = self.height.div_ceil(self.rows_per_strip()) as usize;
        let ifd_size = 2 + 12 * (entries.len() as u64 + 2) + 4;
        // StripOffsets and StripByteCounts: LONG arrays, stored out of line when more than one.
        let strip_arrays = if strips > 1 { 2 * 4 * strips as u64 } else { 0 };
        let extra: u64 = entries.iter().map(|(_, v)| v.out_of_line_len()).sum::<u64>() + strip_arrays;
        Layout { strips, data_start: 8 + ifd_size + extra }
    }

    fn entries(&self) -> Vec<(u16, Value)> {
        let n = usize::from(self.bands);
        let (bits, format) = match self.kind {
            SampleKind::F32 => (32, 3),
            SampleKind::U8 => (8, 1),
        };
        let g = self.geo;
        let mut metadata = String::from("<GDALMetadata>\n");
        for (i, name) in self.band_names.iter().enumerate() {
            metadata
                .push_str(&format!("  <Item name=\"DESCRIPTION\" sample=\"{i}\" role=\"description\">{name}</Item>\n"));
        }
        metadata.push_str("</GDALMetadata>");
        let mut entries = vec![
            (256, Value::Long(vec![self.width])),
            (257, Value::Long(vec![self.height])),
            (258, Value::Short(vec![bits; n])),
            (259, Value::Short(vec![1])),
            (262, Value::Short(vec![1])),
            (277, Value::Short(vec![self.bands])),
            (278, Value::Long(vec![self.rows_per_strip()])),
            (284, Value::Short(vec![1])),
            (339, Value::Short(vec![format; n])),
            (33550, Value::Double(vec![g.pixel_width, g.pixel_height, 0.0])),
            (33922, Value::Double(vec![0.0, 0.0, 0.0, g.west, g.north, 0.0])),
            // GeoKeyDirectory: version 1.1.0, 3 keys: geographic model, pixel-is-area, EPSG:4326.
            (34735, Value::Short(vec![1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326])),
            (42112, Value::Ascii(metadata)),
            (42113, Value::Ascii(self.nodata.clone())),
        ];
        if n > 1 {
            entries.push((338, Value::Short(vec![0; n - 1])));
        }
        entries.sort_by_key(|(tag, _)| *tag);
        entries
    }

    /// Writes the TIFF, asking `fill_row(row, buffer)` for each row's pixels (band-interleaved,
    /// little-endian samples). Returns the bytes written.
    pub fn write<W: Write>(&self, out: &mut W, mut fill_row: impl FnMut(u32, &mut [u8])) -> io::Result<u64> {
        let layout = self.layout();
        let rows_per_strip = self.rows_per_strip();
        let row_bytes = self.row_bytes();
        let mut offsets = Vec::with_capacity(layout.strips);
        let mut counts = Vec::with_capacity(layout.strips);
        for strip in 0..layout.strips as u32 {
            let rows = rows_per_strip.min(self.height - strip * rows_per_strip);
            offsets.push(layout.data_start + u64::from(strip * rows_per_strip) * row_bytes);
            counts.push(u64::from(rows) * row_bytes);
        }
        let to_u32 =
            |v: u64| u32::try_from(v).map_err(|_| io::Error::other("TIFF larger than 4 GiB: BigTIFF is not supported"));
        let offsets = offsets.into_iter().map(to_u32).collect::<io::Result<Vec<_>>>()?;
        let counts = counts.into_iter().map(to_u32).collect::<io::Result<Vec<_>>>()?;
        let mut entries = self.entries();
        entries.push((273, Value::Long(offsets)));
        entries.push((279, Value::Long(counts)));
        entries.sort_by_key(|(tag, _)| *tag);

        let mut header = Vec::new();
        header.extend_from_slice(b"II*\0");
        header.extend_from_slice(&8u32.to_le_bytes());
        let ifd_size = 2 + 12 * entries.len() as u64 + 4;
        let mut extra_offset = 8 + ifd_size;
        let mut extra = Vec::new();
        header.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, value) in &entries {
            header.extend_from_slice(&tag.to_le_bytes());
            header.extend_from_slice(&value.type_code().to_le_bytes());
            header.extend_from_slice(&value.count().to_le_bytes());
            let bytes = value.bytes();
            if bytes.len() <= 4 {
                let mut inline = [0u8; 4];
                inline[..bytes.len()].copy_from_slice(&bytes);
                header.extend_from_slice(&inline);
            } else {
                header.extend_from_slice(&to_u32(extra_offset)?.to_le_bytes());
                let padded = value.out_of_line_len();
                extra.extend_from_slice(&bytes);
                extra.resize(extra.len() + (padded as usize - bytes.len()), 0);
                extra_offset += padded;
            }
        }
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&extra);
        debug_assert_eq!(header.len() as u64, layout.data_start);
        out.write_all(&header)?;
        let mut row = vec![0u8; row_bytes as usize];
        for r in 0..self.height {
            fill_row(r, &mut row);
            out.write_all(&row)?;
        }
        Ok(layout.data_start + row_bytes * u64::from(self.height))
    }
}

struct Layout {
    strips: usize,
    data_start: u64,
}

enum Value {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Ascii(String),
    Double(Vec<f64>),
}

impl Value {
    fn type_code(&self) -> u16 {
        match self {
            Self::Ascii(_) => 2,
            Self::Short(_) => 3,
            Self::Long(_) => 4,
            Self::Double(_) => 12,
        }
    }

    fn count(&self) -> u32 {
        let count = match self {
            Self::Short(v) => v.len(),
            Self::Long(v) => v.len(),
            Self::Ascii(s) => s.len() + 1,
            Self::Double(v) => v.len(),
        };
        count as u32
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::Ascii(s) => s.bytes().chain([0]).collect(),
            Self::Double(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Bytes taken outside the directory entry (values over 4 bytes), padded to a word boundary.
    fn out_of_line_len(&self) -> u64 {
        let len = self.bytes().len() as u64;
        if len <= 4 { 0 } else { len + len % 2 }
    }
}
