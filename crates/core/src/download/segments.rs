//! Parallel ranged requests for one body, read back in order.

use std::collections::VecDeque;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use super::{Chunk, Download};
use crate::Result;
use crate::error::Error;
use crate::transport::Transport;

/// Bytes a segment passes on at once.
const PIECE: usize = 256 << 10;

/// The segments of a body being fetched at once, each by its own task into its own channel.
/// The first in the queue is read as it arrives; the others wait in their channels, gathered in
/// pieces of equal size (which the allocator reuses well), so memory holds about `connections`
/// segments.
#[derive(Debug)]
pub(crate) struct Segments {
    transport: Transport,
    url: Url,
    etag: Option<String>,
    /// What is left to request.
    rest: Range<u64>,
    queue: VecDeque<Segment>,
}

#[derive(Debug)]
struct Segment {
    range: Range<u64>,
    received: u64,
    bytes: mpsc::UnboundedReceiver<Result<Bytes>>,
    task: JoinHandle<()>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Segments {
    /// Starts with `first`, a request already answered, then requests `rest` in segments.
    pub(super) fn start(
        transport: &Transport,
        url: &Url,
        etag: Option<String>,
        first: Download,
        rest: Range<u64>,
    ) -> Self {
        let range = first.start_offset()..rest.start;
        let mut segments = Self { transport: transport.clone(), url: url.clone(), etag, rest, queue: VecDeque::new() };
        segments.queue.push_back(Segment::spawn(range, async { Ok(first) }));
        segments.fill();
        segments
    }

    /// Requests segments until as many as the connections allow are under way.
    fn fill(&mut self) {
        let parallel = self.transport.parallel();
        while self.queue.len() < parallel.connections && !self.rest.is_empty() {
            let end = self.rest.end.min(self.rest.start + parallel.segment_size);
            let range = self.rest.start..end;
            self.rest.start = end;
            let open = Download::segment(self.transport.clone(), self.url.clone(), range.clone(), self.etag.clone());
            self.queue.push_back(Segment::spawn(range, open));
        }
    }

    /// The next bytes in order, `None` once every segment arrived whole.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            let Some(segment) = self.queue.front_mut() else { return Ok(None) };
            match segment.bytes.recv().await {
                Some(Ok(bytes)) => {
                    segment.received += bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                Some(Err(error)) => return Err(error),
                None if segment.received == segment.range.end - segment.range.start => {
                    self.queue.pop_front();
                    self.fill();
                }
                // The task ended without an error or its bytes: it panicked.
                None => {
                    return Err(Error::Incomplete {
                        url: crate::url_redact::redact_url(&self.url),
                        received: segment.range.start + segment.received,
                        expected: Some(segment.range.end),
                        source: None,
                    });
                }
            }
        }
    }
}

impl Segment {
    /// Fetches a segment on its own task: `open` makes the request, the task forwards the body.
    fn spawn(range: Range<u64>, open: impl Future<Output = Result<Download>> + Send + 'static) -> Self {
        let (sender, bytes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let forwarded = async {
                let mut download = open.await?;
                let mut buffer = BytesMut::with_capacity(PIECE);
                while let Some(chunk) = download.next().await? {
                    // A segment never restarts (see `Download::resume`), so every chunk is data.
                    let Chunk::Data(mut data) = chunk else { continue };
                    while !data.is_empty() {
                        // Filled to the piece's size exactly: a piece never grows its buffer.
                        let take = data.len().min(PIECE - buffer.len());
                        buffer.extend_from_slice(&data.split_to(take));
                        if buffer.len() == PIECE {
                            let piece = std::mem::replace(&mut buffer, BytesMut::with_capacity(PIECE));
                            if sender.send(Ok(piece.freeze())).is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
                if !buffer.is_empty() {
                    let _ = sender.send(Ok(buffer.freeze()));
                }
                Ok(())
            };
            if let Err(error) = forwarded.await {
                let _ = sender.send(Err(error));
            }
        });
        Self { range, received: 0, bytes, task }
    }
}
