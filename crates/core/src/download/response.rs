//! What a response says of the body it carries: its range, its encoding, whether a cut would
//! show, whether it is a zip at all.

use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};
use url::Url;

use super::Cause;
use crate::Result;
use crate::encoding::Decoder;
use crate::error::Error;
use crate::url_redact::redact_url;

/// `bytes START-END of TOTAL`, for messages.
pub(super) fn shown_range(range: Option<(u64, u64, Option<u64>)>) -> String {
    match range {
        Some((start, end, Some(total))) => format!("bytes {start} to {} of {total}", end.saturating_sub(1)),
        Some((start, end, None)) => format!("bytes {start} to {}", end.saturating_sub(1)),
        None => "no Content-Range".to_owned(),
    }
}

/// The decoder of a body sent with a `Content-Encoding`; an encoding this tool does not decode is
/// named in the error.
pub(super) fn decoder_for(response: &Response) -> Result<Option<Decoder>> {
    let decoder = Decoder::for_headers(response.headers()).map_err(|encoding| Error::NotAZip {
        url: redact_url(response.url()),
        reason: format!("it came {encoding}-encoded (Content-Encoding: {encoding}), which this tool does not decode"),
    })?;
    if let Some(decoder) = &decoder {
        tracing::warn!(url = %redact_url(response.url()), "the server sent the deliverable {}-encoded although asked for identity: decoding it (a cut body restarts: ranges would count encoded bytes)", decoder.name());
    }
    Ok(decoder)
}

/// Whether a response's body has a marked end.
pub(super) fn is_framed(response: &Response) -> bool {
    let chunked = response
        .headers()
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    response.content_length().is_some() || chunked || response.version() >= reqwest::Version::HTTP_2
}

/// A body that broke off mid-way, said in a few words of what happened: reqwest calls every such
/// failure "error decoding response body"; the innermost cause says what it was.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct BrokenOff(String);

/// A failure reading a body, as a cut in it: the connection closed early, was reset or aborted,
/// a read timed out; else the innermost cause's own words.
pub(super) fn broken_off(error: reqwest::Error) -> Cause {
    use std::io::ErrorKind;
    let mut innermost: &(dyn std::error::Error + 'static) = &error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    if std::ptr::addr_eq(innermost, &error) {
        return Box::new(error.without_url());
    }
    let said = match innermost.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(ErrorKind::ConnectionReset) => "connection reset".to_owned(),
        Some(ErrorKind::ConnectionAborted) => "connection aborted".to_owned(),
        Some(ErrorKind::UnexpectedEof) => "closed early".to_owned(),
        Some(ErrorKind::TimedOut) => "timed out".to_owned(),
        // hyper's "end of file before message length reached", "connection closed before
        // message completed".
        _ if innermost.to_string().contains("before message") => "closed early".to_owned(),
        _ => innermost.to_string(),
    };
    Box::new(BrokenOff(said))
}

/// A decoding failure, as a cut in the body.
pub(super) fn cut(error: std::io::Error) -> Cause {
    Box::new(error)
}

/// A ranged request answered with something else than the range asked for.
pub(super) fn changed(url: &str) -> Error {
    Error::UnexpectedStatus {
        status: 200,
        url: url.to_owned(),
        detail: Some(
            "a range was answered with the whole body: the deliverable changed during the download, or the \
             server stopped honouring ranges"
                .to_owned(),
        ),
    }
}

/// Checks that a response is the range starting at `from`.
pub(super) fn check_range(response: &Response, url: &str, from: u64) -> Result<()> {
    if response.status() != StatusCode::PARTIAL_CONTENT {
        return Err(changed(url));
    }
    let range = content_range(response.headers());
    if range.as_ref().map(|r| r.start) != Some(from) {
        let got = shown_range(range.map(|r| (r.start, r.end, r.total)));
        return Err(Error::UnexpectedStatus {
            status: 206,
            url: url.to_owned(),
            detail: Some(format!("asked for the bytes from {from} on, got {got}")),
        });
    }
    Ok(())
}

/// An HTML or JSON body is an error page, whatever the status said.
pub(super) fn check_content_type(headers: &HeaderMap, url: &Url) -> Result<()> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence.starts_with("text/") || essence == "application/json" || essence.ends_with("+json") {
        return Err(Error::NotAZip { url: redact_url(url), reason: format!("its content type is {content_type}") });
    }
    Ok(())
}

/// `Content-Range: bytes START-LAST/TOTAL`.
pub(crate) struct ContentRange {
    pub(super) start: u64,
    /// Exclusive.
    pub(super) end: u64,
    /// `None` for `*`.
    pub(crate) total: Option<u64>,
}

pub(crate) fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (start, last) = range.split_once('-')?;
    let (start, last): (u64, u64) = (start.trim().parse().ok()?, last.trim().parse().ok()?);
    Some(ContentRange { start, end: last.checked_add(1)?, total: total.trim().parse().ok() })
}
