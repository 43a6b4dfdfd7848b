//! The pipeline as a library, against the sandbox replica over real HTTP: the sync engine's
//! events, batches as streams of outcomes, receipts, the kinds of errors, cancellation, observers, waiting, named zips, and
//! the `examples/` program into a bucket.

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;
use wyvern_core::{Client, Token};
use wyvern_sandbox::{Fault, Sandbox, SandboxBuilder, TEST_DELIVERABLE, TEST_ORDER, TEST_TOKEN};
use wyvern_sinks::Sink;
use wyvern_transfer::{
    Batch, Done, Error, ErrorKind, Event, Job, Jobs, Meter, Observer, Options, Outcome, Queued, Receipt, Request,
    Wanted, open_destination, order_jobs,
};

#[path = "../../examples/sync_to_bucket.rs"]
#[allow(dead_code)] // its `main`
mod example;

const PARTIAL_ORDER: &str = "00000000-0000-0000-0000-000000000010";
const PENDING_ORDER: &str = "00000000-0000-0000-0000-000000000020";

struct World {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        Self::with(Sandbox::builder()).await
    }

    async fn with(builder: SandboxBuilder) -> Self {
        Self { sandbox: builder.start().await.expect("sandbox"), dir: tempfile::tempdir().expect("tempdir") }
    }

    fn client(&self, token: &str) -> Client {
        Client::builder().base_url(self.sandbox.api_url()).token(Token::new(token)).build().expect("client")
    }

    async fn sink(&self) -> Arc<dyn Sink> {
        open_destination(&wyvern_sinks::Registry::with_builtins(), self.dir.path().to_str().expect("utf-8"))
            .await
            .expect("destination")
    }

    async fn batch(&self, options: Options) -> Batch {
        Batch::new(self.client(TEST_TOKEN), self.sink().await, options)
    }

    async fn jobs(&self, order: &str) -> Vec<Job> {
        let order = self.client(TEST_TOKEN).order(&order.parse().expect("id")).await.expect("order");
        order_jobs(&order, None, &wyvern_transfer::Silent).expect("ready")
    }

    /// Every file under the destination, temporary ones included.
    fn files(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).expect("under root").to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
}

async fn run(batch: &Batch, jobs: Vec<Job>) -> Vec<Done> {
    let jobs = Jobs::try_from(jobs).expect("jobs");
    let mut done: Vec<Done> = batch.run(jobs, 4).try_collect().await.expect("the jobs read back");
    done.sort_by(|a, b| a.job.deliverable_id.as_str().cmp(b.job.deliverable_id.as_str()));
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_yields_an_outcome_per_deliverable_and_a_second_run_skips_them() {
    let world = World::new().await;
    let batch = world.batch(Options::default()).await;
    let done = run(&batch, world.jobs(PARTIAL_ORDER).await).await;
    assert_eq!(done.len(), 2);
    for done in &done {
        let Ok(Outcome::Downloaded(receipt)) = &done.result else { panic!("{done:?}") };
        let served = world.sandbox.deliverable(done.job.deliverable_id.as_str()).await.expect("served");
        assert_eq!(receipt.bytes, std::fs::metadata(&served.path).expect("served").len());
        assert!(receipt.verified);
        assert_eq!(receipt.order_id.as_deref(), Some(PARTIAL_ORDER));
        assert_eq!(done.destination, format!("{}/{}", batch.sink().location().trim_end_matches('/'), done.job.path));
        // The receipt beside the zip is the public type, as returned.
        let path = world.dir.path().join(done.job.receipt_path().expect("path").as_str());
        let written: Receipt = serde_json::from_slice(&std::fs::read(path).expect("receipt")).expect("json");
        assert_eq!(&written, receipt);
    }
    let again = run(&batch, world.jobs(PARTIAL_ORDER).await).await;
    assert!(again.iter().all(|d| matches!(d.result, Ok(Outcome::Skipped(_)))), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_their_kind_and_whether_a_retry_could_help() {
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 100_000 })).await;
    let client = world.client(TEST_TOKEN);

    let pending = client.order(&PENDING_ORDER.parse().expect("id")).await.expect("order");
    let error = order_jobs(&pending, None, &wyvern_transfer::Silent).expect_err("not ready");
    assert_eq!(error.kind(), ErrorKind::NotReady);
    assert!(error.is_retryable());
    assert!(error.hint().expect("hint").to_string().contains("wait"), "{:?}", error.hint());

    let unknown = client.order(&"00000000-0000-0000-0000-00000000dead".parse().expect("id")).await;
    let error = Error::from(unknown.expect_err("unknown"));
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(!error.is_retryable());

    let refused = world.client("not-the-token").order(&TEST_ORDER.parse().expect("id")).await;
    let error = Error::from(refused.expect_err("refused"));
    assert_eq!(error.kind(), ErrorKind::Auth);
    assert!(!error.to_string().contains("not-the-token"), "{error}");

    let batch = world.batch(Options::default()).await;
    let done = run(&batch, world.jobs(TEST_ORDER).await).await;
    let error = done[0].result.as_ref().expect_err("corrupt");
    assert_eq!(error.kind(), ErrorKind::Corrupt);
    assert!(!error.is_retryable());
    assert!(wyvern_transfer::error_line(error).contains("CRC-32 mismatch"), "{}", wyvern_transfer::error_line(error));
    assert_eq!(world.files(), Vec::<String>::new(), "nothing is left of a corrupt deliverable");
}

/// Counts what the pipeline reports, and cancels `cancel` once `after` bytes arrived.
struct Watch {
    bytes: Arc<AtomicU64>,
    starts: Mutex<Vec<(String, Option<u64>)>>,
    warnings: Mutex<Vec<String>>,
    cancel: Option<(CancellationToken, u64)>,
}

struct Counter {
    bytes: Arc<AtomicU64>,
    cancel: Option<(CancellationToken, u64)>,
}

impl Observer for Watch {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        self.starts.lock().expect("lock").push((label.to_owned(), total));
        Box::new(Counter { bytes: self.bytes.clone(), cancel: self.cancel.clone() })
    }

    fn warn(&self, message: &str) {
        self.warnings.lock().expect("lock").push(message.to_owned());
    }
}

impl Meter for Counter {
    fn advance(&mut self, bytes: u64) {
        let total = self.bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if let Some((cancel, after)) = &self.cancel
            && total >= *after
        {
            cancel.cancel();
        }
    }

    fn restart(&mut self, _: Option<u64>) {
        self.bytes.store(0, Ordering::SeqCst);
    }
}

fn watch(cancel: Option<(CancellationToken, u64)>) -> Arc<Watch> {
    Arc::new(Watch { bytes: Arc::default(), starts: Mutex::default(), warnings: Mutex::default(), cancel })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_see_every_byte_and_the_warnings() {
    let world = World::new().await;
    // A file at the zip's name without a receipt: fetched again, with a warning.
    let job = Job::of_order(TEST_ORDER.parse().expect("id"), TEST_DELIVERABLE.parse().expect("id"));
    let stray = world.dir.path().join(job.path.as_str());
    std::fs::create_dir_all(stray.parent().expect("folder")).expect("mkdir");
    std::fs::write(&stray, b"not the deliverable").expect("write");
    let watch = watch(None);
    let batch = world.batch(Options { if_exists: wyvern_transfer::IfExists::Skip, ..Options::default() }).await;
    let batch = batch.observed(watch.clone());
    let done = run(&batch, vec![job]).await;
    let receipt = done[0].result.as_ref().expect("downloaded").receipt().expect("downloaded").clone();
    assert_eq!(watch.bytes.load(Ordering::SeqCst), receipt.bytes);
    assert_eq!(watch.starts.lock().expect("lock").len(), 1);
    assert_eq!(watch.starts.lock().expect("lock")[0].1, Some(receipt.bytes));
    let warnings = watch.warnings.lock().expect("lock").clone();
    assert!(warnings.iter().any(|w| w.contains("is there, but it has no receipt: fetching it again")), "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_batch_interrupts_each_job_and_leaves_nothing() {
    let world = World::with(
        Sandbox::builder()
            .deliverable_size(4 << 20)
            .fault(TEST_DELIVERABLE, Fault::Throttle { bytes_per_sec: 1 << 20 }),
    )
    .await;
    let cancel = CancellationToken::new();
    let watch = watch(Some((cancel.clone(), 256 << 10)));
    let batch = world.batch(Options::default()).await.observed(watch.clone()).cancel_on(cancel);
    let mut jobs = world.jobs(TEST_ORDER).await;
    jobs.extend(world.jobs(PARTIAL_ORDER).await);
    // One at a time: the first is cut mid-way, the others never start.
    let jobs = Jobs::try_from(jobs).expect("jobs");
    let done: Vec<Done> = tokio::time::timeout(Duration::from_secs(30), batch.run(jobs, 1).try_collect())
        .await
        .expect("cancellation ends the batch")
        .expect("the jobs read back");
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|d| matches!(d.result, Err(Error::Interrupted))), "{done:?}");
    assert_eq!(watch.starts.lock().expect("lock").len(), 1, "jobs after the cancellation never start");
    batch.sink().settle().await;
    assert_eq!(world.files(), Vec::<String>::new(), "no partial or temporary file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_order_gives_up_with_a_not_ready_error() {
    let world = World::new().await;
    let client = world.client(TEST_TOKEN);
    let mut states = Vec::new();
    let waited = wyvern_transfer::wait(
        &client,
        &PENDING_ORDER.parse().expect("id"),
        Duration::from_millis(100),
        Some(Duration::from_secs(1)),
        |order| states.push(order.status.clone()),
    )
    .await;
    let error = waited.expect_err("never fulfilled");
    assert!(matches!(error, Error::Wait { waited: Some(_), .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::NotReady);
    assert_eq!(error.to_string(), "gave up waiting after 1s");
    assert_eq!(states.len(), 1, "the state is reported when it changes");

    let ready = wyvern_transfer::wait(&client, &TEST_ORDER.parse().expect("id"), Duration::from_secs(1), None, |_| ())
        .await
        .expect("fulfilled");
    assert_eq!(ready.id.as_str(), TEST_ORDER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_zips_are_inspected_verified_and_their_damage_is_corrupt() {
    let world = World::new().await;
    let served = world.sandbox.deliverable(TEST_DELIVERABLE).await.expect("served");
    let path = served.path.to_str().expect("utf-8");
    let inspection = wyvern_transfer::inspect(&wyvern_sinks::Registry::with_builtins(), path).await.expect("inspect");
    assert!(inspection.bytes_read.expect("counted") < inspection.bytes);
    let verified = wyvern_transfer::verify(&wyvern_sinks::Registry::with_builtins(), path, &wyvern_transfer::Silent)
        .await
        .expect("verify");
    assert!(verified.verified && verified.problems.is_empty(), "{verified:?}");

    let mut bytes = std::fs::read(&served.path).expect("read");
    bytes[100_000] ^= 0xff;
    let damaged = world.dir.path().join("damaged.zip");
    std::fs::write(&damaged, bytes).expect("write");
    let error = wyvern_transfer::verify(
        &wyvern_sinks::Registry::with_builtins(),
        damaged.to_str().expect("utf-8"),
        &wyvern_transfer::Silent,
    )
    .await
    .expect_err("damaged");
    assert!(matches!(error, Error::Corrupt { named: true, .. }), "{error:?}");
    assert!(error.hint().expect("hint").to_string().contains("damaged"), "{:?}", error.hint());

    let missing = wyvern_transfer::inspect(&wyvern_sinks::Registry::with_builtins(), "/nonexistent/x.zip")
        .await
        .expect_err("missing");
    assert_eq!(missing.kind(), ErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_syncs_an_order_into_a_bucket() {
    let world = World::new().await;
    let to = match std::env::var("WYVERN_TEST_S3_URL") {
        Ok(base) => format!("{base}/example-{}", std::process::id()),
        Err(_) => {
            eprintln!("no S3 emulator (cargo xtask test starts one): syncing into a folder instead");
            world.dir.path().to_string_lossy().into_owned()
        }
    };
    let done = example::sync(world.sandbox.api_url(), TEST_TOKEN, PARTIAL_ORDER, &to).await.expect("sync");
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|d| matches!(d.result, Ok(Outcome::Downloaded(_)))), "{done:?}");
    let sink = wyvern_sinks::Registry::with_builtins().resolve(&to).expect("sink");
    let listed = sink.list(None).await.expect("list");
    assert_eq!(listed.len(), 4, "two zips and their receipts: {listed:?}");
    let again = example::sync(world.sandbox.api_url(), TEST_TOKEN, PARTIAL_ORDER, &to).await.expect("sync");
    assert!(again.iter().all(|d| matches!(d.result, Ok(Outcome::Skipped(_)))), "{again:?}");
}

/// A sync's events, in order, with their serialisations (the CLI's `--json` lines).
async fn sync(batch: &Batch, request: &Request) -> Vec<(Event, serde_json::Value)> {
    let events: Vec<Event> = batch.sync(request).map(|e| e.expect("no error of the whole run")).collect().await;
    events
        .into_iter()
        .map(|event| {
            let json = serde_json::to_value(&event).expect("serialises");
            (event, json)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_engine_streams_events_a_summary_and_the_catalog() {
    let world = World::new().await;
    let batch = world.batch(Options::default()).await;
    let orders = vec![PARTIAL_ORDER.parse().expect("id"), PENDING_ORDER.parse().expect("id")];
    let request = Request { concurrency: 2, catalog: true, ..Request::new(Wanted::Orders(orders)) };

    let events = sync(&batch, &request).await;
    let position = |wanted: &dyn Fn(&Event) -> bool| events.iter().position(|(e, _)| wanted(e)).expect("sent");
    let queued = position(&|e| matches!(e, Event::Queued(Queued { queued: 2 })));
    let delivered: Vec<&serde_json::Value> =
        events.iter().filter(|(e, _)| matches!(e, Event::Delivered(_))).map(|(_, json)| json).collect();
    assert_eq!(delivered.len(), 2, "{events:?}");
    for line in &delivered {
        let keys: Vec<&str> = line.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["bytes", "deliverable_id", "destination", "order_id", "sha256", "status", "verified"]);
        assert_eq!((line["status"].as_str(), line["verified"].as_bool()), (Some("downloaded"), Some(true)));
        let started = position(
            &|e| matches!(e, Event::Started(s) if Some(s.started.as_str()) == line["deliverable_id"].as_str()),
        );
        let ended = position(
            &|e| matches!(e, Event::Delivered(l) if l.deliverable_id.as_deref() == line["deliverable_id"].as_str()),
        );
        assert!(queued < started && started < ended, "{events:?}");
    }
    let (not_ready, json) = &events[position(&|e| matches!(e, Event::NotReady(_)))];
    assert_eq!(json["order_id"].as_str(), Some(PENDING_ORDER));
    assert!(
        matches!(not_ready, Event::NotReady(line) if line.failure.as_ref().is_some_and(|e| e.kind() == ErrorKind::NotReady))
    );
    // The summary, then the catalog, end the stream.
    let n = events.len();
    let Event::Summary(summary) = &events[n - 2].0 else { panic!("{events:?}") };
    assert!(!summary.failed());
    assert_eq!(events[n - 2].1["summary"]["downloaded"], 2);
    assert_eq!(events[n - 2].1["summary"]["not_ready"], 1);
    let Event::Catalog(catalog) = &events[n - 1].0 else { panic!("{events:?}") };
    assert_eq!(catalog.catalog.refreshed.items_written, 2);
    assert!(events[n - 1].1["catalog"]["root"].as_str().is_some_and(|root| root.ends_with("catalog.json")));

    // Planned again: everything would be skipped, nothing is fetched.
    let plan = sync(&batch, &Request { plan: true, ..request.clone() }).await;
    let skips = plan.iter().filter(|(e, _)| matches!(e, Event::Planned(p) if p.action == "skip")).count();
    assert_eq!(skips, 2, "{plan:?}");
    assert!(!plan.iter().any(|(e, _)| matches!(e, Event::Started(_) | Event::Delivered(_))));
    let (_, last) = plan.last().expect("summary");
    assert_eq!(last["plan"], serde_json::json!({ "fetch": 0, "skip": 2, "not_ready": 1, "failed": 0 }));

    // Strict (a download of named orders): an order not ready is a failure, and its kind is the
    // summary's.
    let strict = sync(&batch, &Request { strict: true, catalog: false, ..request }).await;
    assert_eq!(strict.iter().filter(|(e, _)| matches!(e, Event::Skipped(_))).count(), 2);
    let Some((Event::Summary(summary), _)) = strict.last() else { panic!("{strict:?}") };
    assert_eq!(summary.failures.iter().copied().collect::<Vec<_>>(), [ErrorKind::NotReady]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_fast_sync_stops_at_the_first_failure_and_a_bad_destination_ends_the_stream() {
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::CorruptByte { offset: 100_000 })).await;
    let batch = world.batch(Options::default()).await;
    let orders = vec![TEST_ORDER.parse().expect("id"), PARTIAL_ORDER.parse().expect("id")];
    let request = Request { fail_fast: true, ..Request::new(Wanted::Orders(orders)) };
    let events = sync(&batch, &request).await;
    let failed = events.iter().filter(|(e, _)| matches!(e, Event::Failed(_))).count();
    let delivered = events.iter().filter(|(e, _)| matches!(e, Event::Delivered(_))).count();
    // One at a time, the corrupt one first: nothing after it.
    assert_eq!((failed, delivered), (1, 0), "{events:?}");
    let Some((Event::Summary(summary), _)) = events.last() else { panic!("{events:?}") };
    assert_eq!(summary.failures.iter().copied().collect::<Vec<_>>(), [ErrorKind::Corrupt]);

    let file = world.dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").expect("file");
    let sink = wyvern_transfer::destination(&wyvern_sinks::Registry::with_builtins(), file.to_str().expect("utf-8"))
        .expect("sink");
    let batch = Batch::new(world.client(TEST_TOKEN), sink, Options::default());
    let request = Request::new(Wanted::Deliverables(vec![TEST_DELIVERABLE.to_owned(), "not an id!".to_owned()]));
    let events: Vec<_> = batch.sync(&request).collect().await;
    assert!(matches!(events.first(), Some(Ok(Event::Failed(line))) if line.deliverable_id.is_none()), "{events:?}");
    assert!(matches!(events.last(), Some(Err(Error::Destination { .. }))), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_login_and_one_renewal() {
    let world = World::with(Sandbox::builder().token_shape(wyvern_sandbox::TokenShape::SimpleJwt)).await;
    let password = Token::new(wyvern_sandbox::TEST_PASSWORD).expect("password");
    let credentials = wyvern_core::Credentials::login(wyvern_sandbox::TEST_USERNAME.to_owned(), password);
    let client = Client::builder().base_url(world.sandbox.api_url()).credentials(credentials).build().expect("client");
    let id: wyvern_core::OrderId = TEST_ORDER.parse().expect("id");
    let all_at_once = || futures::future::join_all((0..8).map(|_| client.order(&id)));
    assert!(all_at_once().await.iter().all(Result::is_ok));
    assert_eq!(world.sandbox.tokens_issued(), 1, "one login");
    world.sandbox.revoke_tokens(None);
    assert!(all_at_once().await.iter().all(Result::is_ok));
    assert_eq!(world.sandbox.tokens_issued(), 2, "eight 401s, one renewal");
}
