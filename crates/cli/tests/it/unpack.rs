//! `inspect`, `verify`, `extract` and `--extract`/`--no-verify` through the binary.

use wyvern_sandbox::{Fault, Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

async fn downloaded(world: &World) -> std::path::PathBuf {
    let dest = world.dest();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_and_verify_a_local_zip() {
    let world = World::new().await;
    let zip = downloaded(&world).await;
    let zip = zip.to_str().expect("utf-8");
    let inspect = world.run(&["inspect", zip, "--json"]).await;
    assert_eq!(inspect.code, 0, "{inspect:#?}");
    let report = &inspect.json_lines()[0];
    assert_eq!(report["entries"].as_array().expect("entries").len(), 7);
    assert_eq!(report["verified"], false);
    assert_eq!(report["rasters"][0]["data_type"], "float32");
    assert_eq!(report["rasters"][0]["epsg"], 4326);
    assert_eq!(report["items"][0]["processing_level"], "L1B");
    let human = world.run(&["inspect", zip]).await;
    assert!(
        human.stdout.contains("members   7") && human.stdout.contains("31 bands of float32, EPSG:4326"),
        "{}",
        human.stdout
    );

    let verify = world.run(&["verify", zip, "--json"]).await;
    assert_eq!(verify.code, 0, "{verify:#?}");
    assert_eq!(verify.json_lines()[0]["verified"], true);
    assert_eq!(verify.json_lines()[0]["problems"], serde_json::json!([]));

    // A flipped byte in the imagery: exit 3, with the member named.
    let mut bytes = std::fs::read(zip).expect("zip");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let broken = world.dir.path().join("broken.zip");
    std::fs::write(&broken, bytes).expect("write");
    let bad = world.run(&["verify", broken.to_str().expect("utf-8")]).await;
    assert_eq!(bad.code, 3, "{bad:#?}");
    assert!(bad.stderr.contains(".tiff: CRC-32 mismatch"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_writes_members_once_and_skips_after() {
    let world = World::new().await;
    let zip = downloaded(&world).await;
    let out = world.dir.path().join("extracted");
    let out_arg = out.to_str().expect("utf-8");
    let run = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", out_arg, "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let written = files(&out);
    assert_eq!(written.len(), 8, "7 members and a receipt: {written:?}");
    assert!(written.iter().all(|f| f.starts_with(TEST_DELIVERABLE)), "{written:?}");
    let again = world.run(&["extract", zip.to_str().expect("utf-8"), "--to", out_arg, "--json"]).await;
    assert_eq!(again.json_lines()[0]["status"], "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_with_extract_writes_members_and_no_zip() {
    let world = World::new().await;
    let dest = world.dest();
    let run = world
        .run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--extract", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:#?}");
    let written = files(&dest);
    assert!(!written.iter().any(|f| f.ends_with(".zip")), "{written:?}");
    assert_eq!(
        written.iter().filter(|f| f.starts_with(&format!("{TEST_ORDER}/{TEST_DELIVERABLE}/"))).count(),
        7,
        "{written:?}"
    );
    let receipt: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"))).expect("receipt"),
    )
    .expect("json");
    assert_eq!(receipt["extracted"]["members"], 7);
    let line = &run.json_lines()[0];
    assert_eq!(line["destination"], format!("{}/{TEST_ORDER}/{TEST_DELIVERABLE}", dest.display()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_of_a_corrupt_deliverable_leaves_nothing() {
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 200_000 })).await;
    let dest = world.dest();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--extract"]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(files(&dest), Vec::<String>::new(), "no member of a bad zip is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_verify_keeps_a_corrupt_zip_and_says_so() {
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 200_000 })).await;
    let dest = world.dest();
    let run = world
        .run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--no-verify", "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.json_lines()[0]["verified"], false);
}
