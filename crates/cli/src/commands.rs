//! The commands, from validated settings to results on stdout and a documented exit code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::CommandFactory;
use indicatif::HumanBytes;
use serde::Serialize;
use url::Url;
use wyvern_core::{Client, DeliverableId, Error as ApiError, Order, OrderId, OrderStatus};
use wyvern_sinks::{LocalSink, ObjectPath, Sink};

use crate::args::{AuthCommand, Cli, Command, DeliverableCommand, Destination, OrderCommand};
use crate::error::{self, Exit, Hint};
use crate::progress::Progress;
use crate::transfer::{self, Job, Outcome, Receipt};
use crate::{auth, settings};

pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let anonymous = settings::client(&cli, None)?;
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "wyvern", &mut std::io::stdout());
            return Ok(Exit::Success);
        }
        Command::Auth(AuthCommand::Login { username }) => {
            let path = auth::login(&anonymous, username.clone()).await?;
            eprintln!("logged in to {}; token stored in {}", anonymous.base_url(), path.display());
            return Ok(Exit::Success);
        }
        Command::Auth(AuthCommand::Logout) => {
            let removed = auth::logout(&anonymous)?;
            eprintln!("{} for {}", if removed { "token forgotten" } else { "no stored token" }, anonymous.base_url());
            return Ok(Exit::Success);
        }
        _ => {}
    }
    let token = auth::resolve(cli.token_file.as_deref(), &anonymous).await?.ok_or(ApiError::MissingToken)?;
    let client = settings::client(&cli, Some(token))?;
    let out = Output { json: cli.json, quiet: cli.quiet };
    match &cli.command {
        Command::Order(OrderCommand::Show { order_id }) => {
            let order = client.order(order_id).await.with_context(|| format!("fetching order {order_id}"))?;
            out.order(&order)?;
            Ok(Exit::Success)
        }
        Command::Order(OrderCommand::Wait { order_id, interval, timeout }) => {
            wait(&client, &out, order_id, *interval, *timeout).await
        }
        Command::Order(OrderCommand::Download { order_ids, destination }) => {
            let sink = local_sink(destination);
            let mut batch = Batch::new(&client, sink, destination, out);
            for order_id in order_ids {
                batch.order(order_id).await;
            }
            Ok(batch.exit())
        }
        Command::Deliverable(DeliverableCommand::Download { deliverables, destination }) => {
            let sink = local_sink(destination);
            let mut batch = Batch::new(&client, sink, destination, out);
            for target in deliverables {
                match deliverable_id(&client, target) {
                    Ok(id) => {
                        let path = ObjectPath::parse(&format!("{id}.zip"))?;
                        batch.fetch(Job { order_id: None, deliverable_id: id, path }).await;
                    }
                    Err(e) => batch.fail(None, None, e),
                }
            }
            Ok(batch.exit())
        }
        Command::Completions { .. } | Command::Auth(_) => unreachable!("handled above"),
    }
}

fn local_sink(destination: &Destination) -> Arc<dyn Sink> {
    Arc::new(LocalSink::new(&destination.to))
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
    out: &Output,
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
        if state != last && !out.quiet {
            eprintln!("order {id}: {state}");
            last = state;
        }
        let completed = order.status == Some(OrderStatus::Completed);
        if order.is_ready() && completed {
            out.order(&order)?;
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
            return Err(not_ready())
                .context(format!("gave up waiting after {}", humantime::format_duration(started.elapsed())));
        }
        tokio::time::sleep(remaining.map_or(interval, |r| r.min(interval))).await;
    }
}

/// Downloads into one sink, reporting each deliverable and remembering the failures.
struct Batch<'a> {
    client: &'a Client,
    sink: Arc<dyn Sink>,
    root: &'a Path,
    if_exists: crate::args::IfExists,
    out: Output,
    progress: Progress,
    failures: Vec<Exit>,
}

impl<'a> Batch<'a> {
    fn new(client: &'a Client, sink: Arc<dyn Sink>, destination: &'a Destination, out: Output) -> Self {
        Self {
            client,
            sink,
            root: &destination.to,
            if_exists: destination.if_exists,
            progress: Progress::new(out.quiet),
            out,
            failures: Vec::new(),
        }
    }

    async fn order(&mut self, order_id: &OrderId) {
        let order = match self.client.ready_order(order_id).await {
            Ok(order) => order,
            Err(e) => return self.fail(Some(order_id), None, e.into()),
        };
        let deliverables = order.deliverables();
        if deliverables.is_empty() {
            tracing::warn!(order = %order_id, "the order is fulfilled but lists no deliverable links");
        }
        for deliverable in deliverables {
            let path = ObjectPath::parse(&format!("{order_id}/{}.zip", deliverable.id)).expect("ids are path-safe");
            self.fetch(Job { order_id: Some(order_id.clone()), deliverable_id: deliverable.id, path }).await;
        }
    }

    async fn fetch(&mut self, job: Job) {
        let destination = job.path.segments().fold(self.root.to_path_buf(), |p, s| p.join(s)).display().to_string();
        match transfer::fetch(self.client, &self.sink, &job, self.if_exists, &self.progress).await {
            Ok(Outcome::Downloaded(receipt)) => self.out.result("downloaded", &destination, &receipt),
            Ok(Outcome::Skipped(receipt)) => self.out.result("skipped", &destination, &receipt),
            Err(e) => self.fail(job.order_id.as_ref(), Some((&job.deliverable_id, destination)), e),
        }
    }

    fn fail(
        &mut self,
        order_id: Option<&OrderId>,
        deliverable: Option<(&DeliverableId, String)>,
        error: anyhow::Error,
    ) {
        self.failures.push(Exit::of(&error));
        if self.out.json {
            let line = Line {
                order_id: order_id.map(OrderId::as_str),
                deliverable_id: deliverable.as_ref().map(|(id, _)| id.as_str()),
                destination: deliverable.as_ref().map(|(_, d)| d.as_str()),
                status: "failed",
                bytes: None,
                sha256: None,
                verified: false,
                error: Some(error::one_line(&error)),
            };
            print_json(&line);
        }
        eprintln!("{}", error::render(&error));
        if let Some(hint) = error::hint_for(&error) {
            eprintln!("hint: {hint}");
        }
    }

    fn exit(self) -> Exit {
        Exit::combine(self.failures)
    }
}

/// One `--json` line per deliverable.
#[derive(Serialize)]
struct Line<'a> {
    order_id: Option<&'a str>,
    deliverable_id: Option<&'a str>,
    destination: Option<&'a str>,
    status: &'static str,
    bytes: Option<u64>,
    sha256: Option<&'a str>,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn print_json(value: &impl Serialize) {
    // Serialising our own types cannot fail.
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}

#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    fn result(&self, status: &'static str, destination: &str, receipt: &Receipt) {
        if self.json {
            print_json(&Line {
                order_id: receipt.order_id.as_deref(),
                deliverable_id: Some(&receipt.deliverable_id),
                destination: Some(destination),
                status,
                bytes: Some(receipt.bytes),
                sha256: Some(&receipt.sha256),
                verified: receipt.verified,
                error: None,
            });
        } else if !self.quiet {
            println!(
                "{status:<10} {destination} ({}, sha256 {}, verified)",
                HumanBytes(receipt.bytes),
                &receipt.sha256[..16]
            );
        }
    }

    fn order(&self, order: &Order) -> anyhow::Result<()> {
        if self.json {
            print_json(order);
            return Ok(());
        }
        let none = || "-".to_owned();
        println!("order         {}", order.id);
        println!("status        {}", order.status.as_ref().map_or_else(none, ToString::to_string));
        println!("reason        {}", order.reason_code.as_ref().map_or_else(none, ToString::to_string));
        println!("product       {}", order.product_id.clone().unwrap_or_else(none));
        println!("window        {}", order.datetime.clone().unwrap_or_else(none));
        let deliverables = order.deliverables();
        println!("deliverables  {}", deliverables.len());
        for deliverable in deliverables {
            println!("  {}  {}", deliverable.id, deliverable.href);
        }
        Ok(())
    }
}
