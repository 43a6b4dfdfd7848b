//! The commands: validated settings in, the library's work, results out through [`Report`] and
//! a documented exit code.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::CommandFactory;
use futures::{StreamExt, TryStreamExt};
use wyvern_core::{Client, Error as ApiError, OrderStatus};
use wyvern_sinks::{Registry, Sink};
use wyvern_transfer::catalog::Scope;
use wyvern_transfer::{Batch, CatalogLine, CatalogRefresh, Event, Line, Observer, Request, Wanted};

use crate::args::{AuthCommand, Cli, Command, DeliverableCommand, Destination, OrderCommand};
use crate::error::{Context as _, Exit, Failure};
use crate::metrics::Metrics;
use crate::output::errln;
use crate::progress::Progress;
use crate::report::Report;
use crate::{auth, settings};

/// The sink schemes a destination or a zip can name: the built-in ones (local disk, `s3://`,
/// `gs://`, `az://`, `file://`) and the WebDAV sink crate's (`webdav://`, `webdavs://`).
pub(crate) fn registry() -> Registry {
    Registry::with_builtins().with(wyvern_sink_webdav::register)
}

/// The sinks a command opened to write to: settled (their aborted uploads cleaned up) before
/// the process exits, even when the command itself was interrupted.
#[derive(Debug, Default)]
pub(crate) struct Opened(Mutex<Vec<Arc<dyn Sink>>>);

impl Opened {
    /// The sink `to` names (a batch checks it before its first transfer; `checked` checks it
    /// now).
    async fn destination(&self, to: &str, checked: bool) -> Result<Arc<dyn Sink>, Failure> {
        let sink = wyvern_transfer::destination(&registry(), to)?;
        if checked {
            wyvern_transfer::check_destination(&sink).await?;
        }
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(sink.clone());
        Ok(sink)
    }

    /// Ctrl-C: the downloads in flight keep their partial files (see [`Sink::interrupted`]).
    pub(crate) fn interrupted(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().for_each(|sink| sink.interrupted());
    }

    /// Waits for the clean-ups of every sink opened.
    pub(crate) async fn settle(&self) {
        let sinks = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for sink in sinks {
            sink.settle().await;
        }
    }

    /// How many partial files the sinks kept for a later run (see [`Sink::kept`]).
    pub(crate) fn kept(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|sink| sink.kept()).sum()
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

/// Runs the command; its exit code.
pub(crate) async fn run(cli: Cli, opened: &Opened) -> Result<Exit, Failure> {
    // The API's settings are read only by the commands that talk to it (a local command must
    // not fail on an API URL or a CA file it never uses).
    let anonymous = || settings::client(&cli, None, None);
    let report = Report::new(cli.json, cli.quiet);
    match &cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "wyvern", &mut script);
            crate::output::out_bytes(&script);
        }
        Command::Man { dir } => man(dir.as_deref()).await?,
        Command::Auth(AuthCommand::Login { username }) => {
            let anonymous = anonymous().await?;
            let path = auth::login(&anonymous, username.clone()).await?;
            errln!("logged in to {}; token stored in {}", anonymous.base_url(), path.display());
        }
        Command::Auth(AuthCommand::Logout) => {
            let anonymous = anonymous().await?;
            let removed = wyvern_credentials::logout(&anonymous).await?;
            errln!("{} for {}", if removed { "token forgotten" } else { "no stored token" }, anonymous.base_url());
        }
        Command::Inspect { zip, preview } => return inspect(zip, *preview, &report).await,
        Command::Verify { zip } if names_a_destination(zip) => return audit(zip, opened, &report).await,
        Command::Verify { zip } => {
            let progress = Progress::new(cli.quiet);
            let inspection = wyvern_transfer::verify(&registry(), zip, &progress).await?;
            report.inspection(&inspection);
            return Ok(if inspection.problems.is_empty() { Exit::Success } else { Exit::Verification });
        }
        Command::Catalog { dest, band_assets } => {
            let sink = opened.destination(dest, false).await?;
            let refreshed = wyvern_transfer::catalog::refresh(&sink, &Scope::All, *band_assets).await?;
            let catalog = CatalogRefresh::new(refreshed, sink.location(), None);
            report.event(&Event::Catalog(CatalogLine { catalog }), &Progress::Off, false);
        }
        Command::Report { dest, output } => {
            let sink = opened.destination(dest, false).await?;
            let written = wyvern_transfer::html::write(&sink, output).await?;
            report.page(output, written);
        }
        Command::Extract { zip, to, if_exists } => {
            let sink = opened.destination(to, true).await?;
            let progress = Progress::new(cli.quiet);
            let done = wyvern_transfer::extract(&registry(), zip, &sink, *if_exists, &progress).await?;
            return Ok(report_one(&report.extracting(), Line::from(done).into_event(), &progress));
        }
        Command::Order(command) => return order(command, &cli, &anonymous().await?, opened, report).await,
        Command::Deliverable(DeliverableCommand::Inspect { deliverable, preview }) => {
            let client = connect(&cli, &anonymous().await?, None).await?;
            return inspect_at_the_api(&client, deliverable, *preview, cli.quiet, &report).await;
        }
        Command::Deliverable(DeliverableCommand::Download { deliverables, destination }) => {
            let client = connect(&cli, &anonymous().await?, None).await?;
            let request =
                Request { hook: destination.hook(), ..Request::new(Wanted::Deliverables(deliverables.clone())) };
            return sync(&client, &request, destination, opened, report, Mode::ONCE).await;
        }
        Command::Sync(args) => {
            let client = connect(&cli, &anonymous().await?, Some(usize::from(args.max_per_host))).await?;
            let mode = Mode { overall: true, watch: args.watch.then_some(args.interval), metrics: args.metrics };
            return sync(&client, &args.request(), &args.destination, opened, report.watching(args.watch), mode).await;
        }
    }
    Ok(Exit::Success)
}

/// `wyvern order ...`.
async fn order(
    command: &OrderCommand,
    cli: &Cli,
    anonymous: &Client,
    opened: &Opened,
    report: Report,
) -> Result<Exit, Failure> {
    match command {
        OrderCommand::List => {
            let client = connect(cli, anonymous, None).await?;
            let mut pages = std::pin::pin!(client.order_pages());
            while let Some(page) = pages.try_next().await? {
                page.iter().for_each(|order| report.listed(order));
            }
            Ok(Exit::Success)
        }
        OrderCommand::Show { order_id } => {
            let client = connect(cli, anonymous, None).await?;
            let order = client.order(order_id).await?;
            report.order(&order);
            Ok(Exit::Success)
        }
        OrderCommand::Wait { order_id, interval, timeout } => {
            let client = connect(cli, anonymous, None).await?;
            let changed = |order: &wyvern_core::Order| report.note(&state_of(order));
            let order = wyvern_transfer::wait(&client, order_id, *interval, *timeout, changed).await?;
            report.order(&order);
            Ok(Exit::Success)
        }
        OrderCommand::Report { order_ids, all, output } => {
            let client = connect(cli, anonymous, None).await?;
            let ids = (!*all).then(|| order_ids.clone());
            let written = wyvern_transfer::html::write_api(&client, ids, output, &Progress::new(cli.quiet)).await?;
            report.page(output, written);
            Ok(Exit::Success)
        }
        OrderCommand::Download { order_ids, destination } => {
            let client = connect(cli, anonymous, None).await?;
            let request =
                Request { strict: true, hook: destination.hook(), ..Request::new(Wanted::Orders(order_ids.clone())) };
            sync(&client, &request, destination, opened, report, Mode::ONCE).await
        }
    }
}

/// `wyvern deliverable inspect`: `inspect` of a deliverable still at the API.
async fn inspect_at_the_api(
    client: &Client,
    deliverable: &str,
    preview: bool,
    quiet: bool,
    report: &Report,
) -> Result<Exit, Failure> {
    let id = wyvern_transfer::deliverable_id(client, deliverable)?;
    let inspection = wyvern_transfer::inspect_deliverable(client, &id, &Progress::new(quiet)).await?;
    report.inspection(&inspection);
    if preview {
        let picture = |width, height| wyvern_transfer::deliverable_thumbnail(client, &id, &inspection, width, height);
        crate::preview::show(report, picture).await;
    }
    Ok(if inspection.has_structure_problems() { Exit::Verification } else { Exit::Success })
}

/// `wyvern inspect`: content problems are listed (the data was not read); a structure that
/// readers could see differently is a failed verification.
async fn inspect(zip: &str, preview: bool, report: &Report) -> Result<Exit, Failure> {
    let inspection = wyvern_transfer::inspect(&registry(), zip).await?;
    report.inspection(&inspection);
    if preview {
        let registry = registry();
        let picture = |width, height| wyvern_transfer::thumbnail(&registry, zip, &inspection, width, height);
        crate::preview::show(report, picture).await;
    }
    Ok(if inspection.has_structure_problems() { Exit::Verification } else { Exit::Success })
}

/// `wyvern man [DIR]`: the pages of the command as `--help` shows it (clap_mangen), wyvern(1)
/// to stdout, or every page into `dir`.
async fn man(dir: Option<&std::path::Path>) -> Result<(), Failure> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::shown()).render(&mut page).context(|| "rendering the man page".to_owned())?;
        crate::output::out_bytes(&page);
        return Ok(());
    };
    let writing = || format!("writing the man pages into {}", dir.display());
    tokio::fs::create_dir_all(dir).await.context(writing)?;
    clap_mangen::generate_to(Cli::shown(), dir).context(writing)?;
    errln!("wrote wyvern.1 and a page per command into {}", dir.display());
    Ok(())
}

/// `wyvern verify DEST`: every deliverable at the destination read again.
async fn audit(destination: &str, opened: &Opened, report: &Report) -> Result<Exit, Failure> {
    let sink = opened.destination(destination, false).await?;
    let progress = Progress::new(report.quiet());
    let mut audited = wyvern_transfer::audit(&sink, &progress, AUDIT_CONCURRENCY).await?;
    let mut tally = AuditTally::default();
    while let Some(audited) = audited.next().await {
        report.audited(&audited);
        tally.add(&audited);
    }
    report.audit_summary(&tally);
    Ok(Exit::combine(tally.failures))
}

/// Renders the event of one deliverable's end; its exit code.
fn report_one(report: &Report, event: Event, progress: &Progress) -> Exit {
    report.event(&event, progress, false);
    match &event {
        Event::Failed(line) => line.failure.as_ref().map_or(Exit::Failure, Exit::of),
        _ => Exit::Success,
    }
}

/// An order's state, for `order wait`'s notes.
fn state_of(order: &wyvern_core::Order) -> String {
    let status = order.status.as_ref().map_or("unknown", OrderStatus::as_str);
    let reason = order.reason_code.as_ref().map_or("no reason yet", |r| r.as_str());
    format!("order {}: {status} ({reason})", order.id)
}

/// The client of the commands that call the API: the credentials found (see
/// [`wyvern_credentials::resolve`]), `per_host` connections to a storage host at most.
async fn connect(cli: &Cli, anonymous: &Client, per_host: Option<usize>) -> Result<Client, Failure> {
    let credentials = wyvern_credentials::resolve(cli.token_file.as_deref(), cli.password_file.as_deref(), anonymous)
        .await?
        .ok_or(ApiError::MissingToken)?;
    settings::client(cli, Some(credentials), per_host).await
}

/// What an audit (`verify DEST`) found.
#[derive(Debug, Default)]
pub(crate) struct AuditTally {
    /// Deliverables read again and found as delivered.
    pub verified: u64,
    /// Deliverables that were not.
    pub failed: u64,
    /// Bytes read again.
    pub bytes: u64,
    /// The exit codes of the failures, one per kind.
    failures: std::collections::BTreeSet<Exit>,
}

impl AuditTally {
    fn add(&mut self, audited: &wyvern_transfer::Audited) {
        match &audited.result {
            Ok((bytes, _)) => {
                self.verified += 1;
                self.bytes += bytes;
            }
            Err(error) => {
                self.failed += 1;
                self.failures.insert(Exit::of(error));
            }
        }
    }
}

/// How a sync command runs.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// A `sync`: an overall progress line, a summary line.
    overall: bool,
    /// `--watch`: a round every this long, until stopped.
    watch: Option<Duration>,
    /// `--metrics`: where to serve them.
    metrics: Option<SocketAddr>,
}

impl Mode {
    /// A download of named orders or deliverables.
    const ONCE: Self = Self { overall: false, watch: None, metrics: None };
}

/// Runs the library's sync of `request` into `--to` (once, or round after round), rendering its
/// events as they come (and counting them in the metrics); the exit code is its summary's.
async fn sync(
    client: &Client,
    request: &Request,
    destination: &Destination,
    opened: &Opened,
    report: Report,
    mode: Mode,
) -> Result<Exit, Failure> {
    let progress = Arc::new(Progress::new(report.quiet()));
    let metrics = match mode.metrics {
        Some(addr) => Some(Metrics::serve(addr).await?),
        None => None,
    };
    let observer: Arc<dyn Observer> = match &metrics {
        Some(metrics) => metrics.observer(progress.clone()),
        None => progress.clone(),
    };
    let sink = opened.destination(&destination.to, false).await?;
    let batch = Batch::new(client.clone(), sink, destination.options()).observed(observer);
    let mut events = match mode.watch {
        Some(interval) => batch.watch(request, interval),
        None => batch.sync(request),
    };
    let mut exit = Exit::Success;
    while let Some(event) = events.next().await {
        let event = event.inspect_err(|_| progress.end())?;
        if let Some(metrics) = &metrics {
            metrics.record(&event);
        }
        report.event(&event, &progress, mode.overall);
        if let Event::Summary(summary) = &event {
            exit = Exit::of_summary(summary);
        }
    }
    Ok(exit)
}
