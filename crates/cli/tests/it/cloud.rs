//! Deliverables straight to buckets: the storage emulators `cargo xtask test` starts (S3:
//! s3s-fs, Azure: Azurite, GCS client path: moto). Each test notes a skip when they are absent.

use std::path::Path;
use std::sync::Arc;

use wyvern_sandbox::{Fault, Sandbox, TEST_DELIVERABLE, TEST_ORDER};
use wyvern_sinks::{ObjectPath, Sink};

use crate::World;

/// Bucket URLs of the emulators that are running, each under a fresh prefix.
fn buckets() -> Vec<(&'static str, String)> {
    let found: Vec<_> =
        [("s3", "WYVERN_TEST_S3_URL"), ("azure", "WYVERN_TEST_AZURE_URL"), ("gcs", "WYVERN_TEST_GCS_URL")]
            .into_iter()
            .filter_map(|(name, var)| {
                let base = std::env::var(var).ok()?;
                Some((name, format!("{base}/{}", uuid::Uuid::new_v4().simple())))
            })
            .collect();
    if found.is_empty() {
        eprintln!("skipped: no storage emulator is set up (cargo xtask test starts them)");
    }
    found
}

fn sink(url: &str) -> Arc<dyn Sink> {
    wyvern_sinks::Registry::with_builtins().resolve(url).expect("emulator sink")
}

fn path(text: &str) -> ObjectPath {
    ObjectPath::parse(text).expect("path")
}

async fn listed(sink: &Arc<dyn Sink>) -> Vec<String> {
    let mut names: Vec<String> = sink.list(None).await.expect("list").into_iter().map(|o| o.path.to_string()).collect();
    names.sort();
    names
}

/// Multipart uploads a test left in the S3 server (s3s-fs keeps them as files in its root): part
/// files of an upload the server no longer knows (aborted, or completed, while a part was still
/// arriving), and uploads still open for an object under one of the test's `urls`. The tests
/// share the server, so other tests' uploads in flight are left out, and what is found is looked
/// at again a second later (a completion removes its parts, then the upload).
fn dangling_s3_uploads(urls: &[String]) -> Vec<String> {
    let Ok(root) = std::env::var("WYVERN_TEST_S3_DATA_DIR") else { return Vec::new() };
    let found = || s3_uploads_left(Path::new(&root), urls);
    let first = found();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    found().into_iter().filter(|name| first.contains(name)).collect()
}

/// One look at the s3s-fs root for [`dangling_s3_uploads`].
fn s3_uploads_left(root: &Path, urls: &[String]) -> Vec<String> {
    use base64::Engine as _;
    let names: Vec<String> = std::fs::read_dir(root)
        .expect("s3s-fs root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let prefixes: Vec<&str> =
        urls.iter().filter_map(|url| url.split_once("://")?.1.split_once('/').map(|(_, prefix)| prefix)).collect();
    // `.bucket-<base64>.object-<base64>.upload-<id>.metadata.json`: an open upload's object.
    let ours = |upload: &str| {
        names.iter().any(|name| {
            let Some(object) = name.strip_suffix(&format!(".upload-{upload}.metadata.json")) else { return false };
            let Some((_, key)) = object.split_once(".object-") else { return false };
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key).expect("s3s-fs key");
            prefixes.iter().any(|prefix| key.starts_with(prefix.as_bytes()))
        })
    };
    let open = |upload: &str| names.contains(&format!(".upload-{upload}.json"));
    names
        .iter()
        .filter(|name| {
            let part = name.strip_prefix(".upload_id-").and_then(|rest| rest.split_once(".part-")).map(|(id, _)| id);
            let info = name.strip_prefix(".upload-").and_then(|rest| rest.strip_suffix(".json"));
            match (part, info) {
                (Some(upload), _) => !open(upload) || ours(upload),
                (None, Some(upload)) => ours(upload),
                (None, None) => false,
            }
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_order_lands_byte_identical_in_every_bucket() {
    let world = World::new().await;
    let served = world.served(TEST_DELIVERABLE).await;
    for (name, url) in buckets() {
        let run = world.run(&["order", "download", TEST_ORDER, "--to", &url, "--json"]).await;
        assert_eq!(run.code, 0, "{name}: {run:#?}");
        let line = &run.json_lines()[0];
        assert_eq!(line["destination"], format!("{url}/{TEST_ORDER}/{TEST_DELIVERABLE}.zip"), "{name}");
        let bucket = sink(&url);
        let zip =
            bucket.get_small(&path(&format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")), 64 << 20).await.expect("get");
        assert_eq!(zip.as_deref(), Some(served.as_slice()), "{name}: the object differs");
        assert_eq!(
            listed(&bucket).await,
            [format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"), format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")],
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_ranges_over_a_slow_link_land_byte_identical_in_every_bucket() {
    let world = World::with(
        Sandbox::builder()
            .deliverable_size_of(TEST_DELIVERABLE, 4 << 20)
            .fault(TEST_DELIVERABLE, Fault::Throttle { bytes_per_sec: 16_000_000 }),
    )
    .await;
    let served = world.served(TEST_DELIVERABLE).await;
    for (name, url) in buckets() {
        let before = world.deliverable_requests(TEST_DELIVERABLE).len();
        let args = ["order", "download", TEST_ORDER, "--to", &url, "--connections", "4", "--segment-size", "256KiB"];
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{name}: {run:#?}");
        let requests = world.deliverable_requests(TEST_DELIVERABLE).len() - before;
        assert!(requests > 4, "{name}: the body came in segments ({requests} requests)");
        let zip =
            sink(&url).get_small(&path(&format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")), 64 << 20).await.expect("get");
        assert_eq!(zip.as_deref(), Some(served.as_slice()), "{name}: the object differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transfers_leave_no_object_and_no_multipart_upload() {
    let world = World::with(
        Sandbox::builder()
            .deliverable_size(24 << 20)
            .fault(TEST_DELIVERABLE, Fault::ShortBody { missing: 1 << 20 })
            .fault("00000000-0000-0000-0000-000000000011", Fault::CorruptByte { offset: 20 << 20 }),
    )
    .await;
    let buckets = buckets();
    for (name, url) in &buckets {
        let cut = world.run(&["order", "download", TEST_ORDER, "--to", url, "--retries", "1"]).await;
        assert_eq!(cut.code, 1, "{name}: {cut:#?}");
        let corrupt =
            world.run(&["deliverable", "download", "00000000-0000-0000-0000-000000000011", "--to", url]).await;
        assert_eq!(corrupt.code, 3, "{name}: {corrupt:#?}");
        assert!(corrupt.stderr.contains("CRC-32 mismatch"), "{name}: {}", corrupt.stderr);
        assert_eq!(listed(&sink(url)).await, Vec::<String>::new(), "{name}: an object was left");
    }
    // The aborts of dropped uploads run in the background of the process that started them,
    // which has exited by now: nothing may be pending in the S3 server.
    let urls: Vec<String> = buckets.into_iter().map(|(_, url)| url).collect();
    assert_eq!(dangling_s3_uploads(&urls), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_does_not_exist_is_named_as_such_in_every_store() {
    let world = World::new().await;
    for (name, url) in buckets() {
        // The same store, another bucket (container): `scheme://<bucket>/...`.
        let (scheme, rest) = url.split_once("://").expect("url");
        let missing = format!("{scheme}://no-such-bucket{}", &rest[rest.find('/').unwrap_or(rest.len())..]);
        let run = world.run(&["order", "download", TEST_ORDER, "--to", &missing]).await;
        assert_eq!(run.code, 1, "{name}: {run:#?}");
        assert!(run.stderr.contains("hint: the bucket (or folder) does not exist"), "{name}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_to_a_bucket_twice_transfers_nothing_the_second_time() {
    let world = World::new().await;
    for (name, url) in buckets() {
        let first = world.run(&["sync", "--all", "--to", &url, "--json"]).await;
        assert_eq!(first.code, 0, "{name}: {first:#?}");
        let summary = &first.json_lines().last().expect("summary")["summary"].clone();
        assert_eq!((summary["downloaded"].as_u64(), summary["not_ready"].as_u64()), (Some(3), Some(2)), "{name}");
        let before = world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count();
        let second = world.run(&["sync", "--all", "--to", &url, "--json"]).await;
        let summary = &second.json_lines().last().expect("summary")["summary"].clone();
        assert_eq!((summary["downloaded"].as_u64(), summary["skipped"].as_u64()), (Some(0), Some(3)), "{name}");
        assert_eq!(summary["bytes"].as_u64(), Some(0), "{name}");
        let after = world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count();
        assert_eq!(before, after, "{name}: the second sync downloaded something");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_without_credentials_fails_within_seconds_naming_what_to_set() {
    // No AWS_* credentials: object_store asks the instance metadata service, here a closed port
    // (as where there is none). With its default retries that took about a minute.
    let (_reserved, closed) = World::refusing();
    let world = World::new().await.without_cloud_env();
    let env =
        [("AWS_METADATA_ENDPOINT", closed.as_str()), ("AWS_ENDPOINT", closed.as_str()), ("AWS_ALLOW_HTTP", "true")];
    let started = std::time::Instant::now();
    let run = world.run_with(&["order", "download", TEST_ORDER, "--to", "s3://no-credentials/x"], &env, None).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}: {run:#?}", started.elapsed());
    assert_ne!(run.code, 0, "{run:#?}");
    let hint = run.stderr.lines().find(|l| l.starts_with("hint: ")).expect("a hint");
    assert!(hint.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "{hint}");
    assert!(!hint.contains("GOOGLE") && !hint.contains("AZURE"), "another store's variables: {hint}");
    let causes = run.stderr.lines().filter(|l| l.contains("caused by:")).count();
    assert!(causes <= 4, "{}", run.stderr);
    assert!(run.stderr.contains("  caused by: …\n"), "the layers between elided: {}", run.stderr);
    assert!(world.sandbox.requests().iter().all(|r| !r.path.contains("/deliverables/")), "fetched for nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_reached_fails_within_seconds_naming_its_address() {
    // Credentials, but the endpoint is a closed port (a mistyped AWS_ENDPOINT): the transfers'
    // retry budget would take minutes; the destination's check gives up within seconds.
    let (_reserved, closed) = World::refusing();
    let world = World::new().await.without_cloud_env();
    let env = [
        ("AWS_ENDPOINT", closed.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let started = std::time::Instant::now();
    // (A bucket named so is no credential failure.)
    let run =
        world.run_with(&["order", "download", TEST_ORDER, "--to", "s3://credentials-archive/x"], &env, None).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}: {run:#?}", started.elapsed());
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("hint: the store could not be reached: check its address"), "{}", run.stderr);
    assert!(world.sandbox.requests().iter().all(|r| !r.path.contains("/deliverables/")), "fetched for nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_resync_of_a_bucket_costs_listing_pages_only() {
    let (Some((_, url)), Ok(endpoint)) =
        (buckets().into_iter().find(|(name, _)| *name == "s3"), std::env::var("AWS_ENDPOINT"))
    else {
        return;
    };
    // 20 orders of 2 deliverables: more folders than are listed one by one.
    let mut builder = Sandbox::builder().deliverable_size(64 << 10);
    let id = |n: u32| format!("00000000-0000-0000-0001-{n:012}");
    let mut orders = Vec::new();
    for n in 0..20 {
        let (order, first, second) = (id(n * 3), id(n * 3 + 1), id(n * 3 + 2));
        builder =
            builder.order(&order, "completed", Some("fulfilled"), wyvern_sandbox::OrderShape::Flat, &[&first, &second]);
        orders.push(order);
    }
    let world = World::with(builder).await;
    let proxy = crate::CountingProxy::start(&endpoint).await;
    let through = [("AWS_ENDPOINT", proxy.url.as_str())];
    let mut args: Vec<&str> = vec!["sync", "--to", &url, "--json"];
    args.extend(orders.iter().map(String::as_str));
    let first = world.run_with(&args, &through, None).await;
    assert_eq!(first.code, 0, "{first:#?}");
    let before = (proxy.responses(), world.sandbox.requests().len());
    let second = world.run_with(&args, &through, None).await;
    assert_eq!(second.code, 0, "{second:#?}");
    let summary = &second.json_lines().last().expect("summary")["summary"].clone();
    assert_eq!((summary["downloaded"].as_u64(), summary["skipped"].as_u64()), (Some(0), Some(40)));
    // 80 objects: one page of the bucket's listing, and no request per deliverable (no HEAD, no
    // receipt read, not even the destination's write check: nothing was written).
    assert_eq!(proxy.responses() - before.0, 1, "S3 requests of a no-op re-sync");
    let api: Vec<_> = world.sandbox.requests().into_iter().skip(before.1).collect();
    assert!(api.iter().all(|r| r.path.contains("/orders/")), "only the orders were asked for: {api:#?}");
    let skipped = &second.json_lines()[0];
    assert_eq!((skipped["status"].as_str(), skipped["sha256"].as_str()), (Some("skipped"), None), "{skipped}");

    // A few orders: one listing each.
    let few = ["sync", "--to", &url, orders[0].as_str(), orders[1].as_str()];
    let before = proxy.responses();
    assert_eq!(world.run_with(&few, &through, None).await.code, 0);
    assert_eq!(proxy.responses() - before, 2, "one listing per order folder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_resync_of_an_account_in_many_pages_fetches_nothing_and_keeps_the_order() {
    let (Some((_, url)), Ok(endpoint)) =
        (buckets().into_iter().find(|(name, _)| *name == "s3"), std::env::var("AWS_ENDPOINT"))
    else {
        return;
    };
    // 1,100 generated orders of one deliverable, listed 50 a page and newest first (not in
    // the order of their paths), beside the fixtures: 2,206 objects, three pages of the bucket.
    let generated = 1_100;
    let world = World::with(Sandbox::builder().deliverable_size(8 << 10).generated_orders(generated, 1)).await;
    let proxy = crate::CountingProxy::start(&endpoint).await;
    let through = [("AWS_ENDPOINT", proxy.url.as_str())];
    let sync = |more: &[&'static str]| {
        let mut args = vec!["sync", "--all", "--to", url.as_str(), "--json", "--concurrency", "8"];
        args.extend(more);
        args
    };
    let first = world.run_with(&sync(&[]), &through, None).await;
    assert_eq!(first.code, 0, "{first:#?}");
    let (s3_before, api_before) = (proxy.responses(), world.sandbox.requests().len());
    let second = world.run_with(&sync(&[]), &through, None).await;
    assert_eq!(second.code, 0, "{second:#?}");
    let lines = second.json_lines();
    let summary = &lines.last().expect("summary")["summary"];
    let ready = generated + 3;
    assert_eq!((summary["downloaded"].as_u64(), summary["skipped"].as_u64()), (Some(0), Some(ready)), "{summary}");
    assert_eq!(proxy.responses() - s3_before, 3, "S3 requests of a no-op re-sync: the listing's pages");
    let api: Vec<_> = world.sandbox.requests().into_iter().skip(api_before).collect();
    assert!(api.iter().all(|r| r.path.contains("/orders/")), "nothing fetched again");
    let pages = api.iter().filter(|r| r.path == "/1.0/tasking/orders/").count();
    assert_eq!(pages as u64, (generated + 4).div_ceil(50), "the account's pages, each once");

    // The plan says the same, in the order the API lists the orders.
    let plan = world.run_with(&sync(&["--plan"]), &through, None).await;
    let planned: Vec<String> = plan
        .json_lines()
        .iter()
        .filter(|l| l["action"].is_string())
        .map(|l| {
            assert_eq!(l["action"], "skip", "{l}");
            l["deliverable_id"].as_str().expect("id").to_owned()
        })
        .collect();
    let generated_ids: Vec<&String> = planned.iter().filter(|id| id.starts_with("00000000-0000-0000-0003-")).collect();
    assert_eq!(generated_ids.len() as u64, generated);
    assert!(generated_ids.windows(2).all(|w| w[0] > w[1]), "newest first, as listed");

    // Shards split the same plan: disjoint, and together every deliverable.
    let mut sharded = Vec::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let run = world.run_with(&sync(&["--plan", "--shard", shard]), &through, None).await;
        assert_eq!(run.code, 0, "{run:#?}");
        sharded.extend(run.json_lines().iter().filter_map(|l| Some(l["deliverable_id"].as_str()?.to_owned())));
    }
    sharded.sort();
    let mut all = planned.clone();
    all.sort();
    assert_eq!(sharded, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_to_s3_in_flat_memory() {
    let Some((_, url)) = buckets().into_iter().find(|(name, _)| *name == "s3") else { return };
    let small = "00000000-0000-0000-0000-000000000011";
    let world = World::with(
        Sandbox::builder().deliverable_size_of(small, 64 << 20).deliverable_size_of(TEST_DELIVERABLE, 1 << 30),
    )
    .await
    .without_log();
    let (run, usage) = world.run_measured(&["deliverable", "download", small, "--to", &url, "-q"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let after_small = usage.peak_rss;
    let big = world.sandbox.deliverable(TEST_DELIVERABLE).await.expect("generated");
    assert!(big.len >= 1 << 30, "{}", big.len);
    let (run, usage) = world.run_measured(&["deliverable", "download", TEST_DELIVERABLE, "--to", &url, "-q"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let after_big = usage.peak_rss;
    eprintln!(
        "peak RSS of wyvern: {} MiB for 64 MiB, {} MiB for 1 GiB; {} requests",
        after_small >> 20,
        after_big >> 20,
        world.deliverable_requests(TEST_DELIVERABLE).len()
    );
    // Bounded by design (parts in flight, queues): about 40 MiB of buffers whatever the size.
    // The allocator's arenas add up to 30 MiB of noise from run to run, hence the margin; a
    // deliverable held in memory would add a gigabyte.
    assert!(after_big < after_small + (48 << 20), "memory grew with size: {after_small} -> {after_big}");
    assert!(after_big < 256 << 20, "peak RSS {after_big}");
    let object = sink(&url).head(&path(&format!("{TEST_DELIVERABLE}.zip"))).await.expect("head").expect("uploaded");
    assert_eq!(object.size, big.len);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_inspect_reads_a_tiny_fraction_and_verify_reads_it_all() {
    let Some((_, url)) = buckets().into_iter().find(|(name, _)| *name == "s3") else { return };
    let world = World::with(Sandbox::builder().deliverable_size_of(TEST_DELIVERABLE, 200 << 20)).await.without_log();
    let run = world.run(&["deliverable", "download", TEST_DELIVERABLE, "--to", &url, "-q"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let zip = format!("{url}/{TEST_DELIVERABLE}.zip");

    let inspect = world.run(&["inspect", &zip, "--json"]).await;
    assert_eq!(inspect.code, 0, "{inspect:#?}");
    let report = &inspect.json_lines()[0];
    let (bytes, read) = (report["bytes"].as_u64().expect("bytes"), report["bytes_read"].as_u64().expect("read"));
    eprintln!("remote inspect of {bytes} bytes read {read} bytes ({:.3}%)", read as f64 * 100.0 / bytes as f64);
    assert!(bytes >= 200_000_000, "a 200 MB object: {bytes}");
    assert!(read < bytes / 100, "inspect read {read} of {bytes} bytes");
    assert_eq!(report["rasters"].as_array().expect("rasters").len(), 3);
    assert_eq!(report["items"][0]["platform"].as_str().map(|p| p.starts_with("Dragonette")), Some(true));

    let verify = world.run(&["verify", &zip, "--json"]).await;
    assert_eq!(verify.code, 0, "{verify:#?}");
    assert_eq!(verify.json_lines()[0]["verified"], true);
    assert_eq!(verify.json_lines()[0]["bytes_read"].as_u64(), Some(bytes), "verify reads each byte once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flipped_on_the_way_to_s3_is_refused_by_the_bucket() {
    let (Ok(base), Ok(endpoint)) = (std::env::var("WYVERN_TEST_S3_URL"), std::env::var("AWS_ENDPOINT")) else {
        eprintln!("skipped: the S3 emulator is not set up (cargo xtask test starts it)");
        return;
    };
    let world = World::new().await;
    // The bit flipped is in the receipt, a single PutObject: s3s-fs checks those (it does not
    // check the checksums of a multipart upload's parts, which S3 itself does).
    let receipt = path(&format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"));
    // The default (a CRC64NVME checksum, the body left out of the signature), SHA-256, and
    // neither a checksum nor a signed body.
    let cases = [("", "", true), ("sha256", "", true), ("none", "true", false)];
    for (checksum, unsigned, refused) in cases {
        let url = format!("{base}/{}", uuid::Uuid::new_v4().simple());
        let proxy = crate::CountingProxy::start_flipping(&endpoint, true).await;
        let mut env = vec![("AWS_ENDPOINT", proxy.url.as_str())];
        env.extend(
            [("WYVERN_S3_CHECKSUM", checksum), ("AWS_UNSIGNED_PAYLOAD", unsigned)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty()),
        );
        let run = world.run_with(&["order", "download", TEST_ORDER, "--to", &url], &env, None).await;
        let checksum = format!("checksum {checksum:?}, unsigned payload {unsigned:?}");
        if refused {
            // The bucket refused the damaged request (400 BadDigest), and the deliverable failed
            // with that said. (s3s-fs keeps a refused body where S3 keeps nothing.)
            assert_eq!(proxy.errors(), 1, "{checksum}: the bucket refused the flipped bit");
            assert_eq!(run.code, 1, "{checksum}: {run:#?}");
            assert!(
                run.stderr.contains("BadDigest") && run.stderr.contains("hint: the bucket refused"),
                "{}",
                run.stderr
            );
        } else {
            // Unchecked, the flipped bit is stored as it arrived: what the checks are for.
            assert_eq!((proxy.errors(), run.code), (0, 0), "{checksum}: {run:#?}");
            let stored = sink(&url).get_small(&receipt, 1 << 20).await.expect("get").expect("a receipt");
            assert!(serde_json::from_slice::<serde_json::Value>(&stored).is_err(), "{checksum}: the flip is stored");
        }
    }
}

/// A copy of the generated deliverable whose members are named short and sit at the zip's
/// root (its catalog left out, whose links would no longer lead anywhere): s3s-fs keeps a
/// multipart upload in a file named after its key, which a deliverable's long member paths
/// under a test prefix make longer than a file name may be.
fn short_named(dir: &std::path::Path) -> std::path::PathBuf {
    let (original, short) = (dir.join("generated.zip"), dir.join("short.zip"));
    let product = wyvern_sandbox::generate::Product::for_deliverable("short-names", 256 << 10);
    wyvern_sandbox::generate::write_deliverable(&product, &original).expect("generated");
    crate::rewrite_zip(&original, &short, |members| {
        members.retain(|(name, _)| !name.ends_with("catalog.json"));
        for (name, _) in members.iter_mut() {
            let base = name.rsplit('/').next().expect("a name").to_owned();
            let parts: Vec<&str> = base.rsplitn(3, '_').collect();
            *name = format!("{}_{}", parts[1], parts[0]);
        }
    });
    short
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_members_land_alone_in_every_bucket() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let world = World::with(Sandbox::builder().deliverable_file(TEST_DELIVERABLE, short_named(scratch.path()))).await;
    for (name, url) in buckets() {
        let args = ["deliverable", "download", TEST_DELIVERABLE, "--to", &url, "--include", "*.png", "--json"];
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{name}: {run:#?}");
        let objects = listed(&sink(&url)).await;
        assert_eq!(objects.len(), 3, "{name}: {objects:?}");
        assert!(objects.contains(&format!("{TEST_DELIVERABLE}.receipt.json")), "{name}: {objects:?}");
        let members = objects.iter().filter(|o| o.starts_with(&format!("{TEST_DELIVERABLE}/")) && o.ends_with(".png"));
        assert_eq!(members.count(), 2, "{name}: preview and thumbnail: {objects:?}");
        let again = world.run(&args).await;
        assert_eq!(again.json_lines()[0]["status"], "skipped", "{name}: {again:#?}");
    }
}
