//! The differential corpus (`tests/corpus/`, written by `cargo xtask test`): zips from
//! independent writers are verified and extracted exactly as Python's `zipfile` and Info-ZIP's
//! `unzip` read them, ambiguous and malformed ones are refused, and GDAL's own GeoTIFFs are
//! reported as GDAL reads them and extracted pixel for pixel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wyvern_sandbox::{Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

/// The corpus folder from `cargo xtask test`, or `None` (with a note) when run without it.
fn corpus(var: &str) -> Option<(PathBuf, serde_json::Value)> {
    let Some(dir) = std::env::var_os(var).map(PathBuf::from) else {
        eprintln!("skipped: {var} is not set (cargo xtask test sets it)");
        return None;
    };
    let manifest = std::fs::read(dir.join("manifest.json")).expect("the corpus manifest");
    Some((dir.clone(), serde_json::from_slice(&manifest).expect("manifest JSON")))
}

/// Every file under `dir` (relative, `/`-separated) with its SHA-256; hidden files left out.
fn hashed(dir: &Path) -> BTreeMap<String, String> {
    files(dir)
        .into_iter()
        .filter(|f| !f.split('/').any(|part| part.starts_with('.')))
        .map(|f| {
            let digest = hex::encode(Sha256::digest(std::fs::read(dir.join(&f)).expect("read")));
            (f, digest)
        })
        .collect()
}

fn as_map(members: &serde_json::Value) -> BTreeMap<String, String> {
    members
        .as_object()
        .expect("members")
        .iter()
        .map(|(name, digest)| (name.clone(), digest.as_str().expect("digest").to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zips_from_every_writer_verify_and_extract_as_python_and_unzip_read_them() {
    let Some((dir, manifest)) = corpus("WYVERN_TEST_ZIP_CORPUS") else { return };
    let world = World::new().await;
    let valid = manifest["valid"].as_array().expect("valid zips");
    assert!(valid.len() >= 20, "the corpus holds every writer: {}", valid.len());
    for zip in valid {
        let (file, writer) = (zip["file"].as_str().expect("file"), zip["writer"].as_str().expect("writer"));
        let path = dir.join(file);
        let path = path.to_str().expect("utf-8");
        let expected = as_map(&zip["members"]);

        let verify = world.run(&["verify", path, "--json"]).await;
        assert_eq!(verify.code, 0, "{writer}: {verify:#?}");
        let report = &verify.json_lines()[0];
        assert_eq!(report["problems"], serde_json::json!([]), "{writer}");
        let listed: Vec<&str> = report["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .filter(|name| !name.ends_with('/'))
            .collect();
        assert_eq!(listed.len(), expected.len(), "{writer}: the same members as Python and unzip");

        let inspect = world.run(&["inspect", path, "--json"]).await;
        assert_eq!(inspect.code, 0, "{writer}: {inspect:#?}");
        assert_eq!(inspect.json_lines()[0]["entries"], report["entries"], "{writer}: inspect lists what verify read");

        let out = world.dir.path().join("extracted").join(writer);
        let extract = world.run(&["extract", path, "--to", out.to_str().expect("utf-8")]).await;
        assert_eq!(extract.code, 0, "{writer}: {extract:#?}");
        assert!(extract.stdout.starts_with("extracted  "), "{writer}: {}", extract.stdout);
        let stem = Path::new(file).file_stem().expect("stem").to_str().expect("utf-8");
        let written = hashed(&out.join(stem));
        assert_eq!(written, expected, "{writer}: extracted bytes are what Python and unzip read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_malformed_zips_are_refused_and_leave_nothing() {
    let Some((dir, manifest)) = corpus("WYVERN_TEST_ZIP_CORPUS") else { return };
    let world = World::new().await;
    let bad = manifest["ambiguous"].as_array().expect("ambiguous zips");
    assert!(bad.len() >= 20, "{}", bad.len());
    for zip in bad {
        let (file, why) = (zip["file"].as_str().expect("file"), zip["why"].as_str().expect("why"));
        let path = dir.join(file);
        let path = path.to_str().expect("utf-8");
        let verify = world.run(&["verify", path]).await;
        assert_eq!(verify.code, 3, "{file} ({why}) must be refused: {verify:#?}");
        let out = world.dir.path().join("refused");
        let extract = world.run(&["extract", path, "--to", out.to_str().expect("utf-8")]).await;
        assert_eq!(extract.code, 3, "{file}: {extract:#?}");
        assert_eq!(files(&out), Vec::<String>::new(), "{file}: nothing extracted");
        if why != "flipped-data-byte" {
            // A structure readers could see differently shows in a header-only inspection too.
            let inspect = world.run(&["inspect", path]).await;
            assert_eq!(inspect.code, 3, "{file} ({why}): {inspect:#?}");
        }
    }
}

/// Zips written by streaming writers (data descriptors, stored and deflated) through the real
/// download path: `deliverable download`, `order download --extract` and `sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_zips_download_sync_and_extract_from_the_api() {
    let Some((dir, manifest)) = corpus("WYVERN_TEST_ZIP_CORPUS") else { return };
    for writer in ["python-streaming-stored", "python-streaming-zip64-deflated", "infozip-streamed", "bsdtar-streamed"]
    {
        let zip = manifest["valid"].as_array().expect("valid").iter().find(|z| z["writer"] == writer).expect(writer);
        let path = dir.join(zip["file"].as_str().expect("file"));
        let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, &path)).await;
        let dest = world.dest();
        let dest_arg = dest.to_str().expect("utf-8");
        let download = world.run(&["deliverable", "download", TEST_DELIVERABLE, "--to", dest_arg, "--json"]).await;
        assert_eq!(download.code, 0, "{writer}: {download:#?}");
        assert_eq!(download.json_lines()[0]["verified"], true);
        let saved = std::fs::read(dest.join(format!("{TEST_DELIVERABLE}.zip"))).expect("saved");
        assert_eq!(saved, std::fs::read(&path).expect("corpus zip"), "{writer}");

        let extracted = world.dir.path().join("extracted");
        let run = world
            .run(&["order", "download", TEST_ORDER, "--to", extracted.to_str().expect("utf-8"), "--extract"])
            .await;
        assert_eq!(run.code, 0, "{writer}: {run:#?}");
        let written = hashed(&extracted.join(TEST_ORDER).join(TEST_DELIVERABLE));
        assert_eq!(written, as_map(&zip["members"]), "{writer}");

        let synced = world.dir.path().join("synced");
        let sync = world.run(&["sync", TEST_ORDER, "--to", synced.to_str().expect("utf-8")]).await;
        assert_eq!(sync.code, 0, "{writer}: {sync:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_geotiffs_are_reported_as_gdal_reads_them_and_extract_pixel_for_pixel() {
    let Some((dir, manifest)) = corpus("WYVERN_TEST_GEOTIFFS") else { return };
    let python = std::env::var("WYVERN_TEST_PYTHON").expect("WYVERN_TEST_PYTHON comes with WYVERN_TEST_GEOTIFFS");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/geotiffs.py");
    let world = World::new().await;
    for case in manifest.as_array().expect("cases") {
        let file = case["file"].as_str().expect("file");
        let path = dir.join(file);
        let path = path.to_str().expect("utf-8");
        let inspect = world.run(&["inspect", path, "--json"]).await;
        assert_eq!(inspect.code, 0, "{file}: {inspect:#?}");
        let report = &inspect.json_lines()[0];
        assert_eq!(report["problems"], serde_json::json!([]), "{file}");
        let raster = report["rasters"]
            .as_array()
            .expect("rasters")
            .iter()
            .find(|r| r["name"] == case["member"])
            .unwrap_or_else(|| panic!("{file}: no raster for {}", case["member"]));
        let gdal = &case["gdal"];
        for key in
            ["width", "height", "bands", "data_type", "epsg", "compression", "tiled", "block", "overviews", "predictor"]
        {
            assert_eq!(raster[key], gdal[key], "{file}: {key}");
        }
        let transform = |value: &serde_json::Value| -> Vec<f64> {
            value.as_array().expect("a transform").iter().map(|v| v.as_f64().expect("a number")).collect()
        };
        let (ours, theirs) = (transform(&raster["transform"]), transform(&gdal["transform"]));
        let close = ours.iter().zip(&theirs).all(|(a, b)| (a - b).abs() <= 1e-9 * b.abs().max(1.0));
        assert!(ours.len() == 6 && close, "{file}: transform {ours:?}, GDAL's {theirs:?}");
        let nodata: f64 = raster["nodata"].as_str().expect("nodata").parse().expect("a number");
        assert_eq!(Some(nodata), gdal["nodata"].as_f64(), "{file}: nodata");
        assert_eq!(raster["scale"].as_f64(), gdal["scale"].as_f64(), "{file}: scale from GDAL's metadata");
        assert_eq!(raster["offset"].as_f64(), gdal["offset"].as_f64(), "{file}: offset");
        let item = &report["items"][0];
        let stac = &case["stac"];
        assert_eq!(item["epsg"], stac["epsg"], "{file}: proj:epsg or proj:code");
        assert_eq!(item["proj_code"], stac["proj_code"], "{file}");
        assert_eq!(item["processing_level"], stac["level"], "{file}");
        assert_eq!(item["bands"][0]["scale"].as_f64(), stac["scale"].as_f64(), "{file}: raster:bands scale");
        assert_eq!(item["bands"][0]["offset"].as_f64(), stac["offset"].as_f64(), "{file}: raster:bands offset");

        let verify = world.run(&["verify", path]).await;
        assert_eq!(verify.code, 0, "{file}: {verify:#?}");
        let human = world.run(&["inspect", path]).await;
        if stac["scale"].is_number() {
            assert!(human.stdout.contains("values       scale 0.0001, offset 0"), "{}", human.stdout);
        }

        let out = world.dir.path().join("geotiffs");
        let extract = world.run(&["extract", path, "--to", out.to_str().expect("utf-8")]).await;
        assert_eq!(extract.code, 0, "{file}: {extract:#?}");
        let stem = file.trim_end_matches(".zip");
        let compared = std::process::Command::new(&python)
            .arg(&script)
            .args(["--compare", path])
            .arg(out.join(stem))
            .output()
            .expect("python runs");
        assert!(compared.status.success(), "{file}: {}", String::from_utf8_lossy(&compared.stderr));

        catalog_grid_is_gdal_s(path, case).await;
    }
}

/// The catalog's asset of a corpus GeoTIFF, zipped and extracted, has the grid GDAL reads from
/// it: `proj:shape`, `proj:transform`, `proj:bbox`, the CRS (`proj:epsg` in an item of the
/// projection extension's v1, `proj:code` otherwise) and a `raster:bands` entry per band.
async fn catalog_grid_is_gdal_s(zip: &str, case: &serde_json::Value) {
    let (file, member, gdal) =
        (case["file"].as_str().expect("file"), case["member"].as_str().expect("member"), &case["gdal"]);
    let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, Path::new(zip))).await;
    for extract in [false, true] {
        let dest = world.dir.path().join(format!("catalog-{extract}"));
        let mut args = vec!["sync", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--catalog"];
        if extract {
            args.push("--extract");
        }
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{file}: {run:#?}");
        let item = dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.item.json"));
        let item: serde_json::Value = serde_json::from_slice(&std::fs::read(item).expect("the item")).expect("JSON");
        let asset = item["assets"]
            .as_object()
            .expect("assets")
            .values()
            .find(|a| {
                let href = a["archive:href"].as_str().or(a["href"].as_str()).unwrap_or_default();
                href.ends_with(member.rsplit('/').next().expect("a name"))
            })
            .unwrap_or_else(|| panic!("{file} (extract {extract}): no asset of {member}: {item}"));
        assert_eq!(asset["proj:shape"], serde_json::json!([gdal["height"], gdal["width"]]), "{file}");
        let transform: Vec<f64> = serde_json::from_value(asset["proj:transform"].clone()).expect("proj:transform");
        let expected: Vec<f64> = serde_json::from_value(gdal["transform"].clone()).expect("GDAL's");
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
        };
        assert!(transform.len() == 6 && close(&transform, &expected), "{file}: {transform:?} vs GDAL's {expected:?}");
        // The bbox: the pixels' corners under GDAL's transform (north up here).
        let (w, h) = (gdal["width"].as_f64().expect("width"), gdal["height"].as_f64().expect("height"));
        let (x0, y0) = (expected[2], expected[5]);
        let (x1, y1) = (x0 + expected[0] * w, y0 + expected[4] * h);
        let bbox: Vec<f64> = serde_json::from_value(asset["proj:bbox"].clone()).expect("proj:bbox");
        assert!(close(&bbox, &[x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)]), "{file}: proj:bbox {bbox:?}");
        let extensions = item["stac_extensions"].to_string();
        let code = if extensions.contains("/projection/v1.") { &asset["proj:epsg"] } else { &asset["proj:code"] };
        let epsg = gdal["epsg"].as_u64().expect("epsg");
        assert!(
            *code == serde_json::json!(epsg) || *code == serde_json::json!(format!("EPSG:{epsg}")),
            "{file}: {code}"
        );
        let bands = asset["raster:bands"].as_array().expect("raster:bands");
        assert_eq!(bands.len() as u64, gdal["bands"].as_u64().expect("bands"), "{file}");
        assert!(extensions.contains("/raster/") && extensions.contains("/projection/"), "{file}: {extensions}");
    }
}
