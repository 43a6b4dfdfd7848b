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
    // A local command reads none of the API's settings: bad ones do not stop it.
    let api = [("WYVERN_API_URL", "http://example.com"), ("WYVERN_CA_CERT", "/no/such/ca.pem")];
    let unbothered = world.run_with(&["inspect", zip, "--json"], &api, None).await;
    assert_eq!(unbothered.code, 0, "{unbothered:#?}");
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

    // Something that is not a zip at all: inspect says so, verify that verification failed.
    let text = world.dir.path().join("notes.zip");
    std::fs::write(&text, "not a zip\n").expect("write");
    let text = text.to_str().expect("utf-8");
    let inspected = world.run(&["inspect", text]).await;
    assert_eq!(inspected.code, 3, "{inspected:#?}");
    assert!(inspected.stderr.starts_with(&format!("error: {text} cannot be read as a zip\n")), "{}", inspected.stderr);
    assert!(inspected.stderr.contains("hint: it is not a zip"), "{}", inspected.stderr);
    assert!(!inspected.stderr.contains("verification"), "{}", inspected.stderr);
    let verified = world.run(&["verify", text]).await;
    assert_eq!(verified.code, 3, "{verified:#?}");
    assert!(verified.stderr.starts_with("error: verification failed\n"), "{}", verified.stderr);
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

/// A copy of a generated deliverable whose item asks for `checksum(imagery)` on its imagery
/// instead of BLAKE2b-512. The item stays the last member, after the imagery.
fn with_imagery_checksum(original: &std::path::Path, out: &std::path::Path, checksum: impl Fn(&[u8]) -> String) {
    crate::rewrite_zip(original, out, |members| {
        let imagery = members.iter().find(|(n, _)| n.ends_with("_l1b.tiff")).expect("imagery").1.clone();
        crate::edit_item(members, |item| {
            item["assets"]["Cloud optimized GeoTiff"]["file:checksum"] = checksum(&imagery).into();
        });
    });
}

/// The multihash of `data`'s SHA3-256.
pub(crate) fn sha3_256(data: &[u8]) -> String {
    let mut hasher = wyvern_unpack::Algorithm::Sha3_256.hasher();
    hasher.update(data);
    wyvern_unpack::Multihash::encode(wyvern_unpack::Algorithm::Sha3_256, &hasher.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_deliverables_have_their_items_read_ahead_so_any_digest_is_checked() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let original = scratch.path().join("generated.zip");
    let product = wyvern_sandbox::generate::Product::for_deliverable("plan-ahead", 72 << 20);
    wyvern_sandbox::generate::write_deliverable(&product, &original).expect("generated");
    let good = scratch.path().join("good.zip");
    with_imagery_checksum(&original, &good, sha3_256);
    let bad = scratch.path().join("bad.zip");
    with_imagery_checksum(&original, &bad, |_| sha3_256(b"other bytes"));

    for (zip, code) in [(&good, 0), (&bad, 3)] {
        let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, zip)).await;
        let dest = world.dest();
        let run = world
            .run(&["deliverable", "download", TEST_DELIVERABLE, "--to", dest.to_str().expect("utf-8"), "--json"])
            .await;
        assert_eq!(run.code, code, "{run:#?}");
        if code == 0 {
            // SHA3-256 of the imagery was known to be wanted before the imagery went by.
            assert!(run.json_lines()[0].get("warnings").is_none(), "{run:#?}");
        } else {
            assert!(run.stderr.contains("_l1b.tiff: checksum: expected 1620"), "{}", run.stderr);
        }
        let reads_ahead = world.deliverable_requests(TEST_DELIVERABLE).iter().filter(|r| r.range.is_some()).count();
        assert!(reads_ahead >= 1, "the end of the zip was read ahead with ranged requests");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tiff_headers_are_problems_and_print_nothing_else() {
    use std::io::Write;
    let world = World::new().await;
    let path = world.dir.path().join("odd.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    // A TIFF whose first directory claims 65,535 entries, one whose directory lies past its end,
    // a BigTIFF with a bad offset size, and bytes that are no TIFF at all.
    for (name, bytes) in [
        ("a.tiff", [&b"II*\0\x08\0\0\0\xff\xff"[..], &[0; 64]].concat()),
        ("b.tif", b"MM\0*\x7f\xff\xff\xff".to_vec()),
        ("c.tiff", b"II+\0\x04\0\0\0\x10\0\0\0\0\0\0\0".to_vec()),
        ("d.tiff", b"not a tiff".to_vec()),
    ] {
        writer.start_file(name, stored).expect("start");
        writer.write_all(&bytes).expect("write");
    }
    writer.finish().expect("finish");
    let run = world.run(&["inspect", path.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for name in ["a.tiff", "b.tif", "c.tiff", "d.tiff"] {
        assert!(run.stdout.contains(&format!("{name} [geotiff]: the GeoTIFF header cannot be read")), "{}", run.stdout);
    }
    assert_eq!(run.stderr, "", "nothing on stderr but what wyvern says");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_preview_draws_the_thumbnail_on_a_terminal_and_says_why_not_elsewhere() {
    let world = World::new().await;
    let zip = downloaded(&world).await;
    let zip = zip.to_str().expect("utf-8");
    let piped = world.run(&["inspect", zip, "--preview"]).await;
    assert_eq!(piped.code, 0, "{piped:#?}");
    assert!(!piped.stdout.contains('\x1b') && !piped.stdout.contains('▀'), "{}", piped.stdout);
    assert!(piped.stderr.contains("preview: not drawn, stdout is not a terminal"), "{}", piped.stderr);

    let Some(drawn) = world.on_a_terminal(&["inspect", zip, "--preview"], &[]) else { return };
    let drawn = String::from_utf8_lossy(&drawn);
    // The replica's thumbnail is 8 x 7 pixels (never scaled up): 4 lines of 8 half blocks.
    let lines: Vec<&str> = drawn.lines().filter(|l| l.contains('▀')).collect();
    assert_eq!(lines.len(), 4, "{drawn}");
    for line in lines {
        assert_eq!(line.matches('▀').count(), 8, "{line:?}");
        assert!(line.contains("\x1b[38;2;") && line.trim_end().ends_with("\x1b[0m"), "{line:?}");
    }
    assert!(drawn.contains("_thumbnail.png (8 x 7 px as drawn)"), "{drawn}");

    let plain = world.on_a_terminal(&["inspect", zip, "--preview"], &[("NO_COLOR", "1")]).expect("script");
    let plain = String::from_utf8_lossy(&plain);
    assert!(!plain.contains('▀') && !plain.contains("\x1b[38;2"), "{plain}");
    assert!(plain.contains("preview: not drawn, NO_COLOR is set"), "{plain}");
}

/// `deliverable inspect` reads a deliverable where it is: the same report as `inspect` of the
/// downloaded zip, from a few ranged requests and well under 1% of its bytes (through a redirect
/// to presigned storage too); a server that ignores ranges is read whole, once, with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverable_is_inspected_at_the_api_reading_a_sliver_of_it() {
    use wyvern_sandbox::{Fault, Sandbox, TEST_DELIVERABLE};

    for redirect in [false, true] {
        let world = World::with(crate::members::large(redirect)).await;
        let remote = world.run(&["deliverable", "inspect", TEST_DELIVERABLE, "--json"]).await;
        assert_eq!(remote.code, 0, "{remote:#?}");
        let remote = &remote.json_lines()[0];
        // A few reads (each resolved at the API again, then, redirected, read at storage), and
        // the token never sent to the storage host.
        let len = crate::members::a_sliver(&world, 12).await;
        assert!(remote["bytes_read"].as_u64() < Some(len / 100), "{remote}");

        // The same facts as the downloaded zip's inspection.
        let dest = world.dest();
        let zip = dest.join(format!("{TEST_DELIVERABLE}.zip"));
        let download =
            world.run(&["deliverable", "download", TEST_DELIVERABLE, "--to", dest.to_str().expect("utf-8")]).await;
        assert_eq!(download.code, 0, "{download:#?}");
        let local = world.run(&["inspect", zip.to_str().expect("utf-8"), "--json"]).await;
        let local = &local.json_lines()[0];
        for key in ["entries", "items", "rasters", "problems", "bytes"] {
            assert_eq!(remote[key], local[key], "redirect {redirect}: {key}");
        }

        // --preview: the thumbnail read with ranged requests too, drawn as the zip's is.
        let Some(drawn) = world.on_a_terminal(&["deliverable", "inspect", TEST_DELIVERABLE, "--preview"], &[]) else {
            continue;
        };
        let drawn = String::from_utf8_lossy(&drawn);
        let local = world.on_a_terminal(&["inspect", zip.to_str().expect("utf-8"), "--preview"], &[]).expect("drawn");
        let picture = |text: &str| text.lines().filter(|l| l.contains('▀')).map(str::to_owned).collect::<Vec<_>>();
        assert!(!picture(&drawn).is_empty(), "{drawn}");
        assert_eq!(picture(&drawn), picture(&String::from_utf8_lossy(&local)), "the same thumbnail");
    }

    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::IgnoreRange)).await;
    let whole = world.run(&["deliverable", "inspect", TEST_DELIVERABLE, "--json"]).await;
    assert_eq!(whole.code, 0, "{whole:#?}");
    assert!(whole.stderr.contains("its server ignores ranges, so inspecting it reads it whole"), "{}", whole.stderr);
    assert_eq!(whole.json_lines()[0]["verified"], true, "read whole, it was verified");
}
