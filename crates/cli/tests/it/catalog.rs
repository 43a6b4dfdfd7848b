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

    // The walk-through in docs/catalog.md, run on this folder.
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/catalog.md")).expect("docs");
    let snippet = docs.split("```python\n").nth(1).and_then(|s| s.split("```").next()).expect("a Python block");
    let out = std::process::Command::new(&python)
        .args(["-c", &snippet.replace("imagery/catalog.json", root)])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let opened: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().expect("an id").to_owned())
        .collect();
    assert_eq!(opened, all, "the docs' loop opens every deliverable's imagery");

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

/// `html` with its embedded pictures emptied.
fn without_pictures(html: &str) -> String {
    let marker = "src=\"data:image/png;base64,";
    let mut parts = html.split(marker);
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        out.push_str("src=\"");
        out.push_str(part.find('"').map_or("", |end| &part[end..]));
    }
    out
}

/// Debian's Chromium, when installed (`cargo xtask test` installs it).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| std::process::Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        eprintln!("skipped: no headless Chromium here (cargo xtask test installs Debian's chromium)");
    }
    found
}

/// Chromium, headless, on `page` with `args` (as root it needs --no-sandbox).
fn headless(chromium: &str, page: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_every_deliverable_with_its_thumbnail_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let world = World::new().await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let (zipped, _) = outcome(&world.run(&["sync", "--all", "--to", dest_arg, "--json"]).await);
    let extracted = world.dir.path().join("extracted");
    let extracted_arg = extracted.to_str().expect("utf-8");
    outcome(&world.run(&["sync", TEST_ORDER, "--to", extracted_arg, "--extract", "--json"]).await);
    for (dest, expected) in [(dest_arg, zipped.clone()), (extracted_arg, BTreeSet::from([TEST_DELIVERABLE.to_owned()]))]
    {
        let page = world.dir.path().join("report.html");
        let run = world.run(&["report", dest, "-o", page.to_str().expect("utf-8"), "--json"]).await;
        assert_eq!(run.code, 0, "{run:#?}");
        let written = &run.json_lines()[0]["report"];
        assert_eq!(written["deliverables"].as_u64(), Some(expected.len() as u64), "{written}");
        assert_eq!(written["thumbnails"], written["deliverables"], "{written}");
        let html = std::fs::read_to_string(&page).expect("the page");
        for needle in ["src=\"http", "href=\"http", "<script", "url(http", "@import"] {
            assert!(!html.contains(needle), "the page reaches out ({needle})");
        }

        // What Chromium makes of it: every deliverable and its thumbnail in the document...
        let dom = String::from_utf8(headless(chromium, &page, &["--dump-dom"]).stdout).expect("utf-8");
        for id in &expected {
            assert!(dom.contains(&format!("id=\"d-{id}\"")), "{id} is not on the page");
            assert!(
                dom.contains(&format!("alt=\"thumbnail of {id}\" src=\"data:image/png;base64,")),
                "{id}'s thumbnail"
            );
        }
        assert!(dom.contains("<svg") && dom.contains("class=\"land\"") && dom.contains("class=\"marker\""), "the map");
        assert!(dom.contains("class=\"overview\"") && dom.contains("class=\"extent\""), "where on Earth");
        // The replica's footprints are at 62.4° W, 17.6° S: said so, not as negative east and north.
        assert!(dom.contains("62.4100° W to 62.4072° W, 17.5724° S to 17.5700° S"), "the extent's caption");
        assert!(!dom.contains("° E,") && !dom.contains("-62."), "hemispheres as signs");
        // Words wrap where words end; checksums are folded away; cards are grouped by order.
        assert!(!html.contains("break-all") && html.contains("<details><summary>Checksums</summary>"));
        assert!(dom.contains(&format!("id=\"o-{TEST_ORDER}\"")), "the test order's group");
        // Every link to a file at the destination opens one (the page is beside the folder).
        let hrefs: Vec<&str> = html.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
        let files: Vec<&&str> = hrefs.iter().filter(|h| !h.starts_with('#')).collect();
        assert!(files.len() >= 2 * expected.len(), "links to each zip (or folder) and receipt: {files:?}");
        for href in files {
            assert!(page.parent().expect("folder").join(href).exists(), "{href} leads nowhere");
        }
        // ...and on screen: the replica's thumbnails are noise, so the page has thousands more
        // colours than the same page without its pictures (text and the map alone).
        let window = format!("--window-size=1280,{}", 900 + 600 * expected.len());
        let colours = |page: &Path| {
            let shot = world.dir.path().join("shot.png");
            headless(chromium, page, &[&window, &format!("--screenshot={}", shot.display())]);
            let png = std::fs::read(&shot).expect("screenshot");
            let picture = wyvern_unpack::Picture::from_png(&png, 10_000, 10_000).expect("a PNG");
            picture.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect::<BTreeSet<[u8; 3]>>().len()
        };
        let bare = world.dir.path().join("bare.html");
        std::fs::write(&bare, without_pictures(&html)).expect("written");
        let (drawn, text) = (colours(&page), colours(&bare));
        assert!(text > 100, "the page is not blank: {text} colours");
        assert!(drawn > 2 * text + 1_000, "{drawn} colours vs {text} without pictures: the thumbnails were not drawn");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_destination_gets_no_catalog_and_no_report_but_a_hint() {
    let world = World::new().await;
    let missing = world.dir.path().join("no-such-folder");
    let missing_arg = missing.to_str().expect("utf-8");
    let page = world.dir.path().join("report.html");
    let page_arg = page.to_str().expect("utf-8");
    for args in [vec!["catalog", missing_arg], vec!["report", missing_arg, "-o", page_arg]] {
        let run = world.run(&args).await;
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(
            run.stderr.contains("holds no deliverable a sync wrote") && run.stderr.contains("hint: "),
            "{}",
            run.stderr
        );
    }
    assert!(!missing.exists() && !page.exists(), "nothing written");
    assert_eq!(crate::files(world.dir.path()), Vec::<String>::new(), "no temporary page left");

    let dest = world.dest();
    assert_eq!(world.run(&["sync", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await.code, 0);
    let unwritable = world.dir.path().join("no-folder").join("report.html");
    let run = world.run(&["report", dest.to_str().expect("utf-8"), "-o", unwritable.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("hint: check that the folder exists"), "{}", run.stderr);
}
