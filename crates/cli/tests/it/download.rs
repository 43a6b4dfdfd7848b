use sha2::{Digest, Sha256};
use wyvern_sandbox::{TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

fn zip_name() -> String {
    format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_order_arrives_byte_identical_with_a_receipt() {
    let world = World::new().await;
    let dest = world.dest();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let served = world.served(TEST_DELIVERABLE).await;
    let sha256 = hex::encode(Sha256::digest(&served));
    assert_eq!(std::fs::read(dest.join(zip_name())).expect("zip"), served);
    assert_eq!(files(&dest), [format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"), zip_name()]);

    let line = &run.json_lines()[0];
    assert_eq!(line["status"], "downloaded");
    assert_eq!(line["order_id"], TEST_ORDER);
    assert_eq!(line["deliverable_id"], TEST_DELIVERABLE);
    assert_eq!(line["bytes"], served.len());
    assert_eq!(line["sha256"], sha256.as_str());
    assert_eq!(line["verified"], true);
    assert_eq!(line["destination"], dest.join(zip_name()).display().to_string());

    let receipt: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"))).expect("receipt"),
    )
    .expect("json");
    assert_eq!(receipt["bytes"], served.len());
    assert_eq!(receipt["sha256"], sha256.as_str());
    assert_eq!(receipt["source"], format!("{}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/", world.sandbox.api_url()));
    assert_eq!(receipt["etag"], format!("\"{TEST_DELIVERABLE}-{}\"", served.len()));
    assert!(receipt["completed_at"].as_str().expect("time").ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_skips_without_downloading_and_if_exists_is_honoured() {
    let world = World::new().await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    assert_eq!(world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await.code, 0);
    let before = world.deliverable_requests(TEST_DELIVERABLE).len();

    let again = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--json"]).await;
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(again.json_lines()[0]["status"], "skipped");
    assert_eq!(world.deliverable_requests(TEST_DELIVERABLE).len(), before, "a skip downloads nothing");

    let fail = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--if-exists", "fail"]).await;
    assert_eq!(fail.code, 1, "{fail:#?}");
    assert!(fail.stderr.contains("already exists") && fail.stderr.contains("hint: use --if-exists"), "{}", fail.stderr);

    let overwrite =
        world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--if-exists", "overwrite", "--json"]).await;
    assert_eq!(overwrite.json_lines()[0]["status"], "downloaded");
    assert_eq!(world.deliverable_requests(TEST_DELIVERABLE).len(), before + 1);

    // A zip whose size no longer matches its receipt (truncated by hand) is fetched again.
    let zip = dest.join(zip_name());
    let bytes = std::fs::read(&zip).expect("zip");
    std::fs::write(&zip, &bytes[..bytes.len() / 2]).expect("truncate");
    // Later than its receipt, as an edit by hand is (file times tick in milliseconds: a write
    // this soon after the receipt's could share its time).
    let later = std::fs::metadata(zip.with_extension("receipt.json")).and_then(|m| m.modified()).expect("mtime");
    let file = std::fs::File::options().write(true).open(&zip).expect("open");
    file.set_modified(later + std::time::Duration::from_secs(1)).expect("set mtime");
    let repaired = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--json"]).await;
    assert_eq!(repaired.json_lines()[0]["status"], "downloaded", "{repaired:#?}");
    assert_eq!(std::fs::read(&zip).expect("zip"), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliverable_download_by_id_or_api_url_and_foreign_urls_are_refused() {
    let world = World::new().await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let url = format!("{}/1.0/tasking/deliverables/00000000-0000-0000-0000-000000000011/", world.sandbox.api_url());
    let run = world.run(&["deliverable", "download", TEST_DELIVERABLE, &url, "--to", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        files(&dest),
        [
            "00000000-0000-0000-0000-000000000001.receipt.json",
            "00000000-0000-0000-0000-000000000001.zip",
            "00000000-0000-0000-0000-000000000011.receipt.json",
            "00000000-0000-0000-0000-000000000011.zip",
        ]
    );

    let foreign = format!("{}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/", world.sandbox.storage_url());
    let refused = world.run(&["deliverable", "download", &foreign, "--to", dest_arg, "--if-exists", "overwrite"]).await;
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(
        refused.stderr.contains("is not on the API's origin") && refused.stderr.contains("hint:"),
        "{}",
        refused.stderr
    );
    assert!(world.sandbox.requests().iter().all(|r| r.host == "api"), "nothing was sent to the other host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_line_and_receipt_formats() {
    let world = World::new().await;
    let dest = world.dest();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--json"]).await;
    let receipt =
        std::fs::read_to_string(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"))).expect("receipt");
    insta::with_settings!({ filters => vec![
        (regex_escape(dest.to_str().expect("utf-8")).as_str(), "[DEST]"),
        (regex_escape(world.sandbox.api_url()).as_str(), "[API]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
        (r"wyvern \d+\.\d+\.\d+", "wyvern [VERSION]"),
    ]}, {
        insta::assert_snapshot!("download_json_line", run.stdout);
        insta::assert_snapshot!("receipt", receipt);
    });
}

fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_file_gets_every_level_while_stderr_stays_quiet() {
    let world = World::new().await;
    let log = world.log().expect("a log").to_owned();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", world.dest().to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr, "", "stderr at the default verbosity");
    let text = std::fs::read_to_string(&log).expect("the log");
    for level in ["TRACE", "DEBUG"] {
        assert!(text.contains(level), "{level} in the log");
    }
    assert!(!text.contains('\u{1b}'), "no colours in a file");
    // A folder where the file cannot be: said before anything else, with a hint.
    let run = world.run(&["--log-file", world.dir.path().to_str().expect("utf-8"), "order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("cannot open the log file") && run.stderr.contains("hint:"), "{}", run.stderr);
}
