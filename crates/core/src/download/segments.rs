//! Parallel ranged requests for one body, read back in order.
//!
//! Two limits shape it. At most `connections` segments stream at once, and a segment gives up
//! its place once its remaining bytes would arrive within the round trip its own request took: the
//! next request is then on its way before the current one ends, so no connection waits a round
//! trip between segments (the pipelining HTTP/1.1 clients do not offer, done with one more
//! connection). And the bytes that arrived ahead of the front segment are bounded: a segment
//! behind the front takes a piece of room before it passes a piece on, and once the room
//! ([`ahead`]) is full it stops reading its connection (which stops the server) until the reader
//! has taken pieces back. The front segment never waits for room, so the reader always has bytes
//! coming, however slowly it (a starved verifier) reads them.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use url::Url;

use super::{Chunk, Download};
use crate::Result;
use crate::error::Error;
use crate::transport::{Parallel, Transport};

/// Bytes a segment passes on at once.
const PIECE: usize = 256 << 10;

/// Pieces of the front segment that may wait in the lane only it uses.
const LANE: usize = 4;

/// The most bytes that may wait ahead of the front segment: three segments' worth, enough for
/// connections ending one after the other (see [`ramp`]) to keep streaming (more measured no
/// faster over the bench's link), and what bounds memory when the reader is starved.
fn ahead(parallel: Parallel) -> u64 {
    parallel.segment_size.saturating_mul(3)
}

/// The segments of a body being fetched, each by its own task into its own channel. The first in
/// the queue is read as it arrives; the others wait in their channels, gathered in pieces of equal
/// size (which the allocator reuses well).
#[derive(Debug)]
pub(crate) struct Segments {
    transport: Transport,
    url: Url,
    etag: Option<String>,
    /// What is left to request.
    rest: Range<u64>,
    queue: VecDeque<Segment>,
    /// Segments requested so far, the first included.
    requested: usize,
    /// A permit for each segment streaming (not yet within a round trip of its end).
    streaming: Arc<Semaphore>,
    /// A permit for each piece that may wait ahead of the front segment.
    room: Arc<Semaphore>,
    /// Room for a few pieces of the front segment alone, so that it is never held up by the
    /// segments behind it.
    lane: Arc<Semaphore>,
    /// Where the front segment starts: it may pass its pieces on in the lane.
    front: watch::Sender<u64>,
}

/// A piece of a segment, holding its room when it came ahead of the front.
type Piece = (Bytes, Option<OwnedSemaphorePermit>);

#[derive(Debug)]
struct Segment {
    range: Range<u64>,
    received: u64,
    bytes: mpsc::UnboundedReceiver<Result<Piece>>,
    task: JoinHandle<()>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What woke [`Segments::next`].
enum Step {
    /// A place to stream one more segment.
    Start(OwnedSemaphorePermit),
    /// The front segment's channel gave this.
    Piece(Option<Result<Piece>>),
}

/// The length of the `index`th segment of a body: the first `connections` grow by a
/// `connections`th of `segment_size` each, so that the connections, all starting together, end
/// their segments one after the other and stay that way; a segment read in order then rarely
/// waits long for the one before it. None is smaller than a piece, or than `segment_size` when
/// that is smaller.
pub(super) fn ramp(parallel: Parallel, index: usize) -> u64 {
    let connections = parallel.connections as u128;
    let grown = parallel.segment_size as u128 * (index as u128 + 1).min(connections) / connections;
    (grown as u64).max(parallel.segment_size.min(PIECE as u64))
}

/// How far the first request carries on once its first bytes measured the link, `left` bytes
/// from the body's end: for a round trip at the pace measured (`carry`: what it brings while the
/// other requests are answered), then its share of the [`ramp`]; at most a segment, and leaving
/// at least a segment to the others. `None` when the body is too short to split.
pub(super) fn first_length(parallel: Parallel, carry: u64, left: u64) -> Option<u64> {
    let share = ramp(parallel, 0);
    let most = left.checked_sub(parallel.segment_size).filter(|&most| most >= share)?;
    Some(share.saturating_add(carry).min(parallel.segment_size).min(most))
}

/// The length of the next segment when `left` bytes of the body are still to be requested: the
/// last segments shrink by as much from one to the next (in the proportions of [`ramp`]'s
/// `connections`th of a segment, reversed), so that the connections, asking for them one after
/// the other, end together. Before that, a whole segment; at the very end, all that is left.
pub(super) fn taper(parallel: Parallel, left: u64) -> u64 {
    let connections = parallel.connections as u128;
    let step = (parallel.segment_size as u128 / connections).max(1);
    let (left, covered) = (left as u128, |k: u128| step * k * (k + 1) / 2);
    if left > covered(connections) {
        return parallel.segment_size;
    }
    // The fewest segments that cover what is left, shrinking by a step each: 1, 2, ... k steps.
    let shrinking = (1..=connections).find(|&k| covered(k) >= left).unwrap_or(connections);
    (2 * left).div_ceil(shrinking + 1).min(left) as u64
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
        let parallel = transport.parallel();
        let range = first.start_offset()..rest.start;
        let streaming = Arc::new(Semaphore::new(parallel.connections));
        let pieces = ahead(parallel).div_ceil(PIECE as u64) as usize;
        let mut segments = Self {
            transport: transport.clone(),
            url: url.clone(),
            etag,
            rest,
            queue: VecDeque::new(),
            requested: 1,
            streaming: streaming.clone(),
            room: Arc::new(Semaphore::new(pieces)),
            lane: Arc::new(Semaphore::new(LANE)),
            front: watch::Sender::new(range.start),
        };
        // The first request is streaming already: the others take every place, since their
        // bytes come a round trip later.
        let segment = segments.spawn(range, async { Ok(first) }, None);
        segments.queue.push_back(segment);
        segments.fill();
        segments
    }

    /// The next segment's range, if any is left.
    fn next_range(&self) -> Option<Range<u64>> {
        let parallel = self.transport.parallel();
        let left = self.rest.end - self.rest.start;
        let length = ramp(parallel, self.requested).min(taper(parallel, left));
        (left > 0).then_some(self.rest.start..self.rest.start + length)
    }

    /// Requests the next segment, streaming in the place `place`.
    fn request(&mut self, range: Range<u64>, place: OwnedSemaphorePermit) {
        self.rest.start = range.end;
        self.requested += 1;
        let open = Download::segment(self.transport.clone(), self.url.clone(), range.clone(), self.etag.clone());
        let segment = self.spawn(range, open, Some(place));
        self.queue.push_back(segment);
    }

    /// Requests segments while places to stream them are free.
    fn fill(&mut self) {
        while let Some(range) = self.next_range() {
            let Ok(place) = self.streaming.clone().try_acquire_owned() else { return };
            self.request(range, place);
        }
    }

    /// The next bytes in order, `None` once every segment arrived whole.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>> {
        loop {
            self.fill();
            let waiting = self.next_range();
            let streaming = self.streaming.clone();
            let place = async {
                match waiting {
                    Some(_) => streaming.acquire_owned().await.ok(),
                    None => std::future::pending().await,
                }
            };
            let step = match self.queue.front_mut() {
                Some(segment) => tokio::select! {
                    biased;
                    Some(place) = place => Step::Start(place),
                    piece = segment.bytes.recv() => Step::Piece(piece),
                },
                // Every segment requested was read; the places of the last ones are on their way back.
                None if waiting.is_some() => match place.await {
                    Some(place) => Step::Start(place),
                    None => return Ok(None),
                },
                None => return Ok(None),
            };
            let piece = match step {
                Step::Start(place) => {
                    if let Some(range) = waiting {
                        self.request(range, place);
                    }
                    continue;
                }
                Step::Piece(piece) => piece,
            };
            let Some(segment) = self.queue.front_mut() else { return Ok(None) };
            match piece {
                // Its room, if it held any, is given back here.
                Some(Ok((bytes, _room))) => {
                    segment.received += bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                Some(Err(error)) => return Err(error),
                None if segment.received == segment.range.end - segment.range.start => {
                    self.queue.pop_front();
                    if let Some(next) = self.queue.front() {
                        self.front.send_replace(next.range.start);
                    }
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

    /// Fetches a segment on its own task: `open` makes the request, the task forwards the body
    /// and gives up `place` once the rest would arrive within the request's round trip.
    fn spawn(
        &self,
        range: Range<u64>,
        open: impl Future<Output = Result<Download>> + Send + 'static,
        place: Option<OwnedSemaphorePermit>,
    ) -> Segment {
        let (sender, bytes) = mpsc::unbounded_channel();
        let mut out = Out {
            sender,
            room: self.room.clone(),
            lane: self.lane.clone(),
            front: self.front.subscribe(),
            start: range.start,
        };
        let length = range.end - range.start;
        let task = tokio::spawn(async move {
            let mut place = place;
            let forwarded = async {
                let asked = Instant::now();
                let mut download = open.await?;
                let mut lead = Lead { answered: Instant::now(), round_trip: asked.elapsed(), received: 0 };
                let mut buffer = BytesMut::with_capacity(PIECE);
                while let Some(chunk) = download.next().await? {
                    // A segment never restarts (see `Download::resume`), so every chunk is data.
                    let Chunk::Data(mut data) = chunk else { continue };
                    lead.received += data.len() as u64;
                    if place.is_some() && lead.ends_within_round_trip(length) {
                        place = None;
                    }
                    while !data.is_empty() {
                        // Filled to the piece's size exactly: a piece never grows its buffer.
                        let take = data.len().min(PIECE - buffer.len());
                        buffer.extend_from_slice(&data.split_to(take));
                        if buffer.len() == PIECE {
                            let piece = std::mem::replace(&mut buffer, BytesMut::with_capacity(PIECE));
                            if !out.pass(piece.freeze()).await {
                                return Ok(());
                            }
                        }
                    }
                }
                drop(place.take());
                if !buffer.is_empty() {
                    out.pass(buffer.freeze()).await;
                }
                Ok(())
            };
            if let Err(error) = forwarded.await {
                let _ = out.sender.send(Err(error));
            }
        });
        Segment { range, received: 0, bytes, task }
    }
}

/// Where a segment's task passes its pieces.
struct Out {
    sender: mpsc::UnboundedSender<Result<Piece>>,
    room: Arc<Semaphore>,
    lane: Arc<Semaphore>,
    front: watch::Receiver<u64>,
    /// Where this segment starts.
    start: u64,
}

impl Out {
    /// Passes a piece on, first waiting for room unless this segment is (or becomes) the front;
    /// `false` once nobody reads the segments any more.
    async fn pass(&mut self, piece: Bytes) -> bool {
        let room = loop {
            let front = *self.front.borrow_and_update() == self.start;
            let lane = async {
                match front {
                    true => self.lane.clone().acquire_owned().await,
                    false => std::future::pending().await,
                }
            };
            tokio::select! {
                room = self.room.clone().acquire_owned() => break room.ok(),
                room = lane => break room.ok(),
                changed = self.front.changed() => if changed.is_err() { return false },
            }
        };
        self.sender.send(Ok((piece, room))).is_ok()
    }
}

/// When a segment's next request should be sent: its round trip before this one ends.
#[derive(Debug)]
struct Lead {
    /// When the response's headers came.
    answered: Instant,
    /// From the request to its response's headers.
    round_trip: Duration,
    received: u64,
}

impl Lead {
    /// Whether the rest of a segment of `length` bytes comes within one round trip at the pace
    /// so far (never earlier than its second half: a first burst is no pace).
    fn ends_within_round_trip(&self, length: u64) -> bool {
        let elapsed = self.answered.elapsed().as_secs_f64();
        let rate = self.received as f64 / elapsed.max(1e-3);
        let lead = (rate * self.round_trip.as_secs_f64()) as u64;
        length.saturating_sub(self.received) <= lead.min(length / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_segments_grow_to_the_segment_size_and_never_past_it() {
        let parallel = Parallel { connections: 6, segment_size: 6 << 20 };
        let sizes: Vec<u64> = (0..8).map(|index| ramp(parallel, index)).collect();
        assert_eq!(sizes, [1, 2, 3, 4, 5, 6, 6, 6].map(|mib| mib << 20));
        // Small segments are never grown past what was asked for, nor cut below a piece.
        let small = Parallel { connections: 4, segment_size: 64 << 10 };
        assert!((0..6).all(|index| ramp(small, index) == 64 << 10));
        let medium = Parallel { connections: 8, segment_size: 1 << 20 };
        assert_eq!(ramp(medium, 0), PIECE as u64);
        assert_eq!(ramp(medium, 7), 1 << 20);
    }

    #[test]
    fn the_first_request_carries_on_for_a_round_trip_then_its_share() {
        let parallel = Parallel { connections: 6, segment_size: 6 << 20 };
        let body = 256 << 20;
        assert_eq!(first_length(parallel, 0, body), Some(1 << 20));
        assert_eq!(first_length(parallel, 2_000_000, body), Some((1 << 20) + 2_000_000));
        // Never more than a segment, however long the round trip.
        assert_eq!(first_length(parallel, u64::MAX, body), Some(6 << 20));
        // A segment always left for the others; too short a body is not split.
        assert_eq!(first_length(parallel, 2_000_000, 15 << 19), Some(3 << 19));
        assert_eq!(first_length(parallel, 2_000_000, 7 << 20), Some(1 << 20));
        assert_eq!(first_length(parallel, 0, (7 << 20) - 1), None);
        assert_eq!(first_length(parallel, 0, 1 << 20), None);
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let huge = Parallel { connections: crate::MAX_CONNECTIONS, segment_size: u64::MAX };
        assert_eq!(ramp(huge, 3), u64::MAX / 16);
        assert_eq!(taper(huge, u64::MAX), (2 * u64::MAX as u128).div_ceil(12) as u64);
        assert_eq!(ahead(huge), u64::MAX);
        assert_eq!(first_length(huge, u64::MAX, u64::MAX), None);
    }

    /// The lengths of the segments `left` bytes are asked for in.
    fn tapered(parallel: Parallel, mut left: u64) -> Vec<u64> {
        let mut lengths = Vec::new();
        while left > 0 {
            let length = taper(parallel, left);
            lengths.push(length);
            left -= length;
        }
        lengths
    }

    #[test]
    fn the_last_segments_shrink_so_that_the_connections_end_together() {
        let parallel = Parallel { connections: 6, segment_size: 6 << 20 };
        let mib =
            |lengths: Vec<u64>| lengths.into_iter().map(|length| length as f64 / (1 << 20) as f64).collect::<Vec<_>>();
        assert_eq!(mib(tapered(parallel, 27 << 20)), [6.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        // Whatever is left when the taper begins, it ends in one segment a connection, shrinking.
        for left in [(18 << 20) + 12_345, 7 << 20, 1 << 20, 1000, 1] {
            let lengths = tapered(parallel, left);
            assert!(lengths.len() <= 6, "{left}: {lengths:?}");
            assert!(lengths.windows(2).all(|pair| pair[0] >= pair[1]), "{left}: {lengths:?}");
            assert_eq!(lengths.iter().sum::<u64>(), left);
        }
        assert_eq!(tapered(Parallel { connections: 1, segment_size: 1 << 20 }, 3 << 20), [1 << 20; 3]);
    }
}
