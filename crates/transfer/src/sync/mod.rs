//! The sync engine every front-end runs: what to sync in, a stream of [`Event`]s out.
//!
//! [`Batch::sync`] resolves what was asked for (orders by id, the whole account, deliverables by
//! id or URL) into jobs, fetches them with bounded concurrency, refreshes the catalog when asked,
//! and ends with a [`Summary`]. The CLI renders the events (a line each, or `--json`: an event
//! it prints serialises as that line), the Python package turns them into its `Result` objects:
//! one serialisation for both. Fail-fast, the catalog step and the tally are decided here; the
//! exit code from the summary.

mod event;
mod relay;
mod watch;

use std::collections::{BTreeSet, HashSet};

use futures::stream::{BoxStream, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use wyvern_core::OrderId;

pub use self::event::{
    CatalogLine, CatalogRefresh, Event, HookLine, Line, PlanLine, PlanTally, Polled, Progressed, Queued, Started,
    Status, Summary, Tally,
};
use self::relay::Relay;
use crate::batch::{Action, Batch, Planned};
use crate::catalog::Scope;
use crate::hook::{Delivery, Hook};
use crate::job::{Job, Jobs};
use crate::shard::Shard;
use crate::{Error, ErrorKind, Result};

/// Events a consumer has not taken yet, at most: the engine waits for the consumer beyond
/// that (started and progress events are dropped instead, never queued without bound). The work
/// runs as the consumer polls the stream: a consumer that stops polling stops the transfers.
pub(super) const BACKLOG: usize = 256;

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
    /// With `catalog`: an asset per band of each extracted multi-band raster.
    pub band_assets: bool,
    /// Only say what a run would do ([`Event::Planned`] each), fetching nothing.
    pub plan: bool,
    /// A command to run after each delivery ([`Event::HookFailed`] when it fails).
    pub hook: Option<Hook>,
}

impl Request {
    /// `wanted`, one at a time, everything else off.
    pub fn new(wanted: Wanted) -> Self {
        Self {
            wanted,
            concurrency: 1,
            shard: None,
            fail_fast: false,
            strict: false,
            catalog: false,
            band_assets: false,
            plan: false,
            hook: None,
        }
    }
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
            Event::HookFailed(_) => {
                self.tally.hooks_failed += 1;
                self.failures.insert(ErrorKind::Hook);
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

    /// The end of a hook: nothing to say unless it failed.
    async fn hooked(&mut self, (delivery, result): (Delivery, Result<()>)) {
        if let Err(failure) = result {
            let (order_id, deliverable_id) = delivery.ids();
            let line = HookLine {
                hook_failed: deliverable_id.to_owned(),
                order_id: order_id.map(str::to_owned),
                error: crate::error_line(&failure),
                failure,
            };
            self.send(Event::HookFailed(line)).await;
        }
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
        let mut jobs = self.jobs(request, emitter).await?;
        if request.plan {
            let mut plan = self.plan(jobs, request.concurrency);
            while let Some(planned) = plan.next().await {
                emitter.send(plan_event(planned?)).await;
            }
            emitter.send(Event::Summary(emitter.summary(true))).await;
            return Ok(());
        }
        let scope = match request.shard {
            Some(_) if request.catalog => Scope::Items(jobs.paths()?),
            _ => Scope::All,
        };
        if !(request.fail_fast && emitter.failed()) {
            emitter.send(Event::Queued(Queued { queued: jobs.len() as u64 })).await;
            self.deliver(jobs, request, emitter).await?;
        }
        emitter.send(Event::Summary(emitter.summary(false))).await;
        // A sync that found nothing to deliver (every order not ready) has nothing to catalog.
        if request.catalog && emitter.tally.downloaded + emitter.tally.skipped > 0 {
            let refreshed = crate::catalog::refresh(self.sink(), &scope, request.band_assets).await?;
            let refresh = CatalogRefresh::new(refreshed, self.sink().location(), request.shard);
            emitter.send(Event::Catalog(CatalogLine { catalog: refresh })).await;
        }
        Ok(())
    }

    /// Runs the jobs, sending each one's end as it comes, and running the hook of each delivery
    /// beside the transfers still going.
    async fn deliver(&self, jobs: Jobs, request: &Request, emitter: &mut Emitter) -> Result<()> {
        let mut done = self.run(jobs, request.concurrency);
        let mut hooks = FuturesUnordered::new();
        loop {
            // As many hooks at once as transfers, at most: hooks slower than the downloads hold
            // the next delivery back rather than pile up.
            let room = hooks.len() < request.concurrency.max(1);
            let done = tokio::select! {
                done = done.next(), if room => done,
                Some(hooked) = hooks.next(), if !hooks.is_empty() => {
                    emitter.hooked(hooked).await;
                    continue;
                }
            };
            let Some(done) = done.transpose()? else { break };
            if let Err(error @ Error::Destination { .. }) = done.result {
                return Err(error);
            }
            let failed = done.result.is_err();
            let line = Line::from(done);
            if let (Some(hook), Status::Downloaded, Some(delivery)) = (&request.hook, line.status, Delivery::of(&line))
            {
                hooks.push(async move {
                    let result = hook.run(&delivery).await;
                    (delivery, result)
                });
            }
            emitter.line(line).await;
            if request.fail_fast && failed {
                break;
            }
        }
        while let Some(hooked) = hooks.next().await {
            emitter.hooked(hooked).await;
        }
        Ok(())
    }

    /// The jobs `request` names, in the order they are found; what cannot be had (an order not
    /// ready, one that failed, a target that names no deliverable) is sent as it is met.
    async fn jobs(&self, request: &Request, emitter: &mut Emitter) -> Result<Jobs> {
        let mut jobs = Jobs::new();
        let ids = match &request.wanted {
            // An id given twice (or as an id and as its URL) is fetched once.
            Wanted::Deliverables(targets) => {
                let mut seen = HashSet::new();
                for target in targets {
                    match crate::deliverable_id(self.client(), target) {
                        Ok(id) if !seen.insert(id.clone()) => {}
                        Ok(id) => jobs.push(Job::single(id))?,
                        Err(error) => emitter.line(Line::from_error(error)).await,
                    }
                }
                return Ok(jobs);
            }
            Wanted::Orders(ids) => {
                let mut seen = HashSet::new();
                Some(ids.iter().filter(|id| seen.insert(*id)).cloned().collect())
            }
            Wanted::Account => None,
        };
        let mut orders = std::pin::pin!(crate::orders(self.client(), ids, request.concurrency));
        while let Some((id, order)) = orders.next().await.transpose()? {
            match order.and_then(|order| crate::order_jobs(&order, request.shard, self.observer())) {
                Ok(more) => more.into_iter().try_for_each(|job| jobs.push(job))?,
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
