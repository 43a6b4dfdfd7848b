use std::collections::HashMap;

use wyvern_sandbox::{Fault, OrderShape, Sandbox, SandboxBuilder, TEST_DELIVERABLE};

use crate::{World, files};

/// A replica with `count` more fulfilled orders of one deliverable each.
fn many_orders(count: usize) -> SandboxBuilder {
    (0..count).fold(Sandbox::builder().deliverable_size(16 << 10), |builder, i| {
        builder.order(
            &format!("bulk-order-{i:04}"),
            "completed",
            Some("fulfilled"),
            OrderShape::Flat,
            &[&format!("bulk-deliverable-{i:04}")],
        )
    })
}

fn summary(run: &crate::Run) -> serde_json::Value {
    run.json_lines().last().expect("a summary line")["summary"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_named_orders_reports_not_ready_and_skips_on_rerun() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let orders = [
        "00000000-0000-0000-0000-000000000000",
        "00000000-0000-0000-0000-000000000010",
        "00000000-0000-0000-0000-000000000020",
    ];
    let mut args = vec!["sync", "--to", dest, "--json"];
    args.extend(orders);
    let first = world.run(&args).await;
    assert_eq!(first.code, 0, "not-ready orders are not errors: {first:#?}");
    let lines = first.json_lines();
    assert!(lines.iter().any(|l| l["status"] == "not_ready" && l["order_id"] == orders[2]), "{lines:?}");
    let s = summary(&first);
    assert_eq!(
        (s["downloaded"].as_u64(), s["skipped"].as_u64(), s["not_ready"].as_u64(), s["failed"].as_u64()),
        (Some(3), Some(0), Some(1), Some(0))
    );

    let deliverable_requests = || world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count();
    let before = deliverable_requests();
    let second = world.run(&args).await;
    let s = summary(&second);
    assert_eq!((s["downloaded"].as_u64(), s["skipped"].as_u64(), s["bytes"].as_u64()), (Some(0), Some(3), Some(0)));
    assert_eq!(deliverable_requests(), before, "a second run downloads nothing");

    let human = world.run(&["sync", "--to", dest, orders[0]]).await;
    assert!(human.stdout.contains("sync: 0 downloaded (0 B), 1 skipped, 0 not ready, 0 failed"), "{}", human.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_says_what_a_sync_would_do_and_fetches_nothing() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let (fulfilled, partial, pending) = (
        "00000000-0000-0000-0000-000000000000",
        "00000000-0000-0000-0000-000000000010",
        "00000000-0000-0000-0000-000000000020",
    );
    let fetched = world.run(&["sync", "--to", dest, fulfilled]).await;
    assert_eq!(fetched.code, 0, "{fetched:#?}");
    let deliverable_requests = || world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count();
    let before = deliverable_requests();
    let plan = world.run(&["sync", "--plan", "--json", "--to", dest, fulfilled, partial, pending]).await;
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert_eq!(deliverable_requests(), before, "a plan fetches nothing");
    let lines = plan.json_lines();
    let action = |id: &str| lines.iter().find(|l| l["deliverable_id"] == id).map(|l| l["action"].clone());
    assert_eq!(action("00000000-0000-0000-0000-000000000001"), Some("skip".into()), "{lines:?}");
    assert_eq!(action("00000000-0000-0000-0000-000000000011"), Some("fetch".into()), "{lines:?}");
    assert_eq!(action("00000000-0000-0000-0000-000000000012"), Some("fetch".into()), "{lines:?}");
    assert!(lines.iter().any(|l| l["status"] == "not_ready" && l["order_id"] == pending), "{lines:?}");
    let skip = lines.iter().find(|l| l["action"] == "skip").expect("skip line");
    assert_eq!(skip["destination"], format!("{dest}/{fulfilled}/00000000-0000-0000-0000-000000000001.zip"));
    assert!(skip["bytes"].as_u64().is_some_and(|b| b > 0), "{skip}");
    let summary = &lines.last().expect("summary")["plan"];
    assert_eq!(
        (
            summary["fetch"].as_u64(),
            summary["skip"].as_u64(),
            summary["not_ready"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(0)),
        "{summary}"
    );
    assert!(!std::path::Path::new(dest).join(partial).exists(), "nothing was written");
    let human = world.run(&["sync", "--plan", "--to", dest, fulfilled, partial]).await;
    assert!(human.stdout.contains("plan: 2 to fetch, 1 to skip, 0 not ready, 0 failed"), "{}", human.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_all_follows_pagination() {
    let world = World::with(many_orders(120)).await;
    let run = world
        .run(&["sync", "--all", "--to", world.dest().to_str().expect("utf-8"), "--json", "--concurrency", "8"])
        .await;
    assert_eq!(run.code, 0, "{run:#?}");
    let s = summary(&run);
    assert_eq!((s["downloaded"].as_u64(), s["not_ready"].as_u64()), (Some(123), Some(2)), "{s}");
    let pages = world.sandbox.requests().iter().filter(|r| r.path == "/1.0/tasking/orders/").count();
    assert_eq!(pages, 3, "124 orders in pages of 50");
    let order_fetches = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/1.0/tasking/orders/") && r.path.len() > 20)
        .count();
    assert_eq!(order_fetches, 0, "listed orders carry their links: no order is fetched again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_partition_every_deliverable_exactly_once() {
    let world = World::with(many_orders(40)).await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let mut downloaded = 0;
    for shard in ["0/3", "1/3", "2/3"] {
        let run = world.run(&["sync", "--all", "--to", dest, "--shard", shard, "--json"]).await;
        assert_eq!(run.code, 0, "{run:#?}");
        let s = summary(&run);
        assert_eq!(s["skipped"].as_u64(), Some(0), "shards overlap: {s}");
        downloaded += s["downloaded"].as_u64().expect("count");
    }
    assert_eq!(downloaded, 43, "every deliverable of the 43 is some shard's");
    let mut per_deliverable: HashMap<String, usize> = HashMap::new();
    for request in world.sandbox.requests().into_iter().filter(|r| r.path.contains("/deliverables/")) {
        *per_deliverable.entry(request.path).or_default() += 1;
    }
    assert_eq!(per_deliverable.len(), 43);
    assert!(per_deliverable.values().all(|&n| n == 1), "a deliverable was fetched twice: {per_deliverable:?}");
    assert_eq!(files(&world.dest()).iter().filter(|f| f.ends_with(".zip")).count(), 43);
    let bad = world.run(&["sync", "--all", "--to", dest, "--shard", "3/3"]).await;
    assert_eq!(bad.code, 2, "{bad:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_continue_by_default_and_stop_with_fail_fast() {
    let builder = many_orders(6).fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 3000 });
    let world = World::with(builder).await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let all = world.run(&["sync", "--all", "--to", dest, "--json", "--concurrency", "1"]).await;
    assert_eq!(all.code, 3, "the only failure is a verification failure: {all:#?}");
    let s = summary(&all);
    assert_eq!((s["downloaded"].as_u64(), s["failed"].as_u64()), (Some(8), Some(1)), "{s}");

    let world = World::with(many_orders(6).fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 3000 })).await;
    let fast = world
        .run(&[
            "sync",
            "--all",
            "--to",
            world.dest().to_str().expect("utf-8"),
            "--json",
            "--concurrency",
            "1",
            "--fail-fast",
        ])
        .await;
    assert_eq!(fast.code, 3, "{fast:#?}");
    let s = summary(&fast);
    assert_eq!(s["failed"].as_u64(), Some(1));
    assert_eq!(s["downloaded"].as_u64(), Some(0), "the test order sorts first and stops the run: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_a_thousand_orders_with_sixteen_at_once() {
    let small = World::with(many_orders(100)).await.without_log();
    let args = |dest: &str| -> Vec<String> {
        ["sync", "--all", "--to", dest, "--json", "--concurrency", "16", "--max-per-host", "16", "-q"]
            .map(str::to_owned)
            .to_vec()
    };
    let dest = small.dest();
    let (run, usage) =
        small.run_measured(&args(dest.to_str().expect("utf-8")).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let peak_100 = usage.peak_rss;

    let world = World::with(many_orders(1000)).await.without_log();
    let dest = world.dest();
    let args = args(dest.to_str().expect("utf-8"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let (run, usage) = world.run_measured(&args).await;
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{run:#?}");
    let peak_1000 = usage.peak_rss;
    let s = summary(&run);
    assert_eq!(
        (s["downloaded"].as_u64(), s["failed"].as_u64(), s["not_ready"].as_u64()),
        (Some(1003), Some(0), Some(2)),
        "{s}"
    );
    assert!(run.json_lines().iter().filter(|l| l["status"] == "downloaded").all(|l| l["verified"] == true));
    assert_eq!(files(&dest).iter().filter(|f| f.ends_with(".zip")).count(), 1003);

    let requests = world.sandbox.requests();
    let mut per_deliverable: HashMap<&str, usize> = HashMap::new();
    for request in requests.iter().filter(|r| r.path.contains("/deliverables/")) {
        *per_deliverable.entry(request.path.as_str()).or_default() += 1;
    }
    assert_eq!(per_deliverable.len(), 1003);
    assert!(per_deliverable.values().all(|&n| n == 1), "each deliverable is fetched once");
    let pages = requests.iter().filter(|r| r.path == "/1.0/tasking/orders/").count();
    assert_eq!(pages, 21, "1004 orders in pages of 50");
    assert_eq!(requests.len(), 1003 + 21, "nothing but the listing and the deliverables");
    eprintln!(
        "load: 1004 orders, 1003 deliverables ({} bytes) in {:.1} s with 16 at once; peak RSS {} MiB (100 orders: {} MiB)",
        s["bytes"],
        elapsed.as_secs_f64(),
        peak_1000 >> 20,
        peak_100 >> 20
    );
    assert!(peak_1000 < peak_100 + (32 << 20), "memory grew with the number of orders: {peak_100} -> {peak_1000}");

    let again = world.run(&args).await;
    let s = summary(&again);
    assert_eq!((s["downloaded"].as_u64(), s["skipped"].as_u64()), (Some(0), Some(1003)), "{s}");
    let deliverable_requests = world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count();
    assert_eq!(deliverable_requests, 1003, "the second run made no deliverable request");
}

/// Delivered files get what the umask allows of rw-rw-rw- (as curl, rclone and unzip create
/// theirs): zips, receipts, extracted members, the catalog and its items, the report.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_files_have_the_permissions_the_umask_allows() {
    use std::os::unix::fs::PermissionsExt;

    for (umask, expected) in [("022", 0o644), ("027", 0o640), ("077", 0o600)] {
        let script = format!("umask {umask}; exec \"$0\" \"$@\"");
        let world = World::new().await.with_runner(&["sh", "-c", &script]);
        let dest = world.dest();
        let dest_arg = dest.to_str().expect("utf-8");
        for extract in [false, true] {
            let mut args = vec!["sync", wyvern_sandbox::TEST_ORDER, "--to", dest_arg, "--catalog"];
            if extract {
                args.extend(["--extract", "--if-exists", "overwrite"]);
            }
            let run = world.run(&args).await;
            assert_eq!(run.code, 0, "{run:#?}");
        }
        let report = world.run(&["report", dest_arg, "-o", dest.join("report.html").to_str().expect("utf-8")]).await;
        assert_eq!(report.code, 0, "{report:#?}");
        let written = files(&dest);
        assert!(
            written.iter().any(|f| f.ends_with(".zip")) && written.iter().any(|f| f.ends_with(".tiff")),
            "{written:?}"
        );
        assert!(written.iter().any(|f| f.ends_with("catalog.json")), "{written:?}");
        for file in written {
            let mode = std::fs::metadata(dest.join(&file)).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode, expected, "umask {umask}: {file} is {mode:o}");
        }
    }
}
