//! One deliverable from a byte source (the API, a local zip, a zip in a bucket) to a sink:
//! streamed, hashed, verified and optionally extracted in one pass; visible under its final names
//! only when whole and verified, with a receipt beside it.
//!
//! By job: this module opens the source (a partial file continued, or not) and delivers it;
//! [`ahead`] reads a large deliverable's STAC items ahead; [`present`] decides whether it is
//! there already; [`pass`] is the verifying pass and its threads; [`extract`] writes members.

mod ahead;
mod extract;
mod pass;
mod present;
mod select;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use wyvern_core::{Chunk, Client, Download};
use wyvern_sinks::{Resumable, Sink};
use wyvern_unpack::DigestPlan;

use crate::job::{Job, Options};
use crate::observer::Observer;
use crate::receipt::{Extracted, Receipt, Selected};
use crate::{Error, Result};
pub(crate) use ahead::ApiRanges;
use pass::Pass;
pub(crate) use pass::verify;
pub(crate) use present::existing;

/// Where the bytes of a zip come from.
pub(crate) enum Source {
    /// A deliverable from the API, resumable; its first chunks may have been read already (held
    /// while its STAC items were read ahead).
    Api { download: Box<Download>, held: VecDeque<Chunk>, ended: bool },
    /// Any other byte stream (a local file, ranged reads of an object).
    Stream { chunks: BoxStream<'static, Result<Bytes>>, len: Option<u64>, name: String },
}

impl Source {
    /// A deliverable's body, nothing of it read yet.
    pub(crate) fn api(download: Download) -> Self {
        Self::Api { download: Box::new(download), held: VecDeque::new(), ended: false }
    }

    async fn next(&mut self) -> Result<Option<Chunk>> {
        match self {
            Self::Api { download, held, ended } => match held.pop_front() {
                Some(chunk) => Ok(Some(chunk)),
                None if *ended => Ok(None),
                None => Ok(download.next().await?),
            },
            Self::Stream { chunks, .. } => chunks.next().await.transpose().map(|c| c.map(Chunk::Data)),
        }
    }

    fn content_length(&self) -> Option<u64> {
        match self {
            Self::Api { download, .. } => download.content_length(),
            Self::Stream { len, .. } => *len,
        }
    }

    /// Whether a cut would show (see [`Download::framed`]).
    fn framed(&self) -> bool {
        match self {
            Self::Api { download, .. } => download.framed(),
            Self::Stream { .. } => true,
        }
    }

    /// Where the bytes come from, without query strings.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Api { download, .. } => download.source_url(),
            Self::Stream { name, .. } => name,
        }
    }
}

/// Fetches one deliverable from the API into the sink (whether it is there already is the
/// caller's question: see [`existing`]): streamed, verified (unless `options.verify` is off) and
/// published with its receipt.
pub(crate) async fn fetch(client: &Client, delivery: &Delivery<'_>) -> Result<Receipt> {
    if let Some(members) = &delivery.options.members {
        return select::fetch(client, delivery, members).await;
    }
    match fetch_once(client, delivery, Resume::IfPartial).await {
        // The partial file a killed run left failed its re-check (a power cut zeroed its tail,
        // say), or what came after it did: start over, once, without it.
        Attempt { continued: true, result: Err(error @ (Error::Corrupt { .. } | Error::ShortPartial(_))) } => {
            delivery.observer.warn(&format!(
                "deliverable {}: the partial file left by an earlier run failed its re-check ({}); downloading it again from the start",
                delivery.job.deliverable_id,
                crate::error_line(&error)
            ));
            fetch_once(client, delivery, Resume::Never).await.result
        }
        Attempt { result, .. } => result,
    }
}

/// Whether an attempt continues the partial file a killed run left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// When there is one (and the sink keeps them).
    IfPartial,
    /// Never: start from the first byte.
    Never,
}

/// How one attempt ended, and whether it continued a partial file.
struct Attempt {
    continued: bool,
    result: Result<Receipt>,
}

/// One attempt.
async fn fetch_once(client: &Client, delivery: &Delivery<'_>, resume: Resume) -> Attempt {
    let ready = open(client, delivery, resume).await;
    let continued = matches!(&ready, Ok(ready) if ready.partial.is_some());
    let result = match ready {
        Ok(ready) => delivery.deliver(ready).await,
        Err(error) => Err(error),
    };
    Attempt { continued, result }
}

/// Opens the deliverable's body: a partial file left by a killed run is continued from its last
/// byte, when the server can; the bytes already there are re-checked on the way (see
/// [`pass::pump`]).
async fn open(client: &Client, delivery: &Delivery<'_>, resume: Resume) -> Result<Ready> {
    let Delivery { sink, job, options, .. } = *delivery;
    if resume == Resume::IfPartial
        && !options.extracts()
        && let Some(partial) = sink.resume_upload(&job.path).await?
    {
        // Without verification nothing would tell the partial bytes of an older version of
        // the deliverable from the new ones: start over.
        if !options.verify {
            partial.upload.abort().await?;
            let download = client.download(&job.deliverable_id).await?;
            let etag = download.etag().map(str::to_owned);
            return Ok(Ready { source: Source::api(download), etag, partial: None, plan: DigestPlan::unknown() });
        }
        let download = client.download_from(&job.deliverable_id, partial.offset).await?;
        let etag = download.etag().map(str::to_owned);
        return match download.start_offset() {
            start if start == partial.offset => {
                tracing::info!(deliverable = %job.deliverable_id, from = start, "continuing a partial download");
                let (source, plan) = ahead::plan_ahead(client, &job.deliverable_id, download, options).await?;
                Ok(Ready { source, etag, partial: Some(partial), plan })
            }
            0 => {
                partial.upload.abort().await?;
                let (source, plan) = ahead::plan_ahead(client, &job.deliverable_id, download, options).await?;
                Ok(Ready { source, etag, partial: None, plan })
            }
            start => {
                let asked = partial.offset;
                Err(Error::Server(format!("asked to continue from byte {asked}, the server sent bytes from {start}")))
            }
        };
    }
    let download = client.download(&job.deliverable_id).await?;
    let etag = download.etag().map(str::to_owned);
    let (source, plan) = ahead::plan_ahead(client, &job.deliverable_id, download, options).await?;
    Ok(Ready { source, etag, partial: None, plan })
}

/// A source ready to deliver, with its ETag, when continuing a partial file that file, and the
/// digests its STAC items ask for.
pub(crate) struct Ready {
    pub(crate) source: Source,
    pub(crate) etag: Option<String>,
    pub(crate) partial: Option<Resumable>,
    pub(crate) plan: DigestPlan,
}

/// What a delivery works with: where it goes, how, and who watches.
#[derive(Clone, Copy)]
pub(crate) struct Delivery<'a> {
    pub(crate) sink: &'a Arc<dyn Sink>,
    pub(crate) job: &'a Job,
    pub(crate) options: &'a Options,
    pub(crate) observer: &'a dyn Observer,
}

impl Delivery<'_> {
    /// Moves a zip from its source into the sink (the zip itself, or its members with
    /// `extract`), hashing and verifying on the way, and writes the receipt.
    pub(crate) async fn deliver(&self, ready: Ready) -> Result<Receipt> {
        let Ready { mut source, etag, partial, plan } = ready;
        let (upload, replay) = match partial {
            Some(Resumable { upload, offset, partial }) => (Some(upload), Some((partial, offset))),
            None => (None, None),
        };
        let pass = Pass::start(self, source.content_length(), upload, &plan).await?;
        let pumped = pass::pump(self, &mut source, pass, replay, &plan).await?;
        let delivered = Delivered { bytes: pumped.bytes, sha256: pumped.sha256, source: source.name(), etag };
        self.record(delivered, pumped.members, &pumped.warnings).await
    }

    /// Writes the receipt of what was delivered (with `members`, the members written instead
    /// of the zip), and says so. Members chosen of which there are none are an error, before
    /// anything is written.
    async fn record(
        &self,
        delivered: Delivered<'_>,
        members: Option<Vec<wyvern_unpack::EntryReport>>,
        warnings: &[wyvern_unpack::Problem],
    ) -> Result<Receipt> {
        let (job, options) = (self.job, self.options);
        if let (Some(chosen), Some([])) = (&options.members, members.as_deref()) {
            return Err(select::none_match(&job.deliverable_id, chosen));
        }
        let extracted = members.map(|members| Extracted {
            folder: job.extract_folder().map(|f| f.to_string()).unwrap_or_default(),
            members: members.len() as u64,
            selected: options.members.as_ref().map(|m| Selected::new(m.chosen(), &members)),
        });
        let receipt = Receipt {
            deliverable_id: job.deliverable_id.to_string(),
            order_id: job.order_id.as_ref().map(ToString::to_string),
            bytes: delivered.bytes,
            sha256: delivered.sha256,
            source: crate::receipt::cut(delivered.source),
            etag: delivered.etag.as_deref().map(crate::receipt::cut),
            completed_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| Error::Internal(e.to_string()))?,
            verified: options.verify || options.members.is_some(),
            tool: concat!("wyvern ", env!("CARGO_PKG_VERSION")).to_owned(),
            extracted,
            warnings: Receipt::warnings_of(warnings),
        };
        receipt.write(self.sink, &job.receipt_path()?).await?;
        tracing::info!(
            "deliverable {}: {} bytes delivered to {}{}",
            job.deliverable_id,
            receipt.bytes,
            job.shown_path(options),
            if receipt.verified { ", verified" } else { "" }
        );
        Ok(receipt)
    }
}

/// What arrived: how many bytes, their SHA-256 (empty for members fetched alone), from where.
pub(crate) struct Delivered<'a> {
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
    pub(crate) source: &'a str,
    pub(crate) etag: Option<String>,
}
