//! The sync engine every front-end runs: what to sync in, a stream of [`Event`]s out.
//!
//! [`Batch::sync`] resolves what was asked for (orders by id, the whole account, deliverables by
//! id or URL) into jobs, fetches them with bounded concurrency, refreshes the catalog when asked,
//! and ends with a [`Summary`]. The CLI renders the events (a line each, or `--json`: an event
//! it prints serialises as that line), the Python package turns them into its `Result` objects:
//! one serialisation for both. Fail-fast, the catalog step and the tally are decided here; the
//! exit code from the summary.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use wyvern_core::{DeliverableId, OrderId};

use crate::batch::{Action, Batch, Done, Planned};
use crate::catalog::{CATALOG, Refreshed, Scope};
use crate::job::{Job, Outcome};
use crate::observer::{Meter, Observer};
use crate::shard::Shard;
use crate::{Error, ErrorKind, Result};

/// Events a consumer has not taken yet, at most: the engine waits for the consumer beyond
/// that (started and progress events are dropped instead, never queued without bound). The work
/// runs as the consumer polls the stream: a consumer that stops polling stops the transfers.
const BACKLOG: usize = 256;

/// A deliverable's progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The deliverables of these orders.
    Orders(Vec<OrderId>),
    /// The deliverables of every order the account can list.
    Account,
    /// These deliverables, each given as an id or as its URL on the API's origin (see
    /// [`crate::deliverable_id`]), each written as `<deliverable_id>.zip`.
    Deliverables(Vec<String>),
}

/// What [`Batch::sync`] is asked to do, beside the batch's own [`Options`](crate::Options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to sync.
    pub wanted: Wanted,
    /// Deliverables (and orders) in flight at once (at least 1).
    pub concurrency: usize,
    /// Only the deliverables of this shard.
    pub shard: Option<Shard>,
    /// Stop at the first failure (transfers in flight are abandoned, their uploads aborted).
    pub fail_fast: bool,
    /// An order not ready is a failure, not a [`Event::NotReady`] (a download of named orders).
    pub strict: bool,
    /// Refresh the destination's STAC catalog afterwards (see [`crate::catalog`]).
    pub catalog: bool,
    /// Only say what a run would do ([`Event::Planned`] each), fetching nothing.
    pub plan: bool,
}

impl Request {
    /// `wanted`, one at a time, everything else off.
    pub fn new(wanted: Wanted) -> Self {
        Self { wanted, concurrency: 1, shard: None, fail_fast: false, strict: false, catalog: false, plan: false }
    }
}

/// What happened during a sync, in order. A deliverable's end and an order not ready serialise
/// as the line `wyvern sync --json` prints (see [`Line`]), a planned deliverable as its
/// `sync --plan --json` line ([`PlanLine`]); the summary as `{"summary": ...}` (a plan's as
/// `{"plan": ...}`), the catalog's refresh as `{"catalog": ...}`, and the progress events (which
/// the CLI does not print) as `{"queued": n}`, `{"started": id, "bytes": ...}` and
/// `{"progressed": id, "bytes": ..., "total": ...}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// The deliverables to go through are known (sent once, before the first of them).
    Queued(Queued),
    /// A deliverable's bytes start to flow (best effort: dropped, not queued, when the consumer is
    /// hundreds of events behind).
    Started(Started),
    /// More of a deliverable arrived (best effort, at most twice a second for each).
    Progressed(Progressed),
    /// A deliverable was fetched in this run ([`Status::Downloaded`]).
    Delivered(Line),
    /// A deliverable was there already ([`Status::Skipped`]).
    Skipped(Line),
    /// A deliverable, an order or a given target failed ([`Status::Failed`]); the error is
    /// [`Line::failure`].
    Failed(Line),
    /// An order is not fulfilled yet ([`Status::NotReady`]; with [`Request::strict`] it is a
    /// failure instead).
    NotReady(Line),
    /// With [`Request::plan`]: what a run would do with a deliverable.
    Planned(PlanLine),
    /// With [`Request::catalog`]: what the catalog refresh did.
    Catalog(CatalogLine),
    /// The end of a sync's deliveries (not sent when the run stops on an error of the whole run;
    /// with [`Request::catalog`], the catalog's refresh follows it).
    Summary(Summary),
}

/// How many deliverables a sync goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// How many.
    pub queued: u64,
}

/// A deliverable whose bytes start to flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Started {
    /// The deliverable (or the zip's name, extracting a zip).
    pub started: String,
    /// Its size, when known.
    pub bytes: Option<u64>,
}

/// More of a deliverable arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progressed {
    /// The deliverable (as [`Started::started`]).
    pub progressed: String,
    /// Bytes so far.
    pub bytes: u64,
    /// Its size, when known.
    pub total: Option<u64>,
}

/// How a deliverable (or an order) ended: the line `wyvern sync --json` prints, and the keys of
/// the Python package's `Result.to_dict()`.
#[derive(Debug, Serialize)]
pub struct Line {
    /// Its order, when known.
    pub order_id: Option<String>,
    /// The deliverable (`None` for an order not ready, or one that failed as a whole).
    pub deliverable_id: Option<String>,
    /// Where it went, as the destination shows it.
    pub destination: Option<String>,
    /// What became of it.
    pub status: Status,
    /// The zip's size.
    pub bytes: Option<u64>,
    /// The zip's SHA-256 (of a skipped one: its receipt's, when the receipt was read).
    pub sha256: Option<String>,
    /// Whether the zip was verified while it streamed (`null` on a skipped line whose receipt
    /// was not read).
    pub verified: Option<bool>,
    /// On a skipped line: the SHA-256 and the verdict are the receipt's, not a new reading.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_receipt: bool,
    /// What verification could not check, or only weakly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Of a failure: the error and its causes on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Of a failure: the error itself.
    #[serde(skip)]
    pub failure: Option<Error>,
}

/// What became of a deliverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fetched in this run.
    Downloaded,
    /// There already, whole, as its receipt says.
    Skipped,
    /// Not fetched: see the error.
    Failed,
    /// Its order is not fulfilled yet.
    NotReady,
}

impl Status {
    /// Its name, as the lines say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Downloaded => "downloaded",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::NotReady => "not_ready",
        }
    }
}

impl From<Done> for Line {
    /// The line of a job that ended.
    fn from(done: Done) -> Self {
        let Done { job, destination, result } = done;
        match result {
            Ok(outcome) => {
                let skipped = matches!(outcome, Outcome::Skipped(_));
                let receipt = outcome.receipt();
                Self {
                    status: if skipped { Status::Skipped } else { Status::Downloaded },
                    bytes: Some(outcome.bytes()),
                    sha256: receipt.map(|r| r.sha256.clone()),
                    verified: receipt.map(|r| r.verified),
                    from_receipt: skipped && receipt.is_some(),
                    warnings: receipt.map(|r| r.warnings.clone()).unwrap_or_default(),
                    ..Self::of_job(&job, Some(destination))
                }
            }
            Err(error) => Self::failed(job.order_id.as_ref(), Some(&job.deliverable_id), Some(destination), error),
        }
    }
}

impl Line {
    /// The event this line is the serialisation of.
    pub fn into_event(self) -> Event {
        match self.status {
            Status::Downloaded => Event::Delivered(self),
            Status::Skipped => Event::Skipped(self),
            Status::Failed => Event::Failed(self),
            Status::NotReady => Event::NotReady(self),
        }
    }

    /// The frame of a job's line.
    fn of_job(job: &Job, destination: Option<String>) -> Self {
        Self {
            order_id: job.order_id.as_ref().map(|id| id.as_str().to_owned()),
            deliverable_id: Some(job.deliverable_id.as_str().to_owned()),
            destination,
            status: Status::Failed,
            bytes: None,
            sha256: None,
            verified: None,
            from_receipt: false,
            warnings: Vec::new(),
            error: None,
            failure: None,
        }
    }

    /// The line of a failure.
    fn failed(
        order: Option<&OrderId>,
        deliverable: Option<&DeliverableId>,
        destination: Option<String>,
        error: Error,
    ) -> Self {
        Self {
            order_id: order.map(|id| id.as_str().to_owned()),
            deliverable_id: deliverable.map(|id| id.as_str().to_owned()),
            destination,
            status: Status::Failed,
            bytes: None,
            sha256: None,
            verified: Some(false),
            from_receipt: false,
            warnings: Vec::new(),
            error: Some(crate::error_line(&error)),
            failure: Some(error),
        }
    }

    /// The line of a failure of no deliverable in particular.
    pub fn from_error(error: Error) -> Self {
        Self::failed(None, None, None, error)
    }

    /// The line of an order not ready.
    fn not_ready(order: &OrderId, why: Error) -> Self {
        Self { status: Status::NotReady, error: None, ..Self::failed(Some(order), None, None, why) }
    }
}

/// What a run would do with a deliverable (`sync --plan --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// Its order, when known.
    pub order_id: Option<String>,
    /// The deliverable.
    pub deliverable_id: String,
    /// Where it would go.
    pub destination: String,
    /// `fetch` or `skip`.
    pub action: &'static str,
    /// Of a deliverable to skip: its size at the destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// What a catalog refresh did (`{"catalog": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogLine {
    /// What it did, and where the root catalog is.
    pub catalog: CatalogRefresh,
}

/// What a catalog refresh did, and where its root is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogRefresh {
    /// What it did.
    #[serde(flatten)]
    pub refreshed: Refreshed,
    /// The root catalog's location (`None` when a shard's refresh wrote items only).
    pub root: Option<String>,
    /// The shard whose items were refreshed.
    #[serde(skip)]
    pub shard: Option<Shard>,
    /// The destination's location.
    #[serde(skip)]
    pub location: String,
}

impl CatalogRefresh {
    /// A refresh of the catalog at `location` (of `shard`'s items only, when given).
    pub fn new(refreshed: Refreshed, location: String, shard: Option<Shard>) -> Self {
        let root = shard.is_none().then(|| format!("{}/{CATALOG}", location.trim_end_matches('/')));
        Self { refreshed, root, shard, location }
    }
}

/// The end of a sync: `{"summary": ...}`, or with [`Request::plan`] `{"plan": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The counts of a run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Tally>,
    /// The counts of a plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanTally>,
    /// The kinds of the failures (what the CLI's exit code is made of).
    #[serde(skip)]
    pub failures: BTreeSet<ErrorKind>,
}

impl Summary {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// The counts of a sync.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Deliverables fetched in this run.
    pub downloaded: u64,
    /// Deliverables there already.
    pub skipped: u64,
    /// Orders not ready.
    pub not_ready: u64,
    /// Deliverables, orders or targets that failed.
    pub failed: u64,
    /// Bytes fetched in this run (skipped deliverables not counted).
    pub bytes: u64,
}

/// The counts of a plan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanTally {
    /// Deliverables a run would fetch.
    pub fetch: u64,
    /// Deliverables a run would skip.
    pub skip: u64,
    /// Orders not ready.
    pub not_ready: u64,
    /// Deliverables, orders or targets that failed.
    pub failed: u64,
}

/// The producing side of a sync: sends the events and keeps the tally.
struct Emitter {
    events: mpsc::Sender<Result<Event>>,
    tally: Tally,
    planned: PlanTally,
    failures: BTreeSet<ErrorKind>,
}

impl Emitter {
    async fn send(&mut self, event: Event) {
        match &event {
            Event::Delivered(line) => {
                self.tally.downloaded += 1;
                self.tally.bytes += line.bytes.unwrap_or(0);
            }
            Event::Skipped(_) => self.tally.skipped += 1,
            Event::NotReady(_) => self.tally.not_ready += 1,
            Event::Failed(line) => {
                self.tally.failed += 1;
                self.failures.extend(line.failure.as_ref().map(Error::kind));
            }
            Event::Planned(line) if line.action == "fetch" => self.planned.fetch += 1,
            Event::Planned(_) => self.planned.skip += 1,
            _ => {}
        }
        // A consumer that went away wants no more events; the run ends with its stream.
        let _ = self.events.send(Ok(event)).await;
        // Let the consumer take it before the work goes on: what the work does next (a
        // warning to the observer) comes after it, as it happened.
        tokio::task::yield_now().await;
    }

    async fn line(&mut self, line: Line) {
        self.send(line.into_event()).await;
    }

    fn failed(&self) -> bool {
        self.tally.failed > 0
    }

    /// The summary so far: of a run, or with `plan` of a plan.
    fn summary(&self, plan: bool) -> Summary {
        let t = self.tally;
        let (summary, plan) = match plan {
            false => (Some(t), None),
            true => (None, Some(PlanTally { not_ready: t.not_ready, failed: t.failed, ..self.planned })),
        };
        Summary { summary, plan, failures: self.failures.clone() }
    }
}

impl Batch {
    /// Syncs what `request` asks for into this batch's sink: the events as they happen, ending
    /// with [`Event::Summary`]. An error of the whole run (the account's orders cannot be
    /// listed, the destination cannot be written to, the catalog cannot be refreshed) ends the
    /// stream as an `Err` instead. Dropping the stream stops the transfers in flight (their
    /// uploads are aborted; [`Sink::settle`](wyvern_sinks::Sink::settle) waits for the aborts).
    pub fn sync<'a>(&'a self, request: &'a Request) -> BoxStream<'a, Result<Event>> {
        let (sender, mut receiver) = mpsc::channel(BACKLOG);
        let relay = Relay { events: sender.clone(), inner: self.observer_arc() };
        let batch = self.clone().observed(std::sync::Arc::new(relay));
        let work = async move {
            let mut emitter = Emitter {
                events: sender,
                tally: Tally::default(),
                planned: PlanTally::default(),
                failures: BTreeSet::new(),
            };
            if let Err(error) = batch.produce(request, &mut emitter).await {
                let _ = emitter.events.send(Err(error)).await;
            }
        };
        // The work runs as the stream is polled; its events come out as it sends them.
        let events = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        futures::stream::select(events.map(Some), work.into_stream().map(|()| None))
            .filter_map(std::future::ready)
            .boxed()
    }

    async fn produce(&self, request: &Request, emitter: &mut Emitter) -> Result<()> {
        let jobs = self.jobs(request, emitter).await?;
        if request.plan {
            for planned in self.plan(jobs, request.concurrency).await {
                emitter.send(plan_event(planned)).await;
            }
            emitter.send(Event::Summary(emitter.summary(true))).await;
            return Ok(());
        }
        let scope = match request.shard {
            Some(_) => Scope::Items(jobs.iter().map(|job| job.path.clone()).collect()),
            None => Scope::All,
        };
        if !(request.fail_fast && emitter.failed()) {
            emitter.send(Event::Queued(Queued { queued: jobs.len() as u64 })).await;
            let mut done = self.run(jobs, request.concurrency);
            while let Some(done) = done.next().await {
                if let Err(error @ Error::Destination { .. }) = done.result {
                    return Err(error);
                }
                let failed = done.result.is_err();
                emitter.line(Line::from(done)).await;
                if request.fail_fast && failed {
                    break;
                }
            }
        }
        emitter.send(Event::Summary(emitter.summary(false))).await;
        // A sync that found nothing to deliver (every order not ready) has nothing to catalog.
        if request.catalog && emitter.tally.downloaded + emitter.tally.skipped > 0 {
            let refreshed = crate::catalog::refresh(self.sink(), &scope).await?;
            let refresh = CatalogRefresh::new(refreshed, self.sink().location(), request.shard);
            emitter.send(Event::Catalog(CatalogLine { catalog: refresh })).await;
        }
        Ok(())
    }

    /// The jobs `request` names; what cannot be had (an order not ready, one that failed, a
    /// target that names no deliverable) is sent as it is met.
    async fn jobs(&self, request: &Request, emitter: &mut Emitter) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        let ids = match &request.wanted {
            Wanted::Deliverables(targets) => {
                for target in targets {
                    match crate::deliverable_id(self.client(), target) {
                        Ok(id) => jobs.push(Job::single(id)),
                        Err(error) => emitter.line(Line::from_error(error)).await,
                    }
                }
                return Ok(jobs);
            }
            Wanted::Orders(ids) => Some(ids.clone()),
            Wanted::Account => None,
        };
        let mut orders = std::pin::pin!(crate::orders(self.client(), ids, request.concurrency).await?);
        while let Some((id, order)) = orders.next().await {
            match order.and_then(|order| crate::order_jobs(&order, request.shard, self.observer())) {
                Ok(more) => jobs.extend(more),
                Err(e) if !request.strict && e.kind() == ErrorKind::NotReady => {
                    emitter.line(Line::not_ready(&id, e)).await
                }
                Err(e) => emitter.line(Line::failed(Some(&id), None, None, e)).await,
            }
            if request.fail_fast && emitter.failed() {
                break;
            }
        }
        Ok(jobs)
    }
}

/// The event of a planned job.
fn plan_event(planned: Planned) -> Event {
    let Planned { job, destination, action } = planned;
    let (action, bytes) = match action {
        Ok(Action::Fetch) => ("fetch", None),
        Ok(Action::Skip(present)) => ("skip", Some(present.bytes)),
        Err(error) => {
            return Event::Failed(Line::failed(
                job.order_id.as_ref(),
                Some(&job.deliverable_id),
                Some(destination),
                error,
            ));
        }
    };
    Event::Planned(PlanLine {
        order_id: job.order_id.as_ref().map(|id| id.as_str().to_owned()),
        deliverable_id: job.deliverable_id.as_str().to_owned(),
        destination,
        action,
        bytes,
    })
}

/// Passes progress to the batch's own observer, and to the event stream as started and
/// progress events (dropped when the consumer is behind).
struct Relay {
    events: mpsc::Sender<Result<Event>>,
    inner: std::sync::Arc<dyn Observer>,
}

impl Observer for Relay {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        let _ = self.events.try_send(Ok(Event::Started(Started { started: label.to_owned(), bytes: total })));
        Box::new(RelayMeter {
            events: self.events.clone(),
            inner: self.inner.start(label, total),
            label: label.to_owned(),
            bytes: 0,
            total,
            sent: Instant::now(),
        })
    }

    fn warn(&self, message: &str) {
        self.inner.warn(message);
    }
}

struct RelayMeter {
    events: mpsc::Sender<Result<Event>>,
    inner: Box<dyn Meter>,
    label: String,
    bytes: u64,
    total: Option<u64>,
    sent: Instant,
}

impl Meter for RelayMeter {
    fn advance(&mut self, bytes: u64) {
        self.inner.advance(bytes);
        self.bytes += bytes;
        if self.sent.elapsed() >= PROGRESS_EVERY || Some(self.bytes) == self.total {
            self.sent = Instant::now();
            let progressed = Progressed { progressed: self.label.clone(), bytes: self.bytes, total: self.total };
            let _ = self.events.try_send(Ok(Event::Progressed(progressed)));
        }
    }

    fn restart(&mut self, total: Option<u64>) {
        self.inner.restart(total);
        self.bytes = 0;
        self.total = total;
    }
}
