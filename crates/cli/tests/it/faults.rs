use wyvern_sandbox::{Fault, Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

async fn world_with(faults: &[Fault]) -> World {
    let builder = faults.iter().cloned().fold(Sandbox::builder(), |b, f| b.fault(TEST_DELIVERABLE, f));
    World::with(builder).await
}

/// Downloads the test order; returns the run and whether the zip is byte-identical.
async fn download(world: &World, extra: &[&str]) -> (crate::Run, bool) {
    let dest = world.dest();
    let mut args = vec!["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let run = world.run(&args).await;
    let served = world.served(TEST_DELIVERABLE).await;
    let zip = dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"));
    let identical = std::fs::read(zip).is_ok_and(|got| got == served);
    (run, identical)
}

async fn len(world: &World) -> u64 {
    world.sandbox.deliverable(TEST_DELIVERABLE).await.expect("generated").len
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_storage_host_never_carries_the_token() {
    let world = world_with(&[Fault::RedirectToStorage]).await;
    let (run, identical) = download(&world, &["--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
    let requests = world.deliverable_requests(TEST_DELIVERABLE);
    let storage: Vec<_> = requests.iter().filter(|r| r.host == "storage").collect();
    assert_eq!(storage.len(), 1, "{requests:#?}");
    assert!(!storage[0].authorization, "the token reached the storage host");
    assert!(requests.iter().filter(|r| r.host == "api").all(|r| r.authorization));
    let line = &run.json_lines()[0];
    assert_eq!(line["verified"], true);
    let receipt = std::fs::read_to_string(world.dest().join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json")))
        .expect("receipt");
    assert!(
        receipt.contains(&format!("{}/objects/{TEST_DELIVERABLE}.zip\"", world.sandbox.storage_url())),
        "{receipt}"
    );
    assert!(!receipt.contains("X-Amz-Signature"), "presigned signatures stay out of receipts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried() {
    let world =
        world_with(&[Fault::RateLimit { times: 1, retry_after_secs: 1 }, Fault::ServerError { times: 2, status: 503 }])
            .await;
    let (run, identical) = download(&world, &[]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
    assert_eq!(world.deliverable_requests(TEST_DELIVERABLE).len(), 4, "1 x 429, 2 x 503, then the body");
    assert!(run.stderr.contains("HTTP 429") && run.stderr.contains("HTTP 503"), "retries are logged: {}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_budget_spent_names_the_last_status() {
    let world = world_with(&[Fault::ServerError { times: 100, status: 502 }]).await;
    let (run, _) = download(&world, &["--retries", "1"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("server error HTTP 502") && run.stderr.contains("after 2 attempts"), "{}", run.stderr);
    assert!(files(&world.dest()).is_empty());
    let (run, _) = download(&world, &["--retries", "0"]).await;
    assert!(run.stderr.contains("after 1 attempt\n") || run.stderr.contains("after 1 attempt "), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_resumes_with_range_from_the_last_byte() {
    let probe = World::new().await;
    let cut = len(&probe).await / 2;
    let world = world_with(&[Fault::CutAt { offset: cut, times: 1 }]).await;
    let (run, identical) = download(&world, &[]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical, "resumed file is byte-identical");
    let ranges: Vec<_> = world.deliverable_requests(TEST_DELIVERABLE).into_iter().map(|r| r.range).collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    // The resume starts at the last byte that arrived: at the cut, or a little before it when
    // bytes in flight were lost with the connection.
    let from: u64 = ranges[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .expect("a Range from a byte");
    assert!(from > 0 && from <= cut, "resumed from {from}, cut at {cut}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ignoring_range_restarts_cleanly() {
    let probe = World::new().await;
    let cut = len(&probe).await / 3;
    let world = world_with(&[Fault::IgnoreRange, Fault::CutAt { offset: cut, times: 1 }]).await;
    let (run, identical) = download(&world, &[]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical, "no appended garbage after a 200 restart");
    assert_eq!(world.deliverable_requests(TEST_DELIVERABLE).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_without_content_length_is_accepted() {
    let world = world_with(&[Fault::Chunked]).await;
    let (run, identical) = download(&world, &[]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_body_is_refused_and_leaves_nothing() {
    let world = world_with(&[Fault::ShortBody { missing: 1000 }]).await;
    let (run, _) = download(&world, &["--retries", "2"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("stopped after"), "{}", run.stderr);
    assert!(
        files(&world.dest()).iter().all(|f| !f.ends_with(".zip") && !f.ends_with(".wyvern-part")),
        "{:?}",
        files(&world.dest())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_error_page_with_200_is_refused() {
    let world = world_with(&[Fault::HtmlPage]).await;
    let (run, _) = download(&world, &[]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("did not send a zip: its content type is text/html"), "{}", run.stderr);
    assert!(files(&world.dest()).is_empty(), "{:?}", files(&world.dest()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_zip_is_exit_3_and_nothing_is_kept() {
    let probe = World::new().await;
    let offset = len(&probe).await / 2;
    let world = world_with(&[Fault::CorruptByte { offset }]).await;
    let (run, _) = download(&world, &["--json"]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    let line = &run.json_lines()[0];
    assert_eq!(line["status"], "failed");
    assert!(line["error"].as_str().expect("error").contains("CRC-32 mismatch"), "{line}");
    assert!(run.stderr.contains(".tiff: CRC-32 mismatch: expected"), "{}", run.stderr);
    assert!(files(&world.dest()).is_empty(), "{:?}", files(&world.dest()));
}

/// Every range a download asked for, as (first byte, exclusive end or `None` for "to the end").
fn ranges_asked(world: &World) -> Vec<(u64, Option<u64>)> {
    let parse = |range: &str| {
        let (first, last) = range.strip_prefix("bytes=")?.split_once('-')?;
        Some((first.parse().ok()?, last.parse::<u64>().ok().map(|last| last + 1)))
    };
    world.deliverable_requests(TEST_DELIVERABLE).iter().filter_map(|r| parse(r.range.as_deref()?)).collect()
}

/// A 4 MiB deliverable behind a link of 16 MB/s per connection: slow enough for parallel ranges.
async fn slow_link(faults: &[Fault]) -> World {
    let builder = Sandbox::builder()
        .deliverable_size_of(TEST_DELIVERABLE, 4 << 20)
        .fault(TEST_DELIVERABLE, Fault::Throttle { bytes_per_sec: 16_000_000 });
    World::with(faults.iter().cloned().fold(builder, |b, f| b.fault(TEST_DELIVERABLE, f))).await
}

const PARALLEL: [&str; 4] = ["--connections", "4", "--segment-size", "256KiB"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_gets_parallel_ranges_that_reassemble_byte_identical() {
    let replicas: [&[Fault]; 2] = [&[], &[Fault::RedirectToStorage, Fault::ExpiringLinks]];
    for faults in replicas {
        let world = slow_link(faults).await;
        let (run, identical) = download(&world, &[&PARALLEL[..], &["--json"]].concat()).await;
        assert_eq!(run.code, 0, "{faults:?}: {run:#?}");
        assert!(identical, "{faults:?}");
        assert_eq!(run.json_lines()[0]["verified"], true);
        let len = len(&world).await;
        let requests = world.deliverable_requests(TEST_DELIVERABLE);
        assert_eq!(requests[0].range, None, "the first request is a plain GET");
        if !faults.is_empty() {
            let storage = requests.iter().filter(|r| r.host == "storage");
            assert!(storage.clone().all(|r| !r.authorization), "the token reached the storage host");
        }
        // The first connection measured the link over its first half MiB and carried on for a
        // segment (its share of the ramp is a whole one at this size, and never more); the rest
        // was asked for in bounded segments, each once.
        let mut asked = ranges_asked(&world);
        asked.sort_unstable();
        asked.dedup();
        let split = asked.first().expect("ranged requests").0;
        assert!((768 << 10..1 << 20).contains(&split), "{faults:?}: split at {split}");
        assert!(asked.len() >= 4, "{faults:?}: {asked:?}");
        let mut next = split;
        for (first, end) in asked {
            assert_eq!(first, next, "{faults:?}: segments are contiguous and do not overlap");
            next = end.expect("bounded").min(len);
        }
        assert_eq!(next, len);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_deliverable_read_ahead_still_gets_parallel_ranges_on_a_slow_link() {
    // Large enough for its STAC items to be read ahead (ranged reads at its end), which once left
    // the body waiting in socket buffers: its first MiB then came in at memory speed and the
    // slow link was taken for a fast one.
    let world = World::with(
        Sandbox::builder()
            .deliverable_size_of(TEST_DELIVERABLE, 72 << 20)
            .fault(TEST_DELIVERABLE, Fault::Latency { millis: 100 })
            .fault(TEST_DELIVERABLE, Fault::Throttle { bytes_per_sec: 16_000_000 }),
    )
    .await;
    let (run, identical) = download(&world, &["--connections", "4", "--segment-size", "4MiB"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
    let len = len(&world).await;
    let asked = ranges_asked(&world);
    assert!(asked.iter().any(|(first, _)| *first > len - (16 << 20)), "the items were read ahead: {asked:?}");
    let segments: Vec<_> = asked.iter().filter(|(first, end)| end.is_some_and(|end| end - first == 4 << 20)).collect();
    assert!(segments.len() >= 8, "the body came in parallel segments: {asked:?}");
    assert!(segments.iter().any(|(first, _)| *first < 16 << 20), "the split came early: {asked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ranges_a_slow_link_stays_one_stream() {
    let world = slow_link(&[Fault::IgnoreRange]).await;
    let (run, identical) = download(&world, &PARALLEL).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
    assert_eq!(world.deliverable_requests(TEST_DELIVERABLE).len(), 1);
    assert_eq!(world.sandbox.bytes_sent(TEST_DELIVERABLE), len(&world).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_segment_is_resumed_alone_from_its_last_byte() {
    let cut = (3 << 20) + 1000;
    // Two cuts: the first request (a plain GET, left at the split point before the cut) uses one.
    let world = slow_link(&[Fault::CutAt { offset: cut, times: 2 }]).await;
    let (run, identical) = download(&world, &PARALLEL).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(identical);
    let len = len(&world).await;
    let mut asked = ranges_asked(&world);
    asked.sort_unstable();
    let segment = 256 << 10;
    // A segment starts where the one before it ends; a resumed request starts inside one.
    let inside = |at: u64| asked.iter().find(|&&(from, to)| from < at && to.is_some_and(|to| at < to));
    let resumed: Vec<_> = asked.iter().filter(|(first, _)| inside(*first).is_some()).collect();
    let (_, end) = *inside(cut).expect("the cut segment");
    assert!(
        matches!(resumed[..], [&(from, to)] if from <= cut && from > cut - segment && to == end && to <= Some(len)),
        "the cut segment alone was asked again, up to its end: {asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverable_replaced_during_a_parallel_download_is_refused_and_leaves_nothing() {
    let world = slow_link(&[Fault::NewVersionAfter { bodies: 2 }]).await;
    let (run, _) = download(&world, &PARALLEL).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("the deliverable changed during the download"), "{}", run.stderr);
    assert!(files(&world.dest()).is_empty(), "{:?}", files(&world.dest()));
}
