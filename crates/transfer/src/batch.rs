//! Many deliverables into one sink: a [`Batch`] runs jobs with bounded concurrency and yields
//! each outcome as it ends, its skip checks answered from listings of the destination; and says
//! what a run would do ([`Batch::plan`]). [`Batch::sync`](crate::Batch::sync) builds on it.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use wyvern_core::Client;
use wyvern_sinks::Sink;

use crate::inventory::Inventory;
use crate::job::{IfExists, Job, Jobs, Options, Outcome, Present};
use crate::observer::{Observer, Silent};
use crate::pipeline::{self, Delivery};
use crate::{Error, Result};

/// Deliverables fetched into one sink.
#[derive(Clone)]
pub struct Batch {
    client: Client,
    sink: Arc<dyn Sink>,
    options: Options,
    observer: Arc<dyn Observer>,
    cancel: CancellationToken,
    writable: Arc<tokio::sync::OnceCell<std::result::Result<(), Arc<wyvern_sinks::Error>>>>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("sink", &self.sink.location()).field("options", &self.options).finish()
    }
}

/// How one job of a [`Batch`] ended.
#[derive(Debug)]
pub struct Done {
    /// The job.
    pub job: Job,
    /// Where it went, as the destination shows it (the zip, or the folder of its members).
    pub destination: String,
    /// Its outcome.
    pub result: Result<Outcome>,
}

impl Batch {
    /// Deliverables from `client` into `sink` (see [`destination`](crate::destination)), delivered as `options` say,
    /// observed by nobody. The sink is checked before the first transfer.
    pub fn new(client: Client, sink: Arc<dyn Sink>, options: Options) -> Self {
        Self {
            client,
            sink,
            options,
            observer: Arc::new(Silent),
            cancel: CancellationToken::new(),
            writable: Arc::default(),
        }
    }

    /// Stops when `cancel` is cancelled: transfers in flight end with [`Error::Interrupted`]
    /// (their uploads aborted; [`Sink::settle`] waits for the aborts), and jobs not started end
    /// so without starting.
    pub fn cancel_on(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Reports progress and warnings to `observer`.
    pub fn observed(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The sink.
    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    /// The observer.
    pub fn observer(&self) -> &dyn Observer {
        &*self.observer
    }

    /// The observer, shared.
    pub(crate) fn observer_arc(&self) -> Arc<dyn Observer> {
        self.observer.clone()
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetches one deliverable (its skip check asks the sink).
    pub async fn fetch(&self, job: &Job) -> Result<Outcome> {
        self.fetch_known(job, None).await
    }

    async fn fetch_known(&self, job: &Job, listing: Option<&Inventory>) -> Result<Outcome> {
        let work = async {
            if let Some(present) = self.existing(job, listing).await? {
                return Ok(Outcome::Skipped(present));
            }
            self.writable().await?;
            let receipt = pipeline::fetch(&self.client, &self.delivery(job)).await?;
            Ok(Outcome::Downloaded(receipt))
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Error::Interrupted),
            outcome = work => outcome,
        }
    }

    /// What a delivery of `job` works with.
    fn delivery<'a>(&'a self, job: &'a Job) -> Delivery<'a> {
        Delivery { sink: &self.sink, job, options: &self.options, observer: &*self.observer }
    }

    /// What of `job` is at the destination already. A destination that cannot even be read (no
    /// such bucket, refused credentials) is named as one, as the check before the first transfer
    /// would name it.
    async fn existing(&self, job: &Job, listing: Option<&Inventory>) -> Result<Option<Present>> {
        match pipeline::existing(&self.delivery(job), listing).await {
            Err(error @ Error::Sink(_)) => {
                self.writable().await?;
                Err(error)
            }
            found => found,
        }
    }

    /// Checks once, before the first transfer, that the sink can be written to (see
    /// [`check_destination`](crate::check_destination)): a run that finds everything there already writes nothing, and
    /// checks nothing.
    async fn writable(&self) -> Result<()> {
        let checked = self.writable.get_or_init(|| async { self.sink.check().await.map_err(Arc::new) }).await;
        checked.clone().map_err(|source| Error::Destination { location: self.sink.location(), source })
    }

    /// What is at the destination already, for the skip checks of `jobs`: one listing of each
    /// folder they go to, or of the whole destination when they are many (none when
    /// [`IfExists::Overwrite`] makes the checks moot, or when asking the sink costs no request).
    async fn listing(&self, jobs: &Jobs, concurrency: usize) -> Option<Arc<Inventory>> {
        if self.options.if_exists == IfExists::Overwrite || self.sink.heads_are_cheap() {
            return None;
        }
        Some(Arc::new(Inventory::of(&self.sink, jobs, concurrency).await))
    }

    /// Where a job goes, as the destination shows it.
    fn destination(&self, job: &Job) -> String {
        format!("{}/{}", self.sink.location().trim_end_matches('/'), job.shown_path(&self.options))
    }

    /// Runs `jobs`, `concurrency` at a time; yields each as it ends. What is at the destination
    /// already is found from listings first (see [`Present`]): a no-op re-sync costs listing
    /// pages, not requests per deliverable. Dropping the stream stops the transfers in flight
    /// (their uploads are aborted). An error ends the stream when the jobs' temporary file
    /// cannot be read back.
    pub fn run(&self, jobs: Jobs, concurrency: usize) -> BoxStream<'_, Result<Done>> {
        self.each_listed(jobs, concurrency, move |job, listing| async move {
            let result = self.fetch_known(&job, listing.as_deref()).await;
            Done { destination: self.destination(&job), job, result }
        })
        .buffer_unordered(concurrency.max(1))
        .boxed()
    }

    /// What [`Batch::run`] would do with each job, in their order, without fetching anything:
    /// the same skip checks, from the same listings.
    pub fn plan(&self, jobs: Jobs, concurrency: usize) -> BoxStream<'_, Result<Planned>> {
        self.each_listed(jobs, concurrency, move |job, listing| async move {
            let action = self
                .existing(&job, listing.as_deref())
                .await
                .map(|present| present.map_or(Action::Fetch, |present| Action::Skip(Box::new(present))));
            Planned { destination: self.destination(&job), job, action }
        })
        .buffered(concurrency.max(1))
        .boxed()
    }

    /// `work` of each of `jobs`, with the listing of what is there already (listed first).
    fn each_listed<'a, F, T>(
        &'a self,
        jobs: Jobs,
        concurrency: usize,
        work: impl Fn(Job, Option<Arc<Inventory>>) -> F + Send + Copy + 'a,
    ) -> impl futures::Stream<Item = impl Future<Output = Result<T>> + Send + 'a> + Send + 'a
    where
        F: Future<Output = T> + Send + 'a,
        T: Send + 'a,
    {
        futures::stream::once(async move { (self.listing(&jobs, concurrency).await, jobs) }).flat_map(
            move |(listing, jobs)| {
                jobs.into_stream().map(move |job| {
                    let listing = listing.clone();
                    async move { Ok(work(job?, listing).await) }
                })
            },
        )
    }
}

/// What [`Batch::plan`] found for one job.
#[derive(Debug)]
pub struct Planned {
    /// The job.
    pub job: Job,
    /// Where it would go, as the destination shows it.
    pub destination: String,
    /// What a run would do, or why it would fail ([`Error::Exists`] with [`IfExists::Fail`]).
    pub action: Result<Action>,
}

/// What a run would do with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fetch it.
    Fetch,
    /// Skip it: it is there, whole.
    Skip(Box<Present>),
}
