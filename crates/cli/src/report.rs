//! What the commands print: results on stdout (a line each, or `--json` objects: a sync's
//! events as the library serialises them), notes and errors on stderr.

use indicatif::HumanBytes;
use wyvern_core::{Order, printable};
use wyvern_transfer::{CatalogLine, CatalogRefresh, Error, Event, Line, PlanLine, Polled, Status, Summary};

use crate::commands::AuditTally;
use crate::error;
use crate::output::{self, errln, outln};
use crate::progress::Progress;

/// Prints what the commands produce, as lines for people or `--json` objects.
#[derive(Debug)]
pub(crate) struct Report {
    json: bool,
    quiet: bool,
    /// `sync --watch`: what changes nothing (skips, orders not ready, quiet rounds) goes to the
    /// log (`-v`), not to stdout.
    watching: bool,
    /// What a line calls a deliverable delivered: "downloaded", or "extracted" from a local zip.
    delivered: &'static str,
}

/// The STAC bands' scale, offset and nodata in one line: one value when every band agrees, else
/// the first band's and "varies".
fn band_values(bands: &[wyvern_unpack::Band]) -> Option<String> {
    let same = |get: &dyn Fn(&wyvern_unpack::Band) -> Option<String>| {
        let first = get(bands.first()?)?;
        Some(if bands.iter().all(|b| get(b).as_ref() == Some(&first)) { first } else { format!("{first} (varies)") })
    };
    let parts: Vec<String> = [
        ("scale", same(&|b| b.scale.map(|v| v.to_string()))),
        ("offset", same(&|b| b.offset.map(|v| v.to_string()))),
        ("nodata", same(&|b| b.nodata.as_ref().map(ToString::to_string))),
        ("type", same(&|b| b.data_type.clone())),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(format!("{name} {}", value?)))
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Verification's warnings, on stderr: what could not be checked, or only weakly.
fn print_warnings(warnings: impl IntoIterator<Item = impl AsRef<str>>) {
    for warning in warnings {
        errln!("warning: {}", printable(warning.as_ref()));
    }
}

/// What an error or a warning is about, as its first words: the deliverable and its order (the
/// order alone when it is an order's), the ids `message` names already left out.
fn about(deliverable: Option<&str>, order: Option<&str>, message: &str) -> String {
    let unnamed = (deliverable.filter(|id| !message.contains(id)), order.filter(|id| !message.contains(id)));
    match unnamed {
        (Some(deliverable), Some(order)) => format!("deliverable {deliverable} (order {order}): "),
        (Some(deliverable), None) => format!("deliverable {deliverable}: "),
        (None, Some(order)) if deliverable.is_none() => format!("order {order}: "),
        _ => String::new(),
    }
}

/// [`about()`] a line of a sync.
fn about_line(line: &Line, message: &str) -> String {
    about(line.deliverable_id.as_deref(), line.order_id.as_deref(), message)
}

impl Report {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        Self { json, quiet, watching: false, delivered: Status::Downloaded.as_str() }
    }

    /// The report of `extract`: what it delivers is "extracted" (its `--json` line's status stays
    /// the engine's `downloaded`).
    pub(crate) fn extracting(self) -> Self {
        Self { delivered: "extracted", ..self }
    }

    /// The report of `sync --watch` (when `watching`).
    pub(crate) fn watching(self, watching: bool) -> Self {
        Self { watching, ..self }
    }

    pub(crate) fn quiet(&self) -> bool {
        self.quiet
    }

    /// A note for people, on stderr.
    pub(crate) fn note(&self, text: &str) {
        if !self.quiet {
            errln!("{}", printable(text));
        }
    }

    /// An order of `order list`: a line, or its `order show --json` object.
    pub(crate) fn listed(&self, order: &Order) {
        if self.json {
            return output::json(order);
        }
        let show = |text: Option<String>| text.map_or_else(|| "-".to_owned(), |t| printable(&t).into_owned());
        let status = show(order.status.as_ref().map(ToString::to_string));
        let reason = show(order.reason_code.as_ref().map(ToString::to_string));
        let deliverables = wyvern_core::counted(order.deliverables().len() as u64, "deliverable", "deliverables");
        outln!("{}  {status:<11} {reason:<19} {deliverables:<15} {}", order.id, show(order.datetime.clone()));
    }

    pub(crate) fn order(&self, order: &Order) {
        if self.json {
            return output::json(order);
        }
        // Server text, printed with its control characters escaped.
        let show = |text: Option<String>| text.map_or_else(|| "-".to_owned(), |t| printable(&t).into_owned());
        outln!("order         {}", order.id);
        outln!("status        {}", show(order.status.as_ref().map(ToString::to_string)));
        outln!("reason        {}", show(order.reason_code.as_ref().map(ToString::to_string)));
        outln!("product       {}", show(order.product_id.clone()));
        outln!("window        {}", show(order.datetime.clone()));
        let deliverables = order.deliverables();
        outln!("deliverables  {}", deliverables.len());
        for deliverable in deliverables {
            outln!("  {}  {}", deliverable.id, deliverable.href);
        }
    }

    /// An event of a sync (or of a download, an extraction): `--json` prints its serialisation,
    /// people get a line. `overall`: a `sync`, with an overall progress line and a summary.
    pub(crate) fn event(&self, event: &Event, progress: &Progress, overall: bool) {
        match event {
            Event::Queued(queued) if overall => progress.begin(queued.queued),
            Event::Queued(_) | Event::Started(_) | Event::Progressed(_) => {}
            Event::Delivered(line) | Event::Skipped(line) | Event::Failed(line) | Event::NotReady(line) => {
                if line.destination.is_some() {
                    progress.one_done();
                }
                match line.status {
                    Status::Skipped | Status::NotReady if self.watching && !self.json => {
                        tracing::info!(
                            "{} {}",
                            line.status.as_str(),
                            line.destination.as_deref().or(line.order_id.as_deref()).unwrap_or("-")
                        );
                    }
                    _ => self.line(line),
                }
            }
            Event::HookFailed(line) => {
                if self.json {
                    output::json(line);
                }
                let about = about(Some(&line.hook_failed), line.order_id.as_deref(), "");
                error::print_about(&about, &line.failure, error::hint(&line.failure));
            }
            Event::Polled(polled) => self.polled(polled),
            Event::Planned(planned) => self.planned(planned),
            Event::Catalog(line) => self.catalog(&line.catalog),
            Event::Summary(summary) => {
                if overall {
                    progress.end();
                    let quiet_round = summary.summary.is_some_and(|t| t.downloaded + t.failed + t.hooks_failed == 0);
                    if self.watching && quiet_round && !self.json {
                        tracing::info!("round done: nothing new");
                    } else {
                        self.summary(summary);
                    }
                }
            }
        }
    }

    /// How a deliverable (or an order) ended.
    fn line(&self, line: &Line) {
        if self.json {
            output::json(line);
        }
        if let Some(error) = &line.failure {
            if line.status == Status::NotReady {
                if !self.json && !self.quiet {
                    // An order that will never be fulfilled is not called "not ready".
                    let ended = matches!(error, Error::Api(api) if api.ended().is_some());
                    let label = if ended { "ended" } else { "not ready" };
                    outln!("{label:<10} {}", printable(&error.to_string()));
                }
            } else {
                error::print_about(&about_line(line, &error.to_string()), error, error::hint(error));
            }
            return;
        }
        if self.quiet {
            return;
        }
        let skipped = line.status == Status::Skipped;
        if !self.json {
            let status = if line.status == Status::Downloaded { self.delivered } else { line.status.as_str() };
            let destination = line.destination.as_deref().unwrap_or("-");
            let size = HumanBytes(line.bytes.unwrap_or(0));
            match &line.sha256 {
                // One form for every skip, whether its receipt was read or its listing vouched.
                _ if skipped => outln!("{status:<10} {destination} ({size}, already there per its receipt)"),
                Some(sha) => {
                    let sha = &sha[..16.min(sha.len())];
                    let verified = if line.verified == Some(true) { "verified" } else { "not verified" };
                    outln!("{status:<10} {destination} ({size}, sha256 {sha}, {verified})");
                }
                None => outln!("{status:<10} {destination} ({size})"),
            }
        }
        if !skipped {
            let about = about_line(line, "");
            print_warnings(line.warnings.iter().map(|warning| format!("{about}{warning}")));
        }
    }

    /// The end of a round of `sync --watch`: a warning when it failed, else a log line.
    fn polled(&self, polled: &Polled) {
        if self.json {
            output::json(polled);
        }
        let next = humantime::format_duration(std::time::Duration::from_secs(polled.next_in_s.round() as u64));
        match &polled.error {
            Some(error) if !self.quiet => {
                errln!("warning: round {} failed: {}; next round in {next}", polled.round, printable(error))
            }
            Some(_) => {}
            None => tracing::info!("round {} done; next round in {next}", polled.round),
        }
    }

    /// The closing summary of `sync` (or of `sync --plan`).
    fn summary(&self, summary: &Summary) {
        if self.json {
            // A plan's keys sorted, as its line has always had them.
            return match summary.plan {
                Some(_) => output::json(&serde_json::to_value(summary).unwrap_or_default()),
                None => output::json(summary),
            };
        }
        if self.quiet {
            return;
        }
        if let Some(t) = summary.summary {
            outln!(
                "sync: {} downloaded ({}), {} skipped, {} not ready, {} failed",
                t.downloaded,
                HumanBytes(t.bytes),
                t.skipped,
                t.not_ready,
                t.failed
            );
        }
        if let Some(t) = summary.plan {
            outln!("plan: {} to fetch, {} to skip, {} not ready, {} failed", t.fetch, t.skip, t.not_ready, t.failed);
        }
    }

    /// What `sync --plan` found for one deliverable.
    fn planned(&self, planned: &PlanLine) {
        if self.json {
            return output::json(planned);
        }
        if self.quiet {
            return;
        }
        let (action, destination) = (planned.action, &planned.destination);
        match planned.bytes {
            Some(bytes) => outln!("{action:<10} {destination} ({}, there)", HumanBytes(bytes)),
            None => outln!("{action:<10} {destination}"),
        }
    }

    /// What a catalog refresh did (`wyvern catalog`, `sync --catalog`); a shard's refresh wrote
    /// items only.
    fn catalog(&self, catalog: &CatalogRefresh) {
        let refreshed = &catalog.refreshed;
        for left in &refreshed.left_out {
            errln!("warning: {} is left out of the catalog: {}", left.deliverable, printable(&left.reason));
        }
        for warning in &refreshed.warnings {
            errln!("warning: {}: {}", warning.deliverable, printable(&warning.reason));
        }
        if self.json {
            // Keys sorted, as the line has always had them.
            return output::json(&serde_json::to_value(CatalogLine { catalog: catalog.clone() }).unwrap_or_default());
        }
        if self.quiet {
            return;
        }
        let (written, kept, location) = (refreshed.items_written, refreshed.items_kept, &catalog.location);
        match (catalog.shard, &catalog.root) {
            (Some(shard), _) => outln!(
                "catalog: items written {written}, up to date {kept} (shard {shard}: run `wyvern catalog {location}` \
                 after the last shard to link them)"
            ),
            (None, root) => outln!(
                "catalog: items written {written}, up to date {kept}, catalogs written {}: {}",
                refreshed.catalogs_written,
                root.as_deref().unwrap_or("-")
            ),
        }
    }

    /// The HTML page `wyvern report` wrote.
    pub(crate) fn page(&self, path: &std::path::Path, written: wyvern_transfer::html::Written) {
        if self.json {
            let line = serde_json::json!({ "report": {
                "path": path.display().to_string(),
                "deliverables": written.deliverables,
                "thumbnails": written.thumbnails,
            }});
            output::json(&line);
        } else if !self.quiet {
            outln!(
                "report: {}, {} with a thumbnail: {}",
                wyvern_core::counted(written.deliverables as u64, "deliverable", "deliverables"),
                written.thumbnails,
                path.display()
            );
        }
    }

    /// One deliverable an audit (`verify DEST`) read again.
    pub(crate) fn audited(&self, audited: &wyvern_transfer::Audited) {
        let (order, deliverable) = (audited.order_id.as_deref(), audited.deliverable_id.as_str());
        let destination = audited.destination.as_str();
        let shown = printable(destination);
        match &audited.result {
            Ok((bytes, sha256)) => {
                if self.json {
                    output::json(&serde_json::json!({
                        "order_id": order, "deliverable_id": deliverable, "destination": destination,
                        "status": "verified", "bytes": bytes, "sha256": sha256,
                    }));
                } else if !self.quiet {
                    let what = match sha256 {
                        Some(sha) => format!("sha256 {}, as its receipt says", &sha[..16.min(sha.len())]),
                        None => "every file as its STAC item says".to_owned(),
                    };
                    outln!("{:<10} {shown} ({}, {what})", "verified", HumanBytes(*bytes));
                }
            }
            Err(error) => {
                if self.json {
                    output::json(&serde_json::json!({
                        "order_id": order, "deliverable_id": deliverable, "destination": destination,
                        "status": "failed", "error": wyvern_transfer::error_line(error),
                    }));
                }
                error::print_about(&format!("{shown}: "), error, error::hint(error));
            }
        }
    }

    /// The closing summary of an audit.
    pub(crate) fn audit_summary(&self, t: &AuditTally) {
        if self.json {
            output::json(
                &serde_json::json!({ "audit": { "verified": t.verified, "failed": t.failed, "bytes": t.bytes } }),
            );
        } else if !self.quiet {
            outln!("verify: {} verified ({}), {} failed", t.verified, HumanBytes(t.bytes), t.failed);
        }
    }
}

impl Report {
    /// The result of `inspect` or `verify`.
    pub(crate) fn inspection(&self, inspection: &wyvern_unpack::Inspection) {
        if self.json {
            return output::json(inspection);
        }
        if self.quiet {
            return;
        }
        let i = inspection;
        outln!("zip       {} ({})", printable(&i.source), HumanBytes(i.bytes));
        outln!("members   {}", i.entries.len());
        for e in &i.entries {
            let kind =
                serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            outln!("  {kind:<10} {:>12}  {}  {}", HumanBytes(e.size).to_string(), e.crc32, printable(&e.name));
        }
        i.items.iter().for_each(print_item);
        i.rasters.iter().for_each(print_raster);
        print_verdict(i);
    }
}

/// A STAC item's facts. Every text comes from the zip: escaped.
fn print_item(item: &wyvern_unpack::Item) {
    let show = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), |v| printable(v).into_owned());
    outln!("item      {}", show(&item.id));
    outln!("  datetime     {}", show(&item.datetime));
    outln!("  platform     {}", show(&item.platform));
    outln!("  level        {}", show(&item.processing_level));
    outln!("  cloud cover  {}", item.cloud_cover.map_or_else(|| "-".to_owned(), |c| format!("{c}%")));
    outln!("  bbox         {}", item.bbox.as_ref().map_or_else(|| "-".to_owned(), |b| format!("{b:?}")));
    outln!(
        "  shape        {}",
        item.shape.as_ref().map_or_else(|| "-".to_owned(), |s| format!("{s:?} (rows, columns)"))
    );
    outln!("  projection   {}", show(&item.proj_code));
    let bands: Vec<String> = item
        .bands
        .iter()
        .map(|b| match (b.name.as_deref().map(printable), b.wavelength_um) {
            (Some(name), Some(um)) => format!("{name} ({um} µm)"),
            (Some(name), None) => name.into_owned(),
            (None, Some(um)) => format!("{um} µm"),
            (None, None) => "?".to_owned(),
        })
        .collect();
    outln!("  bands        {}: {}", bands.len(), bands.join(", "));
    if let Some(line) = band_values(&item.bands) {
        outln!("  values       {}", printable(&line));
    }
}

/// A GeoTIFF's header.
fn print_raster(r: &wyvern_unpack::Raster) {
    outln!(
        "raster    {}\n  {} x {}, {} band{} of {}, EPSG:{}, nodata {}, {} compression{}, {} {}x{}, \
                 {} interleave, {} overview(s){}{}",
        printable(&r.name),
        r.width,
        r.height,
        r.bands,
        if r.bands == 1 { "" } else { "s" },
        r.data_type,
        r.epsg.map_or_else(|| "?".to_owned(), |e| e.to_string()),
        printable(r.nodata.as_deref().unwrap_or("-")),
        r.compression,
        if r.predictor == "none" { String::new() } else { format!(" ({} predictor)", r.predictor) },
        if r.tiled { "tiled" } else { "stripped" },
        r.block[0],
        r.block[1],
        r.interleave,
        r.overviews.map_or_else(|| "?".to_owned(), |o| o.to_string()),
        if r.bigtiff { ", BigTIFF" } else { "" },
        match (r.scale, r.offset) {
            (None, None) => String::new(),
            (scale, offset) => format!(", scale {} offset {}", scale.unwrap_or(1.0), offset.unwrap_or(0.0)),
        },
    );
}

/// What is wrong, what could not be checked, and how much was read.
fn print_verdict(i: &wyvern_unpack::Inspection) {
    if i.problems.is_empty() {
        let verdict = if i.verified {
            "none: every member matches its CRC-32 and the STAC metadata"
        } else {
            "none seen (headers only; `wyvern verify` reads every byte)"
        };
        outln!("problems  {verdict}");
    } else {
        outln!("problems  {}", i.problems.len());
        for p in &i.problems {
            outln!("  {} [{}]: {}", printable(&p.member), p.check, printable(&p.message));
        }
    }
    if !i.warnings.is_empty() {
        outln!("warnings  {}", i.warnings.len());
        for w in &i.warnings {
            outln!("  {} [{}]: {}", printable(&w.member), w.check, printable(&w.message));
        }
    }
    if let Some(read) = i.bytes_read {
        let share = if i.bytes > 0 { read as f64 * 100.0 / i.bytes as f64 } else { 0.0 };
        outln!("read      {} of {} ({share:.2}%)", HumanBytes(read), HumanBytes(i.bytes));
    }
}
