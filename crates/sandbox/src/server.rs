use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::generate::{Product, write_deliverable};

/// The documented sandbox test order: completed, fulfilled.
pub const TEST_ORDER: &str = "00000000-0000-0000-0000-000000000000";
/// The test order's deliverable.
pub const TEST_DELIVERABLE: &str = "00000000-0000-0000-0000-000000000001";
/// A completed, partially fulfilled order (nested status shape) with two deliverables.
pub const PARTIAL_ORDER: &str = "00000000-0000-0000-0000-000000000010";
/// Its deliverables.
pub const PARTIAL_DELIVERABLES: [&str; 2] =
    ["00000000-0000-0000-0000-000000000011", "00000000-0000-0000-0000-000000000012"];
/// An order accepted and not fulfilled yet.
pub const PENDING_ORDER: &str = "00000000-0000-0000-0000-000000000020";
/// An order rejected (it will never be fulfilled).
pub const REJECTED_ORDER: &str = "00000000-0000-0000-0000-000000000030";
/// The bearer token the replica accepts unless told otherwise.
pub const TEST_TOKEN: &str = "sandbox-token-0123456789abcdef";
/// A user that can log in.
pub const TEST_USERNAME: &str = "sandbox@example.com";
/// Its password.
pub const TEST_PASSWORD: &str = "correct horse battery staple";
/// Size of generated deliverables unless told otherwise (a small clipped scene).
pub const DEFAULT_DELIVERABLE_SIZE: u64 = 512 << 10;

/// How the replica misbehaves for one deliverable. Counted faults (`times`) apply to the first
/// requests of that deliverable's bytes and then stop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with a 302 to a presigned-style URL on the storage host, which refuses requests
    /// that carry an `Authorization` header (as S3 does).
    RedirectToStorage,
    /// 429 with `Retry-After` for the first `times` requests.
    RateLimit {
        /// How many requests are refused.
        times: u32,
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// A 5xx status for the first `times` requests.
    ServerError {
        /// How many requests fail.
        times: u32,
        /// Which status.
        status: u16,
    },
    /// Close the connection when the body reaches byte `offset`, for the first `times` bodies.
    CutAt {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// How many bodies are cut.
        times: u32,
    },
    /// Announce the full Content-Length but always send `missing` bytes fewer.
    ShortBody {
        /// How many bytes are never sent.
        missing: u64,
    },
    /// Send the body chunked, without Content-Length.
    Chunked,
    /// Answer with an HTML error page and status 200.
    HtmlPage,
    /// Flip the byte at `offset` in every body.
    CorruptByte {
        /// Absolute offset in the deliverable.
        offset: u64,
    },
    /// Ignore `Range` and do not advertise `Accept-Ranges`.
    IgnoreRange,
    /// Send the body up to byte `offset`, then nothing more (the connection stays open), for the
    /// first `times` bodies.
    Stall {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// How many bodies stall.
        times: u32,
    },
    /// Send at most this many bytes a second.
    Throttle {
        /// The rate.
        bytes_per_sec: u64,
    },
    /// With [`Fault::RedirectToStorage`]: each presigned link is good for one request; asked
    /// again, the storage host answers 403 `Request has expired`.
    ExpiringLinks,
    /// After the first `bodies` bodies, the deliverable is served as a new version: the same
    /// bytes under another ETag, so `If-Range` with the old one gets the whole body.
    NewVersionAfter {
        /// How many bodies the first version serves.
        bodies: u32,
    },
    /// As [`Fault::NewVersionAfter`], but ranges are served whatever `If-Range` says (a server
    /// that ignores it): a resumed body gets bytes of the new version under the new ETag.
    NewVersionIgnoringIfRange {
        /// How many bodies the first version serves.
        bodies: u32,
    },
    /// After byte `offset`, send `bytes_per_sec` in small pieces (a trickle, never silent long
    /// enough for a read timeout), for the first `times` bodies.
    Trickle {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// The trickle's rate.
        bytes_per_sec: u64,
        /// How many bodies trickle.
        times: u32,
    },
    /// Answer a request for the whole deliverable with `206` and the bytes from `from` on.
    PartialToPlainGet {
        /// Where the bytes sent start.
        from: u64,
    },
    /// Send the body with this `Content-Encoding`: `gzip` compresses it; any other name sends
    /// the bytes as they are under that name.
    Encoded {
        /// The encoding's name.
        encoding: &'static str,
    },
    /// Refuse with `403` and a text body that never ends.
    EndlessErrorBody,
    /// Answer every request for the deliverable this much later (the round trip of a distant
    /// server).
    Latency {
        /// The delay, in milliseconds.
        millis: u64,
    },
}

/// How an order's JSON is served, when not as usual.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFault {
    /// This JSON instead of the order's.
    Raw(Value),
    /// The order's JSON gzip-encoded (`Content-Encoding: gzip`).
    Gzip,
    /// A JSON body that never ends.
    Endless,
}

/// How an order's JSON is shaped: the two shapes the public docs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderShape {
    /// `status` and `reason_code` as top-level strings.
    Flat,
    /// `status` as a STAPI status object `{status_code, reason_code, timestamp, links}`, with the
    /// deliverable links inside it.
    Nested,
}

#[derive(Debug, Clone)]
struct OrderFixture {
    status: String,
    reason: Option<String>,
    shape: OrderShape,
    deliverables: Vec<String>,
}

/// One request the replica saw, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `api` or `storage`.
    pub host: &'static str,
    /// The method.
    pub method: String,
    /// The path (no query).
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Whether an `Authorization` header came with it.
    pub authorization: bool,
}

/// Configures a [`Sandbox`].
#[derive(Debug)]
pub struct SandboxBuilder {
    token: String,
    deliverable_size: u64,
    orders: BTreeMap<String, OrderFixture>,
    faults: HashMap<String, Vec<Fault>>,
    sizes: HashMap<String, u64>,
    files: HashMap<String, PathBuf>,
    order_faults: HashMap<String, OrderFault>,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        let mut builder = Self {
            token: TEST_TOKEN.to_owned(),
            deliverable_size: DEFAULT_DELIVERABLE_SIZE,
            orders: BTreeMap::new(),
            faults: HashMap::new(),
            sizes: HashMap::new(),
            files: HashMap::new(),
            order_faults: HashMap::new(),
        };
        builder = builder
            .order(TEST_ORDER, "completed", Some("fulfilled"), OrderShape::Flat, &[TEST_DELIVERABLE])
            .order(PARTIAL_ORDER, "completed", Some("partially_fulfilled"), OrderShape::Nested, &PARTIAL_DELIVERABLES)
            .order(PENDING_ORDER, "accepted", None, OrderShape::Nested, &[])
            .order(REJECTED_ORDER, "rejected", Some("invalid_geometry"), OrderShape::Flat, &[]);
        builder
    }
}

impl SandboxBuilder {
    /// The token the API accepts.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The approximate size of every generated deliverable.
    pub fn deliverable_size(mut self, bytes: u64) -> Self {
        self.deliverable_size = bytes;
        self
    }

    /// The approximate size of one deliverable.
    pub fn deliverable_size_of(mut self, deliverable: &str, bytes: u64) -> Self {
        self.sizes.insert(deliverable.to_owned(), bytes);
        self
    }

    /// Serves this file as a deliverable's zip instead of a generated one (a zip from another
    /// writer, say). The file is read when asked for, not copied.
    pub fn deliverable_file(mut self, deliverable: &str, path: impl Into<PathBuf>) -> Self {
        self.files.insert(deliverable.to_owned(), path.into());
        self
    }

    /// Adds (or replaces) an order with the given status, reason and deliverables.
    pub fn order(
        mut self,
        id: &str,
        status: &str,
        reason: Option<&str>,
        shape: OrderShape,
        deliverables: &[&str],
    ) -> Self {
        let fixture = OrderFixture {
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            shape,
            deliverables: deliverables.iter().map(|d| (*d).to_owned()).collect(),
        };
        self.orders.insert(id.to_owned(), fixture);
        self
    }

    /// Makes an order's endpoint misbehave.
    pub fn order_fault(mut self, order: &str, fault: OrderFault) -> Self {
        self.order_faults.insert(order.to_owned(), fault);
        self
    }

    /// Makes a deliverable misbehave.
    pub fn fault(mut self, deliverable: &str, fault: Fault) -> Self {
        self.faults.entry(deliverable.to_owned()).or_default().push(fault);
        self
    }

    /// Starts both listeners on free loopback ports.
    pub async fn start(self) -> anyhow::Result<Sandbox> {
        self.start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the API on `addr` (the storage host on a free port beside it).
    pub async fn start_on(self, addr: SocketAddr) -> anyhow::Result<Sandbox> {
        let api = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let storage = TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await.context("binding the storage host")?;
        let api_url = format!("http://{}", api.local_addr()?);
        let storage_url = format!("http://{}", storage.local_addr()?);
        let workdir = tempfile::Builder::new().prefix("wyvern-sandbox-").tempdir().context("creating a work folder")?;
        let state = Arc::new(Shared {
            tokens: Mutex::new(vec![self.token]),
            deliverable_size: self.deliverable_size,
            sizes: self.sizes,
            files: self.files,
            order_faults: self.order_faults,
            orders: self.orders,
            faults: self.faults,
            api_url: api_url.clone(),
            storage_url: storage_url.clone(),
            workdir,
            generated: tokio::sync::Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            counters: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
            links: Mutex::new((0, std::collections::HashSet::new())),
        });
        let api_router = Router::new()
            .route("/1.0/tasking/orders/", get(list_orders))
            .route("/1.0/tasking/orders/{id}/", get(order))
            .route("/1.0/tasking/deliverables/{id}/", get(deliverable))
            .route("/1.0/auth/token", post(login))
            .route("/1.0/auth/token/refresh", post(refresh))
            .fallback(not_found)
            .with_state(state.clone());
        let storage_router =
            Router::new().route("/objects/{file}", get(presigned)).fallback(not_found).with_state(state.clone());
        let tasks = vec![
            tokio::spawn(async move { axum::serve(api, api_router).await.map_err(Into::into) }),
            tokio::spawn(async move { axum::serve(storage, storage_router).await.map_err(Into::into) }),
        ];
        Ok(Sandbox { state, tasks })
    }
}

/// A running replica. Dropping it stops the listeners and removes generated deliverables.
#[derive(Debug)]
pub struct Sandbox {
    state: Arc<Shared>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// A generated deliverable on disk.
#[derive(Debug, Clone)]
pub struct Served {
    /// The zip file.
    pub path: PathBuf,
    /// Its size.
    pub len: u64,
    /// Its ETag.
    pub etag: String,
}

impl Sandbox {
    /// A builder with the default orders: the documented test order, a nested-status order with
    /// two deliverables, an order still being planned and a rejected one.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The API's base URL, e.g. `http://127.0.0.1:4567`.
    pub fn api_url(&self) -> &str {
        &self.state.api_url
    }

    /// The storage host's base URL.
    pub fn storage_url(&self) -> &str {
        &self.state.storage_url
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.requests).clone()
    }

    /// Body bytes sent so far for a deliverable, over all its responses.
    pub fn bytes_sent(&self, id: &str) -> u64 {
        lock(&self.state.sent).get(id).map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// The deliverable's zip as served (generated now if it was not yet).
    pub async fn deliverable(&self, id: &str) -> anyhow::Result<Served> {
        self.state.generated(id).await
    }

    /// Waits until the listeners stop (they run until the sandbox is dropped).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        for task in std::mem::take(&mut self.tasks) {
            task.await??;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Shared {
    tokens: Mutex<Vec<String>>,
    deliverable_size: u64,
    sizes: HashMap<String, u64>,
    files: HashMap<String, PathBuf>,
    order_faults: HashMap<String, OrderFault>,
    orders: BTreeMap<String, OrderFixture>,
    faults: HashMap<String, Vec<Fault>>,
    api_url: String,
    storage_url: String,
    workdir: tempfile::TempDir,
    generated: tokio::sync::Mutex<HashMap<String, Served>>,
    requests: Mutex<Vec<RequestRecord>>,
    /// Requests per (deliverable, fault index), for counted faults.
    counters: Mutex<HashMap<(String, usize), u32>>,
    /// Body bytes sent per deliverable.
    sent: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Presigned links issued (their number is part of the link) and those already used.
    links: Mutex<(u64, std::collections::HashSet<u64>)>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn record(&self, host: &'static str, method: &str, path: &str, headers: &HeaderMap) {
        lock(&self.requests).push(RequestRecord {
            host,
            method: method.to_owned(),
            path: path.to_owned(),
            range: headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned),
            authorization: headers.contains_key(header::AUTHORIZATION),
        });
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        lock(&self.tokens).iter().any(|t| t == token)
    }

    fn faults(&self, id: &str) -> &[Fault] {
        self.faults.get(id).map_or(&[], Vec::as_slice)
    }

    /// Counts one more use of a counted fault; true while it still applies.
    fn fault_applies(&self, id: &str, index: usize, times: u32) -> bool {
        let mut counters = lock(&self.counters);
        let used = counters.entry((id.to_owned(), index)).or_default();
        *used += 1;
        *used <= times
    }

    fn is_deliverable(&self, id: &str) -> bool {
        self.orders.values().any(|o| o.deliverables.iter().any(|d| d == id))
    }

    async fn generated(&self, id: &str) -> anyhow::Result<Served> {
        let mut generated = self.generated.lock().await;
        if let Some(served) = generated.get(id) {
            return Ok(served.clone());
        }
        if let Some(path) = self.files.get(id) {
            let len = tokio::fs::metadata(path).await.with_context(|| format!("reading {}", path.display()))?.len();
            let served = Served { path: path.clone(), len, etag: format!("\"{id}-{len}\"") };
            generated.insert(id.to_owned(), served.clone());
            return Ok(served);
        }
        let product = Product::for_deliverable(id, self.sizes.get(id).copied().unwrap_or(self.deliverable_size));
        let path = self.workdir.path().join(format!("{id}.zip"));
        let target = path.clone();
        let len = tokio::task::spawn_blocking(move || write_deliverable(&product, &target)).await??;
        let served = Served { path, len, etag: format!("\"{id}-{len}\"") };
        generated.insert(id.to_owned(), served.clone());
        Ok(served)
    }

    /// The API's origin as the client reached it (its `Host`, through a proxy too), for links.
    fn origin(&self, headers: &HeaderMap) -> String {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| self.api_url.clone(), |host| format!("http://{host}"))
    }

    fn order_json(&self, origin: &str, id: &str, fixture: &OrderFixture) -> Value {
        let links: Vec<Value> = fixture
            .deliverables
            .iter()
            .map(|d| json!({ "href": format!("{origin}/1.0/tasking/deliverables/{d}/"), "rel": "deliverable", "type": "application/zip", "title": null }))
            .collect();
        let mut order = json!({
            "id": id,
            "product_id": "f7311e41-b598-456f-8fe3-409372114e15",
            "datetime": "2025-06-01T00:00:00+00:00/2025-07-02T00:00:00+00:00",
        });
        let fields = order.as_object_mut().expect("object");
        match fixture.shape {
            OrderShape::Flat => {
                fields.insert("status".into(), json!(fixture.status));
                fields.insert("reason_code".into(), json!(fixture.reason));
                fields.insert("links".into(), json!(links));
            }
            OrderShape::Nested => {
                fields.insert(
                    "status".into(),
                    json!({ "timestamp": "2025-07-02T00:00:00Z", "status_code": fixture.status, "reason_code": fixture.reason, "links": links }),
                );
                fields.insert("links".into(), json!([]));
                fields.insert("wyvern:extra".into(), json!({ "unknown": "fields are tolerated" }));
            }
        }
        order
    }
}

fn error(status: StatusCode, detail: &str) -> Response {
    (status, Json(json!({ "detail": detail }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not found.")
}

async fn order(State(state): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    state.record("api", "GET", &format!("/1.0/tasking/orders/{id}/"), &headers);
    if !state.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Invalid token.");
    }
    let Some(fixture) = state.orders.get(&id) else { return not_found().await };
    match state.order_faults.get(&id) {
        None => Json(state.order_json(&state.origin(&headers), &id, fixture)).into_response(),
        Some(OrderFault::Raw(value)) => Json(value.clone()).into_response(),
        Some(OrderFault::Gzip) => {
            let json = serde_json::to_vec(&state.order_json(&state.origin(&headers), &id, fixture)).unwrap_or_default();
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let gzipped =
                std::io::Write::write_all(&mut encoder, &json).and_then(|()| encoder.finish()).unwrap_or_default();
            ([(header::CONTENT_TYPE, "application/json"), (header::CONTENT_ENCODING, "gzip")], gzipped).into_response()
        }
        Some(OrderFault::Endless) => {
            let start =
                futures::stream::once(async { Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"id\": \"")) });
            let endless = futures::stream::repeat_with(|| Ok(Bytes::from(vec![b'x'; 64 << 10])));
            ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(start.chain(endless))).into_response()
        }
    }
}

/// Orders a page at a time, with a STAC-style `next` link (`?cursor=N&limit=M`, 50 a page).
async fn list_orders(
    State(state): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.record("api", "GET", "/1.0/tasking/orders/", &headers);
    if !state.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Invalid token.");
    }
    let number = |key: &str, default: usize| query.get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (cursor, limit) = (number("cursor", 0), number("limit", 50).clamp(1, 500));
    let origin = state.origin(&headers);
    let orders: Vec<Value> = state
        .orders
        .iter()
        .skip(cursor)
        .take(limit)
        .map(|(id, fixture)| state.order_json(&origin, id, fixture))
        .collect();
    let mut links =
        vec![json!({ "rel": "self", "href": format!("{origin}/1.0/tasking/orders/?cursor={cursor}&limit={limit}") })];
    if cursor + limit < state.orders.len() {
        let next = format!("{origin}/1.0/tasking/orders/?cursor={}&limit={limit}", cursor + limit);
        links.push(json!({ "rel": "next", "href": next }));
    }
    Json(json!({ "orders": orders, "links": links })).into_response()
}

async fn deliverable(State(state): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    state.record("api", "GET", &format!("/1.0/tasking/deliverables/{id}/"), &headers);
    if !state.authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Invalid token.");
    }
    if !state.is_deliverable(&id) {
        return not_found().await;
    }
    for (index, fault) in state.faults(&id).iter().enumerate() {
        match *fault {
            Fault::Latency { millis } => tokio::time::sleep(std::time::Duration::from_millis(millis)).await,
            Fault::RateLimit { times, retry_after_secs } if state.fault_applies(&id, index, times) => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Request was throttled.");
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return response;
            }
            Fault::ServerError { times, status } if state.fault_applies(&id, index, times) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (status, "upstream trouble").into_response();
            }
            Fault::EndlessErrorBody => {
                let endless =
                    futures::stream::repeat_with(|| Ok::<Bytes, std::io::Error>(Bytes::from(vec![b'x'; 64 << 10])));
                return (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain")], Body::from_stream(endless))
                    .into_response();
            }
            Fault::RedirectToStorage => {
                let link = {
                    let mut links = lock(&state.links);
                    links.0 += 1;
                    links.0
                };
                let location = format!(
                    "{}/objects/{id}.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={link}&X-Amz-Expires=604800&X-Amz-Signature={}",
                    state.storage_url,
                    signature(&id, link)
                );
                return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
            }
            _ => {}
        }
    }
    serve(&state, &id, &headers).await
}

fn xml_error(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// The storage host: presigned URLs only, and a second auth mechanism is refused as S3 does.
async fn presigned(
    State(state): State<Arc<Shared>>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.record("storage", "GET", &format!("/objects/{file}"), &headers);
    let id = file.trim_end_matches(".zip");
    if headers.contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/xml")],
            "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
        )
            .into_response();
    }
    let link: u64 = query.get("X-Amz-Date").and_then(|d| d.parse().ok()).unwrap_or_default();
    if query.get("X-Amz-Signature").map(String::as_str) != Some(signature(id, link).as_str()) {
        return xml_error(StatusCode::FORBIDDEN, "<Error><Code>SignatureDoesNotMatch</Code></Error>");
    }
    let reused = !lock(&state.links).1.insert(link);
    if reused && state.faults(id).contains(&Fault::ExpiringLinks) {
        return xml_error(
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        );
    }
    serve(&state, id, &headers).await
}

/// The signature of presigned link number `link` for a deliverable.
pub fn signature(id: &str, link: u64) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("sandbox-signing-key/{id}/{link}")))
}

async fn serve(state: &Shared, id: &str, headers: &HeaderMap) -> Response {
    let served = match state.generated(id).await {
        Ok(served) => served,
        Err(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("generating the deliverable failed: {e:#}"));
        }
    };
    let faults = state.faults(id);
    if faults.contains(&Fault::HtmlPage) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><h1>Service temporarily unavailable</h1></body></html>",
        )
            .into_response();
    }
    let ranges = !faults.contains(&Fault::IgnoreRange);
    let new_version = faults.iter().enumerate().any(|(index, fault)| match *fault {
        Fault::NewVersionAfter { bodies } | Fault::NewVersionIgnoringIfRange { bodies } => {
            !state.fault_applies(id, index, bodies)
        }
        _ => false,
    });
    let etag = match new_version {
        true => format!("{}-v2\"", served.etag.trim_end_matches('"')),
        false => served.etag.clone(),
    };
    let ignores_if_range = faults.iter().any(|f| matches!(f, Fault::NewVersionIgnoringIfRange { .. }));
    let if_range_ok = ignores_if_range || headers.get(header::IF_RANGE).is_none_or(|v| v.as_bytes() == etag.as_bytes());
    if let Some(encoding) = faults.iter().find_map(|f| match f {
        Fault::Encoded { encoding } => Some(*encoding),
        _ => None,
    }) {
        return encoded(&served, encoding).await;
    }
    let range = headers
        .get(header::RANGE)
        .filter(|_| ranges && if_range_ok)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(first, last)| Some((first.parse::<u64>().ok()?, last.parse::<u64>().ok())));
    if range.is_some_and(|(first, last)| first >= served.len || last.is_some_and(|last| last < first)) {
        return (StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{}", served.len))])
            .into_response();
    }
    // A plain GET answered with part of the deliverable.
    let mut range = range;
    if let Some(from) = faults.iter().find_map(|f| match f {
        Fault::PartialToPlainGet { from } => Some(*from),
        _ => None,
    }) && headers.get(header::RANGE).is_none()
    {
        range = Some((from.min(served.len - 1), None));
    }
    let from = range.map_or(0, |(first, _)| first);
    // Where the range ends (exclusive): a bounded range stops before the end of the file.
    let range_end = range.and_then(|(_, last)| last).map_or(served.len, |last| (last + 1).min(served.len));
    let mut end = range_end;
    let mut cut = None;
    let mut stall = None;
    let mut corrupt = None;
    let mut rate = None;
    let mut trickle = None;
    for (index, fault) in faults.iter().enumerate() {
        match *fault {
            Fault::CutAt { offset, times }
                if offset > from && offset < range_end && state.fault_applies(id, index, times) =>
            {
                cut = Some(offset)
            }
            Fault::Stall { offset, times }
                if offset > from && offset < range_end && state.fault_applies(id, index, times) =>
            {
                stall = Some(offset)
            }
            Fault::Throttle { bytes_per_sec } => rate = Some(bytes_per_sec.max(1)),
            Fault::Trickle { offset, bytes_per_sec, times }
                if offset < range_end && state.fault_applies(id, index, times) =>
            {
                trickle = Some((offset, bytes_per_sec.max(1)));
            }
            Fault::ShortBody { missing } => end = end.min(served.len.saturating_sub(missing)).max(from),
            Fault::CorruptByte { offset } => corrupt = Some(offset),
            _ => {}
        }
    }
    let file = match std::fs::File::open(&served.path) {
        Ok(file) => file,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let stop = cut.or(stall).unwrap_or(end);
    let body = file_pieces(file, from..stop);
    let mut position = from;
    let sent = lock(&state.sent).entry(id.to_owned()).or_default().clone();
    let body = body.then(move |chunk| async move {
        if let (Some(rate), Ok(chunk)) = (rate, &chunk) {
            tokio::time::sleep(std::time::Duration::from_secs_f64(chunk.len() as f64 / rate as f64)).await;
        }
        chunk
    });
    // A trickle: past its offset, pieces of a tenth of a second's worth, each after its time.
    let mut at = from;
    let body = body.flat_map(move |chunk| {
        let pieces: Vec<std::io::Result<Bytes>> = match (chunk, trickle) {
            (Ok(chunk), Some((offset, rate))) if at + chunk.len() as u64 > offset => {
                let fast = offset.saturating_sub(at) as usize;
                let piece = (rate / 10).max(1) as usize;
                let mut pieces = vec![Ok(chunk.slice(..fast))];
                pieces.extend(
                    (fast..chunk.len()).step_by(piece).map(|i| Ok(chunk.slice(i..(i + piece).min(chunk.len())))),
                );
                at += chunk.len() as u64;
                pieces
            }
            (chunk, _) => {
                at += chunk.as_ref().map_or(0, |c| c.len() as u64);
                vec![chunk]
            }
        };
        futures::stream::iter(pieces).then(move |piece| async move {
            if let (Some((_, rate)), Ok(piece)) = (trickle, &piece)
                && !piece.is_empty()
                && piece.len() as u64 <= (rate / 10).max(1)
            {
                tokio::time::sleep(std::time::Duration::from_secs_f64(piece.len() as f64 / rate as f64)).await;
            }
            piece
        })
    });
    let body = body.map(move |chunk| {
        let chunk = chunk?;
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let chunk_start = position;
        position += chunk.len() as u64;
        Ok::<Bytes, std::io::Error>(match corrupt {
            Some(offset) if (chunk_start..position).contains(&offset) => {
                let mut bytes = chunk.to_vec();
                bytes[(offset - chunk_start) as usize] ^= 0xff;
                bytes.into()
            }
            _ => chunk,
        })
    });
    // A cut ends the body with an error, which makes the server drop the connection. It waits a
    // moment first, so that the bytes before the cut are flushed and reach the client.
    let tail = futures::stream::iter(cut).then(|_| async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Err(std::io::Error::other("fault: connection cut"))
    });
    // A stall keeps the connection open and silent, until the client gives up.
    let tail = tail.chain(futures::stream::iter(stall).then(|_| async {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        Err(std::io::Error::other("fault: stalled"))
    }));
    let mut response = Response::new(Body::from_stream(body.chain(tail)));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"x\"")));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if ranges {
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if !faults.contains(&Fault::Chunked) {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(range_end - from));
    }
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(range) = HeaderValue::from_str(&format!("bytes {from}-{}/{}", range_end - 1, served.len)) {
            response.headers_mut().insert(header::CONTENT_RANGE, range);
        }
    }
    response
}

/// Bytes of a file served as they are read, in pieces of 64 KiB: read in large blocks on a thread
/// of their own (one read per MiB, no copy but the kernel's), so that the replica costs the
/// machine it shares with its clients as little as a static file server would.
fn file_pieces(
    mut file: std::fs::File,
    range: std::ops::Range<u64>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    const BLOCK: u64 = 1 << 20;
    const PIECE: usize = 64 << 10;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        if let Err(e) = file.seek(std::io::SeekFrom::Start(range.start)) {
            let _ = sender.blocking_send(Err(e));
            return;
        }
        let mut left = range.end.saturating_sub(range.start);
        while left > 0 {
            let mut block = Vec::with_capacity(BLOCK.min(left) as usize);
            let read = match (&mut file).take(BLOCK.min(left)).read_to_end(&mut block) {
                Ok(0) => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter")),
                other => other,
            };
            let block = match read {
                Ok(n) => {
                    left -= n as u64;
                    Ok(Bytes::from(block))
                }
                Err(e) => Err(e),
            };
            let failed = block.is_err();
            if sender.blocking_send(block).is_err() || failed {
                return;
            }
        }
    });
    let blocks = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|block| (block, receiver))
    });
    blocks.flat_map(|block| {
        let pieces: Vec<std::io::Result<Bytes>> = match block {
            Ok(block) => {
                (0..block.len()).step_by(PIECE).map(|i| Ok(block.slice(i..(i + PIECE).min(block.len())))).collect()
            }
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    })
}

/// The whole deliverable under a `Content-Encoding` (see [`Fault::Encoded`]).
async fn encoded(served: &Served, encoding: &str) -> Response {
    let bytes = match tokio::fs::read(&served.path).await {
        Ok(bytes) => bytes,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let body = if encoding == "gzip" {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &bytes).and_then(|()| encoder.finish()).unwrap_or_default()
    } else {
        bytes
    };
    let encoding = HeaderValue::from_str(encoding).unwrap_or(HeaderValue::from_static("x-unknown"));
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_ENCODING, encoding);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

async fn login(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    state.record("api", "POST", "/1.0/auth/token", &headers);
    let field = |name: &str| body.as_ref().and_then(|b| b.get(name)).and_then(Value::as_str).map(str::to_owned);
    if field("username").as_deref() != Some(TEST_USERNAME) || field("password").as_deref() != Some(TEST_PASSWORD) {
        return error(StatusCode::UNAUTHORIZED, "No active account found with the given credentials");
    }
    issue(&state)
}

async fn refresh(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    state.record("api", "POST", "/1.0/auth/token/refresh", &headers);
    let given = body.as_ref().and_then(|b| b.get("refresh_token")).and_then(Value::as_str).unwrap_or_default();
    if !given.starts_with("sandbox-refresh-") {
        return error(StatusCode::UNAUTHORIZED, "Token is invalid or expired");
    }
    issue(&state)
}

fn issue(state: &Shared) -> Response {
    let mut tokens = lock(&state.tokens);
    let token = format!("sandbox-issued-{:04}", tokens.len());
    tokens.push(token.clone());
    Json(json!({ "access_token": token, "refresh_token": format!("sandbox-refresh-{}", tokens.len()), "expires_in": 3600 })).into_response()
}
