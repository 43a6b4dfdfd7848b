//! `--include`/`--exclude`: only the chosen members of a deliverable, fetched with ranged
//! requests, each verified, laid out as `--extract` lays them out.

use std::collections::BTreeMap;

use wyvern_sandbox::{Fault, Sandbox, SandboxBuilder, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

/// The members of the zip the replica serves, by name.
async fn served_members(world: &World) -> BTreeMap<String, Vec<u8>> {
    let zip = world.dir.path().join("served.zip");
    std::fs::write(&zip, world.served(TEST_DELIVERABLE).await).expect("write");
    crate::members_of(&zip).into_iter().collect()
}

/// The files under the deliverable's folder at `dest`, by their path in the zip, with bytes.
fn landed(dest: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let folder = dest.join(TEST_DELIVERABLE);
    files(&folder).into_iter().map(|name| (name.clone(), std::fs::read(folder.join(&name)).expect("read"))).collect()
}

fn download<'a>(dest: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["deliverable", "download", TEST_DELIVERABLE, "--to", dest, "--json"];
    args.extend(more);
    args
}

/// The replica with a 64 MiB test deliverable, served through a redirect to presigned storage
/// when `redirect`.
pub(crate) fn large(redirect: bool) -> SandboxBuilder {
    let builder = Sandbox::builder().deliverable_size(64 << 20);
    if redirect { builder.fault(TEST_DELIVERABLE, Fault::RedirectToStorage) } else { builder }
}

/// Asserts that the test deliverable cost under 1% of its bytes, at most `api` requests at the
/// API (each answered by at most one at storage), and that the token never went to storage;
/// returns its size.
pub(crate) async fn a_sliver(world: &World, api: usize) -> u64 {
    let len = world.sandbox.deliverable(TEST_DELIVERABLE).await.expect("generated").len;
    let sent = world.sandbox.bytes_sent(TEST_DELIVERABLE);
    assert!(sent * 100 < len, "{sent} of {len} bytes sent");
    let requests = world.deliverable_requests(TEST_DELIVERABLE);
    let at_api = requests.iter().filter(|r| r.host == "api").count();
    assert!(at_api <= api && requests.len() <= 2 * at_api, "{requests:#?}");
    assert!(requests.iter().all(|r| r.host == "api" || !r.authorization), "the token went to storage");
    len
}

/// A 64 MiB deliverable, its JSON members and thumbnail asked for: only they arrive, byte for
/// byte, from well under 1% of its bytes in a few requests (through a redirect to presigned
/// storage too, the token kept to the API); the receipt names them. A later whole download, or
/// whole extraction, is not skipped for it; the same choice is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_members_arrive_alone_from_a_sliver_of_the_deliverable() {
    for redirect in [false, true] {
        let world = World::with(large(redirect)).await;
        let dest = world.dest();
        let dest = dest.to_str().expect("utf-8");
        let chosen = ["--include", "*.json", "--include", "*_thumbnail.png"];
        let run = world.run(&download(dest, &chosen)).await;
        assert_eq!(run.code, 0, "redirect {redirect}: {run:#?}");
        let served = served_members(&world).await;
        let expected: BTreeMap<String, Vec<u8>> = served
            .iter()
            .filter(|(name, _)| name.ends_with(".json") || name.ends_with("_thumbnail.png"))
            .map(|(name, data)| (name.clone(), data.clone()))
            .collect();
        assert_eq!(expected.len(), 3, "catalog, item, thumbnail");
        assert_eq!(landed(world.dest().as_path()), expected, "redirect {redirect}");
        assert!(!world.dest().join(format!("{TEST_DELIVERABLE}.zip")).exists(), "no zip");

        let len = a_sliver(&world, 14).await;

        let line = &run.json_lines()[0];
        assert_eq!((line["status"].as_str(), line["sha256"].is_null()), (Some("downloaded"), true), "{line}");
        assert!(line["bytes"].as_u64() < Some(len / 100), "{line}");
        let receipt = world.dest().join(format!("{TEST_DELIVERABLE}.receipt.json"));
        let receipt: serde_json::Value =
            serde_json::from_slice(&std::fs::read(receipt).expect("receipt")).expect("json");
        let selected = &receipt["extracted"]["selected"];
        assert_eq!(selected["include"], serde_json::json!(["*.json", "*_thumbnail.png"]), "{receipt}");
        let fetched = selected["fetched"].as_array().expect("fetched");
        assert_eq!(fetched.len(), 3, "{receipt}");
        for member in fetched {
            let data = &expected[member["path"].as_str().expect("path")];
            assert_eq!(member["size"].as_u64(), Some(data.len() as u64), "{receipt}");
            assert_eq!(member["crc32"], format!("{:08x}", crc32fast::hash(data)), "{receipt}");
        }
        // An audit reads each file again against its size and CRC-32.
        let audit = world.run(&["verify", dest]).await;
        assert_eq!(audit.code, 0, "{audit:#?}");

        // The same choice again: skipped. The whole zip, or a whole extraction: not skipped.
        let again = world.run(&download(dest, &chosen)).await;
        assert_eq!(again.json_lines()[0]["status"], "skipped", "{again:#?}");
        if redirect {
            let whole = world.run(&download(dest, &["--extract"])).await;
            assert_eq!(whole.json_lines()[0]["status"], "downloaded", "{whole:#?}");
            assert!(whole.stderr.contains("covers only the members --include '*.json'"), "{}", whole.stderr);
            assert_eq!(landed(world.dest().as_path()), served, "every member now");
            let chosen_after = world.run(&download(dest, &chosen)).await;
            assert_eq!(chosen_after.json_lines()[0]["status"], "skipped", "a whole extraction covers any choice");
        } else {
            let zip = world.run(&download(dest, &[])).await;
            assert_eq!(zip.json_lines()[0]["status"], "downloaded", "{zip:#?}");
            assert!(world.dest().join(format!("{TEST_DELIVERABLE}.zip")).exists());
        }
    }
}

/// The imagery alone, asked for whole, is one request for its data; excluding it keeps the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_costs_one_request_and_exclude_keeps_the_rest() {
    let world = World::with(Sandbox::builder().deliverable_size(32 << 20)).await;
    let served = served_members(&world).await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let run = world.run(&download(dest, &["--include", "*_l1b.tiff"])).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let imagery: Vec<&String> = served.keys().filter(|name| name.ends_with("_l1b.tiff")).collect();
    assert_eq!(landed(world.dest().as_path()).keys().collect::<Vec<_>>(), imagery);
    let large = world.deliverable_requests(TEST_DELIVERABLE).iter().filter(|r| spans_mib(r)).count();
    assert_eq!(large, 1, "{:#?}", world.deliverable_requests(TEST_DELIVERABLE));

    let rest = world.dest().join("rest");
    let run = world.run(&download(rest.to_str().expect("utf-8"), &["--exclude", "*.tiff"])).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let expected: Vec<&String> = served.keys().filter(|name| !name.ends_with(".tiff")).collect();
    assert_eq!(landed(&rest).keys().collect::<Vec<_>>(), expected);

    let none = world.run(&download(dest, &["--include", "*.nothing"])).await;
    assert_eq!(none.code, 1, "{none:#?}");
    assert!(none.stderr.contains("no member matches --include '*.nothing'"), "{}", none.stderr);
    assert!(none.stderr.contains(&format!("hint: `wyvern deliverable inspect {TEST_DELIVERABLE}` lists")));
    let bad = world.run(&download(dest, &["--include", "[a"])).await;
    assert_eq!(bad.code, 2, "{bad:#?}");
}

/// Whether a request asked for more than a MiB.
fn spans_mib(request: &wyvern_sandbox::RequestRecord) -> bool {
    let Some(range) = request.range.as_deref().and_then(|r| r.strip_prefix("bytes=")) else { return false };
    let Some((from, to)) = range.split_once('-') else { return false };
    matches!((from.parse::<u64>(), to.parse::<u64>()), (Ok(from), Ok(to)) if to - from > 1 << 20)
}

/// A chosen member whose bytes disagree with its STAC checksum is refused (exit 3) and nothing
/// of the deliverable is left; an unchosen member's problem does not stop the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_wrong_stac_checksum_is_not_kept() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (original, bad) = (scratch.path().join("original.zip"), scratch.path().join("bad.zip"));
    let product = wyvern_sandbox::generate::Product::for_deliverable("wrong-checksum", 4 << 20);
    wyvern_sandbox::generate::write_deliverable(&product, &original).expect("generated");
    crate::rewrite_zip(&original, &bad, |members| {
        crate::edit_item(members, |item| {
            let assets = item["assets"].as_object_mut().expect("assets");
            let thumbnail =
                assets.values_mut().find(|a| a["href"].as_str().is_some_and(|h| h.ends_with("_thumbnail.png")));
            thumbnail.expect("a thumbnail asset")["file:checksum"] = crate::unpack::sha3_256(b"other bytes").into();
        });
    });
    let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, &bad)).await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let run = world.run(&download(dest, &["--include", "*.png"])).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("_thumbnail.png: checksum: expected"), "{}", run.stderr);
    assert!(files(&world.dest()).is_empty(), "{:?}", files(&world.dest()));

    let run = world.run(&download(dest, &["--include", "*_preview.png"])).await;
    assert_eq!(run.code, 0, "{run:#?}");
}

/// A server that ignores `Range`: the body read whole, once, verified, the chosen members kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_ranges_is_read_once_and_only_the_chosen_members_kept() {
    let world = World::with(ignoring_ranges()).await;
    let dest = world.dest();
    let run = world.run(&download(dest.to_str().expect("utf-8"), &["--include", "*.json"])).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("its server ignores ranges, so it is read whole, once"), "{}", run.stderr);
    let served = served_members(&world).await;
    let json: BTreeMap<String, Vec<u8>> = served.into_iter().filter(|(name, _)| name.ends_with(".json")).collect();
    assert_eq!(landed(&dest), json);
    assert!(!dest.join(format!("{TEST_DELIVERABLE}.zip")).exists());

    // Globs that match nothing are an error there too, with nothing written, not a receipt of none.
    let elsewhere = world.dir.path().join("elsewhere");
    let none = world.run(&download(elsewhere.to_str().expect("utf-8"), &["--include", "*.nothing"])).await;
    assert_eq!(none.code, 1, "{none:#?}");
    assert!(none.stderr.contains("no member matches --include '*.nothing'"), "{}", none.stderr);
    assert!(files(&elsewhere).is_empty(), "{:?}", files(&elsewhere));
}

fn ignoring_ranges() -> SandboxBuilder {
    Sandbox::builder().fault(TEST_DELIVERABLE, Fault::IgnoreRange)
}

/// `order download` and `sync` take the same choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_download_and_sync_fetch_the_chosen_members() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    for command in [&["order", "download", TEST_ORDER][..], &["sync", TEST_ORDER]] {
        let mut args = command.to_vec();
        args.extend(["--to", dest, "--include", "catalog.json", "--json"]);
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{run:#?}");
        let folder = world.dest().join(TEST_ORDER).join(TEST_DELIVERABLE);
        assert_eq!(files(&folder).len(), 1, "{:?}", files(&folder));
        assert!(files(&folder)[0].ends_with("/catalog.json"));
    }
}

/// The thumbnail of `id` on a report page.
fn thumbnail_on(page: &std::path::Path, id: &str) -> String {
    let html = std::fs::read_to_string(page).expect("the page");
    let start = html.find(&format!("alt=\"thumbnail of {id}\" src=\"")).expect("a thumbnail");
    html[start..].split('"').nth(3).expect("its data").to_owned()
}

/// `order report`: the page `report` makes, of an order still at the API, from a sliver of its
/// deliverable (through presigned storage, the token kept to the API); the same thumbnail as the
/// report of it downloaded, and what a full download costs. Orders not ready are left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_reported_from_the_api_before_any_download() {
    let world = World::with(large(true)).await;
    let page = world.dir.path().join("at-the-api.html");
    let run = world.run(&["order", "report", TEST_ORDER, "-o", page.to_str().expect("utf-8"), "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        run.json_lines()[0]["report"],
        serde_json::json!({"path": page.to_str(), "deliverables": 1, "thumbnails": 1})
    );
    let len = a_sliver(&world, 24).await;
    let html = std::fs::read_to_string(&page).expect("the page");
    let mib = format!("{:.1} MiB", len as f64 / f64::from(1 << 20));
    assert!(html.contains(&format!("<dt>Full download</dt><dd>{mib} (7 members")), "{mib}: {html:.3000}");
    assert!(html.contains("not downloaded: a full download is") && html.contains("class=\"marker\""));

    let dest = world.dest();
    let synced = world.run(&["sync", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(synced.code, 0, "{synced:#?}");
    let downloaded = world.dir.path().join("downloaded.html");
    let run = world.run(&["report", dest.to_str().expect("utf-8"), "-o", downloaded.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(thumbnail_on(&page, TEST_DELIVERABLE), thumbnail_on(&downloaded, TEST_DELIVERABLE));

    let all = world.run(&["order", "report", "--all", "-o", page.to_str().expect("utf-8")]).await;
    assert_eq!(all.code, 0, "{all:#?}");
    assert!(
        all.stderr.contains("is not ready for download yet (status accepted, reason none): left out"),
        "{}",
        all.stderr
    );
    let pending = world.run(&["order", "report", "00000000-0000-0000-0000-000000000020", "-o", "x.html"]).await;
    assert_eq!(pending.code, 4, "{pending:#?}");
}
