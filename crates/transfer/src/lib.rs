//! The `wyvern` pipeline as a library: deliverables streamed from Wyvern's tasking API into any
//! [`Sink`](wyvern_sinks::Sink) (a folder, S3, GCS, Azure, WebDAV, a sink of your own), verified
//! in the same pass, resumed when cut, published atomically, each with a [`Receipt`].
//!
//! ```no_run
//! # async fn example() -> Result<(), wyvern_transfer::Error> {
//! use futures::StreamExt;
//! use wyvern_sinks::Registry;
//! use wyvern_transfer::{Batch, Event, Options, Request, Wanted, open_destination};
//!
//! let client = wyvern_core::Client::builder()
//!     .base_url(wyvern_core::SANDBOX_API_URL)
//!     .token(wyvern_core::Token::new(std::env::var("WYVERN_TOKEN").unwrap_or_default()))
//!     .build()?;
//! let sink = open_destination(&Registry::with_builtins(), "imagery/").await?;
//! let order = "00000000-0000-0000-0000-000000000000".parse().unwrap();
//! let request = Request { concurrency: 4, ..Request::new(Wanted::Orders(vec![order])) };
//! let batch = Batch::new(client, sink, Options::default());
//! let mut events = batch.sync(&request);
//! while let Some(event) = events.next().await {
//!     match event? {
//!         Event::Delivered(line) | Event::Skipped(line) | Event::Failed(line) => {
//!             println!("{}", serde_json::to_string(&line).unwrap_or_default());
//!         }
//!         Event::Summary(summary) => println!("{:?}", summary.summary),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! - [`Batch::sync`] is the engine every front-end runs: what to sync in ([`Request`]), a stream
//!   of [`Event`]s out (each serialises as the line `wyvern sync --json` prints), ending with a
//!   [`Summary`].
//! - [`Batch::run`] runs [`Job`]s with bounded concurrency and yields a [`Done`] per deliverable
//!   as it ends; [`orders`] and [`order_jobs`] plan a sync; [`wait`] waits for an order.
//! - [`inspect`], [`verify`] and [`extract`] work on a zip named by a path or a sink URL.
//! - Progress and warnings go to an [`Observer`]; nothing is printed.
//! - Failures are an [`Error`] whose [`Error::kind`] sorts them (not ready, auth, not found,
//!   corrupt, destination, network...) and whose [`Error::hint`] says what to do, naming the
//!   [`Setting`]s to change.
//!
//! No state is global: uploads dropped mid-way are cleaned up by their sink, and
//! [`Sink::settle`](wyvern_sinks::Sink::settle) waits for that sink's clean-ups only.

mod audit;
mod bands;
mod batch;
pub mod catalog;
mod destination;
mod error;
mod grid;
mod hint;
mod holdings;
mod hook;
pub mod html;
mod inventory;
mod job;
mod members;
mod named;
mod observer;
mod orders;
mod pipeline;
mod receipt;
mod remote;
mod shard;
mod spill;
mod sync;
mod zipfile;

pub use audit::{Audited, audit};
pub use batch::{Action, Batch, Done, Planned};
pub use destination::{check_destination, destination, open_destination};
pub use error::{Error, ErrorKind, error_causes, error_line};
pub use hint::{Hint, Setting};
pub use hook::Hook;
pub use job::{IfExists, Job, Jobs, Options, Outcome, Present};
pub use members::{Chosen, Members};
pub use named::{extract, inspect, thumbnail, verify};
pub use observer::{Meter, Observer, Silent};
pub use orders::{deliverable_id, order_jobs, orders, wait};
pub use receipt::{Extracted, Fetched, RECEIPT_LIMIT, Receipt, Selected};
pub use remote::{deliverable_thumbnail, inspect_deliverable};
pub use shard::Shard;
pub use sync::{
    CatalogLine, CatalogRefresh, Event, HookLine, Line, PlanLine, PlanTally, Polled, Progressed, Queued, Request,
    Started, Status, Summary, Tally, Wanted,
};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
