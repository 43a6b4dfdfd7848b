//! Verification and inspection over generated deliverables and hand-made bad zips: each case with
//! its expected report.

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

mod checksums;
mod layouts;
mod writer;

use std::io::{BufRead, Cursor, Read, Write};

use wyvern_sandbox::generate::{Product, write_deliverable};
use wyvern_unpack::{
    DigestPlan, Inspection, Listing, RandomAccess, VerifyError, inspect, inspect_random, verify_stream,
};
use zip::write::SimpleFileOptions;

/// A zip member: name, data, deflated?
type Member = (String, Vec<u8>, bool);

/// The members of a generated deliverable, in stored order.
fn deliverable() -> (Vec<Member>, Product) {
    deliverable_of(200 << 10)
}

/// The members of a generated deliverable of about `bytes`.
fn deliverable_of(bytes: u64) -> (Vec<Member>, Product) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("d.zip");
    let product = Product::for_deliverable("unpack-tests", bytes);
    write_deliverable(&product, &path).expect("generated");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).expect("open")).expect("zip");
    let members = (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("member");
            let mut data = Vec::new();
            file.read_to_end(&mut data).expect("read");
            (file.name().expect("name").into_owned(), data, file.compression() == zip::CompressionMethod::Deflated)
        })
        .collect();
    (members, product)
}

fn build(members: &[Member], large: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data, deflated) in members {
        let method = if *deflated { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = SimpleFileOptions::default().compression_method(method).large_file(large);
        writer.start_file(name.as_str(), options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

/// Rewrites the STAC item with `edit`.
fn edit_item(members: &mut [Member], edit: impl FnOnce(&mut serde_json::Value)) {
    let item = members.iter_mut().find(|(n, _, _)| n.ends_with("_l1b.json")).expect("item");
    let mut value: serde_json::Value = serde_json::from_slice(&item.1).expect("json");
    edit(&mut value);
    item.1 = serde_json::to_vec(&value).expect("json");
}

/// A full pass as the CLI runs it on a zip it can reach at random: the items read ahead for the
/// digest plan, then every byte once.
fn verify(zip: &[u8]) -> Result<Listing, VerifyError> {
    let plan = random(zip.to_vec()).map_or_else(|_| DigestPlan::unknown(), |i| DigestPlan::from_inspection(&i));
    verify_whole_and_chunked(zip, &plan)
}

/// The pass over `zip` in one piece, and the same pass over it in chunks of several sizes (as
/// the network hands them on), which must come to the same verdict: the same listing, or the
/// same error, to its byte offsets. (How many bytes a deflated member had produced when it went
/// past its size, and how invalid deflate data shows, depend on how much the inflater was given
/// at a time: there, the same member and size, or a refusal either way, is enough.)
fn verify_whole_and_chunked(zip: &[u8], plan: &DigestPlan) -> Result<Listing, VerifyError> {
    let whole = verify_stream(zip, None, plan);
    let verdict = |result: &Result<Listing, VerifyError>| match result {
        Err(VerifyError::Malformed { reason, .. }) if reason.contains("invalid deflate data") => None,
        Err(VerifyError::SizeMismatch { entry, expected, .. }) => Some(format!("{entry} is not {expected} bytes")),
        other => Some(format!("{other:?}")),
    };
    for sizes in [&[1][..], &[7, 1, 300, 2], &[4093, 30, 65_539], &[300_001]] {
        let chunked = verify_stream(Chunked::new(zip, sizes), None, plan);
        let context = format!("{whole:?} whole, {chunked:?} in chunks of {sizes:?}");
        match (verdict(&whole), verdict(&chunked)) {
            (Some(whole), Some(chunked)) => assert_eq!(whole, chunked, "{context}"),
            _ => assert!(whole.is_err() && chunked.is_err(), "{context}"),
        }
    }
    whole
}

/// `data` handed out in chunks of the sizes `sizes` cycles through.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: std::iter::Cycle<std::slice::Iter<'a, usize>>,
    at: usize,
    chunk_end: usize,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], sizes: &'a [usize]) -> Self {
        Self { data, sizes: sizes.iter().cycle(), at: 0, chunk_end: 0 }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunked<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.chunk_end {
            let size = self.sizes.next().copied().unwrap_or(usize::MAX);
            self.chunk_end = self.at.saturating_add(size).min(self.data.len());
        }
        Ok(&self.data[self.at..self.chunk_end])
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }
}

/// The verdict of a full pass, in one line: `ok` or the error or the problems (warnings after
/// `warn:`).
fn check(zip: &[u8]) -> String {
    match verify(zip) {
        Ok(listing) => verdict(&inspect("test.zip", &listing, true)),
        Err(e) => format!("error: {e}"),
    }
}

fn verdict(inspection: &Inspection) -> String {
    let line = |p: &wyvern_unpack::Problem| format!("{} [{}] {}", short(&p.member), p.check, p.message);
    let mut parts: Vec<String> = inspection.problems.iter().map(line).collect();
    if parts.is_empty() {
        parts.push("ok".to_owned());
    }
    parts.extend(inspection.warnings.iter().map(|w| format!("warn: {}", line(w))));
    parts.join("; ")
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn random(zip: Vec<u8>) -> Result<Inspection, String> {
    struct Bytes(Vec<u8>);
    impl RandomAccess for Bytes {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
            let start = (offset as usize).min(self.0.len());
            Ok(self.0[start..(start + len).min(self.0.len())].to_vec())
        }
    }
    inspect_random("test.zip", &mut Bytes(zip)).map_err(|e| format!("error: {e}"))
}

#[test]
fn good_deliverable_verifies_and_inspects_the_same_both_ways() {
    let (members, product) = deliverable();
    let zip = build(&members, false);
    assert_eq!(check(&zip), "ok");
    let full = inspect("test.zip", &verify(&zip).expect("verified"), true);
    let headers = random(zip).expect("inspected");
    assert_eq!(verdict(&headers), "ok");
    assert_eq!(
        (full.entries.clone(), full.items.clone(), full.rasters.clone()),
        (headers.entries, headers.items, headers.rasters)
    );
    let kinds: Vec<String> = full
        .entries
        .iter()
        .map(|e| serde_json::to_value(e.kind).expect("kind").as_str().expect("str").to_owned())
        .collect();
    assert_eq!(kinds, ["catalog", "imagery", "mask", "mask", "preview", "thumbnail", "metadata"]);
    let raster = &full.rasters.iter().find(|r| r.name.ends_with("_l1b.tiff")).expect("imagery raster");
    assert_eq!((raster.width, raster.height, raster.bands), (product.width, product.height, u32::from(product.bands)));
    assert_eq!(
        (raster.data_type.as_str(), raster.epsg, raster.nodata.as_deref()),
        ("float32", Some(4326), Some("-9999"))
    );
    let item = &full.items[0];
    assert_eq!(item.shape, Some(vec![u64::from(product.height), u64::from(product.width)]));
    assert_eq!(item.bands.len(), usize::from(product.bands));
    assert_eq!(item.processing_level.as_deref(), Some("L1B"));
}

#[test]
fn zip64_records_verify() {
    let (members, _) = deliverable();
    assert_eq!(check(&build(&members, true)), "ok");
    assert_eq!(verdict(&random(build(&members, true)).expect("inspected")), "ok");
}

#[test]
fn bad_crc_names_the_member() {
    let (members, _) = deliverable();
    let mut zip = build(&members, false);
    let data_start = zip.windows(8).position(|w| w == b"II*\0\x08\0\0\0").expect("the TIFF");
    zip[data_start + 5000] ^= 0x55;
    let verdict = check(&zip);
    assert!(verdict.starts_with("error: ") && verdict.contains("_l1b.tiff: CRC-32 mismatch: expected"), "{verdict}");
}

#[test]
fn wrong_stac_checksum_and_size_are_reported_with_expected_and_actual() {
    let (mut members, _) = deliverable();
    edit_item(&mut members, |item| {
        item["assets"]["Data Mask"]["file:checksum"] = serde_json::json!(format!("c0e40240{}", "ab".repeat(64)));
        item["assets"]["Overview image"]["file:size"] = serde_json::json!(12345);
    });
    let verdict = check(&build(&members, false));
    assert!(verdict.contains("_data_mask.tiff [file:checksum] checksum: expected c0e40240abab"), "{verdict}");
    assert!(verdict.contains("_preview.png [file:size] size: expected 12345, found"), "{verdict}");
    // Header-only inspection sees sizes, not checksums.
    let headers = verdict_of_random(build(&members, false));
    assert!(headers.contains("[file:size]") && !headers.contains("[file:checksum]"), "{headers}");
}

fn verdict_of_random(zip: Vec<u8>) -> String {
    random(zip).map_or_else(|e| e, |i| verdict(&i))
}

#[test]
fn shape_and_band_count_mismatches_are_reported() {
    let (mut members, product) = deliverable();
    edit_item(&mut members, |item| {
        item["properties"]["proj:shape"] = serde_json::json!([1, 2]);
        let bands = item["assets"]["Cloud optimized GeoTiff"]["eo:bands"].as_array_mut().expect("bands");
        bands.pop();
    });
    let verdict = check(&build(&members, false));
    let shape = format!(
        "[proj:shape] proj:shape (rows, columns): expected [1, 2], found [{}, {}]",
        product.height, product.width
    );
    assert!(verdict.contains(&shape), "{verdict}");
    let bands = format!("[band-count] band count (eo:bands): expected {}, found {}", product.bands - 1, product.bands);
    assert!(verdict.contains(&bands), "{verdict}");
}

#[test]
fn missing_asset_and_broken_catalog_link_are_reported() {
    let (mut members, _) = deliverable();
    members.retain(|(n, _, _)| !n.ends_with("_thumbnail.png"));
    let catalog = members.iter_mut().find(|(n, _, _)| n.ends_with("catalog.json")).expect("catalog");
    catalog.1 = br#"{"type":"Catalog","id":"x","links":[{"rel":"item","href":"./nowhere/item.json"}]}"#.to_vec();
    let verdict = check(&build(&members, false));
    assert!(verdict.contains("[stac-asset] asset \"Thumbnail image\" points to: expected member"), "{verdict}");
    assert!(verdict.contains("catalog.json [catalog-link] the item link: expected member"), "{verdict}");
}

#[test]
fn zip_slip_names_are_refused() {
    for name in ["../evil.sh", "/etc/cron.d/evil", "a/../../evil", "C:\\Windows\\evil.dll"] {
        let zip = build(&[(name.to_owned(), b"x".to_vec(), false)], false);
        let verdict = check(&zip);
        assert!(verdict.starts_with(&format!("error: {name}: unsafe member path")), "{name}: {verdict}");
        assert!(random(zip).expect_err("refused").contains("unsafe member path"), "{name}");
    }
}

#[test]
fn duplicate_names_are_refused() {
    let mut zip =
        build(&[("a.json".to_owned(), b"{}".to_vec(), false), ("b.json".to_owned(), b"{}".to_vec(), false)], false);
    // Rename b.json to a.json in its local and central headers.
    for i in 0..zip.len() - 6 {
        if &zip[i..i + 6] == b"b.json" {
            zip[i] = b'a';
        }
    }
    assert_eq!(check(&zip), "error: a.json: the name appears twice");
    assert_eq!(random(zip).expect_err("refused"), "error: a.json: the name appears twice");
}

#[test]
fn encrypted_members_are_refused() {
    let mut zip = build(&[("secret.tiff".to_owned(), vec![1; 100], false)], false);
    // Set the encryption flag in the local header (offset 6) and the central header (offset 8).
    zip[6] |= 1;
    let central = zip.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).expect("central");
    zip[central + 8] |= 1;
    let verdict = check(&zip);
    assert!(verdict.contains("secret.tiff") && verdict.to_lowercase().contains("encrypt"), "{verdict}");
    assert_eq!(random(zip).expect_err("refused"), "error: secret.tiff: encrypted members are not supported");
}

#[test]
fn bombs_are_refused_before_they_expand() {
    let zip = build(&[("bomb.tiff".to_owned(), vec![0; 100 << 20], true)], false);
    assert!(zip.len() < 1 << 20);
    let verdict = check(&zip);
    assert!(
        verdict.starts_with("error: bomb.tiff: compression ratio") && verdict.contains("past the limit of 100:1"),
        "{verdict}"
    );
    assert!(random(zip).expect_err("refused").contains("compression ratio"));
}

#[test]
fn truncated_and_trailing_garbage() {
    let (members, _) = deliverable();
    let zip = build(&members, false);
    assert!(
        check(&zip[..zip.len() / 2]).starts_with("error: the zip is truncated"),
        "{}",
        check(&zip[..zip.len() / 2])
    );
    assert_eq!(
        random(zip[..zip.len() - 30].to_vec()).expect_err("refused"),
        "error: invalid zip at offset 200000: no end-of-central-directory record: not a zip, or truncated"
            .replace("200000", &(zip.len() - 30).to_string())
    );
    let mut trailing = zip.clone();
    trailing.extend_from_slice(b"<html>junk</html>");
    assert_eq!(check(&trailing), "error: 17 bytes of trailing data after the end of the zip");
    assert!(random(trailing).expect_err("refused").contains("bytes follow the end of the zip"));
}

#[test]
fn central_directory_disagreeing_with_local_headers_is_refused() {
    let (members, _) = deliverable();
    let mut zip = build(&members, false);
    let central = zip.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).expect("central");
    zip[central + 20] ^= 0x01; // the compressed size of the first member
    let verdict = check(&zip);
    assert!(
        verdict.starts_with("error: ")
            && verdict.contains("catalog.json: the central directory says the compressed size is"),
        "{verdict}"
    );
}
