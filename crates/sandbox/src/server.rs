//! The replica's HTTP server: Wyvern's documented endpoints (orders, deliverables, login and
//! refresh), served from generated deliverables, with the faults a test asks for.

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

use crate::auth::{TokenSettings, TokenShape, Tokens};
use crate::body::serve;
use crate::faults::{Fault, OrderFault, OrderShape};
use crate::generate::{Product, write_deliverable};
use crate::orders::{self, Generated, OrderFixture};

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
/// Size of generated deliverables unless told otherwise (a small clipped scene).
pub const DEFAULT_DELIVERABLE_SIZE: u64 = 512 << 10;

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
    account: Generated,
    faults: HashMap<String, Vec<Fault>>,
    token_settings: TokenSettings,
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
            account: Generated::default(),
            faults: HashMap::new(),
            token_settings: TokenSettings::default(),
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

    /// How the login and refresh endpoints answer (OAuth's field names by default).
    pub fn token_shape(mut self, shape: TokenShape) -> Self {
        self.token_settings.shape = shape;
        self
    }

    /// How long issued access and refresh tokens live (an hour and a day by default).
    pub fn token_lifetimes(mut self, access: std::time::Duration, refresh: std::time::Duration) -> Self {
        self.token_settings.access_lifetime = access;
        self.token_settings.refresh_lifetime = refresh;
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

    /// Also serves `orders` fulfilled orders of `per_order` deliverables each, generated from
    /// their index as they are asked for (ids `00000000-0000-0000-0002-<n>`, deliverables
    /// `00000000-0000-0000-0003-<n>`), listed newest first after the others; their
    /// deliverables share the bytes of one generated zip.
    pub fn generated_orders(mut self, orders: u64, per_order: u64) -> Self {
        self.account = Generated { orders, per_order };
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
            tokens: Tokens::new(self.token, self.token_settings),
            failing_listings: std::sync::atomic::AtomicU32::new(0),
            deliverable_size: self.deliverable_size,
            sizes: self.sizes,
            files: self.files,
            order_faults: self.order_faults,
            orders: Mutex::new(self.orders),
            account: self.account,
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

    /// Every access token issued so far stops working (they expired, say), and the fixed
    /// token becomes `token` (`None`: none).
    pub fn revoke_tokens(&self, token: Option<&str>) {
        self.state.tokens.revoke(token.map(str::to_owned));
    }

    /// Every refresh token issued so far stops working.
    pub fn revoke_refresh_tokens(&self) {
        self.state.tokens.revoke_refresh();
    }

    /// Access tokens issued so far, by login or refresh.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.issued()
    }

    /// The next `times` requests for the list of orders get a 503 (an API that is down).
    pub fn fail_order_listings(&self, times: u32) {
        self.state.failing_listings.store(times, Ordering::Relaxed);
    }

    /// Adds or changes an order while the replica runs (an order fulfilled later, say).
    pub fn set_order(&self, id: &str, status: &str, reason: Option<&str>, deliverables: &[&str]) {
        let fixture = OrderFixture {
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            shape: OrderShape::Flat,
            deliverables: deliverables.iter().map(|d| (*d).to_owned()).collect(),
        };
        lock(&self.state.orders).insert(id.to_owned(), fixture);
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
pub(crate) struct Shared {
    tokens: Tokens,
    /// List requests still to be answered 503.
    failing_listings: std::sync::atomic::AtomicU32,
    deliverable_size: u64,
    sizes: HashMap<String, u64>,
    files: HashMap<String, PathBuf>,
    order_faults: HashMap<String, OrderFault>,
    orders: Mutex<BTreeMap<String, OrderFixture>>,
    account: Generated,
    faults: HashMap<String, Vec<Fault>>,
    api_url: String,
    storage_url: String,
    workdir: tempfile::TempDir,
    generated: tokio::sync::Mutex<HashMap<String, Served>>,
    requests: Mutex<Vec<RequestRecord>>,
    /// Requests per (deliverable, fault index), for counted faults.
    counters: Mutex<HashMap<(String, usize), u32>>,
    /// Body bytes sent per deliverable.
    pub(crate) sent: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Presigned links issued (their number is part of the link) and those already used.
    links: Mutex<(u64, std::collections::HashSet<u64>)>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
        self.tokens.authorized(headers)
    }

    pub(crate) fn faults(&self, id: &str) -> &[Fault] {
        self.faults.get(id).map_or(&[], Vec::as_slice)
    }

    /// Counts one more use of a counted fault; true while it still applies.
    pub(crate) fn fault_applies(&self, id: &str, index: usize, times: u32) -> bool {
        let mut counters = lock(&self.counters);
        let used = counters.entry((id.to_owned(), index)).or_default();
        *used += 1;
        *used <= times
    }

    fn is_deliverable(&self, id: &str) -> bool {
        self.account.is_deliverable(id) || lock(&self.orders).values().any(|o| o.deliverables.iter().any(|d| d == id))
    }

    pub(crate) async fn generated(&self, id: &str) -> anyhow::Result<Served> {
        // The generated account's deliverables are one zip, generated once.
        let id = if self.account.is_deliverable(id) { orders::SHARED } else { id };
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
}

pub(crate) fn error(status: StatusCode, detail: &str) -> Response {
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
    let Some(fixture) = lock(&state.orders).get(&id).cloned().or_else(|| state.account.order(&id)) else {
        return not_found().await;
    };
    let fixture = &fixture;
    match state.order_faults.get(&id) {
        None => Json(fixture.json(&state.origin(&headers), &id)).into_response(),
        Some(OrderFault::Raw(value)) => Json(value.clone()).into_response(),
        Some(OrderFault::Gzip) => {
            let json = serde_json::to_vec(&fixture.json(&state.origin(&headers), &id)).unwrap_or_default();
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
    let failing = state.failing_listings.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    if failing.is_ok() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable.");
    }
    let number = |key: &str, default: usize| query.get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (cursor, limit) = (number("cursor", 0), number("limit", 50).clamp(1, 500));
    let origin = state.origin(&headers);
    let (page, total) = state.account.page(&lock(&state.orders), cursor, limit);
    let orders: Vec<Value> = page.iter().map(|(id, fixture)| fixture.json(&origin, id)).collect();
    let mut links =
        vec![json!({ "rel": "self", "href": format!("{origin}/1.0/tasking/orders/?cursor={cursor}&limit={limit}") })];
    if cursor.saturating_add(limit) < total {
        let next = format!("{origin}/1.0/tasking/orders/?cursor={}&limit={limit}", cursor.saturating_add(limit));
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

async fn login(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    state.record("api", "POST", "/1.0/auth/token", &headers);
    state.tokens.login(body.as_deref())
}

async fn refresh(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Option<Json<Value>>) -> Response {
    state.record("api", "POST", "/1.0/auth/token/refresh", &headers);
    state.tokens.refresh(body.as_deref())
}
