//! The commands: validated settings in, the library's work, results out through [`Report`] and
//! a documented exit code.

use std::sync::{Arc, Mutex, PoisonError};

use clap::CommandFactory;
use futures::StreamExt;
use wyvern_core::{Client, Error as ApiError, OrderStatus};
use wyvern_sinks::Sink;
use wyvern_transfer::catalog::Scope;
use wyvern_transfer::{Batch, ErrorKind, Job, Options};

use crate::args::{AuthCommand, Cli, Command, DeliverableCommand, Destination, OrderCommand, SyncArgs};
use crate::error::{Exit, Failure};
use crate::output::errln;
use crate::progress::Progress;
use crate::report::Report;
use crate::{auth, settings};

/// The sinks a command opened to write to: settled (their aborted uploads cleaned up) before
/// the process exits, even when the command itself was interrupted.
#[derive(Debug, Default)]
pub struct Opened(Mutex<Vec<Arc<dyn Sink>>>);

impl Opened {
    /// The sink `to` names (a batch checks it before its first transfer; `checked` checks it
    /// now).
    async fn destination(&self, to: &str, checked: bool) -> Result<Arc<dyn Sink>, Failure> {
        let sink = wyvern_transfer::destination(&wyvern_transfer::registry(), to)?;
        if checked {
            wyvern_transfer::check_destination(&sink).await?;
        }
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(sink.clone());
        Ok(sink)
    }

    /// Waits for the clean-ups of every sink opened.
    pub async fn settle(&self) {
        let sinks = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for sink in sinks {
            sink.settle().await;
        }
    }
}

/// Deliverables an audit (`verify DEST`) reads at once.
const AUDIT_CONCURRENCY: usize = 2;

/// Whether `verify`'s argument names a destination to audit rather than a zip: a folder, or a
/// URL whose last segment does not end in `.zip`.
fn names_a_destination(argument: &str) -> bool {
    match argument.split_once("://") {
        Some(("file", path)) => std::path::Path::new(path).is_dir(),
        Some(_) => !argument.trim_end_matches('/').to_ascii_lowercase().ends_with(".zip") || argument.ends_with('/'),
        None => std::path::Path::new(argument).is_dir(),
    }
}

pub async fn run(cli: Cli, opened: &Opened) -> Result<Exit, Failure> {
    let anonymous = settings::client(&cli, None, None)?;
    let mut report = Report::new(cli.json, cli.quiet);
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
        Command::Inspect { zip, preview } => {
            let inspection = wyvern_transfer::inspect(&wyvern_transfer::registry(), zip).await?;
            report.inspection(&inspection);
            if *preview {
                crate::preview::show(zip, &inspection, &report).await;
            }
            // Content problems are listed (the data was not read); a structure that readers
            // could see differently is a failed verification.
            return Ok(if inspection.has_structure_problems() { Exit::Verification } else { Exit::Success });
        }
        Command::Verify { zip } if names_a_destination(zip) => {
            let sink = opened.destination(zip, false).await?;
            let progress = Progress::new(cli.quiet);
            let mut audited = wyvern_transfer::audit(&sink, &progress, AUDIT_CONCURRENCY).await?;
            while let Some(audited) = audited.next().await {
                report.audited(&audited);
            }
            report.audit_summary();
            return Ok(report.exit());
        }
        Command::Verify { zip } => {
            let progress = Progress::new(cli.quiet);
            let inspection = wyvern_transfer::verify(&wyvern_transfer::registry(), zip, &progress).await?;
            report.inspection(&inspection);
            return Ok(if inspection.problems.is_empty() { Exit::Success } else { Exit::Verification });
        }
        Command::Catalog { dest } => {
            let sink = opened.destination(dest, false).await?;
            let refreshed = wyvern_transfer::catalog::refresh(&sink, &Scope::All).await?;
            report.catalog(&sink.location(), &refreshed, None);
            return Ok(Exit::Success);
        }
        Command::Report { dest, output } => {
            let sink = opened.destination(dest, false).await?;
            let written = wyvern_transfer::html::write(&sink, output).await?;
            report.page(output, written);
            return Ok(Exit::Success);
        }
        Command::Extract { zip, to, if_exists } => {
            let sink = opened.destination(to, true).await?;
            let progress = Progress::new(cli.quiet);
            let done =
                wyvern_transfer::extract(&wyvern_transfer::registry(), zip, &sink, *if_exists, &progress).await?;
            report.finished(&done);
            return Ok(report.exit());
        }
        _ => {}
    }
    let token = auth::resolve(cli.token_file.as_deref(), &anonymous).await?.ok_or(ApiError::MissingToken)?;
    let per_host = match &cli.command {
        Command::Sync(args) => Some(usize::from(args.max_per_host)),
        _ => None,
    };
    let client = settings::client(&cli, Some(token), per_host)?;
    match &cli.command {
        Command::Order(OrderCommand::Show { order_id }) => {
            let order = client.order(order_id).await?;
            report.order(&order);
            Ok(Exit::Success)
        }
        Command::Order(OrderCommand::Wait { order_id, interval, timeout }) => {
            let changed = |order: &wyvern_core::Order| {
                let status = order.status.as_ref().map_or("unknown", OrderStatus::as_str);
                let reason = order.reason_code.as_ref().map_or("no reason yet", |r| r.as_str());
                report.note(&format!("order {order_id}: {status} ({reason})"));
            };
            let order = wyvern_transfer::wait(&client, order_id, *interval, *timeout, changed).await?;
            report.order(&order);
            Ok(Exit::Success)
        }
        Command::Order(OrderCommand::Download { order_ids, destination }) => {
            let progress = Arc::new(Progress::new(report.quiet()));
            let batch = batch(&client, destination, opened, &progress).await?;
            let mut jobs = Vec::new();
            for order_id in order_ids {
                let order = client.order(order_id).await.map_err(wyvern_transfer::Error::from);
                match order.and_then(|order| wyvern_transfer::order_jobs(&order, None, batch.observer())) {
                    Ok(more) => jobs.extend(more),
                    Err(e) => report.failed(Some(order_id), None, None, &e),
                }
            }
            deliver(&batch, jobs, 1, false, &mut report, &progress).await?;
            Ok(report.exit())
        }
        Command::Deliverable(DeliverableCommand::Download { deliverables, destination }) => {
            let progress = Arc::new(Progress::new(report.quiet()));
            let batch = batch(&client, destination, opened, &progress).await?;
            let mut jobs = Vec::new();
            for target in deliverables {
                match wyvern_transfer::deliverable_id(&client, target) {
                    Ok(id) => jobs.push(Job::single(id)),
                    Err(e) => report.failed(None, None, None, &e),
                }
            }
            deliver(&batch, jobs, 1, false, &mut report, &progress).await?;
            Ok(report.exit())
        }
        Command::Sync(args) => sync(&client, args, opened, report).await,
        Command::Completions { .. }
        | Command::Auth(_)
        | Command::Inspect { .. }
        | Command::Catalog { .. }
        | Command::Report { .. }
        | Command::Verify { .. }
        | Command::Extract { .. } => unreachable!("handled above"),
    }
}

/// `wyvern sync`: every deliverable of the ready orders (or of all orders) that the destination
/// does not have yet, with bounded concurrency; orders not ready are reported, not errors.
async fn sync(client: &Client, args: &SyncArgs, opened: &Opened, mut report: Report) -> Result<Exit, Failure> {
    let progress = Arc::new(Progress::new(report.quiet()));
    let batch = batch(client, &args.destination, opened, &progress).await?;
    let concurrency = usize::from(args.concurrency);
    let ids = (!args.all).then(|| args.order_ids.clone());
    // Orders are fetched concurrently; their deliverables then run as one pool.
    let mut orders = std::pin::pin!(wyvern_transfer::orders(client, ids, concurrency).await?);
    let mut jobs = Vec::new();
    while let Some((id, order)) = orders.next().await {
        match order.and_then(|order| wyvern_transfer::order_jobs(&order, args.shard, batch.observer())) {
            Ok(more) => jobs.extend(more),
            Err(e) if e.kind() == ErrorKind::NotReady => report.not_ready(&id, &e),
            Err(e) => report.failed(Some(&id), None, None, &e),
        }
        if args.fail_fast && report.tally().failed > 0 {
            break;
        }
    }
    if args.plan {
        for planned in batch.plan(jobs, concurrency).await {
            report.planned(&planned);
        }
        report.plan_summary();
        return Ok(report.exit());
    }
    let scope = match args.shard {
        Some(_) => Scope::Items(jobs.iter().map(|job| job.path.clone()).collect()),
        None => Scope::All,
    };
    if !(args.fail_fast && report.tally().failed > 0) {
        progress.begin(jobs.len() as u64);
        let delivered = deliver(&batch, jobs, concurrency, args.fail_fast, &mut report, &progress).await;
        progress.end();
        delivered?;
    }
    report.summary();
    // A sync that found nothing to deliver (every order not ready) has nothing to catalog.
    let tally = report.tally();
    if args.catalog && tally.downloaded + tally.skipped > 0 {
        let refreshed = wyvern_transfer::catalog::refresh(batch.sink(), &scope).await?;
        report.catalog(&batch.sink().location(), &refreshed, args.shard);
    }
    Ok(report.exit())
}

/// The batch writing to `--to`, with progress on stderr (`progress`).
async fn batch(
    client: &Client,
    destination: &Destination,
    opened: &Opened,
    progress: &Arc<Progress>,
) -> Result<Batch, Failure> {
    let sink = opened.destination(&destination.to, false).await?;
    let options =
        Options { if_exists: destination.if_exists, verify: !destination.no_verify, extract: destination.extract };
    Ok(Batch::new(client.clone(), sink, options).observed(progress.clone()))
}

/// Runs the jobs, `concurrency` at a time, reporting each as it ends; with `fail_fast`, stops at
/// the first failure (transfers in flight are abandoned, which discards their partial uploads).
/// A destination that cannot be written to ends the run (it is checked before the first
/// transfer: a run with nothing to fetch writes nothing).
async fn deliver(
    batch: &Batch,
    jobs: Vec<Job>,
    concurrency: usize,
    fail_fast: bool,
    report: &mut Report,
    progress: &Progress,
) -> Result<(), Failure> {
    let mut done = batch.run(jobs, concurrency);
    while let Some(done) = done.next().await {
        if let Err(error @ wyvern_transfer::Error::Destination { .. }) = done.result {
            return Err(error.into());
        }
        progress.one_done();
        report.finished(&done);
        if fail_fast && done.result.is_err() {
            break;
        }
    }
    Ok(())
}
