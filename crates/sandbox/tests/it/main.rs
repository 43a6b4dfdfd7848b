//! The generator makes deliverables that real parsers accept and whose STAC item is truthful.

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

use std::io::Read;

use blake2::{Blake2b512, Digest};
use wyvern_sandbox::generate::{Product, write_deliverable};

fn generate(id: &str, size: u64) -> (tempfile::TempDir, std::path::PathBuf, Product) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.zip");
    let product = Product::for_deliverable(id, size);
    write_deliverable(&product, &path).expect("generate");
    (dir, path, product)
}

#[test]
fn layout_follows_wyvern_product_delivery() {
    let (_dir, path, product) = generate("00000000-0000-0000-0000-000000000001", 256 << 10);
    let archive = zip::ZipArchive::new(std::fs::File::open(&path).expect("open")).expect("zip");
    let mut names: Vec<String> = archive.file_names().map(|n| n.expect("name").into_owned()).collect();
    names.sort();
    let folder = format!("{}_l1b", product.guid);
    let stem = product.stem();
    let mut expected = vec![
        format!("{folder}/catalog.json"),
        format!("{folder}/{stem}/{stem}.json"),
        format!("{folder}/{stem}/{stem}.tiff"),
        format!("{folder}/{stem}/{stem}_data_mask.tiff"),
        format!("{folder}/{stem}/{stem}_pixel_quality_mask.tiff"),
        format!("{folder}/{stem}/{stem}_preview.png"),
        format!("{folder}/{stem}/{stem}_thumbnail.png"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert!(stem.starts_with("wyvern_dragonette-00") && stem.ends_with("_l1b"), "{stem}");
}

#[test]
fn stac_checksums_sizes_and_tiff_headers_are_truthful() {
    let (_dir, path, product) = generate("deliverable-for-checks", 300 << 10);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).expect("open")).expect("zip");
    let stem = product.stem();
    let dir = format!("{}_l1b/{stem}", product.guid);
    let mut item = String::new();
    archive.by_name(&format!("{dir}/{stem}.json")).expect("item").read_to_string(&mut item).expect("read");
    let item: serde_json::Value = serde_json::from_str(&item).expect("json");
    assert_eq!(item["properties"]["proj:shape"], serde_json::json!([product.height, product.width]));
    let assets = item["assets"].as_object().expect("assets");
    let mut checked = 0;
    for asset in assets.values().filter(|a| a.get("file:checksum").is_some()) {
        let href = asset["href"].as_str().expect("href").trim_start_matches("./");
        let mut bytes = Vec::new();
        archive.by_name(&format!("{dir}/{href}")).expect("member").read_to_end(&mut bytes).expect("read");
        assert_eq!(asset["file:size"].as_u64(), Some(bytes.len() as u64), "{href}");
        let checksum = format!("c0e40240{}", hex::encode(Blake2b512::digest(&bytes)));
        assert_eq!(asset["file:checksum"].as_str(), Some(checksum.as_str()), "{href}");
        checked += 1;
    }
    assert_eq!(checked, 5);

    let mut data = Vec::new();
    archive.by_name(&format!("{dir}/{stem}.tiff")).expect("tiff").read_to_end(&mut data).expect("read");
    let mut decoder = tiff::decoder::Decoder::new(std::io::Cursor::new(data)).expect("a TIFF the tiff crate reads");
    assert_eq!(decoder.dimensions().expect("dims"), (product.width, product.height));
    let samples = decoder.get_tag_u32(tiff::tags::Tag::SamplesPerPixel).expect("samples");
    assert_eq!(samples, u32::from(product.bands));
    assert!(matches!(product.bands, 23 | 31));
    let formats = decoder.get_tag_u16_vec(tiff::tags::Tag::SampleFormat).expect("format");
    assert_eq!(formats, vec![3; usize::from(product.bands)], "IEEE float in every band");
    assert_eq!(decoder.get_tag_ascii_string(tiff::tags::Tag::GdalNodata).expect("nodata"), "-9999");
    let geokeys = decoder.get_tag_u16_vec(tiff::tags::Tag::GeoKeyDirectoryTag).expect("geokeys");
    assert_eq!(&geokeys[geokeys.len() - 4..], &[2048, 0, 1, 4326]);
    let image = decoder.read_image().expect("pixels decode");
    let tiff::decoder::DecodingResult::F32(pixels) = image else { panic!("not float32") };
    assert_eq!(pixels.len(), product.width as usize * product.height as usize * usize::from(product.bands));
    assert_eq!(pixels[0], -9999.0, "top-left corner is no-data");
}

#[test]
fn size_follows_the_request_and_bytes_are_deterministic() {
    let (_a, first, _) = generate("same", 2 << 20);
    let (_b, second, _) = generate("same", 2 << 20);
    let (len_a, len_b) =
        (std::fs::metadata(&first).expect("meta").len(), std::fs::metadata(&second).expect("meta").len());
    assert!((1_600_000..2_600_000).contains(&len_a), "{len_a}");
    assert_eq!(len_a, len_b);
    assert_eq!(std::fs::read(&first).expect("read"), std::fs::read(&second).expect("read"));
}
