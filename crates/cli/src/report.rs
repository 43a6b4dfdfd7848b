//! What the commands print: results on stdout (a line each, or `--json` objects), notes and
//! errors on stderr, and the tally behind the exit code and the sync summary.

use indicatif::HumanBytes;
use serde::Serialize;
use wyvern_core::{DeliverableId, Order, OrderId, printable};

use wyvern_transfer::catalog::Refreshed;
use wyvern_transfer::{Action, Done, Outcome, Planned, Shard};

use crate::error::{self, Exit};
use crate::output::{self, errln, outln};

/// Counts for the summary.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Tally {
    pub downloaded: u64,
    pub skipped: u64,
    pub not_ready: u64,
    pub failed: u64,
    /// Bytes downloaded in this run (skipped deliverables not counted).
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Report {
    json: bool,
    quiet: bool,
    tally: Tally,
    failures: Vec<Exit>,
    /// With `sync --plan`: deliverables to fetch and to skip.
    planned: (u64, u64),
}

/// One `sync --plan --json` line per deliverable.
#[derive(Serialize)]
struct PlanLine<'a> {
    order_id: Option<&'a str>,
    deliverable_id: &'a str,
    destination: &'a str,
    /// `fetch` or `skip`.
    action: &'static str,
    /// Of a deliverable to skip: its size at the destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
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
    /// `null` on a skipped line whose receipt was not read (see `from_receipt`).
    verified: Option<bool>,
    /// On a skipped line: the SHA-256 and the verdict are the receipt's, not a new reading of
    /// the file (a skip decided from a listing reads no receipt: they are `null` then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    from_receipt: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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

impl Report {
    pub fn new(json: bool, quiet: bool) -> Self {
        Self { json, quiet, tally: Tally::default(), failures: Vec::new(), planned: (0, 0) }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// A note for people, on stderr.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            errln!("{}", printable(text));
        }
    }

    pub fn order(&self, order: &Order) {
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

    /// How one deliverable of a batch ended.
    pub fn finished(&mut self, done: &Done) {
        let (order, deliverable) = (done.job.order_id.as_ref(), &done.job.deliverable_id);
        match &done.result {
            Ok(outcome) => self.done(order, deliverable, &done.destination, outcome),
            Err(e) => self.failed(order, Some(deliverable), Some(&done.destination), e),
        }
    }

    fn done(&mut self, order: Option<&OrderId>, deliverable: &DeliverableId, destination: &str, outcome: &Outcome) {
        let (receipt, bytes) = (outcome.receipt(), outcome.bytes());
        let skipped = matches!(outcome, Outcome::Skipped(_));
        if skipped {
            self.tally.skipped += 1;
        } else {
            self.tally.downloaded += 1;
            self.tally.bytes += bytes;
        }
        let status = outcome.status();
        let warnings = receipt.map_or(&[][..], |r| &r.warnings[..]);
        if self.json {
            output::json(&Line {
                order_id: order.map(OrderId::as_str),
                deliverable_id: Some(deliverable.as_str()),
                destination: Some(destination),
                status,
                bytes: Some(bytes),
                sha256: receipt.map(|r| r.sha256.as_str()),
                verified: receipt.map(|r| r.verified),
                from_receipt: skipped && receipt.is_some(),
                warnings,
                error: None,
            });
        } else if !self.quiet {
            let size = HumanBytes(bytes);
            match receipt {
                Some(receipt) => {
                    let sha = &receipt.sha256[..16.min(receipt.sha256.len())];
                    let verified = if receipt.verified { "verified" } else { "not verified" };
                    let source = if skipped { " per its receipt" } else { "" };
                    outln!("{status:<10} {destination} ({size}, sha256 {sha}, {verified}{source})");
                }
                None => outln!("{status:<10} {destination} ({size}, listed with its receipt)"),
            }
        }
        if !self.quiet && !skipped {
            print_warnings(warnings);
        }
    }

    pub fn not_ready(&mut self, order: &OrderId, why: &wyvern_transfer::Error) {
        self.tally.not_ready += 1;
        if self.json {
            output::json(&Line {
                order_id: Some(order.as_str()),
                deliverable_id: None,
                destination: None,
                status: "not_ready",
                bytes: None,
                sha256: None,
                verified: Some(false),
                from_receipt: false,
                warnings: &[],
                error: None,
            });
        } else if !self.quiet {
            outln!("not ready  {}", printable(&why.to_string()));
        }
    }

    pub fn failed(
        &mut self,
        order: Option<&OrderId>,
        deliverable: Option<&DeliverableId>,
        destination: Option<&str>,
        error: &wyvern_transfer::Error,
    ) {
        self.tally.failed += 1;
        self.failures.push(Exit::of(error));
        if self.json {
            output::json(&Line {
                order_id: order.map(OrderId::as_str),
                deliverable_id: deliverable.map(DeliverableId::as_str),
                destination,
                status: "failed",
                bytes: None,
                sha256: None,
                verified: Some(false),
                from_receipt: false,
                warnings: &[],
                error: Some(wyvern_transfer::error_line(error)),
            });
        }
        error::print(error, error.hint());
    }

    /// The closing summary of `sync`.
    pub fn summary(&self) {
        let t = self.tally;
        if self.json {
            #[derive(Serialize)]
            struct Summary {
                summary: Tally,
            }
            output::json(&Summary { summary: t });
        } else if !self.quiet {
            outln!(
                "sync: {} downloaded ({}), {} skipped, {} not ready, {} failed",
                t.downloaded,
                HumanBytes(t.bytes),
                t.skipped,
                t.not_ready,
                t.failed
            );
        }
    }

    /// What `sync --plan` found for one deliverable.
    pub fn planned(&mut self, planned: &Planned) {
        let (job, destination) = (&planned.job, planned.destination.as_str());
        let (action, bytes) = match &planned.action {
            Ok(Action::Fetch) => ("fetch", None),
            Ok(Action::Skip(present)) => ("skip", Some(present.bytes)),
            Err(e) => return self.failed(job.order_id.as_ref(), Some(&job.deliverable_id), Some(destination), e),
        };
        if action == "fetch" {
            self.planned.0 += 1;
        } else {
            self.planned.1 += 1;
        }
        if self.json {
            output::json(&PlanLine {
                order_id: job.order_id.as_ref().map(OrderId::as_str),
                deliverable_id: job.deliverable_id.as_str(),
                destination,
                action,
                bytes,
            });
        } else if !self.quiet {
            match bytes {
                Some(bytes) => outln!("{action:<10} {destination} ({}, there)", HumanBytes(bytes)),
                None => outln!("{action:<10} {destination}"),
            }
        }
    }

    /// The closing summary of `sync --plan`.
    pub fn plan_summary(&self) {
        let ((fetch, skip), t) = (self.planned, self.tally);
        if self.json {
            let line = serde_json::json!({
                "plan": { "fetch": fetch, "skip": skip, "not_ready": t.not_ready, "failed": t.failed }
            });
            output::json(&line);
        } else if !self.quiet {
            outln!("plan: {fetch} to fetch, {skip} to skip, {} not ready, {} failed", t.not_ready, t.failed);
        }
    }

    /// What a catalog refresh did (`wyvern catalog`, `sync --catalog`); a shard's refresh wrote
    /// items only.
    pub fn catalog(&self, location: &str, refreshed: &Refreshed, shard: Option<Shard>) {
        let root = format!("{}/{}", location.trim_end_matches('/'), wyvern_transfer::catalog::CATALOG);
        for left in &refreshed.left_out {
            errln!("warning: {} is left out of the catalog: {}", left.deliverable, printable(&left.reason));
        }
        for warning in &refreshed.warnings {
            errln!("warning: {}: {}", warning.deliverable, printable(&warning.reason));
        }
        if self.json {
            let mut line = serde_json::to_value(refreshed).unwrap_or_default();
            line["root"] = serde_json::json!(shard.is_none().then_some(&root));
            output::json(&serde_json::json!({ "catalog": line }));
        } else if !self.quiet {
            let (written, kept) = (refreshed.items_written, refreshed.items_kept);
            match shard {
                Some(shard) => outln!(
                    "catalog: items written {written}, up to date {kept} (shard {shard}: run `wyvern catalog {location}` \
                     after the last shard to link them)"
                ),
                None => outln!(
                    "catalog: items written {written}, up to date {kept}, catalogs written {}: {root}",
                    refreshed.catalogs_written
                ),
            }
        }
    }

    /// The HTML page `wyvern report` wrote.
    pub fn page(&self, path: &std::path::Path, written: wyvern_transfer::html::Written) {
        if self.json {
            let line = serde_json::json!({ "report": {
                "path": path.display().to_string(),
                "deliverables": written.deliverables,
                "thumbnails": written.thumbnails,
            }});
            output::json(&line);
        } else if !self.quiet {
            outln!(
                "report: deliverables {}, with a thumbnail {}: {}",
                written.deliverables,
                written.thumbnails,
                path.display()
            );
        }
    }

    /// One deliverable an audit (`verify DEST`) read again.
    pub fn audited(&mut self, audited: &wyvern_transfer::Audited) {
        let (order, deliverable) = (audited.order_id.as_deref(), audited.deliverable_id.as_str());
        let destination = audited.destination.as_str();
        let shown = printable(destination);
        match &audited.result {
            Ok((bytes, sha256)) => {
                self.tally.downloaded += 1;
                self.tally.bytes += bytes;
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
                self.tally.failed += 1;
                self.failures.push(Exit::of(error));
                if self.json {
                    output::json(&serde_json::json!({
                        "order_id": order, "deliverable_id": deliverable, "destination": destination,
                        "status": "failed", "error": wyvern_transfer::error_line(error),
                    }));
                }
                error::print_about(&format!("{shown}: "), error, error.hint());
            }
        }
    }

    /// The closing summary of an audit.
    pub fn audit_summary(&self) {
        let t = self.tally;
        if self.json {
            output::json(
                &serde_json::json!({ "audit": { "verified": t.downloaded, "failed": t.failed, "bytes": t.bytes } }),
            );
        } else if !self.quiet {
            outln!("verify: {} verified ({}), {} failed", t.downloaded, HumanBytes(t.bytes), t.failed);
        }
    }

    pub fn exit(&self) -> Exit {
        Exit::combine(self.failures.iter().copied())
    }
}

impl Report {
    /// The result of `inspect` or `verify`.
    pub fn inspection(&self, inspection: &wyvern_unpack::Inspection) {
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
        // Every text below comes from the zip: escaped.
        let show = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), |v| printable(v).into_owned());
        for item in &i.items {
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
        for r in &i.rasters {
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
}
