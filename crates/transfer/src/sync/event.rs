//! What a sync says as it goes: its [`Event`]s, and the lines, plans and counts they carry.

use std::collections::BTreeSet;

use serde::Serialize;
use wyvern_core::{DeliverableId, OrderId};

use crate::batch::Done;
use crate::catalog::{CATALOG, Refreshed};
use crate::job::{Job, Outcome};
use crate::shard::Shard;
use crate::{Error, ErrorKind};

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
    /// An order is not fulfilled yet ([`Status::NotReady`]; with [`crate::Request::strict`] it is a
    /// failure instead).
    NotReady(Line),
    /// With [`crate::Request::plan`]: what a run would do with a deliverable.
    Planned(PlanLine),
    /// With [`crate::Request::catalog`]: what the catalog refresh did.
    Catalog(CatalogLine),
    /// With [`crate::Request::hook`]: the hook of a delivered deliverable failed (the delivery
    /// stands).
    HookFailed(HookLine),
    /// With [`crate::Batch::watch`]: a round ended (its summary, when it got that far, came before);
    /// `{"round": n, "error": ..., "next_in_s": ...}`.
    Polled(Polled),
    /// The end of a sync's deliveries (not sent when the run stops on an error of the whole run;
    /// with [`crate::Request::catalog`], the catalog's refresh follows it).
    Summary(Summary),
}

/// A hook that failed: `{"hook_failed": deliverable_id, "order_id": ..., "error": ...}`.
#[derive(Debug, Serialize)]
pub struct HookLine {
    /// The deliverable it ran for.
    pub hook_failed: String,
    /// Its order, when known.
    pub order_id: Option<String>,
    /// How it failed, on one line.
    pub error: String,
    /// How it failed.
    #[serde(skip)]
    pub failure: Error,
}

/// The end of a round of [`crate::Batch::watch`].
#[derive(Debug, Serialize)]
pub struct Polled {
    /// The round's number, from 1.
    pub round: u64,
    /// The error that ended it early (the orders could not be listed, say), on one line.
    pub error: Option<String>,
    /// Seconds until the next round.
    pub next_in_s: f64,
    /// The error itself.
    #[serde(skip)]
    pub failure: Option<Error>,
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
    /// On every skipped line: its receipt vouched for it; the SHA-256 and the verdict, when the
    /// receipt was read, are the receipt's, not a new reading (null when the listing vouched).
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
                    sha256: receipt.map(|r| r.sha256.clone()).filter(|sha256| !sha256.is_empty()),
                    verified: receipt.map(|r| r.verified),
                    from_receipt: skipped,
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
    pub(super) fn failed(
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
    pub(super) fn not_ready(order: &OrderId, why: Error) -> Self {
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

/// The end of a sync: `{"summary": ...}`, or with [`crate::Request::plan`] `{"plan": ...}`.
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
    /// Hooks that failed (only said when some did).
    #[serde(skip_serializing_if = "is_zero")]
    pub hooks_failed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
