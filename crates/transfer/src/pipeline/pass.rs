//! The verifying pass over a zip: its bytes batched and handed to a hashing thread and a
//! verifier thread (which streams members on to the extraction), while they go to the upload.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use wyvern_core::Chunk;
use wyvern_sinks::{ObjectPath, Upload};
use wyvern_unpack::{DigestPlan, Inspection, MemberVisitor, Problem, VerifyError};

use super::extract::{self, Member};
use super::{Delivery, Source};
use crate::observer::Observer;
use crate::{Error, Result};

/// Batches in flight to the verifier and hashing threads (memory: this times the batch).
const QUEUE: usize = 8;
/// Bytes handed on at once to the threads (the network's chunks, gathered, not copied).
const BATCH: usize = 256 << 10;
/// Partial files are read back in pieces of this size.
const REPLAY_PIECE: u64 = 8 << 20;

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

/// The writers of one pass over a zip: its upload, its verifier, its extraction.
pub(super) struct Pass {
    upload: Option<Box<dyn Upload>>,
    verifier: Option<Verifier>,
    extraction: Option<Extraction>,
    /// `None` once [`Pass::flush`] took its digest.
    hasher: Option<Hasher>,
    batcher: Batcher,
}

/// The task writing extracted members; it returns their sealed, unpublished uploads. Aborted
/// when the pass is dropped (an interrupted run), which drops (and so discards) its uploads.
type Extraction = tokio_util::task::AbortOnDropHandle<Result<Vec<Member>>>;

impl Pass {
    /// Starts the writers; `upload` is a partial upload to continue instead of a new one.
    pub(super) async fn start(
        delivery: &Delivery<'_>,
        size: Option<u64>,
        upload: Option<Box<dyn Upload>>,
        plan: &DigestPlan,
    ) -> Result<Self> {
        let Delivery { sink, job, options, .. } = *delivery;
        let mut upload = match upload {
            Some(upload) => Some(upload),
            None if options.extracts() => None,
            None => Some(sink.start_upload(&job.path, size).await?),
        };
        // The zip's upload is what a later run continues (resume_upload), should this one be
        // interrupted; only a verified download continues a partial file (see `open`).
        if let Some(upload) = upload.as_mut().filter(|_| options.verify) {
            upload.resumable();
        }
        let (verifier, extraction) = match (options.verify, options.extracts()) {
            (_, true) => {
                let (events, receiver) = mpsc::channel(extract::EXTRACT_QUEUE);
                let members = extract::members(sink.clone(), job.extract_folder()?, receiver);
                let task = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(members));
                let forward = extract::Forward { sender: events, members: options.members.clone(), skipping: false };
                (Some(Verifier::spawn(Some(forward), plan)), Some(task))
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

    async fn write(&mut self, batch: Chunks) -> Result<()> {
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
    async fn check(&mut self, data: Chunks) -> Result<()> {
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

/// What one pass delivered.
pub(super) struct Pumped {
    /// The zip's size.
    pub(super) bytes: u64,
    /// Its SHA-256.
    pub(super) sha256: String,
    /// The members extracted (with `extract`), as the zip's directory describes them.
    pub(super) members: Option<Vec<wyvern_unpack::EntryReport>>,
    /// What the verifier could not check, or only weakly.
    pub(super) warnings: Vec<Problem>,
}

/// Moves the body through `pass`; returns what it delivered, or aborts what the pass wrote.
/// `replay` is a partial file being continued: its bytes are read back first and go through the
/// hash and the verifier like the rest, so a partial file is never taken on trust.
pub(super) async fn pump(
    delivery: &Delivery<'_>,
    source: &mut Source,
    mut pass: Pass,
    replay: Option<(ObjectPath, u64)>,
    plan: &DigestPlan,
) -> Result<Pumped> {
    match pump_into(delivery, source, &mut pass, replay, plan).await {
        Ok(pumped) => Ok(pumped),
        Err(error) => {
            pass.abort().await;
            Err(error)
        }
    }
}

async fn pump_into(
    delivery: &Delivery<'_>,
    source: &mut Source,
    pass: &mut Pass,
    replay: Option<(ObjectPath, u64)>,
    plan: &DigestPlan,
) -> Result<Pumped> {
    let Delivery { sink, job, options, observer } = *delivery;
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
                let fresh = Pass::start(delivery, source.content_length(), None, plan).await?;
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
    let (mut warnings, mut entries) = (Vec::new(), Vec::new());
    if let Some(verifier) = pass.verifier.take() {
        let finished = verifier.finish(source.name()).await.and_then(|i| Ok(i.into_result()?));
        let inspection = pass.verdict(finished).await?;
        (warnings, entries) = (inspection.warnings, inspection.entries);
    }
    let mut members = None;
    if let Some(task) = pass.extraction.take() {
        let uploads = task.await.map_err(|e| Error::Internal(format!("the extraction task failed: {e}")))??;
        let names: std::collections::HashSet<String> = extract::names(job, &uploads)?.into_iter().collect();
        members = Some(entries.into_iter().filter(|e| names.contains(&e.name)).collect());
        extract::finish_together(sink, uploads).await?;
    }
    if let Some(upload) = pass.upload.take() {
        upload.finish().await?;
    }
    Ok(Pumped { bytes, sha256, members, warnings })
}

/// Network chunks handed on together.
pub(super) type Chunks = Vec<Bytes>;

/// Gathers network chunks into batches of at least [`BATCH`] bytes: handing each chunk on would
/// spend more time waking threads than checking bytes (a chunk can be a few KiB). The chunks are
/// gathered as they are, not copied.
#[derive(Default)]
pub(super) struct Batcher {
    pending: Chunks,
    len: usize,
}

impl Batcher {
    /// A batch, when `data` completes one.
    pub(super) fn push(&mut self, data: Bytes) -> Option<Chunks> {
        self.len += data.len();
        self.pending.push(data);
        (self.len >= BATCH).then(|| self.rest()).flatten()
    }

    /// What is left, at the end.
    pub(super) fn rest(&mut self) -> Option<Chunks> {
        self.len = 0;
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// The SHA-256 of the zip, for the receipt, on a blocking thread of its own (it costs as much CPU
/// as moving the bytes, so it is kept off the thread that does).
struct Hasher {
    sender: mpsc::Sender<Chunks>,
    task: tokio::task::JoinHandle<String>,
}

impl Hasher {
    fn spawn() -> Self {
        let (sender, mut receiver) = mpsc::channel::<Chunks>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let mut sha = Sha256::new();
            while let Some(batch) = receiver.blocking_recv() {
                batch.iter().for_each(|data| sha.update(data));
            }
            hex::encode(sha.finalize())
        });
        Self { sender, task }
    }

    async fn feed(&self, data: Chunks) -> Result<()> {
        self.sender.send(data).await.map_err(|_| Error::Internal("the hashing thread stopped".to_owned()))
    }

    async fn finish(self) -> Result<String> {
        drop(self.sender);
        self.task.await.map_err(|e| Error::Internal(format!("the hashing thread failed: {e}")))
    }
}

/// A verifier on a blocking thread reading the bytes fed to it through a bounded channel: the
/// zip's (by default), or another check's.
pub(super) struct Verifier<T = wyvern_unpack::Listing> {
    sender: Option<mpsc::Sender<Chunks>>,
    task: tokio::task::JoinHandle<Result<T, VerifyError>>,
}

impl Verifier {
    fn spawn(forward: Option<extract::Forward>, plan: &DigestPlan) -> Self {
        let plan = plan.clone();
        Self::run(move |reader| {
            let mut forward = forward;
            wyvern_unpack::verify_stream(reader, forward.as_mut().map(|f| f as &mut dyn MemberVisitor), &plan)
        })
    }

    /// The verdict on the whole zip: its structure (an error), then its contents against its
    /// metadata (the inspection's problems).
    async fn finish(self, source: &str) -> Result<Inspection> {
        let listing = self.result().await?;
        Ok(wyvern_unpack::inspect(source, &listing, true))
    }
}

impl<T: Send + 'static> Verifier<T> {
    /// Runs `check` on a blocking thread over the bytes [`Verifier::feed`] hands on.
    pub(super) fn run(check: impl FnOnce(ChannelReader) -> Result<T, VerifyError> + Send + 'static) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            check(ChannelReader { receiver, batch: Vec::new().into_iter(), current: Bytes::new() })
        });
        Self { sender: Some(sender), task }
    }

    /// Passes bytes on. A verifier that stopped early found a problem: its verdict is returned at
    /// once, so a bad deliverable is not downloaded to the end.
    pub(super) async fn feed(&mut self, data: Chunks) -> Result<()> {
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

    /// What the check found once every byte was handed on.
    pub(super) async fn result(mut self) -> Result<T> {
        drop(self.sender.take());
        Ok(self.task.await.map_err(|e| Error::Internal(format!("the verifier thread failed: {e}")))??)
    }
}

/// A blocking reader over the chunks sent to the verifier, which it reads in place (`BufRead`).
pub(super) struct ChannelReader {
    receiver: mpsc::Receiver<Chunks>,
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
