//! The API client: [`Client`] and its builder (base URL, token, timeouts, retries, parallel
//! ranges, private CAs), orders, downloads, login and refresh.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt};
use serde_json::Value;
use url::Url;

use crate::Result;
use crate::auth::{self, Credentials, Session, TokenSet};
use crate::defaults::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_CONNECTIONS, DEFAULT_READ_TIMEOUT, DEFAULT_SEGMENT_SIZE, DEFAULT_SPEED_LIMIT,
    DEFAULT_SPEED_TIME,
};
use crate::download::{Chunk, Download, RateLimit};
use crate::error::Error;
use crate::ids::{DeliverableId, OrderId};
use crate::model::Order;
use crate::retry::RetryPolicy;
use crate::token::Token;
use crate::transport::{HostSlots, Inner, LowSpeed, Parallel, Resume, Transport, read_body};
use crate::url_redact::redact_url;

/// Wyvern's production API (not confirmed by public docs; override with `--api-url`).
pub const PRODUCTION_API_URL: &str = "https://api.wyvern.space";
/// Wyvern's sandbox API, home of the documented test order.
pub const SANDBOX_API_URL: &str = "https://api.sandbox.wyvern.space";

/// The most a JSON body (an order, a page of orders) may hold: bodies are read whole, so a
/// server that never ends one must not take the memory with it.
pub const JSON_LIMIT: usize = 32 << 20;
/// The most a token response may hold.
pub(crate) const TOKEN_LIMIT: usize = 1 << 20;
/// The smallest segment accepted (smaller ones would spend more on requests than on bytes).
const MIN_SEGMENT_SIZE: u64 = 64 << 10;

/// Builds a [`Client`]; `build` validates the settings before any I/O.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    user_agent: String,
    connect_timeout: Duration,
    read_timeout: Duration,
    retry: RetryPolicy,
    downloads_per_host: Option<usize>,
    allow_http: bool,
    connections: usize,
    segment_size: u64,
    low_speed: Option<LowSpeed>,
    rate_limit: Option<u64>,
    ca_certificates: Vec<Vec<u8>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: PRODUCTION_API_URL.to_owned(),
            credentials: None,
            user_agent: concat!("wyvern/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retry: RetryPolicy::default(),
            downloads_per_host: None,
            allow_http: false,
            connections: DEFAULT_CONNECTIONS,
            segment_size: DEFAULT_SEGMENT_SIZE,
            low_speed: Some(LowSpeed { limit: DEFAULT_SPEED_LIMIT, time: DEFAULT_SPEED_TIME }),
            rate_limit: None,
            ca_certificates: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, e.g. [`SANDBOX_API_URL`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// A fixed bearer token sent to the API's origin (see [`ClientBuilder::credentials`] for
    /// tokens that renew).
    pub fn token(mut self, token: Option<Token>) -> Self {
        self.credentials = token.map(Credentials::token);
        self
    }

    /// What the client authenticates with: its token is sent to the API's origin only, renewed
    /// before it expires and once on a 401 when the credentials allow.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The `User-Agent` header (default `wyvern/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How long to wait for a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one read may wait for bytes (a stalled body is cut and resumed after this).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How failures are retried.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Accept a plain `http://` API URL on a host other than loopback (the token would cross the
    /// network in clear text). Off by default.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// At most this many deliverable bodies streaming at once from one host (no limit by
    /// default). A [`Download`] holds its slot until dropped.
    pub fn max_downloads_per_host(mut self, limit: usize) -> Self {
        self.downloads_per_host = Some(limit.max(1));
        self
    }

    /// Fetch a deliverable as up to `connections` ranged requests at once when one connection
    /// brings its first bytes slower than [`crate::SPLIT_BELOW`] and the server accepts ranges
    /// (default [`DEFAULT_CONNECTIONS`], at most [`crate::MAX_CONNECTIONS`]; 1 always streams it
    /// in one request). The bytes still come out of [`Download::next`] in order: bytes that
    /// arrive ahead of the segment being read wait in memory, at most three segments of
    /// [`ClientBuilder::segment_size`].
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections.clamp(1, crate::MAX_CONNECTIONS);
        self
    }

    /// The size of each ranged request of a parallel download (default
    /// [`DEFAULT_SEGMENT_SIZE`], at least 64 KiB).
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes.max(MIN_SEGMENT_SIZE);
        self
    }

    /// Cut and resume a body that brings fewer than `limit` bytes a second over `time` spent
    /// reading it, as a stalled one is (default [`DEFAULT_SPEED_LIMIT`] over
    /// [`DEFAULT_SPEED_TIME`]; a `limit` of 0 turns the rule off). A trickle never trips the read
    /// timeout, which catches silence only. After as many slow windows in a row as the retry
    /// budget allows, the download fails.
    pub fn low_speed(mut self, limit: u64, time: Duration) -> Self {
        self.low_speed = (limit > 0 && !time.is_zero()).then_some(LowSpeed { limit, time });
        self
    }

    /// Read at most `bytes_per_sec` bytes a second of deliverables, all bodies and ranges of this
    /// client (and its clones) together (0: no cap, the default). Time held back by the cap does
    /// not count against [`ClientBuilder::low_speed`].
    pub fn limit_rate(mut self, bytes_per_sec: u64) -> Self {
        self.rate_limit = (bytes_per_sec > 0).then_some(bytes_per_sec);
        self
    }

    /// Also trust the certificate authorities in `pem` (one or more PEM certificates), beside
    /// the system's: for an API or storage behind a private CA.
    pub fn ca_certificates(mut self, pem: Vec<u8>) -> Self {
        self.ca_certificates.push(pem);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        let invalid = |reason: &str| Error::InvalidUrl { url: self.base_url.clone(), reason: reason.to_owned() };
        let mut base = Url::parse(&self.base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(invalid("the API URL must be http(s)://host[:port][/path]"));
        }
        if base.query().is_some() || !base.username().is_empty() {
            return Err(invalid("the API URL must not carry a query or credentials"));
        }
        if base.scheme() == "http" && !self.allow_http && !is_loopback(&base) {
            return Err(Error::PlainHttp { url: redact_url(&base) });
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut roots = Vec::new();
        for pem in &self.ca_certificates {
            roots.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::InvalidUrl {
                url: "--ca-cert".into(),
                reason: format!("not PEM certificates: {e}"),
            })?);
        }
        // reqwest is built without a TLS provider (see `wyvern_sinks::tls`): rustls's ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_certs_merge(roots)
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            // Redirects are followed by hand so that the token never leaves the API's origin.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| Error::Transport { url: redact_url(&base), source: Box::new(source) })?;
        let host_slots = self.downloads_per_host.map(|per_host| HostSlots { per_host, hosts: Mutex::default() });
        let parallel = Parallel { connections: self.connections, segment_size: self.segment_size };
        let transport = Transport::new(Inner {
            http,
            base,
            session: self.credentials.map(Session::new),
            retry: self.retry,
            host_slots,
            parallel,
            low_speed: self.low_speed,
            rate_limit: self.rate_limit.map(RateLimit::new),
        });
        Ok(Client { transport })
    }
}

/// A client of the tasking API: the API's calls (orders, deliverables, tokens) over one HTTP
/// transport. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("transport", &self.transport).finish()
    }
}

impl Client {
    /// A builder with the defaults: production URL, no token, default timeouts and retries.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The API's base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        self.transport.base()
    }

    fn endpoint(&self, path: &str) -> Url {
        // The base ends in '/', and paths are built from validated ids, so joining cannot fail.
        self.base_url().join(path).unwrap_or_else(|_| self.base_url().clone())
    }

    /// `GET /1.0/tasking/orders/{id}/`.
    pub fn order_url(&self, id: &OrderId) -> Url {
        self.endpoint(&format!("1.0/tasking/orders/{id}/"))
    }

    /// `GET /1.0/tasking/deliverables/{id}/`.
    pub fn deliverable_url(&self, id: &DeliverableId) -> Url {
        self.endpoint(&format!("1.0/tasking/deliverables/{id}/"))
    }

    /// Whether `url` is on the API's own origin (scheme, host and port), the only place the
    /// token is ever sent.
    pub fn is_api_origin(&self, url: &Url) -> bool {
        self.transport.is_api_origin(url)
    }

    /// Fetches an order.
    pub async fn order(&self, id: &OrderId) -> Result<Order> {
        let url = self.order_url(id);
        let response = self.transport.get(&url, None).await?;
        let body = read_body(response, &url, JSON_LIMIT, "an order").await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode { url: redact_url(&url), source })
    }

    /// Fetches an order and checks that its deliverables can be downloaded.
    pub async fn ready_order(&self, id: &OrderId) -> Result<Order> {
        let order = self.order(id).await?;
        if !order.is_ready() {
            return Err(Error::NotReady {
                order: order.id.to_string(),
                status: order.status.clone(),
                reason: order.reason_code.clone(),
            });
        }
        Ok(order)
    }

    /// Starts streaming a deliverable. The body is never buffered whole: read it with
    /// [`Download::next`]. With more than one connection (see [`ClientBuilder::connections`]), a
    /// body whose first bytes come slowly is fetched on as parallel ranged requests.
    pub async fn download(&self, id: &DeliverableId) -> Result<Download> {
        let url = self.deliverable_url(id);
        let slot = self.transport.slot(&url).await;
        let response = self.transport.get(&url, None).await?;
        Download::start(self.transport.clone(), url, response, None, slot)
    }

    /// Continues a deliverable from byte `offset` (a partial file left by an interrupted run):
    /// a `Range` request, answered with 206 by servers that support it. The returned download's
    /// [`Download::start_offset`] says where its bytes begin: `offset`, or 0 when the server sent
    /// the whole body instead (the partial bytes must then be discarded).
    pub async fn download_from(&self, id: &DeliverableId, offset: u64) -> Result<Download> {
        let url = self.deliverable_url(id);
        let slot = self.transport.slot(&url).await;
        let range = Some(Resume { from: offset, to: None, if_range: None });
        let response = match self.transport.get_with(&url, range, self.transport.retry_policy()).await {
            // The partial file is as long as the deliverable or longer: start over.
            Err(Error::UnexpectedStatus { status: 416, .. }) => self.transport.get(&url, None).await?,
            other => other?,
        };
        Download::start(self.transport.clone(), url, response, Some(offset), slot)
    }

    /// Bytes `range` of a deliverable, in one ranged request (retried, and resumed within the
    /// range when cut), e.g. to read its central directory and STAC item before its body. With
    /// a strong `etag`, the bytes must come from that version of the deliverable (`If-Range`):
    /// another version is an error.
    pub async fn read_range(&self, id: &DeliverableId, range: Range<u64>, etag: Option<&str>) -> Result<Bytes> {
        let mut download = self.download_range(id, range.clone(), etag).await?;
        let mut bytes = BytesMut::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0).min(16 << 20));
        while let Some(chunk) = download.next().await? {
            if let Chunk::Data(data) = chunk {
                bytes.extend_from_slice(&data);
            }
        }
        Ok(bytes.freeze())
    }

    /// Streams bytes `range` of a deliverable, in one ranged request (retried, and resumed
    /// within the range when cut); with a strong `etag`, from that version of it only (see
    /// [`Client::read_range`]). Read it with [`Download::next`].
    pub async fn download_range(&self, id: &DeliverableId, range: Range<u64>, etag: Option<&str>) -> Result<Download> {
        let etag = etag.filter(|etag| !etag.starts_with("W/")).map(str::to_owned);
        Download::segment(self.transport.clone(), self.deliverable_url(id), range, etag).await
    }

    /// A deliverable's size and ETag, asked with a one-byte range so that its body is not sent
    /// (through the API's redirect, the token kept to the API); `None` when its server does not
    /// answer ranges.
    pub async fn probe(&self, id: &DeliverableId) -> Result<Option<(u64, Option<String>)>> {
        let url = self.deliverable_url(id);
        let first_byte = Resume { from: 0, to: Some(1), if_range: None };
        let response = self.transport.get_with(&url, Some(first_byte), self.transport.retry_policy()).await?;
        if response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            return Ok(None);
        }
        let total = crate::download::content_range(response.headers()).and_then(|range| range.total);
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(total.map(|total| (total, etag)))
    }

    /// Every order the account can see: `GET /1.0/tasking/orders/`, following pagination.
    ///
    /// The list endpoint is not published. Pages are read leniently: the orders are the page
    /// itself when it is an array, else its `orders`, `results`, `features`, `items` or `data`
    /// array; the next page is the `links` entry with `rel: "next"` (STAC/STAPI), else a `next`
    /// URL (Django REST Framework). A next page on another origin is refused (the token goes
    /// nowhere else), and a page seen twice ends the listing.
    pub async fn list_orders(&self) -> Result<Vec<Order>> {
        self.order_pages().try_concat().await
    }

    /// The account's orders a page at a time, as [`Client::list_orders`] reads them: memory holds
    /// one page, however many orders the account has.
    pub fn order_pages(&self) -> impl Stream<Item = Result<Vec<Order>>> + '_ {
        let first = Some(self.endpoint("1.0/tasking/orders/"));
        // The pages seen, by a hash of their URL: 8 bytes a page, however long its URL.
        let seen_before = |seen: &mut HashSet<u64>, url: &Url| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            !seen.insert(BuildHasherDefault::<DefaultHasher>::default().hash_one(url))
        };
        futures::stream::try_unfold((first, HashSet::new()), move |(url, mut seen)| async move {
            let Some(url) = url.filter(|url| !seen_before(&mut seen, url)) else { return Ok(None) };
            let (orders, next) = self.order_page(&url).await?;
            Ok(Some((orders, (next, seen))))
        })
    }

    /// A page of orders, and the next page's URL.
    async fn order_page(&self, url: &Url) -> Result<(Vec<Order>, Option<Url>)> {
        let response = self.transport.get(url, None).await?;
        let body = read_body(response, url, JSON_LIMIT, "a page of orders").await?;
        let decode = |source| Error::Decode { url: redact_url(url), source };
        let page: Value = serde_json::from_slice(&body).map_err(decode)?;
        let (items, next) = split_page(page);
        let orders =
            items.into_iter().map(|item| serde_json::from_value(item).map_err(decode)).collect::<Result<_>>()?;
        let Some(next) = next else { return Ok((orders, None)) };
        let next = url.join(&next).map_err(|e| Error::InvalidUrl { url: next.clone(), reason: e.to_string() })?;
        if !self.is_api_origin(&next) {
            return Err(Error::InvalidUrl {
                url: redact_url(&next),
                reason: "the next page of orders is not on the API's origin".to_owned(),
            });
        }
        Ok((orders, Some(next)))
    }

    /// `POST /1.0/auth/token`: exchanges a username and password for tokens.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenSet> {
        let password = Token::verbatim(password).ok_or(Error::MissingToken)?;
        auth::login(&self.transport, username, &password).await
    }

    /// Exchanges a refresh token for a new token (see [`Credentials::tokens`] for renewal
    /// during a run).
    pub async fn refresh(&self, refresh_token: &Token) -> Result<TokenSet> {
        auth::refresh(&self.transport, refresh_token).await
    }
}

/// Whether a URL's host is this machine (127.0.0.0/8, ::1, localhost).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The items and the next-page link of one page of a list endpoint.
fn split_page(page: Value) -> (Vec<Value>, Option<String>) {
    let next = page
        .get("links")
        .and_then(Value::as_array)
        .and_then(|links| links.iter().find(|l| l.get("rel").and_then(Value::as_str) == Some("next")))
        .and_then(|link| link.get("href"))
        .or_else(|| page.get("next"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let items = match page {
        Value::Array(items) => items,
        Value::Object(mut fields) => ["orders", "results", "features", "items", "data"]
            .iter()
            .find_map(|key| match fields.remove(*key) {
                Some(Value::Array(items)) => Some(items),
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    (items, next)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Client, split_page};

    #[test]
    fn pages_of_every_known_shape_split_into_items_and_next() {
        let stapi = json!({"orders": [{"id": "a"}], "links": [{"rel": "next", "href": "https://h/p2"}]});
        assert_eq!(split_page(stapi), (vec![json!({"id": "a"})], Some("https://h/p2".to_owned())));
        let drf = json!({"count": 2, "next": "https://h/?page=2", "previous": null, "results": [{"id": "b"}]});
        assert_eq!(split_page(drf), (vec![json!({"id": "b"})], Some("https://h/?page=2".to_owned())));
        let last = json!({"features": [], "links": [{"rel": "self", "href": "x"}], "next": null});
        assert_eq!(split_page(last), (vec![], None));
        assert_eq!(split_page(json!([{"id": "c"}])), (vec![json!({"id": "c"})], None));
    }

    #[test]
    fn builder_validates_and_normalises_the_base_url() {
        let client = Client::builder().base_url("http://127.0.0.1:9/prefix").build().expect("client");
        assert_eq!(client.base_url().as_str(), "http://127.0.0.1:9/prefix/");
        assert_eq!(
            client.order_url(&"o1".parse().expect("id")).as_str(),
            "http://127.0.0.1:9/prefix/1.0/tasking/orders/o1/"
        );
        for bad in ["ftp://x", "not a url", "https://x/?q=1", "https://u:p@x/", "http://api.example.com"] {
            assert!(Client::builder().base_url(bad).build().is_err(), "{bad} accepted");
        }
        for loopback in ["http://127.0.0.1:9", "http://127.8.0.1", "http://[::1]:80", "http://localhost:4000"] {
            assert!(Client::builder().base_url(loopback).build().is_ok(), "{loopback} refused");
        }
        assert!(Client::builder().base_url("http://api.example.com").allow_http(true).build().is_ok());
    }
}
