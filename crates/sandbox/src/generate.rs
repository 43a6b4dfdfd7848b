//! Generates deliverable zips laid out like Wyvern's product delivery: a `<guid>_l1b` folder with
//! the STAC catalog and a product folder holding the float32 radiance GeoTIFF, the data mask and
//! pixel-quality mask GeoTIFFs, preview and thumbnail PNGs and the STAC item, whose assets carry
//! `file:size` and `file:checksum` (BLAKE2b-512 multihash). Everything is streamed: memory use
//! does not depend on the size asked for.

// A synchronous writer: the replica runs it on a blocking thread.
#![allow(clippy::disallowed_methods)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use blake2::{Blake2b512, Digest};
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::tiff::{GeoRef, SampleKind, TiffSpec};

/// Multihash prefix of a BLAKE2b-512 digest: code 0xb240 as a varint, then length 64.
const BLAKE2B_512_MULTIHASH: &str = "c0e40240";
const NODATA: f32 = -9999.0;

/// The product a deliverable holds.
#[derive(Debug, Clone)]
pub struct Product {
    /// The collection attempt's GUID.
    pub guid: String,
    /// e.g. `dragonette-003`.
    pub platform: String,
    /// `YYYYMMDDThhmmss`.
    pub capture: String,
    /// 23 (Standard VNIR) or 31 (Extended VNIR).
    pub bands: u16,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Product {
    /// A product for `deliverable_id` whose zip is close to `target_bytes` (never below a
    /// 16 x 14 image).
    pub fn for_deliverable(deliverable_id: &str, target_bytes: u64) -> Self {
        let seed = seed_of(deliverable_id);
        let bands = if seed.is_multiple_of(3) { 23 } else { 31 };
        // Bytes per pixel: radiance, both masks, and an incompressible RGB preview.
        let per_pixel = u64::from(bands) * 4 + 4 + u64::from(bands) + 3;
        // A scene a little wider than tall (8:7), as Dragonette strips are.
        let pixels = (target_bytes / per_pixel) as f64;
        let width = (pixels * 8.0 / 7.0).sqrt().max(16.0) as u32;
        let height = ((pixels / f64::from(width)) as u32).max(14);
        let hex = format!("{:016x}{:016x}", seed, seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
        let guid = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        Self {
            guid,
            platform: if bands == 23 { "dragonette-001" } else { "dragonette-003" }.to_owned(),
            capture: "20250319T000402".to_owned(),
            bands,
            width,
            height,
        }
    }

    /// The file-name stem, e.g. `wyvern_dragonette-003_20250319T000402_a60915a4_l1b`.
    pub fn stem(&self) -> String {
        format!("wyvern_{}_{}_{}_l1b", self.platform, self.capture, &self.guid[..8])
    }

    fn wavelengths_nm(&self) -> Vec<u32> {
        let (first, last) = if self.bands == 23 { (503, 799) } else { (445, 870) };
        let n = u32::from(self.bands);
        (0..n).map(|i| first + (last - first) * i / (n - 1)).collect()
    }

    fn geo(&self) -> GeoRef {
        GeoRef { west: -62.41, north: -17.57, pixel_width: 4.7e-5, pixel_height: 4.5e-5 }
    }
}

/// Writes the deliverable zip for `product` to `path`, returning its size.
pub fn write_deliverable(product: &Product, path: &Path) -> io::Result<u64> {
    let file = File::create(path)?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let folder = format!("{}_l1b", product.guid);
    let stem = product.stem();
    let dir = format!("{folder}/{stem}");
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);

    put_json(&mut zip, &format!("{folder}/catalog.json"), &catalog(&folder, &stem), deflated)?;

    let names: Vec<String> = product.wavelengths_nm().iter().map(|nm| format!("Band_{nm}nm")).collect();
    let mut rng = Rng(seed_of(&product.guid));
    let radiance = TiffSpec {
        width: product.width,
        height: product.height,
        bands: product.bands,
        kind: SampleKind::F32,
        nodata: "-9999".to_owned(),
        geo: product.geo(),
        band_names: names.clone(),
    };
    let data = put_member(
        &mut zip,
        &format!("{dir}/{stem}.tiff"),
        stored.large_file(radiance.file_size() > u64::from(u32::MAX) / 2),
        |w| {
            radiance
                .write(w, |row, buf| {
                    for (i, sample) in buf.chunks_exact_mut(4).enumerate() {
                        let value = if is_nodata(product, row, i / usize::from(product.bands)) {
                            NODATA
                        } else {
                            20.0 + (rng.next() % 100_000) as f32 / 1000.0
                        };
                        sample.copy_from_slice(&value.to_le_bytes());
                    }
                })
                .map(drop)
        },
    )?;

    let [mask, pq] = put_masks(&mut zip, product, &radiance, &names, &mut rng, &format!("{dir}/{stem}"))?;

    let preview = put_member(&mut zip, &format!("{dir}/{stem}_preview.png"), stored, |w| {
        write_png(w, product.width, product.height, &mut rng)
    })?;
    let thumbnail = put_member(&mut zip, &format!("{dir}/{stem}_thumbnail.png"), stored, |w| {
        write_png(w, product.width.div_ceil(8), product.height.div_ceil(8), &mut rng)
    })?;

    let item = stac_item(product, &names, [&data, &mask, &pq, &preview, &thumbnail]);
    put_json(&mut zip, &format!("{dir}/{stem}.json"), &item, deflated)?;
    let mut out = zip.finish()?;
    out.flush()?;
    out.get_ref().sync_all()?;
    out.get_ref().metadata().map(|m| m.len())
}

/// The delivery's root catalog, linking its item.
fn catalog(folder: &str, stem: &str) -> Value {
    json!({
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": folder,
        "description": "Wyvern product delivery",
        "links": [
            { "rel": "root", "href": "./catalog.json", "type": "application/json" },
            { "rel": "item", "href": format!("./{stem}/{stem}.json"), "type": "application/json" }
        ]
    })
}

/// The data mask and the pixel-quality mask, beside the radiance (`prefix` is its path without
/// `.tiff`).
fn put_masks<W: Write + io::Seek>(
    zip: &mut ZipWriter<W>,
    product: &Product,
    radiance: &TiffSpec,
    names: &[String],
    rng: &mut Rng,
    prefix: &str,
) -> io::Result<[Written; 2]> {
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mask_names =
        ["QA_CLEAR_MASK", "QA_CLOUD_MASK", "QA_HAZE_MASK", "QA_CLOUD_SHADOW_MASK"].map(str::to_owned).to_vec();
    let data_mask = TiffSpec {
        bands: 4,
        kind: SampleKind::U8,
        nodata: "255".to_owned(),
        band_names: mask_names,
        ..radiance.clone()
    };
    let mask = put_member(zip, &format!("{prefix}_data_mask.tiff"), stored, |w| {
        data_mask
            .write(w, |row, buf| {
                for (col, pixel) in buf.chunks_exact_mut(4).enumerate() {
                    let clear = u8::from(!rng.next().is_multiple_of(10));
                    let values = if is_nodata(product, row, col) { [255; 4] } else { [clear, 1 - clear, 0, 0] };
                    pixel.copy_from_slice(&values);
                }
            })
            .map(drop)
    })?;

    let quality = TiffSpec {
        kind: SampleKind::U8,
        nodata: "255".to_owned(),
        band_names: names.iter().map(|n| format!("{n} Pixel Quality Mask")).collect(),
        ..radiance.clone()
    };
    let pq = put_member(zip, &format!("{prefix}_pixel_quality_mask.tiff"), stored, |w| {
        quality
            .write(w, |row, buf| {
                let bands = usize::from(product.bands);
                for (i, sample) in buf.iter_mut().enumerate() {
                    *sample =
                        if is_nodata(product, row, i / bands) { 255 } else { u8::from(rng.next().is_multiple_of(50)) };
                }
            })
            .map(drop)
    })?;

    Ok([mask, pq])
}

/// Size and BLAKE2b-512 of a member, for its STAC asset.
struct Written {
    href: String,
    size: u64,
    checksum: String,
}

fn put_member<W: Write + io::Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    options: SimpleFileOptions,
    write: impl FnOnce(&mut Hashing<'_, ZipWriter<W>>) -> io::Result<()>,
) -> io::Result<Written> {
    zip.start_file(name, options)?;
    let mut hashing = Hashing { inner: zip, hasher: Blake2b512::new(), size: 0 };
    write(&mut hashing)?;
    let href = format!("./{}", name.rsplit('/').next().unwrap_or(name));
    Ok(Written {
        href,
        size: hashing.size,
        checksum: format!("{BLAKE2B_512_MULTIHASH}{}", hex::encode(hashing.hasher.finalize())),
    })
}

fn put_json<W: Write + io::Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    value: &Value,
    options: SimpleFileOptions,
) -> io::Result<()> {
    zip.start_file(name, options)?;
    serde_json::to_writer_pretty(&mut *zip, value)?;
    Ok(())
}

fn write_png(out: &mut impl Write, width: u32, height: u32, rng: &mut Rng) -> io::Result<()> {
    let mut encoder = png::Encoder::new(&mut *out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(io::Error::other)?;
    let mut stream = writer.stream_writer().map_err(io::Error::other)?;
    let mut row = vec![0u8; width as usize * 3];
    for _ in 0..height {
        row.iter_mut().for_each(|b| *b = rng.next() as u8);
        stream.write_all(&row)?;
    }
    stream.finish().map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)
}

fn stac_item(product: &Product, names: &[String], [data, mask, pq, preview, thumbnail]: [&Written; 5]) -> Value {
    let geo = product.geo();
    let east = geo.west + geo.pixel_width * f64::from(product.width);
    let south = geo.north - geo.pixel_height * f64::from(product.height);
    let wavelengths = product.wavelengths_nm();
    let eo_bands: Vec<Value> = names
        .iter()
        .zip(&wavelengths)
        .map(|(name, nm)| json!({ "name": name, "center_wavelength": f64::from(*nm) / 1000.0, "full_width_half_max": 0.0155 }))
        .collect();
    let raster_bands = vec![
        json!({ "nodata": -9999, "sampling": "area", "data_type": "float32", "unit": "W⋅sr-1⋅m-2⋅µm-1", "scale": 1.0, "offset": 0.0 });
        names.len()
    ];
    let file = |w: &Written| json!({ "file:size": w.size, "file:checksum": w.checksum });
    let asset = |w: &Written, media: &str, title: &str, roles: Value, mut extra: Value| {
        let mut asset = json!({ "href": w.href, "type": media, "title": title, "roles": roles });
        if let (Some(target), Some(more)) = (asset.as_object_mut(), extra.as_object_mut()) {
            target.append(more);
            target.append(file(w).as_object_mut().expect("object"));
        }
        asset
    };
    let cog = "image/tiff; application=geotiff; profile=cloud-optimized";
    json!({
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/file/v2.1.0/schema.json"
        ],
        "id": product.stem(),
        "geometry": { "type": "Polygon", "coordinates": [[[geo.west, geo.north], [east, geo.north], [east, south], [geo.west, south], [geo.west, geo.north]]] },
        "bbox": [geo.west, south, east, geo.north],
        "properties": {
            "datetime": "2025-03-19T00:04:02Z",
            "processing:level": "L1B",
            "processing:facility": "Wyvern",
            "platform": format!("Dragonette-{}", &product.platform[product.platform.len() - 3..]),
            "constellation": "Dragonette",
            "instruments": ["VNIR Hyperspectral Imaging Sensor"],
            "proj:epsg": 4326,
            "proj:shape": [product.height, product.width],
            "eo:cloud_cover": 10.0,
            "gsd": 5.0,
            "license": "proprietary"
        },
        "links": [{ "rel": "root", "href": "../catalog.json", "type": "application/json" }],
        "assets": {
            "Cloud optimized GeoTiff": asset(data, cog, "Cloud optimized GeoTiff", json!(["data"]), json!({ "eo:bands": eo_bands, "raster:bands": raster_bands })),
            "Data Mask": asset(mask, cog, "Data Mask", json!(["data-mask", "clear", "cloud", "haze", "cloud-shadow"]), json!({})),
            "Pixel Quality Mask": asset(pq, cog, "Pixel Quality Mask", json!(["data-mask", "interpolated"]), json!({})),
            "Overview image": asset(preview, "image/png", "Overview image", json!(["overview"]), json!({})),
            "Thumbnail image": asset(thumbnail, "image/png", "Thumbnail image", json!(["thumbnail"]), json!({})),
            "stac_metadata": { "href": format!("./{}.json", product.stem()), "type": "application/json", "title": "JSON Metadata", "roles": "metadata" }
        }
    })
}

/// A triangle of no-data in the top-left corner, as swath edges look in real scenes.
fn is_nodata(product: &Product, row: u32, col: usize) -> bool {
    (row as usize + col) < (product.width / 8) as usize
}

/// Feeds a BLAKE2b-512 hasher with what is written through it.
struct Hashing<'a, W> {
    inner: &'a mut W,
    hasher: Blake2b512,
    size: u64,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stable seed for a name (FNV-1a), so a deliverable is the same bytes on every run.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// xorshift64*: fast, deterministic, good enough to make pixel data incompressible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
