//! Thumbnails: a PNG member (a deliverable's thumbnail or preview) decoded row by row into a
//! small RGB picture, so memory follows the picture, not the PNG; and encoded again, small, for a
//! page that embeds it.

use std::io::Cursor;

use png::{BitDepth, ColorType, Decoder, Transformations};

/// An RGB picture, 8 bits a channel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// `width * height` pixels of 3 bytes.
    pub rgb: Vec<u8>,
}

/// What a PNG decoder may allocate for a picture that is not decoded row by row (interlaced).
const INTERLACED_LIMIT: usize = 64 << 20;
/// The most pixels a picture may have to be decoded (a deliverable's thumbnail has a few
/// hundred thousand, its full-resolution preview a few tens of millions): decoding costs time
/// in proportion, and a PNG of a few hundred KiB can claim billions.
pub const PIXEL_BUDGET: u64 = 48_000_000;

impl Picture {
    /// Decodes `png` and scales it down (averaging boxes of pixels) to fit `max_width` by
    /// `max_height`, keeping its aspect; never scales up. Gray, palette, 16-bit and alpha PNGs
    /// all come out RGB (alpha over black).
    pub fn from_png(png: &[u8], max_width: u32, max_height: u32) -> Result<Self, String> {
        let mut decoder = Decoder::new(Cursor::new(png));
        decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| format!("not a PNG it can read: {e}"))?;
        let info = reader.info();
        let (source_width, source_height) = (info.width, info.height);
        let pixels = u64::from(source_width) * u64::from(source_height);
        if pixels > PIXEL_BUDGET {
            return Err(format!(
                "the picture is {source_width} x {source_height} pixels, more than the {PIXEL_BUDGET} this tool \
                 decodes: not drawn"
            ));
        }
        let interlaced = info.interlaced;
        let (color, depth) = reader.output_color_type();
        if depth != BitDepth::Eight {
            return Err(format!("unexpected bit depth {depth:?} after expansion"));
        }
        let channels = color.samples();
        let scale = f64::from(max_width.max(1)) / f64::from(source_width.max(1));
        let scale = scale.min(f64::from(max_height.max(1)) / f64::from(source_height.max(1))).min(1.0);
        let width = ((f64::from(source_width) * scale).round() as u32).clamp(1, source_width.max(1));
        let height = ((f64::from(source_height) * scale).round() as u32).clamp(1, source_height.max(1));
        let mut boxes = Boxes::new(width, height, source_width, source_height);
        if interlaced {
            let size = reader.output_buffer_size().ok_or("an interlaced PNG too large to decode")?;
            if size > INTERLACED_LIMIT {
                return Err(format!("an interlaced PNG of {size} bytes decoded is too large"));
            }
            let mut frame = vec![0; size];
            let frame_info = reader.next_frame(&mut frame).map_err(|e| e.to_string())?;
            for (y, row) in frame.chunks(frame_info.line_size).take(source_height as usize).enumerate() {
                boxes.add_row(y as u32, row, color, channels);
            }
        } else {
            let mut y = 0;
            while let Some(row) = reader.next_row().map_err(|e| e.to_string())? {
                boxes.add_row(y, row.data(), color, channels);
                y += 1;
            }
        }
        Ok(boxes.finish())
    }

    /// The pixel at `x`, `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// The picture as a PNG.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(ColorType::Rgb);
        encoder.set_depth(BitDepth::Eight);
        // Writing into memory cannot fail, and the sizes agree by construction.
        if let Ok(mut writer) = encoder.write_header() {
            let _ = writer.write_image_data(&self.rgb);
        }
        out
    }
}

/// Sums of the source pixels falling in each pixel of the scaled picture.
struct Boxes {
    width: u32,
    height: u32,
    source_width: u32,
    source_height: u32,
    sums: Vec<[u32; 4]>,
}

impl Boxes {
    fn new(width: u32, height: u32, source_width: u32, source_height: u32) -> Self {
        Self { width, height, source_width, source_height, sums: vec![[0; 4]; width as usize * height as usize] }
    }

    fn add_row(&mut self, y: u32, row: &[u8], color: ColorType, channels: usize) {
        if y >= self.source_height {
            return;
        }
        let out_y = (u64::from(y) * u64::from(self.height) / u64::from(self.source_height)) as usize;
        for (x, pixel) in row.chunks_exact(channels).take(self.source_width as usize).enumerate() {
            let out_x = (x as u64 * u64::from(self.width) / u64::from(self.source_width)) as usize;
            let [r, g, b] = rgb(pixel, color);
            let sum = &mut self.sums[out_y * self.width as usize + out_x];
            sum[0] += u32::from(r);
            sum[1] += u32::from(g);
            sum[2] += u32::from(b);
            sum[3] += 1;
        }
    }

    fn finish(self) -> Picture {
        let rgb = self
            .sums
            .iter()
            .flat_map(|&[r, g, b, n]| {
                let n = n.max(1);
                [(r / n) as u8, (g / n) as u8, (b / n) as u8]
            })
            .collect();
        Picture { width: self.width, height: self.height, rgb }
    }
}

/// One expanded 8-bit pixel as RGB, alpha taken over black.
fn rgb(pixel: &[u8], color: ColorType) -> [u8; 3] {
    let over_black = |value: u8, alpha: u8| (u16::from(value) * u16::from(alpha) / 255) as u8;
    match color {
        ColorType::Grayscale => [pixel[0]; 3],
        ColorType::GrayscaleAlpha => [over_black(pixel[0], pixel[1]); 3],
        ColorType::Rgba => {
            [over_black(pixel[0], pixel[3]), over_black(pixel[1], pixel[3]), over_black(pixel[2], pixel[3])]
        }
        // RGB, and palettes (expanded to RGB).
        _ => [pixel[0], pixel[1], pixel[2]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8 x 8 Adam7-interlaced RGBA PNG, every pixel (200, 100, 50, 255); the encoder writes
    /// no interlaced PNGs, so this one was put together by hand (zlib and CRCs from Python).
    const INTERLACED: &str = "89504e470d0a1a0a0000000d4948445200000008000000080806000001b3088e1d000000174944415478da63389162f49f014e1060d0576000140000a0c69741e02e32ac0000000049454e44ae426082";

    fn png(width: u32, height: u32, color: ColorType, pixel: impl Fn(u32, u32) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(BitDepth::Eight);
        let data: Vec<u8> =
            (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).flat_map(|(x, y)| pixel(x, y)).collect();
        encoder.write_header().expect("header").write_image_data(&data).expect("data");
        out
    }

    #[test]
    fn scales_down_by_averaging_and_keeps_the_aspect() {
        // Left half red, right half blue, 400 x 100.
        let source = png(400, 100, ColorType::Rgb, |x, _| if x < 200 { vec![255, 0, 0] } else { vec![0, 0, 255] });
        let picture = Picture::from_png(&source, 40, 40).expect("decodes");
        assert_eq!((picture.width, picture.height), (40, 10));
        assert_eq!(picture.pixel(0, 0), [255, 0, 0]);
        assert_eq!(picture.pixel(39, 9), [0, 0, 255]);
        let again = Picture::from_png(&picture.to_png(), 100, 100).expect("round trip");
        assert_eq!(again, picture, "never scaled up, and the PNG written reads back the same");
    }

    #[test]
    fn gray_alpha_and_interlaced_pngs_come_out_rgb() {
        let gray = png(8, 8, ColorType::Grayscale, |_, _| vec![100]);
        assert_eq!(Picture::from_png(&gray, 8, 8).expect("gray").pixel(3, 3), [100, 100, 100]);
        let half = png(8, 8, ColorType::Rgba, |_, _| vec![200, 100, 50, 128]);
        assert_eq!(Picture::from_png(&half, 8, 8).expect("rgba").pixel(1, 1), [100, 50, 25], "over black");
        let interlaced = hex::decode(INTERLACED).expect("hex");
        let picture = Picture::from_png(&interlaced, 4, 4).expect("interlaced rgba");
        assert_eq!((picture.width, picture.height, picture.pixel(3, 3)), (4, 4, [200, 100, 50]));
        assert!(Picture::from_png(b"not a png", 4, 4).is_err());
    }

    #[test]
    fn a_picture_past_the_pixel_budget_is_not_decoded() {
        // A 1 x 1 PNG whose header then claims 40000 x 40000 pixels (its CRC made right).
        let mut bomb = png(1, 1, ColorType::Rgb, |_, _| vec![1, 2, 3]);
        bomb[16..20].copy_from_slice(&40_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&40_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let refused = Picture::from_png(&bomb, 8, 8).expect_err("refused");
        assert!(refused.contains("40000 x 40000 pixels"), "{refused}");
    }
}
