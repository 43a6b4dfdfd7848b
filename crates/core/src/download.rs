use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::Result;
use crate::client::{Client, Resume};
use crate::error::Error;
use crate::url_redact::redact_url;

/// Why a body was interrupted.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Every zip starts with a local file header.
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

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
/// once the retry budget is spent, never a success.
#[derive(Debug)]
pub struct Download {
    client: Client,
    url: Url,
    shown_url: String,
    response: Option<Response>,
    total: Option<u64>,
    etag: Option<String>,
    accepts_ranges: bool,
    received: u64,
    high_water: u64,
    stalls: u32,
    /// Bytes held back until the zip magic is confirmed.
    head: Option<BytesMut>,
    /// Where this body started: 0, or the offset of a continued partial file.
    start: u64,
    /// The host slot this body holds, when downloads per host are limited.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Download {
    pub(crate) fn start(
        client: Client,
        url: Url,
        response: Response,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<Self> {
        let headers = response.headers();
        check_content_type(headers, response.url())?;
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // A 206 continues a partial file: its bytes start at the range's first byte.
        let start = match response.status() {
            StatusCode::PARTIAL_CONTENT => content_range_start(headers).unwrap_or(0),
            _ => 0,
        };
        let accepts_ranges = headers
            .get(header::ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|unit| unit.trim() == "bytes"));
        Ok(Self {
            shown_url: redact_url(response.url()),
            total: response.content_length().map(|remaining| start + remaining),
            etag,
            accepts_ranges: accepts_ranges || start > 0,
            response: Some(response),
            client,
            url,
            received: start,
            high_water: start,
            stalls: 0,
            // The zip header is checked at byte 0 only; a continued body re-checks it elsewhere.
            head: (start == 0).then(BytesMut::new),
            start,
            _slot: slot,
        })
    }

    /// The first byte of this body: 0, or where [`Client::download_from`] continued.
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

    /// Where the bytes come from after redirects, without the query string.
    pub fn source_url(&self) -> &str {
        &self.shown_url
    }

    /// The next piece of the body, `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Chunk>> {
        loop {
            let Some(response) = self.response.as_mut() else {
                return Ok(None);
            };
            let cause = match response.chunk().await {
                Ok(Some(bytes)) => {
                    self.received += bytes.len() as u64;
                    if self.received > self.high_water {
                        self.high_water = self.received;
                        self.stalls = 0;
                    }
                    match self.pass_magic(bytes)? {
                        Some(bytes) => return Ok(Some(Chunk::Data(bytes))),
                        None => continue,
                    }
                }
                Ok(None) if self.total.is_none_or(|total| self.received >= total) => {
                    self.response = None;
                    if self.head.is_some() {
                        return Err(self.not_a_zip("the body is shorter than a zip header"));
                    }
                    return Ok(None);
                }
                Ok(None) => None,
                Err(error) => Some(Box::new(error.without_url()) as Cause),
            };
            if let Some(restart) = self.resume_within_budget(cause).await? {
                return Ok(Some(restart));
            }
        }
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
        let policy = self.client.retry_policy();
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
        tracing::warn!(
            url = %self.shown_url,
            received = self.received,
            expected = ?self.total,
            "body interrupted ({}); resuming in {} ms",
            cause.as_ref().map_or_else(|| "ended early".to_owned(), ToString::to_string),
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
        let ranged = self.accepts_ranges && self.received > 0;
        let resume = ranged.then(|| Resume {
            from: self.received,
            // If-Range only with a strong validator: a weak one must not be used for ranges.
            if_range: self.etag.as_deref().filter(|etag| !etag.starts_with("W/")),
        });
        let response = self.client.get(&self.url, resume).await?;
        check_content_type(response.headers(), response.url())?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT if ranged => {
                let start = content_range_start(response.headers());
                if start != Some(self.received) {
                    return Err(Error::UnexpectedStatus {
                        status: 206,
                        url: self.shown_url.clone(),
                        detail: Some(format!(
                            "asked for bytes from {}, got a range starting at {start:?}",
                            self.received
                        )),
                    });
                }
                self.response = Some(response);
                Ok(None)
            }
            StatusCode::OK => {
                self.total = response.content_length();
                self.etag = response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
                self.response = Some(response);
                let restarted = self.received > 0;
                self.received = 0;
                self.head = Some(BytesMut::new());
                Ok(restarted.then_some(Chunk::Restart))
            }
            status => Err(Error::UnexpectedStatus {
                status: status.as_u16(),
                url: self.shown_url.clone(),
                detail: Some("unexpected status while resuming".to_owned()),
            }),
        }
    }
}

/// An HTML or JSON body is an error page, whatever the status said.
fn check_content_type(headers: &HeaderMap, url: &Url) -> Result<()> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence.starts_with("text/") || essence == "application/json" || essence.ends_with("+json") {
        return Err(Error::NotAZip { url: redact_url(url), reason: format!("its content type is {content_type}") });
    }
    Ok(())
}

/// The first byte of `Content-Range: bytes START-END/TOTAL`.
fn content_range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}
