//! The commands, from validated settings to results on stdout and a documented exit code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::CommandFactory;
use futures::StreamExt;
use url::Url;
use wyvern_core::{Client, DeliverableId, Error as ApiError, Order, OrderId, OrderStatus};
use wyvern_sinks::{ObjectPath, Registry, Sink};

use crate::args::{AuthCommand, Cli, Command, DeliverableCommand, Destination, IfExists, OrderCommand, SyncArgs};
use crate::error::{self, Exit, Hint};
use crate::output::errln;
use crate::progress::Progress;
use crate::report::{Done, Report};
use crate::shard::Shard;
use crate::transfer::{self, Job, Outcome};
use crate::zipfile::ZipFile;
use crate::{auth, settings};

pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let anonymous = settings::client(&cli, None, None)?;
    match &cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "wyvern", &mut script);
            crate::output::out_bytes(&script);
            return Ok(Exit::Success);
        }
        Command::Auth(AuthCommand::Login { username }) => {
            let path = auth::login(&anonymous, username.clone()).await?;
            errln!("logged in to {}; token stored in {}", anonymous.base_url(), path.display());
            return Ok(Exit::Success);
        }
        Command::Auth(AuthCommand::Logout) => {
            let removed = auth::logout(&anonymous)?;
            errln!("{} for {}", if removed { "token forgotten" } else { "no stored token" }, anonymous.base_url());
            return Ok(Exit::Success);
        }
        Command::Inspect { zip } => return inspect(zip, Report::new(cli.json, cli.quiet)).await,
        Command::Verify { zip } => return verify(zip, Report::new(cli.json, cli.quiet)).await,
        Command::Extract { zip, to, if_exists } => {
            return extract(zip, to, *if_exists, Report::new(cli.json, cli.quiet)).await;
        }
        _ => {}
    }
    let token = auth::resolve(cli.token_file.as_deref(), &anonymous).await?.ok_or(ApiError::MissingToken)?;
    let per_host = match &cli.command {
        Command::Sync(args) => Some(usize::from(args.max_per_host)),
        _ => None,
    };
    let client = settings::client(&cli, Some(token), per_host)?;
    let report = Report::new(cli.json, cli.quiet);
    match &cli.command {
        Command::Order(OrderCommand::Show { order_id }) => {
            let order = client.order(order_id).await.with_context(|| format!("fetching order {order_id}"))?;
            report.order(&order);
            Ok(Exit::Success)
        }
        Command::Order(OrderCommand::Wait { order_id, interval, timeout }) => {
            wait(&client, &report, order_id, *interval, *timeout).await
        }
        Command::Order(OrderCommand::Download { order_ids, destination }) => {
            let mut batch = Batch::new(&client, destination, report).await?;
            let mut jobs = Vec::new();
            for order_id in order_ids {
                jobs.extend(batch.order_jobs(order_id, None, None, true).await);
            }
            batch.run(jobs, 1, false).await;
            Ok(batch.report.exit())
        }
        Command::Deliverable(DeliverableCommand::Download { deliverables, destination }) => {
            let mut batch = Batch::new(&client, destination, report).await?;
            let mut jobs = Vec::new();
            for target in deliverables {
                match deliverable_id(&client, target) {
                    Ok(id) => jobs.push(Job {
                        order_id: None,
                        path: ObjectPath::parse(&format!("{id}.zip"))?,
                        deliverable_id: id,
                    }),
                    Err(e) => batch.report.failed(None, None, None, &e),
                }
            }
            batch.run(jobs, 1, false).await;
            Ok(batch.report.exit())
        }
        Command::Sync(args) => sync(&client, args, report).await,
        Command::Completions { .. }
        | Command::Auth(_)
        | Command::Inspect { .. }
        | Command::Verify { .. }
        | Command::Extract { .. } => unreachable!("handled above"),
    }
}

/// `wyvern sync`: every deliverable of the ready orders (or of all orders) that the destination
/// does not have yet, with bounded concurrency; orders not ready are reported, not errors.
async fn sync(client: &Client, args: &SyncArgs, report: Report) -> anyhow::Result<Exit> {
    let mut batch = Batch::new(client, &args.destination, report).await?;
    let concurrency = usize::from(args.concurrency);
    let orders: Vec<(OrderId, Option<Order>)> = if args.all {
        let listed = client.list_orders().await.context("listing orders")?;
        listed.into_iter().map(|order| (order.id.clone(), Some(order))).collect()
    } else {
        args.order_ids.iter().map(|id| (id.clone(), None)).collect()
    };
    // Orders are fetched concurrently; their deliverables then run as one pool.
    let fetched: Vec<_> = futures::stream::iter(orders)
        .map(|(id, listed)| async move {
            let order = match listed {
                // A listed order with its links is used as listed; one without is fetched.
                Some(order) if !order.is_ready() || !order.deliverables().is_empty() => Ok(order),
                _ => client.order(&id).await,
            };
            (id, order)
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut jobs = Vec::new();
    for (id, order) in fetched {
        match order {
            Ok(order) => jobs.extend(batch.order_jobs(&id, Some(order), args.shard, false).await),
            Err(e) => batch.report.failed(Some(&id), None, None, &e.into()),
        }
        if args.fail_fast && batch.report.tally().failed > 0 {
            break;
        }
    }
    if !(args.fail_fast && batch.report.tally().failed > 0) {
        batch.run(jobs, concurrency, args.fail_fast).await;
    }
    batch.report.summary();
    Ok(batch.report.exit())
}

/// `wyvern inspect`: the directory, the STAC item and the GeoTIFF headers, read with as few
/// bytes as possible (ranged reads of a zip in a bucket).
async fn inspect(zip: &str, report: Report) -> anyhow::Result<Exit> {
    let zip = ZipFile::parse(zip, &registry())?;
    let (mut access, read) = zip.random_access().await?;
    let shown = zip.shown();
    let mut inspection = tokio::task::spawn_blocking(move || wyvern_unpack::inspect_random(&shown, &mut *access))
        .await?
        .map_err(|e| error::on_local_zip(e.into()))?;
    inspection.bytes_read = Some(read.load(std::sync::atomic::Ordering::Relaxed));
    report.inspection(&inspection);
    // Content problems are listed (the data was not read); a structure that readers could see
    // differently is a failed verification.
    Ok(if inspection.has_structure_problems() { Exit::Verification } else { Exit::Success })
}

/// `wyvern verify`: every member read once and checked; exit 3 unless whole and consistent.
async fn verify(zip: &str, report: Report) -> anyhow::Result<Exit> {
    let zip = ZipFile::parse(zip, &registry())?;
    let plan = zip.plan().await;
    let mut source = zip.source().await?;
    let mut inspection =
        transfer::verify(&mut source, &plan, &Progress::new(report.quiet())).await.map_err(error::on_local_zip)?;
    inspection.bytes_read = Some(inspection.bytes);
    report.inspection(&inspection);
    Ok(if inspection.problems.is_empty() { Exit::Success } else { Exit::Verification })
}

/// `wyvern extract`: the members of a zip into a sink, under a folder named after the zip.
async fn extract(zip: &str, to: &str, if_exists: IfExists, mut report: Report) -> anyhow::Result<Exit> {
    let zip = ZipFile::parse(zip, &registry())?;
    let sink = destination(to).await?;
    let stem: String =
        zip.stem().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let deliverable_id: DeliverableId = stem.parse()?;
    let job = Job { order_id: None, path: ObjectPath::parse(&format!("{deliverable_id}.zip"))?, deliverable_id };
    let options = transfer::Options { if_exists, verify: true, extract: true };
    let progress = Progress::new(report.quiet());
    let source = async {
        let plan = zip.plan().await;
        Ok(transfer::Opened { source: zip.source().await?, etag: None, partial: None, plan })
    };
    let destination = format!("{}/{}", sink.location().trim_end_matches('/'), job.extract_folder()?);
    match transfer::run(&sink, &job, options, &progress, source).await {
        Ok(Outcome::Downloaded(receipt)) => report.done(Done::Downloaded, &destination, &receipt),
        Ok(Outcome::Skipped(receipt)) => report.done(Done::Skipped, &destination, &receipt),
        Err(e) => report.failed(None, Some(&job.deliverable_id), Some(&destination), &error::on_local_zip(e)),
    }
    Ok(report.exit())
}

/// The sink `--to` names, checked before any byte is downloaded: does it exist, and may these
/// credentials write there?
async fn destination(to: &str) -> anyhow::Result<Arc<dyn Sink>> {
    let sink = registry()
        .resolve(to)
        .hint("give a folder, or a URL such as s3://bucket/prefix, gs://bucket/prefix or az://container/prefix")?;
    sink.check()
        .await
        .with_context(|| format!("the destination {} cannot be written to", sink.location()))
        .hint("check that the folder or bucket exists and that these credentials (or this user) may write to it")?;
    Ok(sink)
}

/// The sinks `--to` can name: the built-in ones and the WebDAV sink crate.
fn registry() -> Registry {
    let mut registry = Registry::with_builtins();
    wyvern_sink_webdav::register(&mut registry);
    registry
}

/// An id, or a deliverable URL on the API's origin (the token goes nowhere else).
fn deliverable_id(client: &Client, target: &str) -> anyhow::Result<DeliverableId> {
    if !target.starts_with("http://") && !target.starts_with("https://") {
        return target.parse().hint("give a deliverable id or its URL");
    }
    let url = Url::parse(target).with_context(|| format!("invalid URL {target:?}"))?;
    if !client.is_api_origin(&url) {
        return Err(anyhow::anyhow!(
            "{} is not on the API's origin {}",
            wyvern_core::redact_url(&url),
            client.base_url()
        ))
        .hint("the token is only sent to the API; pass --api-url (or --sandbox) for the API this link belongs to");
    }
    Ok(DeliverableId::from_href(&url)?)
}

async fn wait(
    client: &Client,
    report: &Report,
    id: &OrderId,
    interval: Duration,
    timeout: Option<Duration>,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let order = client.order(id).await.with_context(|| format!("fetching order {id}"))?;
        let state = format!(
            "{} ({})",
            order.status.as_ref().map_or("unknown", OrderStatus::as_str),
            order.reason_code.as_ref().map_or("no reason yet", |r| r.as_str())
        );
        if state != last {
            report.note(&format!("order {id}: {state}"));
            last = state;
        }
        let completed = order.status == Some(OrderStatus::Completed);
        if order.is_ready() && completed {
            report.order(&order);
            return Ok(Exit::Success);
        }
        let not_ready = || ApiError::NotReady {
            order: id.to_string(),
            status: order.status.clone(),
            reason: order.reason_code.clone(),
        };
        if completed || order.status.as_ref().is_some_and(OrderStatus::is_final) {
            return Err(not_ready()).context("the order will not be fulfilled");
        }
        let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
        if remaining == Some(Duration::ZERO) {
            let waited = humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()));
            return Err(not_ready()).context(format!("gave up waiting after {waited}"));
        }
        tokio::time::sleep(remaining.map_or(interval, |r| r.min(interval))).await;
    }
}

/// Deliverables into one sink, each reported as it ends.
struct Batch<'a> {
    client: &'a Client,
    sink: Arc<dyn Sink>,
    options: transfer::Options,
    progress: Progress,
    report: Report,
}

impl<'a> Batch<'a> {
    async fn new(client: &'a Client, destination: &Destination, report: Report) -> anyhow::Result<Self> {
        let sink = self::destination(&destination.to).await?;
        let options = transfer::Options {
            if_exists: destination.if_exists,
            verify: !destination.no_verify,
            extract: destination.extract,
        };
        Ok(Self { client, sink, options, progress: Progress::new(report.quiet()), report })
    }

    /// The jobs of one order: all its deliverables (of this shard) when it is ready. An order not
    /// ready is a failure when `strict`, and reported as `not_ready` otherwise.
    async fn order_jobs(&mut self, id: &OrderId, known: Option<Order>, shard: Option<Shard>, strict: bool) -> Vec<Job> {
        let order = match known {
            Some(order) => order,
            None => match self.client.order(id).await {
                Ok(order) => order,
                Err(e) => {
                    self.report.failed(Some(id), None, None, &e.into());
                    return Vec::new();
                }
            },
        };
        if !order.is_ready() {
            let error = ApiError::NotReady { order: id.to_string(), status: order.status, reason: order.reason_code };
            if strict {
                self.report.failed(Some(id), None, None, &error.into());
            } else {
                self.report.not_ready(id, &error);
            }
            return Vec::new();
        }
        let unusable = order.unusable_links();
        for link in &unusable {
            let href = link.href.as_deref().map_or_else(|| "-".to_owned(), |h| wyvern_core::printable(h).into_owned());
            self.report.note(&format!(
                "warning: order {id}: deliverable link {} ({href}) skipped: {}",
                link.index, link.reason
            ));
        }
        let deliverables = order.deliverables();
        if deliverables.is_empty() {
            let error = ApiError::NoDeliverables { order: id.to_string(), unusable: unusable.len() };
            self.report.failed(Some(id), None, None, &error.into());
            return Vec::new();
        }
        deliverables
            .into_iter()
            .filter(|d| shard.is_none_or(|s| s.includes(&d.id)))
            .map(|d| Job {
                order_id: Some(id.clone()),
                path: ObjectPath::parse(&format!("{id}/{}.zip", d.id)).expect("ids are path-safe"),
                deliverable_id: d.id,
            })
            .collect()
    }

    /// Runs the jobs, `concurrency` at a time; with `fail_fast`, stops at the first failure
    /// (transfers in flight are abandoned, which discards their partial uploads).
    async fn run(&mut self, jobs: Vec<Job>, concurrency: usize, fail_fast: bool) {
        let (client, sink, options, progress) = (self.client, &self.sink, self.options, &self.progress);
        let location = sink.location();
        let mut results = futures::stream::iter(jobs)
            .map(|job| async move {
                let outcome = transfer::fetch(client, sink, &job, options, progress).await;
                (job, outcome)
            })
            .buffer_unordered(concurrency);
        while let Some((job, outcome)) = results.next().await {
            let shown = if options.extract { job.extract_folder() } else { Ok(job.path.clone()) };
            let destination =
                format!("{}/{}", location.trim_end_matches('/'), shown.unwrap_or_else(|_| job.path.clone()));
            match outcome {
                Ok(Outcome::Downloaded(receipt)) => self.report.done(Done::Downloaded, &destination, &receipt),
                Ok(Outcome::Skipped(receipt)) => self.report.done(Done::Skipped, &destination, &receipt),
                Err(e) => {
                    self.report.failed(job.order_id.as_ref(), Some(&job.deliverable_id), Some(&destination), &e);
                    if fail_fast {
                        break;
                    }
                }
            }
        }
    }
}
