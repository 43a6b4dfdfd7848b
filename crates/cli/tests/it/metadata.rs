//! Valid zips whose metadata is hostile, and destinations whose receipts lie: work bounded by
//! what is useful (measured on the child processes), no raw control character on a terminal,
//! hrefs and byte ranges from the zip, skips that do what the docs say.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use wyvern_sandbox::{OrderShape, Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{Run, World, edit_item, rewrite_zip};

/// What every command may cost on a hostile deliverable.
const PEAK_RSS: u64 = 256 << 20;
const CPU: Duration = Duration::from_secs(10);

/// Runs `wyvern ARGS` and checks what it cost.
async fn measured(world: &World, args: &[&str]) -> Run {
    let (run, usage) = world.run_measured(args).await;
    assert!(usage.cpu < CPU, "{args:?} took {:?} of CPU: {run:#?}", usage.cpu);
    assert!(usage.peak_rss < PEAK_RSS, "{args:?}: peak RSS {} MiB", usage.peak_rss >> 20);
    run
}

/// The generated deliverable, written to `dir`.
async fn generated(world: &World, dir: &Path) -> PathBuf {
    let path = dir.join("generated.zip");
    std::fs::write(&path, world.served(TEST_DELIVERABLE).await).expect("write");
    path
}

/// A ring of `n` vertices around the generated footprint (about 40 bytes of JSON each): 500
/// points gone round again and again, so that it deflates as well as a hostile one would.
fn ring(n: usize) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let a = (i % 500) as f64 / 500.0 * std::f64::consts::TAU;
            [-62.3 + 0.1 * a.cos(), -17.7 + 0.1 * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

/// The generated deliverable with an item of 15 MiB: a footprint of 280,000 vertices, plus
/// 100,000 absolute-href assets and a property of 600,000 numbers (it deflates to well under
/// a MiB).
fn hostile_item(item: &mut Value) {
    item["geometry"]["coordinates"] = json!([ring(280_000)]);
    let assets = item["assets"].as_object_mut().expect("assets");
    for i in 0..50_000 {
        assets.insert(format!("x{i}"), json!({"href": format!("https://h.example/{i}")}));
    }
    item["properties"]["noise"] = json!(vec![0; 600_000]);
    item["links"] =
        json!((0..20_000).map(|i| json!({"rel": "item", "href": format!("./{i}.json")})).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverable_of_huge_metadata_costs_what_a_plain_one_does() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let seed = World::new().await;
    let original = generated(&seed, scratch.path()).await;
    let hostile = scratch.path().join("hostile.zip");
    rewrite_zip(&original, &hostile, |members| {
        edit_item(members, hostile_item);
        // And more items, each of values as large as a budget: the zip's documents share one.
        let big = "x".repeat(6 << 20);
        let extra =
            serde_json::to_vec(&json!({"type": "Feature", "properties": {"p": big}, "assets": {"a": {"x": big}}}));
        for i in 0..8 {
            members.push((format!("extra/{i}.json"), extra.as_ref().expect("json").clone()));
        }
    });
    let item_size = crate::members_of(&hostile).iter().find(|(n, _)| n.ends_with("_l1b.json")).expect("item").1.len();
    assert!(item_size > 14 << 20 && item_size < 16 << 20, "{item_size}");
    assert!(std::fs::metadata(&hostile).expect("zip").len() < 4 << 20);

    // Four such deliverables in one order.
    let ids = ["hostile-1", "hostile-2", "hostile-3", "hostile-4"];
    let builder = Sandbox::builder().order("hostile-order", "completed", Some("fulfilled"), OrderShape::Flat, &ids);
    let world = World::with(ids.iter().fold(builder, |b, id| b.deliverable_file(id, &hostile))).await.without_log();
    let zip = hostile.to_str().expect("utf-8");
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let run = measured(&world, &["inspect", zip]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("assets (49750 more, past the first 256 or the budget)"), "{}", run.stdout);
    assert!(run.stdout.contains("platform     Dragonette-"), "the item's facts survive its noise: {}", run.stdout);
    let run = measured(&world, &["verify", zip]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let run = measured(&world, &["sync", "hostile-order", "--to", dest_arg, "--catalog"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    // The catalog built again from scratch: every item read.
    for id in ids {
        std::fs::remove_file(dest.join(format!("hostile-order/{id}.item.json"))).expect("an item");
    }
    let run = measured(&world, &["catalog", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("of 280001 vertices kept) left out of its item"), "{}", run.stderr);
    let page = scratch.path().join("report.html");
    let run = measured(&world, &["report", dest_arg, "-o", page.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    // The page grows with the deliverables, not with what their items hold.
    let size = std::fs::metadata(&page).expect("page").len();
    assert!(size < 1 << 20, "a page of {size} bytes");
    let item: Value = serde_json::from_slice(
        &std::fs::read(dest.join(format!("hostile-order/{}.item.json", ids[0]))).expect("catalog item"),
    )
    .expect("json");
    let vertices = item["geometry"]["coordinates"][0].as_array().expect("ring").len();
    assert!((4..=1024).contains(&vertices), "{vertices} vertices in the catalog item");
    assert_eq!(item["bbox"].as_array().map(Vec::len), Some(4), "{}", item["bbox"]);
}

/// One of each kind of character that must not reach a terminal raw, with its name.
const CONTROLS: &[(&str, &str)] = &[
    ("ESC OSC 0", "\u{1b}]0;owned\u{7}"),
    ("OSC 52", "\u{1b}]52;c;ZXZpbA==\u{7}"),
    ("C1 CSI", "\u{9b}31m"),
    ("DEL", "\u{7f}"),
    ("CR", "\r"),
    ("NUL", "\0"),
    ("line feed", "\nfake line"),
    ("right-to-left override", "\u{202e}fdp.exe"),
    ("isolate", "\u{2066}x\u{2069}"),
];

/// Whether `text` holds a character no terminal should get raw (line breaks aside).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars().filter(|&c| c != '\n' && wyvern_core::is_unsafe(c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_the_item_reaches_the_terminal_escaped_in_every_field() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let seed = World::new().await;
    let original = generated(&seed, scratch.path()).await;
    for (name, control) in CONTROLS {
        let zip = scratch.path().join("controls.zip");
        let text = |field: &str| format!("{field}{control}end");
        rewrite_zip(&original, &zip, |members| {
            edit_item(members, |item| {
                item["id"] = json!(text("id"));
                for field in ["platform", "processing:level", "datetime"] {
                    item["properties"][field] = json!(text(field));
                }
                let data = &mut item["assets"]["Cloud optimized GeoTiff"];
                data["eo:bands"][0]["name"] = json!(text("band"));
                data["raster:bands"][0]["data_type"] = json!(text("type"));
                // Shown in warnings: a checksum that is no multihash, and the key of an asset the
                // catalog leaves out.
                item["assets"]["Data Mask"]["file:checksum"] = json!(text("checksum"));
                item["assets"][text("key")] = json!({"href": "https://h.example/x.tif"});
            });
        });
        let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, &zip)).await;
        let (zip_arg, dest) = (zip.to_str().expect("utf-8"), world.dest());
        let dest_arg = dest.to_str().expect("utf-8");
        let runs = [
            world.run(&["inspect", zip_arg]).await,
            world.run(&["verify", zip_arg]).await,
            world.run(&["inspect", zip_arg, "--json"]).await,
            world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await,
            world.run(&["catalog", dest_arg]).await,
        ];
        for run in &runs {
            assert!(raw_controls(&run.stdout).is_empty(), "{name}: stdout {:?}", raw_controls(&run.stdout));
            assert!(raw_controls(&run.stderr).is_empty(), "{name}: stderr {:?}", raw_controls(&run.stderr));
            assert!(!run.stdout.contains("\nfake line") && !run.stderr.contains("\nfake line"), "{name}: {run:#?}");
        }
        for run in &runs {
            assert_eq!(run.code, 0, "{name}: {run:#?}");
        }
        let shown = wyvern_core::printable(&text("platform")).into_owned();
        assert!(runs[0].stdout.contains(&shown), "{name}: {shown} in {}", runs[0].stdout);
        assert!(runs[3].stderr.contains("is not a multihash"), "{name}: {}", runs[3].stderr);
        assert!(runs[4].stderr.contains("left out of its item"), "{name}: {}", runs[4].stderr);
        // JSON keeps the text, escaped as JSON.
        let json: Value = serde_json::from_str(runs[2].stdout.trim()).expect("one JSON object");
        assert_eq!(json["items"][0]["platform"], json!(text("platform")), "{name}");
    }
}

/// A destination synced once: the zip, the receipt, and the world.
async fn synced() -> (World, PathBuf, PathBuf) {
    let world = World::new().await;
    let dest = world.dest();
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let folder = dest.join(TEST_ORDER);
    (world, folder.join(format!("{TEST_DELIVERABLE}.zip")), folder.join(format!("{TEST_DELIVERABLE}.receipt.json")))
}

/// Sets a file's modification time `offset` seconds from its receipt's (negative: before).
fn dated(path: &Path, receipt: &Path, offset: i64) {
    let at = std::fs::metadata(receipt).and_then(|m| m.modified()).expect("receipt time");
    let at = if offset < 0 {
        at - Duration::from_secs(offset.unsigned_abs())
    } else {
        at + Duration::from_secs(offset as u64)
    };
    std::fs::File::options().write(true).open(path).and_then(|f| f.set_modified(at)).expect("set time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_that_lie_are_no_receipts_and_changed_zips_are_fetched_again() {
    type Lie = fn(&Path, &Path);
    let lies: [(&str, Lie); 5] = [
        ("a zip truncated to nothing, dated before its receipt", |zip, receipt| {
            std::fs::write(zip, b"").expect("truncate");
            dated(zip, receipt, -60);
        }),
        ("a receipt that is not JSON", |_, receipt| std::fs::write(receipt, b"not json").expect("write")),
        ("a receipt of another size", |zip, receipt| {
            let mut json: Value = serde_json::from_slice(&std::fs::read(receipt).expect("read")).expect("json");
            json["bytes"] = json!(json["bytes"].as_u64().expect("bytes") + 1);
            std::fs::write(receipt, serde_json::to_vec(&json).expect("json")).expect("write");
            dated(zip, receipt, -60);
        }),
        ("a receipt larger than any receipt", |zip, receipt| {
            let mut json: Value = serde_json::from_slice(&std::fs::read(receipt).expect("read")).expect("json");
            json["padding"] = json!("x".repeat(1 << 20));
            std::fs::write(receipt, serde_json::to_vec(&json).expect("json")).expect("write");
            dated(zip, receipt, -60);
        }),
        ("a zip rewritten with its size after its receipt", |zip, receipt| {
            let mut bytes = std::fs::read(zip).expect("read");
            bytes[100] ^= 1;
            std::fs::write(zip, bytes).expect("write");
            dated(zip, receipt, 60);
        }),
    ];
    for (lie, tell) in lies {
        let (world, zip, receipt) = synced().await;
        let dest = world.dest();
        let dest_arg = dest.to_str().expect("utf-8");
        tell(&zip, &receipt);
        // The report does not call it verified.
        let page = world.dir.path().join("report.html");
        let run = world.run(&["report", dest_arg, "-o", page.to_str().expect("utf-8")]).await;
        assert_eq!(run.code, 0, "{lie}: {run:#?}");
        let html = std::fs::read_to_string(&page).expect("page");
        assert!(!html.contains("class=\"ok\">verified"), "{lie}: the report calls it verified");
        let plan = world.run(&["sync", TEST_ORDER, "--to", dest_arg, "--plan", "--json"]).await;
        assert_eq!(plan.json_lines()[0]["action"], "fetch", "{lie}: {plan:#?}");
        let run = world.run(&["sync", TEST_ORDER, "--to", dest_arg, "--json"]).await;
        assert_eq!(run.code, 0, "{lie}: {run:#?}");
        assert_eq!(run.json_lines()[0]["status"], "downloaded", "{lie}: {run:#?}");
        assert_eq!(std::fs::read(&zip).expect("zip"), world.served(TEST_DELIVERABLE).await, "{lie}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrite_a_listing_cannot_notice_is_found_by_verify_dest() {
    let (world, zip, receipt) = synced().await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let run = world.run(&["verify", dest_arg, "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.json_lines()[0]["status"], "verified", "{run:#?}");

    // The same size, dated back to its receipt's time: a skip cannot tell (documented).
    let mut bytes = std::fs::read(&zip).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&zip, bytes).expect("write");
    dated(&zip, &receipt, 0);
    let run = world.run(&["sync", TEST_ORDER, "--to", dest_arg, "--json"]).await;
    assert_eq!(run.json_lines()[0]["status"], "skipped", "{run:#?}");
    let run = world.run(&["verify", dest_arg]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains(TEST_DELIVERABLE) && run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(run.stdout.contains("0 verified") && run.stdout.contains("1 failed"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_hrefs_and_ranges_come_from_the_zip_never_from_the_item() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let seed = World::new().await;
    let original = generated(&seed, scratch.path()).await;
    let zip = scratch.path().join("hrefs.zip");
    rewrite_zip(&original, &zip, |members| {
        edit_item(members, |item| {
            let assets = item["assets"].as_object_mut().expect("assets");
            for (key, href) in [
                ("shadow", "/etc/shadow"),
                ("passwd", "file:///etc/passwd"),
                ("other host", "//evil.example/x.tiff"),
                ("climbing", "../../../outside.tiff"),
                ("windows", "c:\\x.tiff"),
            ] {
                assets.insert(key.to_owned(), json!({"href": href, "roles": ["data"]}));
            }
            let data = &mut item["assets"]["Cloud optimized GeoTiff"];
            data["alternate"] = json!({"s3": {"href": "s3://another-bucket/x.tiff"}});
            data["archive:start"] = json!(0);
            data["archive:end"] = json!(99);
            item["links"] = json!([{"rel": "alternate", "href": "https://evil.example/"}]);
        });
    });
    let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, &zip)).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let run = world.run(&["catalog", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for key in ["shadow", "passwd", "other host", "climbing", "windows"] {
        assert!(run.stderr.contains(&format!("asset \"{key}\" left out")), "{key}: {}", run.stderr);
    }
    let item_path = dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.item.json"));
    let item: Value = serde_json::from_slice(&std::fs::read(&item_path).expect("item")).expect("json");
    let text = item.to_string();
    for foreign in ["/etc/", "evil.example", "another-bucket", "outside.tiff", "x.tiff"] {
        assert!(!text.contains(foreign), "{foreign} in {text}");
    }
    // Every href is relative and names a file beside the item.
    let mut hrefs: Vec<&str> =
        item["links"].as_array().expect("links").iter().filter_map(|l| l["href"].as_str()).collect();
    hrefs.extend(item["assets"].as_object().expect("assets").values().filter_map(|a| a["href"].as_str()));
    for href in hrefs {
        assert!(href.starts_with("./") || href.starts_with("../"), "{href}");
        assert!(item_path.parent().expect("folder").join(href).exists(), "{href}");
    }
    // The stored imagery's range is where its bytes are in the zip.
    let data = &item["assets"]["Cloud optimized GeoTiff"];
    let (start, end) = (data["archive:start"].as_u64().expect("start"), data["archive:end"].as_u64().expect("end"));
    let zip_bytes = std::fs::read(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"))).expect("zip");
    let member = crate::members_of(&zip).into_iter().find(|(n, _)| n.ends_with("_l1b.tiff")).expect("tiff").1;
    assert_eq!(&zip_bytes[start as usize..=end as usize], &member[..], "the range holds the member's bytes");
}

/// A 1-bit gray PNG of `side` x `side` pixels, all black (a few hundred KiB for 40,000),
/// written through `scratch`.
fn png_bomb(scratch: &Path, side: u32) -> Vec<u8> {
    let path = scratch.join("bomb.png");
    let mut encoder = png::Encoder::new(std::fs::File::create(&path).expect("create"), side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().expect("header").into_stream_writer().expect("stream");
    let row = vec![0u8; side.div_ceil(8) as usize];
    for _ in 0..side {
        std::io::Write::write_all(&mut writer, &row).expect("row");
    }
    writer.finish().expect("finish");
    std::fs::read(path).expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_thumbnails_and_report_paths_hold_against_what_items_claim() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let seed = World::new().await;
    let original = generated(&seed, scratch.path()).await;
    let zip = scratch.path().join("bomb.zip");
    let bomb = png_bomb(scratch.path(), 40_000);
    rewrite_zip(&original, &zip, |members| {
        for (name, data) in members.iter_mut() {
            if name.ends_with("_thumbnail.png") {
                data.clone_from(&bomb);
            }
        }
        edit_item(members, |item| {
            let thumbnail = &mut item["assets"]["Thumbnail image"];
            thumbnail["file:size"] = json!(bomb.len());
            thumbnail.as_object_mut().expect("asset").remove("file:checksum");
            item["bbox"] = json!([-1e308, -1e308, 1e308, 1e308]);
            item["geometry"] =
                json!({"type": "Polygon", "coordinates": [[[-1e308, 0], [1e308, 0], [0, 1e308], [-1e308, 0]]]});
        });
    });
    let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, &zip)).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let page = scratch.path().join("report.html");
    let run = measured(&world, &["report", dest_arg, "-o", page.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("40000 x 40000 pixels"), "the thumbnail is skipped with a note");
    let map = html.split("<section class=\"cards\">").next().expect("the page's head");
    for nonsense in ["NaN", "inf,", "inf ", "\"inf", "-inf"] {
        assert!(!map.contains(nonsense), "{nonsense} on the map: {map}");
    }

    // Only a regular file (or a link to one) is replaced by the page.
    let fifo = scratch.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    for path in [fifo.as_path(), Path::new("/dev/null"), scratch.path()] {
        let run = world.run(&["report", dest_arg, "-o", path.to_str().expect("utf-8")]).await;
        assert_eq!(run.code, 1, "{}: {run:#?}", path.display());
        assert!(run.stderr.contains("not a regular file") && run.stderr.contains("hint:"), "{}", run.stderr);
    }
    assert!(std::fs::metadata("/dev/null").expect("null").file_type().is_char_device());
    let link = scratch.path().join("link.html");
    std::os::unix::fs::symlink(&page, &link).expect("link");
    let run = world.run(&["report", dest_arg, "-o", link.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 0, "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_is_refused_by_inspect_at_once_and_read_by_verify() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let world = World::new().await;
    let original = generated(&world, scratch.path()).await;
    // A FIFO with no writer: inspect says what to use instead, without waiting.
    let fifo = scratch.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let run = tokio::time::timeout(Duration::from_secs(20), world.run(&["inspect", fifo.to_str().expect("utf-8")]))
        .await
        .expect("inspect does not wait for a writer");
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("not a regular file") && run.stderr.contains("wyvern verify"), "{}", run.stderr);
    // verify reads the zip from a pipe.
    let mut child = world.spawn(&["verify", "/dev/stdin"], &[]);
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = std::fs::read(&original).expect("zip");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, &bytes).await.expect("written");
    drop(stdin);
    let run = crate::finish(child).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("every member matches its CRC-32"), "{}", run.stdout);
}
