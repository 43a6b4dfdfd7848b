//! The HTTP side of the client: one `reqwest` client, the token (attached per request, only on the
//! API's origin), retries with backoff, redirects followed by hand, bounded bodies, and the settings
//! downloads read (parallel ranges, the low-speed rule, slots per host). [`crate::Client`] speaks
//! the API over it; [`crate::Download`] and its segments use it directly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use crate::Result;
use crate::auth::Session;
use crate::download::RateLimit;
use crate::encoding::Decoder;
use crate::error::Error;
use crate::retry::{RetryPolicy, retry_after};
use crate::token::Token;
use crate::url_redact::redact_url;

const MAX_REDIRECTS: usize = 10;
/// How much of an error body is read for its message.
const DETAIL_LIMIT: usize = 2048;

/// The HTTP transport. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

/// What a transport is made of (see [`crate::ClientBuilder::build`]).
pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub base: Url,
    pub session: Option<Session>,
    pub retry: RetryPolicy,
    pub host_slots: Option<HostSlots>,
    pub parallel: Parallel,
    pub low_speed: Option<LowSpeed>,
    pub rate_limit: Option<RateLimit>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.inner.base.as_str())
            .field("credentials", &self.inner.session.as_ref().map(Session::credentials))
            .finish()
    }
}

/// The low-speed rule: a body that brings fewer than `limit` bytes a second over `time` of
/// reading is cut and resumed, as a stalled one is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LowSpeed {
    pub limit: u64,
    pub time: Duration,
}

/// How deliverables are split into ranged requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parallel {
    pub connections: usize,
    pub segment_size: u64,
}

/// How long a response's headers took to come after its request was sent, redirects included:
/// how long another request for the same URL would take to be answered. Kept in the response's
/// extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoundTrip(pub Duration);

impl RoundTrip {
    /// The round trip recorded on `response`; zero for one that was not sent by a transport.
    pub(crate) fn of(response: &Response) -> Duration {
        response.extensions().get::<Self>().map_or(Duration::ZERO, |round_trip| round_trip.0)
    }
}

/// One semaphore per host, for [`crate::ClientBuilder::max_downloads_per_host`].
pub(crate) struct HostSlots {
    pub per_host: usize,
    pub hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostSlots {
    async fn acquire(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        let host = format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(0));
        let semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(self.per_host))).clone()
        };
        semaphore.acquire_owned().await.ok()
    }
}

/// A ranged request: from a byte, up to another or to the end, for resuming a body or fetching
/// one segment of it.
pub(crate) struct Resume<'a> {
    pub from: u64,
    /// The end of the range (exclusive); `None` for the rest of the body.
    pub to: Option<u64>,
    pub if_range: Option<&'a str>,
}

impl Transport {
    pub(crate) fn new(inner: Inner) -> Self {
        Self { inner: Arc::new(inner) }
    }

    /// The API's base URL.
    pub(crate) fn base(&self) -> &Url {
        &self.inner.base
    }

    /// Whether `url` is on the API's own origin, the only place the token is ever sent.
    pub(crate) fn is_api_origin(&self, url: &Url) -> bool {
        url.origin() == self.inner.base.origin()
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    pub(crate) fn parallel(&self) -> Parallel {
        self.inner.parallel
    }

    pub(crate) fn low_speed(&self) -> Option<LowSpeed> {
        self.inner.low_speed
    }

    /// The cap on the bytes a second of every body read.
    pub(crate) fn rate_limit(&self) -> Option<&RateLimit> {
        self.inner.rate_limit.as_ref()
    }

    /// A slot for one more body from `url`'s host, when bodies per host are limited.
    pub(crate) async fn slot(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        match &self.inner.host_slots {
            Some(slots) => slots.acquire(url).await,
            None => None,
        }
    }

    /// A JSON `POST` with retries, returning a 2xx response: for the token endpoints, so it
    /// carries no token.
    pub(crate) async fn post_json(&self, url: &Url, body: &Value) -> Result<Response> {
        let response =
            self.with_retries(url, self.inner.retry, false, || self.inner.http.post(url.clone()).json(body)).await?;
        check_status(response, url).await
    }

    /// A GET with retries and hand-followed redirects, returning a 2xx response. A resumed
    /// body is sent once: [`Download`] counts its failures in its own budget.
    pub(crate) async fn get(&self, url: &Url, resume: Option<Resume<'_>>) -> Result<Response> {
        let policy =
            if resume.is_some() { RetryPolicy { max_retries: 0, ..self.inner.retry } } else { self.inner.retry };
        self.get_with(url, resume, policy).await
    }

    pub(crate) async fn get_with(
        &self,
        url: &Url,
        resume: Option<Resume<'_>>,
        policy: RetryPolicy,
    ) -> Result<Response> {
        let response = self
            .with_retries(url, policy, true, || {
                let mut request = self.inner.http.get(url.clone());
                if let Some(resume) = &resume {
                    let to = resume.to.map_or_else(String::new, |to| (to - 1).to_string());
                    request = request.header(header::RANGE, format!("bytes={}-{to}", resume.from));
                    if let Some(etag) = resume.if_range {
                        request = request.header(header::IF_RANGE, etag);
                    }
                }
                request
            })
            .await?;
        check_status(response, url).await
    }

    /// Sends a request, following redirects by hand and retrying transport errors, 429 and 5xx
    /// with backoff; with `authorize`, the session's token goes to the API's origin, and a 401
    /// from there renews it once. Other statuses are returned for the caller to judge.
    async fn with_retries(
        &self,
        url: &Url,
        policy: RetryPolicy,
        authorize: bool,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let session = self.inner.session.as_ref().filter(|_| authorize);
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let bearer = match session {
                Some(session) => Some(session.current(self).await?),
                None => None,
            };
            let token = bearer.as_ref().map(|bearer| &bearer.token);
            let (error, wait_hint) = match self.follow_redirects(request(), token).await {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let after = retry_after(response.headers());
                    let error = Error::RateLimited {
                        url: redact_url(response.url()),
                        attempts: attempt + 1,
                        retry_after: after,
                    };
                    (error, after)
                }
                Ok(response) if response.status().is_server_error() => {
                    let after = retry_after(response.headers());
                    let error = Error::Server {
                        status: response.status().as_u16(),
                        url: redact_url(response.url()),
                        attempts: attempt + 1,
                    };
                    (error, after)
                }
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !renewed => {
                    let (Some(session), Some(bearer)) = (session, &bearer) else { return Ok(response) };
                    if !self.is_api_origin(response.url()) || !session.renew(bearer, self).await? {
                        return Ok(response);
                    }
                    tracing::info!(url = %redact_url(url), "the API refused the token; sending the request again with the renewed one");
                    renewed = true;
                    continue;
                }
                Ok(response) => return Ok(response),
                Err(error @ Error::Transport { .. }) => (error, None),
                Err(error) => return Err(error),
            };
            if attempt >= policy.max_retries {
                return Err(error);
            }
            let wait = policy.backoff(attempt, wait_hint);
            tracing::warn!(
                url = %redact_url(url),
                attempt = attempt + 1,
                max = policy.max_retries,
                wait_ms = wait.as_millis() as u64,
                reason = %error.brief(),
                "retrying: {error}"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends the request and follows GET redirects, attaching the token only on the API's origin.
    async fn follow_redirects(&self, request: reqwest::RequestBuilder, token: Option<&Token>) -> Result<Response> {
        let mut request = request.build().map_err(|e| transport(self.base(), e))?;
        let sent = std::time::Instant::now();
        for _ in 0..=MAX_REDIRECTS {
            let url = request.url().clone();
            if let Some(token) = token.filter(|_| self.is_api_origin(&url)) {
                let mut value = header::HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    let what =
                        if token.expose().contains(['\n', '\r']) { "a line break" } else { "a control character" };
                    Error::InvalidToken { what }
                })?;
                value.set_sensitive(true);
                request.headers_mut().insert(header::AUTHORIZATION, value);
            } else {
                request.headers_mut().remove(header::AUTHORIZATION);
            }
            // Deliverables are zips: compressing them again helps no one, and would make ranges
            // count encoded bytes. A body that comes encoded anyway is decoded (see `Download`).
            request
                .headers_mut()
                .entry(header::ACCEPT_ENCODING)
                .or_insert(header::HeaderValue::from_static("identity"));
            let next = request.try_clone();
            let (method, range) = (request.method().clone(), request.headers().get(header::RANGE).cloned());
            let started = std::time::Instant::now();
            let mut response = self.inner.http.execute(request).await.map_err(|e| transport(&url, e))?;
            response.extensions_mut().insert(RoundTrip(sent.elapsed()));
            // What -v shows of the conversation: each request and its answer, no query strings.
            let range = range.as_ref().and_then(|r| r.to_str().ok()).map_or_else(String::new, |r| format!(" ({r})"));
            tracing::info!(
                "{method} {}{range}: {} in {:.2} s",
                redact_url(&url),
                response.status().as_u16(),
                started.elapsed().as_secs_f64()
            );
            let Some(location) = redirect_target(&response) else {
                return Ok(response);
            };
            let target = url.join(location).map_err(|e| Error::InvalidUrl {
                url: redact_url(&url),
                reason: format!("bad redirect Location: {e}"),
            })?;
            if url.scheme() == "https" && target.scheme() != "https" {
                return Err(Error::InsecureRedirect { from: redact_url(&url), to: redact_url(&target) });
            }
            tracing::info!("redirected to {}", redact_url(&target));
            let Some(mut next) = next.filter(|r| r.method() == Method::GET) else {
                return Err(Error::UnexpectedStatus {
                    status: response.status().as_u16(),
                    url: redact_url(&url),
                    detail: Some("redirect of a non-GET request".into()),
                });
            };
            *next.url_mut() = target;
            request = next;
        }
        Err(Error::InvalidUrl {
            url: redact_url(request.url()),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

fn redirect_target(response: &Response) -> Option<&str> {
    if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
        return None;
    }
    response.headers().get(header::LOCATION)?.to_str().ok()
}

pub(crate) fn transport(url: &Url, error: reqwest::Error) -> Error {
    let source = Box::new(error.without_url());
    // A certificate the machine does not trust fails the same way every time: not retried.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*source);
    while let Some(mut current) = cause {
        // An io::Error's `source` skips the error it wraps: unwrap those by hand.
        while let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(|e| e.get_ref()) {
            current = inner;
        }
        if current.downcast_ref::<rustls::Error>().is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_))) {
            return Error::Certificate { url: redact_url(url), source };
        }
        cause = current.source();
    }
    Error::Transport { url: redact_url(url), source }
}

/// Maps refusals to typed errors; passes 2xx through.
pub(crate) async fn check_status(response: Response, url: &Url) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let shown = redact_url(response.url());
    let detail = error_detail(response.headers().clone(), response).await;
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Error::Unauthenticated { status: status.as_u16(), url: shown, detail }
        }
        StatusCode::NOT_FOUND => Error::NotFound { url: redact_url(url) },
        _ => Error::UnexpectedStatus { status: status.as_u16(), url: shown, detail },
    })
}

/// A JSON body read whole, decoded when it came encoded, refused past `limit` bytes.
pub(crate) async fn read_body(mut response: Response, url: &Url, limit: usize, what: &'static str) -> Result<Bytes> {
    let shown = redact_url(url);
    let mut decoder = Decoder::for_headers(response.headers()).map_err(|encoding| Error::UnexpectedStatus {
        status: response.status().as_u16(),
        url: shown.clone(),
        detail: Some(format!("{what} came {encoding}-encoded, an encoding this tool does not decode")),
    })?;
    let mut bytes = BytesMut::new();
    let too_large = || Error::TooLarge { url: shown.clone(), what, limit };
    let corrupt = |e: std::io::Error| Error::Transport { url: shown.clone(), source: Box::new(e) };
    loop {
        let piece = response.chunk().await.map_err(|e| transport(url, e))?;
        let piece = match (piece, decoder.as_mut()) {
            (Some(piece), Some(decoder)) => decoder.push(&piece).map_err(corrupt)?,
            (Some(piece), None) => piece,
            (None, _) => break,
        };
        if bytes.len() + piece.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&piece);
    }
    if let Some(decoder) = decoder {
        let rest = decoder.finish().map_err(corrupt)?;
        if bytes.len() + rest.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&rest);
    }
    Ok(bytes.freeze())
}

/// The `detail` of a JSON error body (Django REST Framework style), or the start of a text body,
/// with its control characters escaped. Only the first [`DETAIL_LIMIT`] bytes are read.
async fn error_detail(headers: HeaderMap, mut response: Response) -> Option<String> {
    let is_text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/plain"));
    if !is_text {
        return None;
    }
    let mut decoder = Decoder::for_headers(&headers).ok()?;
    let mut body = Vec::new();
    while body.len() < DETAIL_LIMIT {
        let Ok(Some(piece)) = response.chunk().await else { break };
        match decoder.as_mut() {
            Some(decoder) => body.extend_from_slice(&decoder.push(&piece).ok()?),
            None => body.extend_from_slice(&piece),
        }
    }
    let body = &body[..body.len().min(DETAIL_LIMIT)];
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        for key in ["detail", "message", "error"] {
            if let Some(text) = value.get(key).and_then(Value::as_str) {
                return Some(crate::printable(text).into_owned());
            }
        }
    }
    let text = String::from_utf8_lossy(body).trim().chars().take(200).collect::<String>();
    (!text.is_empty()).then(|| crate::printable(&text).into_owned())
}
