//! One deliverable from a byte source (the API, a local zip, a zip in a bucket) to a sink:
//! streamed, hashed, verified and optionally extracted in one pass; visible under its final names
//! only when whole and verified, with a receipt beside it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use wyvern_core::{Chunk, Client, DeliverableId, Download};
use wyvern_sinks::{ObjectInfo, ObjectPath, Resumable, Sink, Upload};
use wyvern_unpack::{DigestPlan, Inspection, MemberVisitor, Problem, VerifyError};

use crate::job::{IfExists, Job, Options, Present};
use crate::listing::Listing;
use crate::observer::Observer;
use crate::receipt::{Extracted, Found, RECEIPT_LIMIT, Receipt, written_after};
use crate::{Error, Result};

/// Batches in flight to the verifier and hashing threads (memory: this times the batch).
const QUEUE: usize = 8;
/// Bytes handed on at once to the threads (the network's chunks, gathered, not copied).
const BATCH: usize = 256 << 10;
/// Partial files are read back in pieces of this size.
const REPLAY_PIECE: u64 = 8 << 20;
/// Member events in flight between the verifier thread and the extraction uploads.
const EXTRACT_QUEUE: usize = 16;

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
    fn api(download: Download) -> Self {
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
pub(crate) async fn fetch(
    client: &Client,
    sink: &Arc<dyn Sink>,
    job: &Job,
    options: Options,
    observer: &dyn Observer,
) -> Result<Receipt> {
    let continued = AtomicBool::new(false);
    match fetch_once(client, sink, job, options, observer, Some(&continued)).await {
        // The partial file a killed run left failed its re-check (a power cut zeroed its tail,
        // say), or what came after it did: start over, once, without it.
        Err(error)
            if continued.load(Ordering::Relaxed) && matches!(error, Error::Corrupt { .. } | Error::ShortPartial(_)) =>
        {
            observer.warn(&format!(
                "deliverable {}: the partial file left by an earlier run failed its re-check ({}); downloading it again from the start",
                job.deliverable_id,
                crate::error_line(&error)
            ));
            fetch_once(client, sink, job, options, observer, None).await
        }
        other => other,
    }
}

/// One attempt; with `resume`, a partial file left by a killed run is continued (and `resume` is
/// set when one was).
async fn fetch_once(
    client: &Client,
    sink: &Arc<dyn Sink>,
    job: &Job,
    options: Options,
    observer: &dyn Observer,
    resume: Option<&AtomicBool>,
) -> Result<Receipt> {
    let source = async {
        // A partial file left by a killed run is continued from its last byte, when the server
        // can; the bytes already there are re-checked on the way (see `pump`).
        if let Some(continued) = resume.filter(|_| !options.extract)
            && let Some(partial) = sink.resume_upload(&job.path).await?
        {
            // Without verification nothing would tell the partial bytes of an older version of
            // the deliverable from the new ones: start over.
            if !options.verify {
                partial.upload.abort().await?;
                let download = client.download(&job.deliverable_id).await?;
                let etag = download.etag().map(str::to_owned);
                let source = Source::api(download);
                return Ok(Opened { source, etag, partial: None, plan: DigestPlan::unknown() });
            }
            let download = client.download_from(&job.deliverable_id, partial.offset).await?;
            let etag = download.etag().map(str::to_owned);
            match download.start_offset() {
                start if start == partial.offset => {
                    tracing::info!(deliverable = %job.deliverable_id, from = start, "continuing a partial download");
                    continued.store(true, Ordering::Relaxed);
                    let (source, plan) = plan_ahead(client, &job.deliverable_id, download, options).await?;
                    return Ok(Opened { source, etag, partial: Some(partial), plan });
                }
                0 => {
                    partial.upload.abort().await?;
                    let (source, plan) = plan_ahead(client, &job.deliverable_id, download, options).await?;
                    return Ok(Opened { source, etag, partial: None, plan });
                }
                start => {
                    let asked = partial.offset;
                    return Err(Error::Server(format!(
                        "asked to continue from byte {asked}, the server sent bytes from {start}"
                    )));
                }
            }
        }
        let download = client.download(&job.deliverable_id).await?;
        let etag = download.etag().map(str::to_owned);
        let (source, plan) = plan_ahead(client, &job.deliverable_id, download, options).await?;
        Ok(Opened { source, etag, partial: None, plan })
    };
    run(sink, job, options, observer, source).await
}

/// Deliverables at least this large have their STAC items read ahead, in a few ranged requests,
/// so that verifying them computes just the digests the items ask for. Smaller ones are hashed
/// on speculation instead (see [`DigestPlan`]): at their size, that costs less than the requests.
const PLAN_AHEAD_FROM: u64 = 64 << 20;

/// The body's first bytes held while the STAC items are read ahead, at most.
const HOLD: usize = 8 << 20;

/// The deliverable's body as a [`Source`], with the digests its STAC items ask for, read from
/// its end (the central directory, the JSON members) when it is large, verified, and served in
/// ranges. The body keeps arriving meanwhile: its first chunks are read and held (up to
/// [`HOLD`]), so that the reading ahead costs no time, and the body's first bytes are read as
/// they arrive, which is what tells a slow link (and parallel ranges) from a fast one.
async fn plan_ahead(
    client: &Client,
    id: &DeliverableId,
    mut download: Download,
    options: Options,
) -> Result<(Source, DigestPlan)> {
    let worth_it = options.verify && download.accepts_ranges();
    let Some(len) = download.content_length().filter(|&len| worth_it && len >= PLAN_AHEAD_FROM) else {
        return Ok((Source::api(download), DigestPlan::unknown()));
    };
    let mut ranges = ApiRanges {
        client: client.clone(),
        id: id.clone(),
        etag: download.etag().map(str::to_owned),
        len,
        runtime: tokio::runtime::Handle::current(),
    };
    let planning = tokio::task::spawn_blocking(move || wyvern_unpack::read_digest_plan(&mut ranges));
    let (mut held, mut holding, mut ended) = (VecDeque::new(), 0, false);
    // Whole chunks only (a read is never cut short), while the plan is being read.
    while !planning.is_finished() && holding < HOLD {
        match download.next().await? {
            Some(chunk) => {
                if let Chunk::Data(data) = &chunk {
                    holding += data.len();
                }
                held.push_back(chunk);
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let plan = match planning.await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => {
            tracing::debug!(deliverable = %id, "the STAC items could not be read ahead: {e}");
            DigestPlan::unknown()
        }
        Err(_) => DigestPlan::unknown(),
    };
    Ok((Source::Api { download: Box::new(download), held, ended }, plan))
}

/// Ranged requests for parts of a deliverable, from the blocking thread that reads them.
struct ApiRanges {
    client: Client,
    id: DeliverableId,
    etag: Option<String>,
    len: u64,
    runtime: tokio::runtime::Handle,
}

impl wyvern_unpack::RandomAccess for ApiRanges {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let range = offset..offset.saturating_add(len as u64).min(self.len);
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let read = self.client.read_range(&self.id, range, self.etag.as_deref());
        Ok(self.runtime.block_on(read).map_err(std::io::Error::other)?.to_vec())
    }
}

/// A source ready to deliver, with its ETag, when continuing a partial file that file, and the
/// digests its STAC items ask for.
pub(crate) struct Opened {
    pub(crate) source: Source,
    pub(crate) etag: Option<String>,
    pub(crate) partial: Option<Resumable>,
    pub(crate) plan: DigestPlan,
}

/// Opens the source (and its ETag) and delivers it.
pub(crate) async fn run(
    sink: &Arc<dyn Sink>,
    job: &Job,
    options: Options,
    observer: &dyn Observer,
    source: impl Future<Output = Result<Opened>>,
) -> Result<Receipt> {
    let Opened { mut source, etag, partial, plan } = source.await?;
    deliver(sink, job, &mut source, options, observer, etag, partial, &plan).await
}

/// Verifies a zip whole without writing anything, and with `hash` computes its SHA-256 in the
/// same pass. Its structure failing is an error; its contents disagreeing with its metadata are
/// the inspection's problems.
pub(crate) async fn verify(
    source: &mut Source,
    plan: &DigestPlan,
    observer: &dyn Observer,
    hash: bool,
) -> Result<(Inspection, Option<String>)> {
    let mut bar = observer.start(source.name(), source.content_length());
    let (mut verifier, mut batcher) = (Verifier::spawn(None, plan), Batcher::default());
    let mut hasher = hash.then(Hasher::spawn);
    while let Some(chunk) = source.next().await? {
        match chunk {
            Chunk::Data(data) => {
                bar.advance(data.len() as u64);
                if let Some(batch) = batcher.push(data) {
                    if let Some(hasher) = &hasher {
                        hasher.feed(batch.clone()).await?;
                    }
                    verifier.feed(batch).await?;
                }
            }
            Chunk::Restart => {
                bar.restart(source.content_length());
                (verifier, batcher, hasher) =
                    (Verifier::spawn(None, plan), Batcher::default(), hash.then(Hasher::spawn));
            }
        }
    }
    if let Some(rest) = batcher.rest() {
        if let Some(hasher) = &hasher {
            hasher.feed(rest.clone()).await?;
        }
        verifier.feed(rest).await?;
    }
    let inspection = verifier.finish(source.name()).await?;
    let sha256 = match hasher {
        Some(hasher) => Some(hasher.finish().await?),
        None => None,
    };
    Ok((inspection, sha256))
}

/// The deliverable when it is at the destination, whole, and `options.if_exists` says to skip
/// it; `listing` (a batch's) answers what it covers. A zip is whole when its receipt vouches for
/// it: a receipt is there, was written after the zip and records its size. On a sink that stamps
/// its writes ([`Sink::stamps_writes`]) a receipt listed after its zip vouches without being
/// read; elsewhere (a local folder, whose file times any program can set) it is read. An
/// extracted deliverable's receipt is read, and the folder must hold as many files as it counts,
/// none written after it.
pub(crate) async fn existing(
    sink: &Arc<dyn Sink>,
    job: &Job,
    options: Options,
    observer: &dyn Observer,
    listing: Option<&Listing>,
) -> Result<Option<Present>> {
    if options.if_exists == IfExists::Overwrite {
        return Ok(None);
    }
    let there = if options.extract {
        extracted_there(sink, job, listing).await?
    } else {
        zip_there(sink, job, listing).await?
    };
    match (options.if_exists, there) {
        (IfExists::Fail, There::Whole(_) | There::Unvouched(_)) => {
            Err(Error::Exists(format!("{}/{}", sink.location(), job.path)))
        }
        (IfExists::Skip, There::Whole(present)) => Ok(Some(*present)),
        (IfExists::Skip, There::Unvouched(why)) => {
            observer.warn(&format!("{} is there, but {why}: fetching it again", job.shown_path(options)));
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// What the destination holds of a deliverable.
enum There {
    Nothing,
    /// Something its receipt does not vouch for: why.
    Unvouched(String),
    Whole(Box<Present>),
}

/// What a listing says of `path` (when it covers its folder), else what the sink says.
async fn info(sink: &Arc<dyn Sink>, listing: Option<&Listing>, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
    match listing.and_then(|listing| listing.get(path)) {
        Some(listed) => Ok(listed.cloned()),
        None => Ok(sink.head(path).await?),
    }
}

async fn zip_there(sink: &Arc<dyn Sink>, job: &Job, listing: Option<&Listing>) -> Result<There> {
    let Some(zip) = info(sink, listing, &job.path).await? else { return Ok(There::Nothing) };
    let receipt_path = job.receipt_path()?;
    let Some(listed) = info(sink, listing, &receipt_path).await? else {
        return Ok(There::Unvouched("it has no receipt".to_owned()));
    };
    if listed.size > RECEIPT_LIMIT {
        return Ok(There::Unvouched(format!("its receipt is larger than {RECEIPT_LIMIT} bytes")));
    }
    if !written_after(&listed, &zip) {
        return Ok(There::Unvouched("the zip was written after its receipt".to_owned()));
    }
    let stamped = listed.modified.is_some() && zip.modified.is_some();
    if sink.stamps_writes() && stamped {
        return Ok(There::Whole(Box::new(Present { bytes: zip.size, receipt: None })));
    }
    Ok(match Receipt::read(sink, &receipt_path).await? {
        Found::Missing => There::Unvouched("its receipt is gone".to_owned()),
        Found::NotAReceipt(why) => There::Unvouched(format!("its receipt is not one: {why}")),
        Found::Receipt(receipt) => {
            let vouched = belongs_to(&receipt, job).and_then(|()| receipt.vouches_for(&zip, Some(&listed)));
            match vouched {
                Ok(()) => There::Whole(Box::new(Present { bytes: zip.size, receipt: Some(*receipt) })),
                Err(why) => There::Unvouched(why),
            }
        }
    })
}

/// Whether `receipt` is `job`'s.
fn belongs_to(receipt: &Receipt, job: &Job) -> std::result::Result<(), String> {
    let folder = job.extract_folder().map(|f| f.to_string()).unwrap_or_default();
    receipt.belongs_to(job.deliverable_id.as_str(), job.order_id.as_ref().map(|o| o.as_str()), &folder)
}

async fn extracted_there(sink: &Arc<dyn Sink>, job: &Job, listing: Option<&Listing>) -> Result<There> {
    let receipt_path = job.receipt_path()?;
    let Some(listed) = info(sink, listing, &receipt_path).await? else { return Ok(There::Nothing) };
    let receipt = match Receipt::read(sink, &receipt_path).await? {
        Found::Missing => return Ok(There::Nothing),
        Found::NotAReceipt(why) => return Ok(There::Unvouched(format!("its receipt is not one: {why}"))),
        Found::Receipt(receipt) => receipt,
    };
    if let Err(why) = belongs_to(&receipt, job) {
        return Ok(There::Unvouched(why));
    }
    let Some(members) = receipt.extracted.as_ref().map(|e| e.members) else {
        return Ok(There::Unvouched("its receipt is of a zip, not an extraction".to_owned()));
    };
    let folder = job.extract_folder()?;
    let files = match listing.and_then(|listing| listing.under(&folder)) {
        Some(files) => files,
        None => sink.list(Some(&folder)).await?,
    };
    Ok(if (files.len() as u64) < members {
        There::Unvouched(format!("its folder holds {} of its {members} files", files.len()))
    } else if files.iter().any(|file| !written_after(&listed, file)) {
        There::Unvouched("a file in its folder was written after its receipt".to_owned())
    } else {
        There::Whole(Box::new(Present { bytes: receipt.bytes, receipt: Some(*receipt) }))
    })
}

/// Moves a zip from `source` into the sink (the zip itself, or its members with `extract`),
/// hashing and verifying on the way, and writes the receipt.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    sink: &Arc<dyn Sink>,
    job: &Job,
    source: &mut Source,
    options: Options,
    observer: &dyn Observer,
    etag: Option<String>,
    partial: Option<Resumable>,
    plan: &DigestPlan,
) -> Result<Receipt> {
    let (upload, replay) = match partial {
        Some(Resumable { upload, offset, partial }) => (Some(upload), Some((partial, offset))),
        None => (None, None),
    };
    let mut pass = Pass::start(sink, job, source.content_length(), options, upload, plan).await?;
    let pumped = pump(sink, job, source, options, observer, &mut pass, replay, plan).await;
    let (bytes, sha256, members, warnings) = match pumped {
        Ok(done) => done,
        Err(error) => {
            pass.abort().await;
            return Err(error);
        }
    };
    let receipt = Receipt {
        deliverable_id: job.deliverable_id.to_string(),
        order_id: job.order_id.as_ref().map(ToString::to_string),
        bytes,
        sha256,
        source: crate::receipt::cut(source.name()),
        etag: etag.as_deref().map(crate::receipt::cut),
        completed_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::Internal(e.to_string()))?,
        verified: options.verify,
        tool: concat!("wyvern ", env!("CARGO_PKG_VERSION")).to_owned(),
        extracted: members.map(|members| Extracted {
            folder: job.extract_folder().map(|f| f.to_string()).unwrap_or_default(),
            members,
        }),
        warnings: Receipt::warnings_of(&warnings),
    };
    receipt.write(sink, &job.receipt_path()?).await?;
    Ok(receipt)
}

/// The writers of one pass over a zip: its upload, its verifier, its extraction.
struct Pass {
    upload: Option<Box<dyn Upload>>,
    verifier: Option<Verifier>,
    extraction: Option<Extraction>,
    /// `None` once [`Pass::flush`] took its digest.
    hasher: Option<Hasher>,
    batcher: Batcher,
}

/// The task writing extracted members; it returns their sealed, unpublished uploads.
type Extraction = tokio::task::JoinHandle<Result<Vec<Member>>>;

impl Pass {
    /// Starts the writers; `upload` is a partial upload to continue instead of a new one.
    async fn start(
        sink: &Arc<dyn Sink>,
        job: &Job,
        size: Option<u64>,
        options: Options,
        upload: Option<Box<dyn Upload>>,
        plan: &DigestPlan,
    ) -> Result<Self> {
        let upload = match upload {
            Some(upload) => Some(upload),
            None if options.extract => None,
            None => Some(sink.start_upload(&job.path, size).await?),
        };
        let (verifier, extraction) = match (options.verify, options.extract) {
            (_, true) => {
                let (events, receiver) = mpsc::channel(EXTRACT_QUEUE);
                let task = tokio::spawn(extract_members(sink.clone(), job.extract_folder()?, receiver));
                (Some(Verifier::spawn(Some(events), plan)), Some(task))
            }
            (true, false) => (Some(Verifier::spawn(None, plan)), None),
            (false, false) => (None, None),
        };
        Ok(Self { upload, verifier, extraction, hasher: Some(Hasher::spawn()), batcher: Batcher::default() })
    }

    async fn abort(self) {
        if let Some(upload) = self.upload
            && let Err(e) = upload.abort().await
        {
            tracing::warn!("discarding the partial upload failed: {e}");
        }
        if let Some(task) = self.extraction {
            // Dropping the extracted members' uploads aborts them.
            task.abort();
            let _ = task.await;
        }
    }

    /// The next bytes of the body, to every writer, in batches.
    async fn push(&mut self, data: Bytes) -> Result<()> {
        match self.batcher.push(data) {
            Some(batch) => self.write(batch).await,
            None => Ok(()),
        }
    }

    /// Hands on the last batch; returns the SHA-256 of everything pushed or checked.
    async fn flush(&mut self) -> Result<String> {
        if let Some(rest) = self.batcher.rest() {
            self.write(rest).await?;
        }
        let hasher = self.hasher.take().ok_or_else(|| Error::Internal("the body was already hashed".to_owned()))?;
        hasher.finish().await
    }

    async fn write(&mut self, batch: Batch) -> Result<()> {
        self.check(batch.clone()).await?;
        if let Some(upload) = self.upload.as_mut() {
            for data in batch {
                upload.write(data).await?;
            }
        }
        Ok(())
    }

    /// Bytes already at the destination (a partial file being continued): hashed and verified,
    /// not written again.
    async fn check(&mut self, data: Batch) -> Result<()> {
        if let Some(hasher) = &self.hasher {
            hasher.feed(data.clone()).await?;
        }
        let Some(verifier) = self.verifier.as_mut() else { return Ok(()) };
        let fed = verifier.feed(data).await;
        self.verdict(fed).await
    }

    /// The verifier's verdict, or the extraction's error when that is what stopped it.
    async fn verdict<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err()
            && let Some(task) = self.extraction.take()
            && let Ok(Err(extraction)) = task.await
        {
            return Err(extraction);
        }
        result
    }
}

/// What one pass delivered: its size, its SHA-256, how many members were extracted (with
/// `--extract`), and the verifier's warnings.
type Pumped = (u64, String, Option<u64>, Vec<Problem>);

/// Moves the body; returns what it delivered. `replay` is a partial file being continued: its
/// bytes are read back first and go through the hash and the verifier like the rest, so a
/// partial file is never taken on trust.
#[allow(clippy::too_many_arguments)]
async fn pump(
    sink: &Arc<dyn Sink>,
    job: &Job,
    source: &mut Source,
    options: Options,
    observer: &dyn Observer,
    pass: &mut Pass,
    replay: Option<(ObjectPath, u64)>,
    plan: &DigestPlan,
) -> Result<Pumped> {
    let mut bar = observer.start(job.deliverable_id.as_str(), source.content_length());
    let mut bytes = 0u64;
    if let Some((partial, offset)) = replay {
        while bytes < offset {
            let data = sink.get_range(&partial, bytes..offset.min(bytes + REPLAY_PIECE)).await?;
            if data.is_empty() {
                return Err(Error::ShortPartial(partial));
            }
            bytes += data.len() as u64;
            bar.advance(data.len() as u64);
            pass.check(vec![data]).await?;
        }
    }
    while let Some(chunk) = source.next().await? {
        match chunk {
            Chunk::Data(data) => {
                bytes += data.len() as u64;
                bar.advance(data.len() as u64);
                pass.push(data).await?;
            }
            Chunk::Restart => {
                observer.warn(&format!(
                    "deliverable {}: the server sent the body again from its start",
                    job.deliverable_id
                ));
                let fresh = Pass::start(sink, job, source.content_length(), options, None, plan).await?;
                std::mem::replace(pass, fresh).abort().await;
                bytes = 0;
                bar.restart(source.content_length());
            }
        }
    }
    if let Some(expected) = source.content_length().filter(|&n| n != bytes) {
        return Err(Error::Server(format!("received {bytes} bytes, but the size announced was {expected}")));
    }
    if !options.verify && !source.framed() {
        return Err(Error::Unframed);
    }
    let sha256 = pass.flush().await?;
    let mut warnings = Vec::new();
    if let Some(verifier) = pass.verifier.take() {
        let finished = verifier.finish(source.name()).await.and_then(|i| Ok(i.into_result()?));
        warnings = pass.verdict(finished).await?.warnings;
    }
    let mut members = None;
    if let Some(task) = pass.extraction.take() {
        let uploads = task.await.map_err(|e| Error::Internal(format!("the extraction task failed: {e}")))??;
        members = Some(uploads.len() as u64);
        finish_together(sink, uploads).await?;
    }
    if let Some(upload) = pass.upload.take() {
        upload.finish().await?;
    }
    Ok((bytes, sha256, members, warnings))
}

/// A member's bytes on their way from the verifier thread to the sink.
enum MemberEvent {
    Begin { name: String, size: Option<u64> },
    Data(Bytes),
    End,
}

/// An extracted member waiting to be published: its path and its sealed upload.
type Member = (ObjectPath, Box<dyn Upload>);

/// Writes each member into an upload under `folder`, sealing each as it ends (no open file,
/// connection or buffer is kept per member) and keeping them all unpublished: they are finished
/// together once the whole zip is verified, and dropped (aborted) otherwise. A member that would
/// need a folder where another member is a file (or the reverse) is refused here, before it is
/// written.
async fn extract_members(
    sink: Arc<dyn Sink>,
    folder: ObjectPath,
    mut events: mpsc::Receiver<MemberEvent>,
) -> Result<Vec<Member>> {
    let mut done: Vec<Member> = Vec::new();
    let mut layout = Layout::default();
    let mut current: Option<Member> = None;
    while let Some(event) = events.recv().await {
        match event {
            // Folder entries ("a/b/") hold nothing: object stores have no folders to create.
            MemberEvent::Begin { name, .. } if name.ends_with('/') => current = None,
            MemberEvent::Begin { name, size } => {
                let path = folder
                    .join(&name)
                    .map_err(|e| Error::Extraction { member: name.clone(), reason: e.to_string() })?;
                layout.add(&name)?;
                current = Some((path.clone(), sink.start_upload(&path, size).await?));
            }
            MemberEvent::Data(data) => {
                if let Some((_, upload)) = current.as_mut() {
                    upload.write(data).await?;
                }
            }
            MemberEvent::End => {
                if let Some((path, mut upload)) = current.take() {
                    upload.seal().await?;
                    done.push((path, upload));
                }
            }
        }
    }
    Ok(done)
}

/// The files and folders extraction creates, to refuse a member whose path is another's folder.
#[derive(Default)]
struct Layout {
    files: std::collections::HashSet<String>,
    folders: std::collections::HashSet<String>,
}

impl Layout {
    fn add(&mut self, name: &str) -> Result<()> {
        let clash = |other: &str| Error::Extraction {
            member: name.to_owned(),
            reason: format!("{other:?} would need to be both a file and a folder"),
        };
        if self.folders.contains(name) {
            return Err(clash(name));
        }
        let mut parents = name.match_indices('/').map(|(i, _)| &name[..i]);
        if let Some(file) = parents.find(|parent| self.files.contains(*parent)) {
            return Err(clash(file));
        }
        self.folders.extend(name.match_indices('/').map(|(i, _)| name[..i].to_owned()));
        self.files.insert(name.to_owned());
        Ok(())
    }
}

/// Publishes the members, all or none: when one cannot be finished, those finished before it
/// are deleted and the rest aborted, so no partial tree is left.
async fn finish_together(sink: &Arc<dyn Sink>, members: Vec<Member>) -> Result<()> {
    let mut finished = Vec::new();
    let mut members = members.into_iter();
    while let Some((path, upload)) = members.next() {
        if let Err(error) = upload.finish().await {
            for (_, upload) in members {
                let _ = upload.abort().await;
            }
            for path in &finished {
                if let Err(e) = sink.delete(path).await {
                    tracing::warn!(%path, "removing an extracted member after a failure failed: {e}");
                }
            }
            return Err(Error::Publish { path, source: error });
        }
        finished.push(path);
    }
    Ok(())
}

/// Passes the verifier's members on to the extraction task.
struct Forward(mpsc::Sender<MemberEvent>);

impl Forward {
    fn send(&self, event: MemberEvent) -> std::io::Result<()> {
        self.0.blocking_send(event).map_err(|_| std::io::Error::other("the extraction stopped"))
    }
}

impl MemberVisitor for Forward {
    fn begin(&mut self, name: &str, size: Option<u64>) -> std::io::Result<()> {
        self.send(MemberEvent::Begin { name: name.to_owned(), size })
    }

    fn data(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.send(MemberEvent::Data(Bytes::copy_from_slice(bytes)))
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.send(MemberEvent::End)
    }
}

/// Network chunks handed on together.
type Batch = Vec<Bytes>;

/// Gathers network chunks into batches of at least [`BATCH`] bytes: handing each chunk on would
/// spend more time waking threads than checking bytes (a chunk can be a few KiB). The chunks are
/// gathered as they are, not copied.
#[derive(Default)]
struct Batcher {
    pending: Batch,
    len: usize,
}

impl Batcher {
    /// A batch, when `data` completes one.
    fn push(&mut self, data: Bytes) -> Option<Batch> {
        self.len += data.len();
        self.pending.push(data);
        (self.len >= BATCH).then(|| self.rest()).flatten()
    }

    /// What is left, at the end.
    fn rest(&mut self) -> Option<Batch> {
        self.len = 0;
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// The SHA-256 of the zip, for the receipt, on a blocking thread of its own (it costs as much CPU
/// as moving the bytes, so it is kept off the thread that does).
struct Hasher {
    sender: mpsc::Sender<Batch>,
    task: tokio::task::JoinHandle<String>,
}

impl Hasher {
    fn spawn() -> Self {
        let (sender, mut receiver) = mpsc::channel::<Batch>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let mut sha = Sha256::new();
            while let Some(batch) = receiver.blocking_recv() {
                batch.iter().for_each(|data| sha.update(data));
            }
            hex::encode(sha.finalize())
        });
        Self { sender, task }
    }

    async fn feed(&self, data: Batch) -> Result<()> {
        self.sender.send(data).await.map_err(|_| Error::Internal("the hashing thread stopped".to_owned()))
    }

    async fn finish(self) -> Result<String> {
        drop(self.sender);
        self.task.await.map_err(|e| Error::Internal(format!("the hashing thread failed: {e}")))
    }
}

/// The zip verifier on a blocking thread, fed through a bounded channel.
struct Verifier {
    sender: Option<mpsc::Sender<Batch>>,
    task: tokio::task::JoinHandle<Result<wyvern_unpack::Listing, VerifyError>>,
}

impl Verifier {
    fn spawn(extract: Option<mpsc::Sender<MemberEvent>>, plan: &DigestPlan) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let plan = plan.clone();
        let task = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader { receiver, batch: Vec::new().into_iter(), current: Bytes::new() };
            let mut forward = extract.map(Forward);
            wyvern_unpack::verify_stream(reader, forward.as_mut().map(|f| f as &mut dyn MemberVisitor), &plan)
        });
        Self { sender: Some(sender), task }
    }

    /// Passes bytes on. A verifier that stopped early found a problem: its verdict is returned at
    /// once, so a bad deliverable is not downloaded to the end.
    async fn feed(&mut self, data: Batch) -> Result<()> {
        match &self.sender {
            Some(sender) if sender.send(data).await.is_err() => {
                self.sender = None;
                let verdict =
                    (&mut self.task).await.map_err(|e| Error::Internal(format!("the verifier thread failed: {e}")))?;
                Err(verdict.err().map_or_else(|| Error::Internal("the verifier stopped early".to_owned()), Into::into))
            }
            _ => Ok(()),
        }
    }

    /// The verdict on the whole zip: its structure (an error), then its contents against its
    /// metadata (the inspection's problems).
    async fn finish(mut self, source: &str) -> Result<Inspection> {
        drop(self.sender.take());
        let listing = self.task.await.map_err(|e| Error::Internal(format!("the verifier thread failed: {e}")))??;
        Ok(wyvern_unpack::inspect(source, &listing, true))
    }
}

/// A blocking reader over the chunks sent to the verifier, which it reads in place (`BufRead`).
struct ChannelReader {
    receiver: mpsc::Receiver<Batch>,
    /// The rest of the batch being read, and the chunk being read.
    batch: std::vec::IntoIter<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = std::io::BufRead::fill_buf(self)?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl std::io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.batch.next() {
                Some(next) => self.current = next,
                None => match self.receiver.blocking_recv() {
                    Some(batch) => self.batch = batch.into_iter(),
                    None => break,
                },
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, n: usize) {
        bytes::Buf::advance(&mut self.current, n);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{BATCH, Batcher};

    #[test]
    fn batches_keep_every_byte_in_order_whatever_the_chunk_sizes() {
        let body: Vec<u8> = (0..5 * BATCH + 12_345).map(|i| (i % 251) as u8).collect();
        // Small chunks, one chunk larger than two batches while a batch is half full, then small.
        let sizes = [1000, 70_000, 3 * BATCH, 5, BATCH - 1, usize::MAX];
        let (mut batcher, mut out, mut at) = (Batcher::default(), Vec::new(), 0);
        for size in sizes.into_iter().cycle() {
            if at == body.len() {
                break;
            }
            let end = body.len().min(at.saturating_add(size));
            out.extend(batcher.push(Bytes::copy_from_slice(&body[at..end])));
            at = end;
        }
        out.extend(batcher.rest());
        let lengths: Vec<usize> = out.iter().map(|batch| batch.iter().map(Bytes::len).sum()).collect();
        assert!(lengths[..out.len() - 1].iter().all(|&len| len >= BATCH), "only the last batch is short");
        assert_eq!(out.concat().concat(), body);
    }
}
