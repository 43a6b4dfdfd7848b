//! One deliverable from the API to a sink: streamed, hashed and verified in one pass, visible
//! under its final name only when whole and verified, with a receipt beside it.

use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use wyvern_core::{Chunk, Client, DeliverableId, Download, OrderId};
use wyvern_sinks::{ObjectPath, Sink, Upload};
use wyvern_unpack::{Listing, VerifyError};

use crate::args::IfExists;
use crate::error::Hint;
use crate::progress::Progress;

/// Chunks in flight between the download and the verifier thread.
const VERIFY_QUEUE: usize = 16;

/// The receipt written beside each deliverable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub deliverable_id: String,
    pub order_id: Option<String>,
    pub bytes: u64,
    pub sha256: String,
    /// The URL the bytes came from, without its query string.
    pub source: String,
    pub etag: Option<String>,
    /// RFC 3339.
    pub completed_at: String,
    pub verified: bool,
    pub tool: String,
}

/// What to fetch and where.
#[derive(Debug, Clone)]
pub struct Job {
    pub order_id: Option<OrderId>,
    pub deliverable_id: DeliverableId,
    /// The zip's path in the sink; the receipt goes beside it.
    pub path: ObjectPath,
}

impl Job {
    fn receipt_path(&self) -> anyhow::Result<ObjectPath> {
        let name = format!("{}.receipt.json", self.path.file_name().trim_end_matches(".zip"));
        let receipt = match self.path.as_str().rsplit_once('/') {
            Some((folder, _)) => ObjectPath::parse(folder)?.join(&name)?,
            None => ObjectPath::parse(&name)?,
        };
        Ok(receipt)
    }
}

#[derive(Debug)]
pub enum Outcome {
    Downloaded(Receipt),
    Skipped(Receipt),
}

/// Fetches one deliverable into the sink.
pub async fn fetch(
    client: &Client,
    sink: &Arc<dyn Sink>,
    job: &Job,
    if_exists: IfExists,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let receipt_path = job.receipt_path()?;
    if let Some(existing) = sink.head(&job.path).await? {
        match if_exists {
            IfExists::Fail => {
                bail_exists(sink, job)?;
            }
            IfExists::Skip => {
                if let Some(receipt) = read_receipt(sink, &receipt_path).await?
                    && receipt.bytes == existing.size
                {
                    return Ok(Outcome::Skipped(receipt));
                }
                tracing::warn!(path = %job.path, "found without a matching receipt; downloading it again");
            }
            IfExists::Overwrite => {}
        }
    }

    let mut download = client
        .download(&job.deliverable_id)
        .await
        .with_context(|| format!("downloading deliverable {}", job.deliverable_id))?;
    let mut upload = sink.start_upload(&job.path, download.content_length()).await?;
    let pumped = pump(sink, job, &mut download, &mut upload, progress).await;
    let (bytes, sha256) = match pumped {
        Ok(done) => done,
        Err(error) => {
            if let Err(abort) = upload.abort().await {
                tracing::warn!("discarding the partial upload failed: {abort}");
            }
            return Err(error.context(format!("deliverable {} was not saved", job.deliverable_id)));
        }
    };
    upload.finish().await?;
    let receipt = Receipt {
        deliverable_id: job.deliverable_id.to_string(),
        order_id: job.order_id.as_ref().map(ToString::to_string),
        bytes,
        sha256,
        source: download.source_url().to_owned(),
        etag: download.etag().map(str::to_owned),
        completed_at: time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?,
        verified: true,
        tool: concat!("wyvern ", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let mut json = serde_json::to_vec_pretty(&receipt)?;
    json.push(b'\n');
    sink.put_small(&receipt_path, Bytes::from(json)).await?;
    Ok(Outcome::Downloaded(receipt))
}

fn bail_exists(sink: &Arc<dyn Sink>, job: &Job) -> anyhow::Result<()> {
    Err(anyhow::anyhow!("{}/{} already exists", sink.location(), job.path))
        .hint("use --if-exists skip or --if-exists overwrite")
}

async fn read_receipt(sink: &Arc<dyn Sink>, path: &ObjectPath) -> anyhow::Result<Option<Receipt>> {
    let Some(bytes) = sink.get_small(path).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(%path, "ignoring an unreadable receipt: {e}"))
        .ok())
}

/// Moves the body into the upload, hashing and verifying on the way. Returns size and SHA-256.
async fn pump(
    sink: &Arc<dyn Sink>,
    job: &Job,
    download: &mut Download,
    upload: &mut Box<dyn Upload>,
    progress: &Progress,
) -> anyhow::Result<(u64, String)> {
    let mut bar = progress.start(job.deliverable_id.as_str(), download.content_length());
    let mut sha = Sha256::new();
    let mut bytes = 0u64;
    let mut verifier = Verifier::spawn();
    while let Some(chunk) = download.next().await? {
        match chunk {
            Chunk::Data(data) => {
                bytes += data.len() as u64;
                bar.advance(data.len() as u64);
                sha.update(&data);
                verifier.feed(data.clone()).await.context("verification failed")?;
                upload.write(data).await?;
            }
            Chunk::Restart => {
                tracing::warn!(deliverable = %job.deliverable_id, "the server restarted the body from the start");
                let fresh = sink.start_upload(&job.path, download.content_length()).await?;
                std::mem::replace(upload, fresh).abort().await?;
                sha = Sha256::new();
                bytes = 0;
                bar.restart(download.content_length());
                verifier = Verifier::spawn();
            }
        }
    }
    if let Some(expected) = download.content_length().filter(|&n| n != bytes) {
        bail!("received {bytes} bytes, but Content-Length said {expected}");
    }
    verifier.finish().await.context("verification failed")?;
    Ok((bytes, hex::encode(sha.finalize())))
}

/// The zip verifier on a blocking thread, fed through a bounded channel.
struct Verifier {
    sender: Option<mpsc::Sender<Bytes>>,
    task: tokio::task::JoinHandle<Result<Listing, VerifyError>>,
}

impl Verifier {
    fn spawn() -> Self {
        let (sender, receiver) = mpsc::channel(VERIFY_QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            wyvern_unpack::verify_stream(ChannelReader { receiver, current: Bytes::new() })
        });
        Self { sender: Some(sender), task }
    }

    /// Passes bytes on. A verifier that stopped early found a problem: its verdict is returned
    /// at once, so a bad deliverable is not downloaded to the end.
    async fn feed(&mut self, data: Bytes) -> anyhow::Result<()> {
        match &self.sender {
            Some(sender) if sender.send(data).await.is_err() => {
                self.sender = None;
                let verdict = (&mut self.task).await.context("the verifier thread failed")?;
                Err(verdict.err().map_or_else(|| anyhow::anyhow!("the verifier stopped early"), Into::into))
            }
            _ => Ok(()),
        }
    }

    async fn finish(mut self) -> anyhow::Result<Listing> {
        drop(self.sender.take());
        Ok(self.task.await.context("the verifier thread failed")??)
    }
}

/// A blocking `Read` over the chunks sent to the verifier.
struct ChannelReader {
    receiver: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(next) => self.current = next,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
