//! Many deliverables into one sink: the orders to sync (named or all), the jobs of each order,
//! and a [`Batch`] that runs jobs with bounded concurrency and yields each outcome as it ends.
//! Also the other things a caller does by name: wait for an order, open a destination, resolve
//! a deliverable given as a URL, and inspect, verify or extract a zip named by a path or URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use url::Url;
use wyvern_core::{Client, DeliverableId, Error as ApiError, Order, OrderId, OrderStatus, UnusableLink};
use wyvern_sinks::{Registry, Sink};
use wyvern_unpack::Inspection;

use crate::inventory::Inventory;
use crate::job::{IfExists, Job, Options, Outcome, Present};
use crate::observer::{Observer, Silent};
use crate::pipeline::{self, Delivery, Ready};
use crate::shard::Shard;
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// The sink schemes a destination can name: the built-in ones (local disk, `s3://`, `gs://`,
/// `az://`, `file://`) and the WebDAV sink crate's (`webdav://`, `webdavs://`).
pub fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    wyvern_sink_webdav::register(&mut registry);
    registry
}

/// The sink `to` names (not checked: see [`check_destination`]).
pub fn destination(registry: &Registry, to: &str) -> Result<Arc<dyn Sink>> {
    registry.resolve(to).map_err(|e| Error::Invalid {
        message: e.to_string(),
        hint: Some(
            "give a folder, or a URL such as s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
                .to_owned(),
        ),
    })
}

/// Whether `sink` exists and these credentials (or this user) may write there; nothing is left
/// behind by the check.
pub async fn check_destination(sink: &Arc<dyn Sink>) -> Result<()> {
    sink.check().await.map_err(|source| Error::Destination { location: sink.location(), source: Arc::new(source) })
}

/// The sink `to` names, checked before any byte is fetched ([`destination`], then
/// [`check_destination`]).
pub async fn open_destination(registry: &Registry, to: &str) -> Result<Arc<dyn Sink>> {
    let sink = destination(registry, to)?;
    check_destination(&sink).await?;
    Ok(sink)
}

/// A deliverable given as an id, or as its URL on the API's origin (the token goes nowhere
/// else).
pub fn deliverable_id(client: &Client, target: &str) -> Result<DeliverableId> {
    let invalid = |message: String, hint: &str| Error::Invalid { message, hint: Some(hint.to_owned()) };
    if !target.starts_with("http://") && !target.starts_with("https://") {
        return target
            .parse()
            .map_err(|e: wyvern_core::InvalidId| invalid(e.to_string(), "give a deliverable id or its URL"));
    }
    let url = Url::parse(target)
        .map_err(|e| invalid(format!("invalid URL {target:?}: {e}"), "give a deliverable id or its URL"))?;
    if !client.is_api_origin(&url) {
        return Err(invalid(
            format!("{} is not on the API's origin {}", wyvern_core::redact_url(&url), client.base_url()),
            "the token is only sent to the API; set the API ({api}) this link belongs to",
        ));
    }
    DeliverableId::from_href(&url).map_err(|e| invalid(e.to_string(), "give a deliverable id or its URL"))
}

/// The orders to sync: `Some(ids)` fetches each, `None` lists every order the account can see
/// (every page first: a listing that fails is the error). The stream yields each order, or why
/// it could not be had, as it comes, `concurrency` fetched at once.
pub async fn orders(
    client: &Client,
    ids: Option<Vec<OrderId>>,
    concurrency: usize,
) -> Result<impl Stream<Item = (OrderId, Result<Order>)> + '_> {
    let orders: Vec<(OrderId, Option<Order>)> = match ids {
        Some(ids) => ids.into_iter().map(|id| (id, None)).collect(),
        None => client.list_orders().await?.into_iter().map(|order| (order.id.clone(), Some(order))).collect(),
    };
    Ok(futures::stream::iter(orders)
        .map(move |(id, listed)| async move {
            let order = match listed {
                // A listed order with its links is used as listed; one without is fetched.
                Some(order) if !order.is_ready() || !order.deliverables().is_empty() => Ok(order),
                _ => client.order(&id).await.map_err(Error::from),
            };
            (id, order)
        })
        .buffered(concurrency.max(1)))
}

/// The jobs of a ready order: its usable deliverable links (of `shard`, when given), at
/// `<order_id>/<deliverable_id>.zip`. Links that cannot be used are reported to `observer` by
/// position; an order not ready is [`ErrorKind::NotReady`](crate::ErrorKind::NotReady), and one
/// with no usable link an error too.
pub fn order_jobs(order: &Order, shard: Option<Shard>, observer: &dyn Observer) -> Result<Vec<Job>> {
    if !order.is_ready() {
        return Err(Error::Api(ApiError::NotReady {
            order: order.id.to_string(),
            status: order.status.clone(),
            reason: order.reason_code.clone(),
        }));
    }
    let unusable: Vec<UnusableLink> = order.unusable_links();
    for link in &unusable {
        let href = link.href.as_deref().map_or_else(|| "-".to_owned(), |h| wyvern_core::printable(h).into_owned());
        observer
            .warn(&format!("order {}: deliverable link {} ({href}) skipped: {}", order.id, link.index, link.reason));
    }
    let deliverables = order.deliverables();
    if deliverables.is_empty() {
        return Err(Error::Api(ApiError::NoDeliverables { order: order.id.to_string(), unusable: unusable.len() }));
    }
    Ok(deliverables
        .into_iter()
        .filter(|d| shard.is_none_or(|s| s.includes(&d.id)))
        .map(|d| Job::of_order(order.id.clone(), d.id))
        .collect())
}

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
    /// Deliverables from `client` into `sink` (see [`destination`]), delivered as `options` say,
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
        Delivery { sink: &self.sink, job, options: self.options, observer: &*self.observer }
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
    /// [`check_destination`]): a run that finds everything there already writes nothing, and
    /// checks nothing.
    async fn writable(&self) -> Result<()> {
        let checked = self.writable.get_or_init(|| async { self.sink.check().await.map_err(Arc::new) }).await;
        checked.clone().map_err(|source| Error::Destination { location: self.sink.location(), source })
    }

    /// What is at the destination already, for the skip checks of `jobs`: one listing of each
    /// folder they go to, or of the whole destination when they are many (none when
    /// [`IfExists::Overwrite`] makes the checks moot).
    async fn listing(&self, jobs: &[Job], concurrency: usize) -> Option<Arc<Inventory>> {
        if self.options.if_exists == IfExists::Overwrite {
            return None;
        }
        Some(Arc::new(Inventory::of(&self.sink, jobs, concurrency).await))
    }

    /// Where a job goes, as the destination shows it.
    fn destination(&self, job: &Job) -> String {
        format!("{}/{}", self.sink.location().trim_end_matches('/'), job.shown_path(self.options))
    }

    /// Runs `jobs`, `concurrency` at a time; yields each as it ends. What is at the destination
    /// already is found from listings first (see [`Present`]): a no-op re-sync costs listing
    /// pages, not requests per deliverable. Dropping the stream stops the transfers in flight
    /// (their uploads are aborted).
    pub fn run(&self, jobs: Vec<Job>, concurrency: usize) -> BoxStream<'_, Done> {
        futures::stream::once(self.listed(jobs, concurrency))
            .flat_map(move |(jobs, listing)| self.each(jobs, listing, concurrency))
            .boxed()
    }

    /// `jobs`, with the listing of what is there already.
    async fn listed(&self, jobs: Vec<Job>, concurrency: usize) -> (Vec<Job>, Option<Arc<Inventory>>) {
        let listing = self.listing(&jobs, concurrency).await;
        (jobs, listing)
    }

    /// Runs `jobs`, `concurrency` at a time.
    fn each(&self, jobs: Vec<Job>, listing: Option<Arc<Inventory>>, concurrency: usize) -> BoxStream<'_, Done> {
        futures::stream::iter(jobs)
            .map(move |job| self.done(job, listing.clone()))
            .buffer_unordered(concurrency.max(1))
            .boxed()
    }

    /// Fetches `job`.
    async fn done(&self, job: Job, listing: Option<Arc<Inventory>>) -> Done {
        let result = self.fetch_known(&job, listing.as_deref()).await;
        Done { destination: self.destination(&job), job, result }
    }

    /// What [`Batch::run`] would do with each job, without fetching anything: the same skip
    /// checks, from the same listings.
    pub async fn plan(&self, jobs: Vec<Job>, concurrency: usize) -> Vec<Planned> {
        let listing = self.listing(&jobs, concurrency).await;
        futures::stream::iter(jobs)
            .map(|job| {
                let listing = listing.clone();
                async move {
                    let action = self
                        .existing(&job, listing.as_deref())
                        .await
                        .map(|present| present.map_or(Action::Fetch, |present| Action::Skip(Box::new(present))));
                    Planned { destination: self.destination(&job), job, action }
                }
            })
            .buffered(concurrency.max(1))
            .collect()
            .await
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

/// Polls `id` every `interval` until it is completed and fulfilled (returned), or can no longer
/// be, or `timeout` passes (both [`Error::Wait`], of kind
/// [`ErrorKind::NotReady`](crate::ErrorKind::NotReady)).
/// `changed` is called with the order each time its state changes.
pub async fn wait(
    client: &Client,
    id: &OrderId,
    interval: Duration,
    timeout: Option<Duration>,
    mut changed: impl FnMut(&Order),
) -> Result<Order> {
    let started = Instant::now();
    let mut last = None;
    loop {
        let order = client.order(id).await?;
        let state = (order.status.clone(), order.reason_code.clone());
        if last.as_ref() != Some(&state) {
            changed(&order);
            last = Some(state);
        }
        let completed = order.status == Some(OrderStatus::Completed);
        if order.is_ready() && completed {
            return Ok(order);
        }
        let not_ready = |waited: Option<Duration>| Error::Wait {
            waited,
            source: ApiError::NotReady {
                order: id.to_string(),
                status: order.status.clone(),
                reason: order.reason_code.clone(),
            },
        };
        if completed || order.status.as_ref().is_some_and(OrderStatus::is_final) {
            return Err(not_ready(None));
        }
        let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
        if remaining == Some(Duration::ZERO) {
            return Err(not_ready(Some(Duration::from_secs(started.elapsed().as_secs()))));
        }
        tokio::time::sleep(remaining.map_or(interval, |r| r.min(interval))).await;
    }
}

/// Inspects a zip named by a path or a sink URL, reading only its records and headers (a few
/// ranged reads of an object). `bytes_read` says how much was read.
pub async fn inspect(registry: &Registry, zip: &str) -> Result<Inspection> {
    ZipFile::parse(zip, registry)?.inspect().await
}

/// The thumbnail of a zip named by a path or a sink URL (else its overview), as `inspection`
/// found it, decoded and scaled to fit `width` by `height` pixels: `None` when it has none.
pub async fn thumbnail(
    registry: &Registry,
    zip: &str,
    inspection: &Inspection,
    width: u32,
    height: u32,
) -> Result<Option<(String, wyvern_unpack::Picture)>> {
    let Some(item) = inspection.items.first() else { return Ok(None) };
    let exists = |name: &str| inspection.entries.iter().any(|e| e.name == name);
    let Some(entry) =
        crate::html::picture_member(item, exists).and_then(|name| inspection.entries.iter().find(|e| e.name == name))
    else {
        return Ok(None);
    };
    let png = ZipFile::parse(zip, registry)?.read_member(entry, crate::html::PICTURE_LIMIT).await?;
    let picture = tokio::task::spawn_blocking(move || wyvern_unpack::Picture::from_png(&png, width, height))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|message| Error::Invalid { message: format!("{}: {message}", entry.name), hint: None })?;
    Ok(Some((entry.name.clone(), picture)))
}

/// Verifies a zip named by a path or a sink URL, reading every byte once. A zip whose structure
/// fails is an error; contents that disagree with their metadata are the inspection's problems.
pub async fn verify(registry: &Registry, zip: &str, observer: &dyn Observer) -> Result<Inspection> {
    let zip = ZipFile::parse(zip, registry)?;
    let plan = zip.plan().await;
    let mut source = zip.source().await?;
    let (mut inspection, _) = pipeline::verify(&mut source, &plan, observer, false).await.map_err(named)?;
    inspection.bytes_read = Some(inspection.bytes);
    Ok(inspection)
}

/// Extracts a zip named by a path or a sink URL into `sink`, under a folder named after the zip
/// (verified in the same pass; all members published together, or none). Fails before starting
/// when the zip cannot be named; how the extraction ended is the [`Done`]'s result.
pub async fn extract(
    registry: &Registry,
    zip: &str,
    sink: &Arc<dyn Sink>,
    if_exists: IfExists,
    observer: &dyn Observer,
) -> Result<Done> {
    let zip = ZipFile::parse(zip, registry)?;
    let stem: String =
        zip.stem().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let deliverable_id: DeliverableId =
        stem.parse().map_err(|e: wyvern_core::InvalidId| Error::Invalid { message: e.to_string(), hint: None })?;
    let job = Job::single(deliverable_id);
    let options = Options { if_exists, verify: true, extract: true };
    let destination = format!("{}/{}", sink.location().trim_end_matches('/'), job.shown_path(options));
    let delivery = Delivery { sink, job: &job, options, observer };
    let result = match pipeline::existing(&delivery, None).await {
        Ok(Some(present)) => Ok(Outcome::Skipped(present)),
        Ok(None) => {
            let ready = async {
                let plan = zip.plan().await;
                Ok(Ready { source: zip.source().await?, etag: None, partial: None, plan })
            };
            match ready.await {
                Ok(ready) => delivery.deliver(ready).await.map(Outcome::Downloaded).map_err(named),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    Ok(Done { job, destination, result })
}

/// A verification failure of a zip the caller named (its hint speaks of that zip).
fn named(error: Error) -> Error {
    match error {
        Error::Corrupt { source, .. } => Error::Corrupt { source, named: true },
        other => other,
    }
}
