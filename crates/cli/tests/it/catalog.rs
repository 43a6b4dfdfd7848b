//! `sync --catalog` and `wyvern catalog`: the destination as one STAC catalog, read back as users
//! read it (pystac walks it, rasterio opens every image asset: tests/catalog/check.py), for a
//! folder of zips, of extracted members, shards, and a bucket.

use std::collections::BTreeSet;
use std::path::Path;

use wyvern_sandbox::{OrderShape, Sandbox, SandboxBuilder, TEST_DELIVERABLE, TEST_ORDER};

use crate::World;

/// The replica's orders, plus one whose deliverables hold GDAL's GeoTIFFs when the corpus is
/// there (some written with data descriptors, stored and deflated).
fn with_gdal_order() -> SandboxBuilder {
    let builder = Sandbox::builder();
    let Some(dir) = std::env::var_os("WYVERN_TEST_GEOTIFFS").map(std::path::PathBuf::from) else {
        return builder;
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest")).expect("JSON");
    let files: Vec<(String, std::path::PathBuf)> = manifest
        .as_array()
        .expect("cases")
        .iter()
        .enumerate()
        .map(|(i, case)| (format!("gdal-deliverable-{i}"), dir.join(case["file"].as_str().expect("file"))))
        .collect();
    let ids: Vec<&str> = files.iter().map(|(id, _)| id.as_str()).collect();
    let builder = builder.order("gdal-order", "completed", Some("fulfilled"), OrderShape::Flat, &ids);
    files.iter().fold(builder, |builder, (id, path)| builder.deliverable_file(id, path))
}

/// The venv's Python, which has pystac and rasterio (`cargo xtask test` sets it up).
fn python() -> Option<String> {
    let python = std::env::var("WYVERN_TEST_PYTHON").ok();
    if python.is_none() {
        eprintln!("skipped: WYVERN_TEST_PYTHON is not set (cargo xtask test sets it up with pystac and rasterio)");
    }
    python
}

/// What tests/catalog/check.py read of the catalog at `root`; fails the test with its reasons.
fn read_back(python: &str, root: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/catalog/check.py");
    let out = std::process::Command::new(python).arg(script).arg(root).output().expect("python runs");
    assert!(out.status.success(), "{root}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

fn items(read: &serde_json::Value) -> BTreeSet<String> {
    read["items"].as_array().expect("items").iter().map(|i| i.as_str().expect("id").to_owned()).collect()
}

/// The deliverables a `--json` run downloaded or skipped, and its catalog line.
fn outcome(run: &crate::Run) -> (BTreeSet<String>, serde_json::Value) {
    assert_eq!(run.code, 0, "{run:#?}");
    let lines = run.json_lines();
    let delivered = lines
        .iter()
        .filter(|l| l["status"] == "downloaded" || l["status"] == "skipped")
        .map(|l| l["deliverable_id"].as_str().expect("id").to_owned())
        .collect();
    let catalog = lines.iter().find_map(|l| l.get("catalog")).cloned().unwrap_or_default();
    (delivered, catalog)
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).expect("mtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synced_folder_is_one_catalog_that_grows_by_its_new_items_and_gdal_opens_every_image() {
    let Some(python) = python() else { return };
    let world = World::with(with_gdal_order()).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let root = dest.join("catalog.json");
    let root = root.to_str().expect("utf-8");

    let (first, catalog) = outcome(&world.run(&["sync", TEST_ORDER, "--to", dest_arg, "--catalog", "--json"]).await);
    assert_eq!(first, BTreeSet::from([TEST_DELIVERABLE.to_owned()]));
    assert_eq!((catalog["items_written"].as_u64(), catalog["catalogs_written"].as_u64()), (Some(1), Some(2)));
    assert_eq!(items(&read_back(&python, root)), first);
    let first_item = dest.join(TEST_ORDER).join(format!("{TEST_DELIVERABLE}.item.json"));
    let first_written = modified(&first_item);

    // The rest of the account: its items are added, the first one is not read again.
    let (all, catalog) = outcome(&world.run(&["sync", "--all", "--to", dest_arg, "--catalog", "--json"]).await);
    assert!(all.len() > 3, "{all:?}");
    let added = all.len() - 1;
    assert_eq!((catalog["items_written"].as_u64(), catalog["items_kept"].as_u64()), (Some(added as u64), Some(1)));
    assert_eq!(modified(&first_item), first_written, "an item up to date is left alone");
    let read = read_back(&python, root);
    assert_eq!(items(&read), all);
    assert!(read["images"].as_u64() >= Some(all.len() as u64), "every image asset opened: {read}");
    assert!(read["ranges"].as_u64() > Some(0), "stored members come with their byte range: {read}");

    // Nothing new: nothing written.
    let again = world.run(&["catalog", dest_arg, "--json"]).await;
    let (_, catalog) = outcome(&again);
    assert_eq!((catalog["items_written"].as_u64(), catalog["catalogs_written"].as_u64()), (Some(0), Some(0)));

    // A deliverable removed (zip and receipt) leaves the catalog too.
    let gone = all.iter().find(|id| id.starts_with("00000000-0000-0000-0000-00000000001")).expect("order 10's");
    let order = dest.join("00000000-0000-0000-0000-000000000010");
    std::fs::remove_file(order.join(format!("{gone}.zip"))).expect("zip removed");
    std::fs::remove_file(order.join(format!("{gone}.receipt.json"))).expect("receipt removed");
    let (_, catalog) = outcome(&world.run(&["catalog", dest_arg, "--json"]).await);
    assert!(catalog["catalogs_written"].as_u64() >= Some(2), "its order's catalog and the root: {catalog}");
    assert!(!order.join(format!("{gone}.item.json")).exists(), "its item is removed");
    let mut left = all.clone();
    left.remove(gone);
    assert_eq!(items(&read_back(&python, root)), left);

    // Extracted members: the assets are the files themselves.
    let extracted = world.dir.path().join("extracted");
    let extracted_arg = extracted.to_str().expect("utf-8");
    let (all_extracted, _) =
        outcome(&world.run(&["sync", "--all", "--to", extracted_arg, "--extract", "--catalog", "--json"]).await);
    let read = read_back(&python, extracted.join("catalog.json").to_str().expect("utf-8"));
    assert_eq!(items(&read), all_extracted);
    assert_eq!(read["ranges"].as_u64(), Some(0), "no archive to point into: {read}");
    assert!(read["images"].as_u64() >= Some(all_extracted.len() as u64), "{read}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_shards_write_their_items_and_one_catalog_run_links_them_all() {
    let Some(python) = python() else { return };
    let world = World::new().await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let shards: Vec<_> = ["0/2", "1/2"]
        .iter()
        .map(|shard| world.spawn(&["sync", "--all", "--to", dest_arg, "--shard", shard, "--catalog", "--json"], &[]))
        .collect();
    let mut synced = BTreeSet::new();
    for shard in shards {
        let run = crate::finish(shard).await;
        let (delivered, catalog) = outcome(&run);
        assert_eq!(catalog["root"], serde_json::Value::Null, "a shard writes no catalog: {catalog}");
        assert_eq!(catalog["items_written"].as_u64(), Some(delivered.len() as u64), "{catalog}");
        synced.extend(delivered);
    }
    assert!(!dest.join("catalog.json").exists(), "no shard writes the root");
    let human = world.run(&["sync", "--all", "--to", dest_arg, "--shard", "0/2", "--catalog"]).await;
    assert!(human.stdout.contains("run `wyvern catalog"), "{}", human.stdout);
    let (_, catalog) = outcome(&world.run(&["catalog", dest_arg, "--json"]).await);
    assert_eq!(catalog["items_written"].as_u64(), Some(0), "the shards wrote every item: {catalog}");
    let read = read_back(&python, dest.join("catalog.json").to_str().expect("utf-8"));
    assert_eq!(items(&read), synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_in_a_bucket_is_read_by_pystac_and_gdal_from_the_bucket() {
    let Some(python) = python() else { return };
    let Ok(base) = std::env::var("WYVERN_TEST_S3_URL") else {
        eprintln!("skipped: the S3 emulator is not set up (cargo xtask test starts it)");
        return;
    };
    let world = World::with(with_gdal_order()).await;
    let url = format!("{base}/{}", uuid::Uuid::new_v4().simple());
    let (all, catalog) = outcome(&world.run(&["sync", "--all", "--to", &url, "--catalog", "--json"]).await);
    assert_eq!(catalog["items_written"].as_u64(), Some(all.len() as u64), "{catalog}");
    let read = read_back(&python, &format!("{url}/catalog.json"));
    assert_eq!(items(&read), all);
    assert!(read["images"].as_u64() >= Some(all.len() as u64), "{read}");
    assert!(read["ranges"].as_u64() > Some(0), "{read}");
    let (_, catalog) = outcome(&world.run(&["catalog", &url, "--json"]).await);
    assert_eq!((catalog["items_written"].as_u64(), catalog["catalogs_written"].as_u64()), (Some(0), Some(0)));
}
