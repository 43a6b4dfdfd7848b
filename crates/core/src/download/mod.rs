//! A deliverable's body as a stream of chunks: redirects to storage followed without the token,
//! cuts resumed with ranged requests, presigned links re-resolved when they expire, and parallel
//! ranges on a slow link.

mod limit;
mod pace;
mod response;
mod segments;

use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header;
use reqwest::{Response, StatusCode};
use url::Url;

use crate::Result;
use crate::encoding::Decoder;
use crate::error::Error;
use crate::transport::{Resume, RoundTrip, Transport};
use crate::url_redact::redact_url;
pub(crate) use limit::RateLimit;
use pace::{Pace, Slow};
pub(crate) use response::content_range;
use response::{changed, check_content_type, check_range, cut, decoder_for, is_framed, shown_range};
use segments::Segments;

/// Why a body was interrupted.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Every zip starts with a local file header.
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// The first bytes of a body measure the link: at least this many...
const SPLIT_WINDOW: u64 = 512 << 10;
/// ...and a link slower than this (bytes per second) on one connection gets more connections.
/// Faster than this, the CPU hashing and verifying the bytes is the limit, not the link.
pub const SPLIT_BELOW: u64 = 64 << 20;

/// The measurement of a body's first bytes: how long the reads waited for the network. Time the
/// caller spends elsewhere (a slow destination holding the bytes back) does not count: more
/// connections would not help with that.
#[derive(Debug)]
struct Window {
    from: u64,
    waited: Duration,
    /// How long the response's headers took to come.
    round_trip: Duration,
}

impl Window {
    /// The measurement of `response`'s bytes from `from`.
    fn of(response: &Response, from: u64) -> Self {
        Self { from, waited: Duration::ZERO, round_trip: RoundTrip::of(response) }
    }
}

/// What [`Download::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The next bytes of the body, in order.
    Data(Bytes),
    /// The server could not resume where the body was cut and sent it again from the start:
    /// discard everything received so far.
    Restart,
}

/// A deliverable body being streamed. Interruptions are resumed from the last byte with a
/// `Range` request when the server accepts ranges; a server that answers a range with 200
/// restarts the body ([`Chunk::Restart`]); a body shorter than its `Content-Length` is an error
/// once the retry budget is spent, never a success. With more than one connection the body is
/// fetched as parallel ranged requests (each resumed the same way) and still comes out in order.
#[derive(Debug)]
pub struct Download {
    transport: Transport,
    url: Url,
    shown_url: String,
    response: Option<Response>,
    /// Where the body ends: its size, when known.
    total: Option<u64>,
    /// Where the bytes of this request end (exclusive), when known: the body's end, or the end
    /// of one segment.
    end: Option<u64>,
    etag: Option<String>,
    accepts_ranges: bool,
    received: u64,
    high_water: u64,
    stalls: u32,
    /// The low-speed rule's measure of this response.
    pace: Pace,
    /// What identifies the version being fetched: a resumed range must come from it.
    version: Version,
    /// Bytes held back until the zip magic is confirmed.
    head: Option<BytesMut>,
    /// Where this body started: 0, or the offset of a continued partial file.
    start: u64,
    /// This is one segment of a parallel download: the server must keep answering with ranges.
    segment: bool,
    /// The parallel requests the bytes come from, when the body is fetched in segments.
    segments: Option<Segments>,
    /// How fast the first bytes come, while deciding whether to fetch the rest in parallel.
    window: Option<Window>,
    /// Decodes the body when the server sent it with a `Content-Encoding`.
    decoder: Option<Decoder>,
    /// The body's end is marked (a length, chunked encoding, HTTP/2 framing), so that a cut
    /// shows as one; a body that ends with its connection cannot be told from a cut one.
    framed: bool,
    /// The host slot this body holds, when downloads per host are limited.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Download {
    pub(crate) fn start(
        transport: Transport,
        url: Url,
        response: Response,
        asked_from: Option<u64>,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Self> {
        let headers = response.headers();
        check_content_type(headers, response.url())?;
        let decoder = decoder_for(&response)?;
        if response.status() == StatusCode::PARTIAL_CONTENT && asked_from.is_none() {
            // Part of the deliverable to a request for all of it: only the whole is usable.
            let range = content_range(headers).map(|r| (r.start, r.end, r.total));
            if range.is_none_or(|(start, end, total)| start != 0 || total != Some(end)) {
                return Err(Error::UnexpectedStatus {
                    status: 206,
                    url: redact_url(response.url()),
                    detail: Some(format!(
                        "the server sent part of the deliverable ({}) to a request for all of it",
                        shown_range(range)
                    )),
                });
            }
        }
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let accepts_ranges = headers
            .get(header::ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|unit| unit.trim() == "bytes"));
        let partial = response.status() == StatusCode::PARTIAL_CONTENT;
        // A 206 holds the range asked for (a continued partial file, or the first segment).
        let (start, end, total) = match content_range(headers).filter(|_| partial) {
            Some(range) => (range.start, Some(range.end), range.total),
            // An encoded body's length is not the deliverable's.
            None if decoder.is_some() => (0, None, None),
            None => (0, response.content_length(), response.content_length()),
        };
        let version = Version::of(&response, total);
        let framed = is_framed(&response);
        let window = Window::of(&response, start);
        // Ranges count encoded bytes: an encoded body is never resumed or split, only restarted.
        let accepts_ranges = accepts_ranges && decoder.is_none();
        let parallel = transport.parallel().connections > 1 && total.is_some() && (accepts_ranges || partial);
        Ok(Self {
            shown_url: redact_url(response.url()),
            total,
            end,
            etag,
            accepts_ranges: accepts_ranges || partial,
            response: Some(response),
            transport,
            url,
            received: start,
            high_water: start,
            stalls: 0,
            pace: Pace::new(start),
            version,
            // The zip header is checked at byte 0 only; a continued body re-checks it elsewhere.
            head: (start == 0).then(BytesMut::new),
            start,
            segment: false,
            segments: None,
            window: parallel.then_some(window),
            decoder,
            framed,
            _slot: slot,
        })
    }

    /// Once the first [`SPLIT_WINDOW`] bytes have arrived: when the network brought them slower
    /// than [`SPLIT_BELOW`], the link rather than this machine is the limit, and the rest of the
    /// body is fetched as parallel ranged requests. This request carries on as the first
    /// segment (see [`segments::first_length`]).
    fn maybe_split(&mut self) {
        let Some(window) = &self.window else { return };
        let measured = self.received - window.from;
        if measured < SPLIT_WINDOW {
            return;
        }
        let rate = measured as f64 / window.waited.as_secs_f64().max(1e-6);
        // What this request brings while the other requests are answered.
        let carry = (rate * window.round_trip.as_secs_f64()) as u64;
        self.window = None;
        let Some(total) = self.total.filter(|_| rate < SPLIT_BELOW as f64) else { return };
        let left = total.saturating_sub(self.received);
        if let Some(first) = segments::first_length(self.transport.parallel(), carry, left) {
            tracing::debug!(url = %self.shown_url, rate = rate as u64, "one connection is slow: fetching the rest in parallel ranges");
            self.split(self.received + first, total);
        }
    }

    /// Hands this request (up to `end`) and the rest of the body to parallel requests.
    fn split(&mut self, end: u64, total: u64) {
        // If-Range only with a strong validator: a weak one must not be used for ranges.
        let etag = self.etag.clone().filter(|etag| !etag.starts_with("W/"));
        let response = self.response.take();
        let first = Self::bounded(self.transport.clone(), self.url.clone(), response, self.received..end, etag.clone());
        self.end = Some(total);
        self.segments = Some(Segments::start(&self.transport, &self.url, etag, first, end..total));
    }

    /// One segment of a parallel download: a request for `range`, which must be answered with
    /// exactly that range.
    pub(crate) async fn segment(
        transport: Transport,
        url: Url,
        range: Range<u64>,
        etag: Option<String>,
    ) -> Result<Self> {
        let resume = Resume { from: range.start, to: Some(range.end), if_range: etag.as_deref() };
        let response = transport.get_with(&url, Some(resume), transport.retry_policy()).await?;
        check_content_type(response.headers(), response.url())?;
        check_range(&response, &redact_url(response.url()), range.start)?;
        Ok(Self::bounded(transport, url, Some(response), range, etag))
    }

    /// A body that is the bytes `range` of a deliverable, resumed within that range.
    fn bounded(
        transport: Transport,
        url: Url,
        response: Option<Response>,
        range: Range<u64>,
        etag: Option<String>,
    ) -> Self {
        Self {
            shown_url: response.as_ref().map_or_else(|| redact_url(&url), |r| redact_url(r.url())),
            transport,
            url,
            response,
            total: None,
            end: Some(range.end),
            etag,
            accepts_ranges: true,
            received: range.start,
            high_water: range.start,
            stalls: 0,
            pace: Pace::new(range.start),
            version: Version::default(),
            head: None,
            start: range.start,
            segment: true,
            segments: None,
            window: None,
            decoder: None,
            framed: true,
            _slot: None,
        }
    }

    /// The first byte of this body: 0, or where [`crate::Client::download_from`] continued.
    pub fn start_offset(&self) -> u64 {
        self.start
    }

    /// The body's size, when the server announced it.
    pub fn content_length(&self) -> Option<u64> {
        self.total
    }

    /// The body's `ETag`, if any.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Whether the body's end is marked (a `Content-Length`, chunked encoding, HTTP/2 framing):
    /// when it is not, a body cut by a closed connection looks like a whole one, and only
    /// verifying the zip can tell.
    pub fn framed(&self) -> bool {
        self.framed
    }

    /// Whether the server serves ranges of this body (so [`crate::Client::read_range`] can read parts
    /// of it).
    pub fn accepts_ranges(&self) -> bool {
        self.accepts_ranges
    }

    /// Where the bytes come from after redirects, without the query string.
    pub fn source_url(&self) -> &str {
        &self.shown_url
    }

    /// The next piece of the body, `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Chunk>> {
        loop {
            let next: std::result::Result<Option<Bytes>, Cause> = match (self.segments.as_mut(), self.response.as_mut())
            {
                (Some(segments), _) => match segments.next().await? {
                    Some(bytes) => Ok(Some(bytes)),
                    None => {
                        self.segments = None;
                        return self.ended();
                    }
                },
                (None, Some(_)) => match self.read().await {
                    Some(next) => next,
                    // A low-speed window closed at a good pace before bytes came: wait on.
                    None => continue,
                },
                (None, None) => return self.ended(),
            };
            let cause = match next {
                Ok(Some(mut bytes)) => {
                    // A server sending past the range asked for is cut at its end.
                    if let Some(end) = self.end.filter(|&end| self.received + bytes.len() as u64 > end) {
                        bytes.truncate((end - self.received) as usize);
                    }
                    self.received += bytes.len() as u64;
                    if self.received > self.high_water {
                        self.high_water = self.received;
                        self.stalls = 0;
                    }
                    if self.end.is_some_and(|end| self.received >= end) {
                        self.response = None;
                    }
                    self.maybe_split();
                    match self.pass_magic(bytes)? {
                        Some(bytes) => return Ok(Some(Chunk::Data(bytes))),
                        None => continue,
                    }
                }
                Ok(None) if self.end.is_none_or(|end| self.received >= end) => {
                    self.response = None;
                    return self.ended();
                }
                Ok(None) => None,
                Err(cause) if cause.is::<Slow>() && self.pace.slow > self.transport.retry_policy().max_retries => {
                    return Err(Error::Incomplete {
                        url: self.shown_url.clone(),
                        received: self.received,
                        expected: self.total,
                        source: Some(cause),
                    });
                }
                Err(cause) => Some(cause),
            };
            if let Some(restart) = self.resume_within_budget(cause).await? {
                return Ok(Some(restart));
            }
        }
    }

    /// The next bytes of the current response, decoded, or why it was cut (a transport error, a
    /// decoding error, the low-speed rule); `None` when a low-speed window closed at a good pace
    /// before any byte came.
    async fn read(&mut self) -> Option<std::result::Result<Option<Bytes>, Cause>> {
        let response = self.response.as_mut()?;
        let started = Instant::now();
        let rule = self.transport.low_speed();
        let chunk = match rule {
            Some(rule) => tokio::time::timeout(self.pace.left(rule), response.chunk()).await.ok(),
            None => Some(response.chunk().await),
        };
        let waited = started.elapsed();
        if let Some(window) = self.window.as_mut() {
            window.waited += waited;
        }
        let arrived = match &chunk {
            Some(Ok(Some(bytes))) => bytes.len() as u64,
            _ => 0,
        };
        if let Some(slow) = rule.and_then(|rule| self.pace.measure(rule, waited, self.received + arrived)) {
            return Some(Err(Box::new(slow)));
        }
        // Held back by the cap after the read: outside the low-speed rule's measure.
        if let Some(limit) = self.transport.rate_limit().filter(|_| arrived > 0) {
            limit.take(arrived).await;
        }
        let chunk = match chunk? {
            Ok(chunk) => chunk,
            Err(error) => return Some(Err(response::broken_off(error))),
        };
        Some(match chunk {
            Some(piece) => match self.decoder.as_mut() {
                Some(decoder) => decoder.push(&piece).map(Some).map_err(cut),
                None => Ok(Some(piece)),
            },
            None => match self.decoder.take() {
                Some(decoder) => decoder.finish().map(|rest| (!rest.is_empty()).then_some(rest)).map_err(cut),
                None => Ok(None),
            },
        })
    }

    /// The body ended: it must at least have held a zip header.
    fn ended(&self) -> Result<Option<Chunk>> {
        if self.head.is_some() {
            return Err(self.not_a_zip("the body is shorter than a zip header"));
        }
        Ok(None)
    }

    /// Resumes, counting failed resume requests against the same budget as interruptions.
    async fn resume_within_budget(&mut self, mut cause: Option<Cause>) -> Result<Option<Chunk>> {
        loop {
            match self.resume(cause.take()).await {
                Err(error) if error.is_transient() && !matches!(error, Error::Incomplete { .. }) => {
                    cause = Some(Box::new(error));
                }
                done => return done,
            }
        }
    }

    /// Holds back the first bytes until they prove to be a zip.
    fn pass_magic(&mut self, bytes: Bytes) -> Result<Option<Bytes>> {
        let Some(head) = self.head.as_mut() else {
            return Ok(Some(bytes));
        };
        head.extend_from_slice(&bytes);
        if head.len() < ZIP_MAGIC.len() {
            return Ok(None);
        }
        if !head.starts_with(ZIP_MAGIC) {
            let start = String::from_utf8_lossy(&head[..head.len().min(32)]).into_owned();
            return Err(self.not_a_zip(&format!("the body starts with {start:?}, not a zip header")));
        }
        Ok(self.head.take().map(BytesMut::freeze))
    }

    fn not_a_zip(&self, reason: &str) -> Error {
        Error::NotAZip { url: self.shown_url.clone(), reason: reason.to_owned() }
    }

    /// Continues after the body was cut: a ranged request from the last byte when possible,
    /// otherwise the whole body again (then `Some(Chunk::Restart)`).
    async fn resume(&mut self, cause: Option<Cause>) -> Result<Option<Chunk>> {
        self.response = None;
        let policy = self.transport.retry_policy();
        if self.stalls >= policy.max_retries {
            return Err(Error::Incomplete {
                url: self.shown_url.clone(),
                received: self.received,
                expected: self.total,
                source: cause,
            });
        }
        let wait = policy.backoff(self.stalls, None);
        self.stalls += 1;
        let why = cause.as_ref().map_or_else(|| "ended early".to_owned(), ToString::to_string);
        tracing::warn!(
            url = %self.shown_url,
            received = self.received,
            expected = ?self.total,
            attempt = self.stalls,
            max = policy.max_retries,
            wait_ms = wait.as_millis() as u64,
            reason = %format!("cut after {} bytes ({why})", self.received),
            action = "resuming",
            "body interrupted ({why}); resuming in {} ms",
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
        let ranged = self.accepts_ranges && self.received > 0;
        let resume = ranged.then(|| Resume {
            from: self.received,
            to: self.end.filter(|_| self.segment),
            // If-Range only with a strong validator: a weak one must not be used for ranges.
            if_range: self.etag.as_deref().filter(|etag| !etag.starts_with("W/")),
        });
        let response = self.transport.get(&self.url, resume).await?;
        check_content_type(response.headers(), response.url())?;
        self.pace.restart(self.received);
        match response.status() {
            StatusCode::PARTIAL_CONTENT if ranged => {
                check_range(&response, &self.shown_url, self.received)?;
                let Some(change) = self.version.change(&response) else {
                    self.response = Some(response);
                    return Ok(None);
                };
                // The server ignored If-Range (or had none to go by): these bytes are of another
                // version than those before them.
                if self.segment {
                    return Err(changed(&self.shown_url));
                }
                tracing::warn!(url = %self.shown_url, "the deliverable changed while it was downloaded ({change}): starting over from its first byte");
                drop(response);
                let whole = self.transport.get(&self.url, None).await?;
                check_content_type(whole.headers(), whole.url())?;
                self.restart(whole)
            }
            // One segment of many cannot start the body again: the others hold the rest.
            StatusCode::OK if self.segment => Err(changed(&self.shown_url)),
            StatusCode::OK => self.restart(response),
            status => Err(Error::UnexpectedStatus {
                status: status.as_u16(),
                url: self.shown_url.clone(),
                detail: Some("unexpected status while resuming".to_owned()),
            }),
        }
    }

    /// Takes `response` as the whole body again, from its first byte.
    fn restart(&mut self, response: Response) -> Result<Option<Chunk>> {
        self.decoder = decoder_for(&response)?;
        if let Some(window) = self.window.as_mut() {
            // The link is measured again, from the new response's first byte.
            *window = Window::of(&response, 0);
        }
        self.total = response.content_length().filter(|_| self.decoder.is_none());
        self.end = self.total;
        self.etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.version = Version::of(&response, self.total);
        self.framed = is_framed(&response);
        self.response = Some(response);
        let restarted = self.received > 0;
        self.received = 0;
        self.high_water = 0;
        self.pace.restart(0);
        self.head = Some(BytesMut::new());
        Ok(restarted.then_some(Chunk::Restart))
    }
}

/// What identifies the version of a deliverable a body comes from.
#[derive(Debug, Clone, Default)]
struct Version {
    etag: Option<String>,
    last_modified: Option<String>,
    total: Option<u64>,
}

impl Version {
    fn of(response: &Response, total: Option<u64>) -> Self {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self { etag: header(header::ETAG), last_modified: header(header::LAST_MODIFIED), total }
    }

    /// How a resumed range's response shows another version, if it does: its ETag,
    /// Last-Modified or total size differs from the first response's.
    fn change(&self, response: &Response) -> Option<String> {
        let other = Self::of(response, content_range(response.headers()).and_then(|r| r.total));
        let pairs = [
            ("ETag", self.etag.clone(), other.etag),
            ("Last-Modified", self.last_modified.clone(), other.last_modified),
            ("size", self.total.map(|t| t.to_string()), other.total.map(|t| t.to_string())),
        ];
        pairs.into_iter().find_map(|(what, before, now)| match (before, now) {
            (Some(before), Some(now)) if before != now => {
                Some(format!("its {what} was {} and is now {}", crate::printable(&before), crate::printable(&now)))
            }
            _ => None,
        })
    }
}
