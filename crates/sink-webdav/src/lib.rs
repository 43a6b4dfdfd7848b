//! A WebDAV sink for wyvern, written as a third-party crate would be: it depends on
//! `wyvern-sinks` alone, implements [`Sink`], registers its URL schemes with [`register`], and
//! passes the conformance suite (`tests/it`).
//!
//! `webdav://host[:port]/path` is served over HTTP and `webdavs://` over HTTPS. Uploads stream
//! the body in one chunked `PUT` to a hidden `.<name>.<random>.part` resource and `MOVE` it over
//! the final name when finished, so that nothing appears under the final name unless the whole
//! deliverable arrived. Credentials in the URL (`webdav://user:pass@host/...`) are sent with HTTP
//! basic authentication and never shown in messages.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;
use wyvern_sinks::{Error, ObjectInfo, ObjectPath, Registry, Result, Sink, Upload};

/// Listings asked again after a server error, at most.
const LISTING_ATTEMPTS: u32 = 3;

/// The URL schemes this crate serves.
pub const SCHEMES: [&str; 2] = ["webdav", "webdavs"];

/// Parts of a body in flight between `write` and the `PUT`.
const QUEUE: usize = 8;

/// Registers `webdav://` and `webdavs://` in a registry.
pub fn register(registry: &mut Registry) {
    for scheme in SCHEMES {
        registry.register(scheme, Arc::new(|url: &Url| Ok(Arc::new(WebDavSink::from_url(url)?) as Arc<dyn Sink>)));
    }
}

/// A folder on a WebDAV server.
#[derive(Clone)]
pub struct WebDavSink {
    http: reqwest::Client,
    /// The folder, as an http(s) URL ending in `/`, without credentials.
    base: Url,
    credentials: Option<(String, String)>,
    location: String,
    cleanup: wyvern_sinks::cleanup::Cleanup,
}

impl std::fmt::Debug for WebDavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials.
        f.debug_struct("WebDavSink").field("location", &self.location).finish()
    }
}

impl WebDavSink {
    /// A sink for `webdav://host/path` (HTTP) or `webdavs://host/path` (HTTPS).
    pub fn from_url(url: &Url) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidDestination { location: url.to_string(), reason: reason.to_owned() };
        let scheme = match url.scheme() {
            "webdav" => "http",
            "webdavs" => "https",
            _ => return Err(invalid("expected webdav:// or webdavs://")),
        };
        let host = url.host_str().ok_or_else(|| invalid("no host"))?;
        let port = url.port().map_or_else(String::new, |p| format!(":{p}"));
        let path = format!("{}/", url.path().trim_end_matches('/'));
        let base = Url::parse(&format!("{scheme}://{host}{port}{path}")).map_err(|e| invalid(&e.to_string()))?;
        let credentials = (!url.username().is_empty())
            .then(|| (url.username().to_owned(), url.password().unwrap_or_default().to_owned()));
        wyvern_sinks::tls::install();
        let http = reqwest::Client::builder()
            .user_agent(concat!("wyvern-sink-webdav/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        let location = format!("{}://{host}{port}{}", url.scheme(), path.trim_end_matches('/'));
        Ok(Self { http, base, credentials, location, cleanup: wyvern_sinks::cleanup::Cleanup::default() })
    }

    fn url(&self, path: &str) -> Url {
        // Paths are validated `ObjectPath`s (no dot segments), so joining stays under the base.
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    fn error(&self, action: &str, path: &str, detail: impl std::fmt::Display) -> Error {
        Error::Generic { location: self.location.clone(), message: format!("{action} {path}: {detail}"), source: None }
    }

    /// Sends a request; `ok` lists the statuses that count as success.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        ok: &[StatusCode],
        action: &str,
        path: &str,
    ) -> Result<reqwest::Response> {
        let response = request.send().await.map_err(|e| self.error(action, path, e.without_url()))?;
        if ok.contains(&response.status()) {
            Ok(response)
        } else {
            let status = response.status();
            Err(Error::of_http_status(
                status.as_u16(),
                self.location.clone(),
                format!("{action} {path}: HTTP {status}"),
                None,
            ))
        }
    }

    /// Creates the collections above `path`, the sink's folder included (MKCOL answers 405 for
    /// ones that exist).
    async fn make_parents(&self, path: &ObjectPath) -> Result<()> {
        let mut folders: Vec<&str> = self.base.path().split('/').filter(|s| !s.is_empty()).collect();
        let segments: Vec<&str> = path.segments().collect();
        folders.extend(&segments[..segments.len() - 1]);
        let mut folder = String::from("/");
        for segment in folders {
            folder.push_str(segment);
            folder.push('/');
            let ok = [StatusCode::CREATED, StatusCode::METHOD_NOT_ALLOWED, StatusCode::OK];
            let url = self.base.join(&folder).unwrap_or_else(|_| self.base.clone());
            let made = self.request(Method::from_bytes(b"MKCOL").expect("method"), url.clone());
            if let Err(error) = self.send(made, &ok, "creating", &folder).await {
                // Another writer may have created it at the same moment, a race some servers
                // (WsgiDAV) answer with a 500: what counts is that it is there now.
                let there = self.request(Method::from_bytes(b"PROPFIND").expect("method"), url).header("Depth", "0");
                if self.send(there, &[StatusCode::MULTI_STATUS], "creating", &folder).await.is_err() {
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    fn temp_path(path: &ObjectPath) -> String {
        let name = format!(".{}.{}.part", path.file_name(), uuid::Uuid::new_v4().simple());
        match path.as_str().rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{name}"),
            None => name,
        }
    }

    /// Renames `from` over `to`.
    async fn move_over(&self, from: &str, to: &ObjectPath) -> Result<()> {
        let request = self
            .request(Method::from_bytes(b"MOVE").expect("method"), self.url(from))
            .header("Destination", self.url(to.as_str()).as_str())
            .header("Overwrite", "T");
        self.send(request, &[StatusCode::CREATED, StatusCode::NO_CONTENT], "moving into place", to.as_str())
            .await
            .map(drop)
    }

    async fn remove(&self, path: &str) -> Result<()> {
        let ok = [StatusCode::OK, StatusCode::NO_CONTENT, StatusCode::NOT_FOUND];
        self.send(self.request(Method::DELETE, self.url(path)), &ok, "deleting", path).await.map(drop)
    }

    /// The files (not collections, not hidden) directly in `folder`, and its sub-folders.
    async fn propfind(&self, folder: &str) -> Result<(Vec<ObjectInfo>, Vec<String>)> {
        let mut attempts = 0;
        let response = loop {
            let request =
                self.request(Method::from_bytes(b"PROPFIND").expect("method"), self.url(folder)).header("Depth", "1");
            let response = request.send().await.map_err(|e| self.error("listing", folder, e.without_url()))?;
            match response.status() {
                StatusCode::NOT_FOUND => return Ok((Vec::new(), Vec::new())),
                StatusCode::MULTI_STATUS => break response,
                // A listing is safe to ask again; some servers (WsgiDAV) answer one that meets
                // a concurrent write to the folder with a 500.
                status if status.is_server_error() && attempts < LISTING_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempts)).await;
                }
                status => {
                    let message = format!("listing {folder}: HTTP {status}");
                    return Err(Error::of_http_status(status.as_u16(), self.location.clone(), message, None));
                }
            }
        };
        let text = response.text().await.map_err(|e| self.error("listing", folder, e.without_url()))?;
        let document = roxmltree::Document::parse(&text).map_err(|e| self.error("listing", folder, e))?;
        let own = self.url(folder).path().to_owned();
        let (mut files, mut folders) = (Vec::new(), Vec::new());
        for response in document.descendants().filter(|n| n.tag_name().name() == "response") {
            let find = |name: &str| response.descendants().find(|n| n.tag_name().name() == name);
            let Some(href) = find("href").and_then(|n| n.text()) else { continue };
            let href_path = Url::parse(href).map_or_else(|_| href.to_owned(), |u| u.path().to_owned());
            let Some(relative) = href_path.strip_prefix(self.base.path()) else { continue };
            let relative = percent_decode(relative.trim_end_matches('/'));
            let hidden = relative.rsplit('/').next().is_some_and(|name| name.starts_with('.'));
            if href_path.trim_end_matches('/') == own.trim_end_matches('/') || hidden || relative.is_empty() {
                continue;
            }
            if find("collection").is_some() {
                folders.push(format!("{relative}/"));
            } else if let Ok(path) = ObjectPath::parse(&relative) {
                let size =
                    find("getcontentlength").and_then(|n| n.text()).and_then(|t| t.trim().parse().ok()).unwrap_or(0);
                let modified = find("getlastmodified")
                    .and_then(|n| n.text())
                    .and_then(|t| httpdate::parse_http_date(t.trim()).ok());
                files.push(ObjectInfo { path, size, modified });
            }
        }
        Ok((files, folders))
    }
}

/// `%XX` escapes of an href path, decoded (names are ASCII ids here, but be exact).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl Sink for WebDavSink {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn check(&self) -> Result<()> {
        let probe = ObjectPath::parse(&format!(".wyvern-check-{}", uuid::Uuid::new_v4().simple())).expect("valid name");
        self.put_small(&probe, Bytes::from_static(b"check")).await?;
        self.remove(probe.as_str()).await
    }

    async fn head(&self, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
        let ok = [StatusCode::OK, StatusCode::NOT_FOUND];
        let response = self
            .send(self.request(Method::HEAD, self.url(path.as_str())), &ok, "reading metadata of", path.as_str())
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // The header itself: a HEAD response's body (and so reqwest's content_length) is empty.
        let size = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        Ok(Some(ObjectInfo { path: path.clone(), size, modified }))
    }

    async fn get_small(&self, path: &ObjectPath, limit: u64) -> Result<Option<Bytes>> {
        let ok = [StatusCode::OK, StatusCode::NOT_FOUND];
        let mut response =
            self.send(self.request(Method::GET, self.url(path.as_str())), &ok, "reading", path.as_str()).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let too_large = || Error::TooLarge { location: format!("{}/{path}", self.location), limit };
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        // The length may be unknown (a chunked body): read no more than one byte past the limit.
        let mut data = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| self.error("reading", path.as_str(), e.without_url()))?
        {
            data.extend_from_slice(&chunk);
            if data.len() as u64 > limit {
                return Err(too_large());
            }
        }
        Ok(Some(Bytes::from(data)))
    }

    async fn get_range(&self, path: &ObjectPath, range: std::ops::Range<u64>) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let request = self
            .request(Method::GET, self.url(path.as_str()))
            .header(reqwest::header::RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        let ok = [StatusCode::PARTIAL_CONTENT, StatusCode::OK, StatusCode::RANGE_NOT_SATISFIABLE];
        let response = self.send(request, &ok, "reading", path.as_str()).await?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.error("reading", path.as_str(), e.without_url()))?;
        Ok(match status {
            StatusCode::PARTIAL_CONTENT => body,
            StatusCode::RANGE_NOT_SATISFIABLE => Bytes::new(),
            // A server that ignores ranges sends everything: take the part asked for.
            _ => {
                let len = body.len() as u64;
                body.slice(range.start.min(len) as usize..range.end.min(len) as usize)
            }
        })
    }

    async fn put_small(&self, path: &ObjectPath, data: Bytes) -> Result<()> {
        let mut upload = self.start_upload(path, Some(data.len() as u64)).await?;
        upload.write(data).await?;
        upload.finish().await.map(drop)
    }

    async fn start_upload(&self, path: &ObjectPath, _size_hint: Option<u64>) -> Result<Box<dyn Upload>> {
        self.make_parents(path).await?;
        let temp = Self::temp_path(path);
        let (sender, receiver) = mpsc::channel::<Bytes>(QUEUE);
        let body = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|bytes| (Ok::<_, std::io::Error>(bytes), receiver))
        });
        let request = self.request(Method::PUT, self.url(&temp)).body(reqwest::Body::wrap_stream(body));
        let sink = self.clone();
        let target = temp.clone();
        let put = tokio::spawn(async move {
            sink.send(request, &[StatusCode::CREATED, StatusCode::NO_CONTENT, StatusCode::OK], "writing", &target)
                .await
                .map(drop)
        });
        Ok(Box::new(WebDavUpload {
            sink: self.clone(),
            path: path.clone(),
            temp,
            sender: Some(sender),
            done: false,
            put: Some(put),
            written: 0,
        }))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        self.remove(path.as_str()).await
    }

    async fn settle(&self) {
        self.cleanup.wait().await;
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectInfo>> {
        let mut pending = vec![prefix.map_or_else(String::new, |p| format!("{p}/"))];
        let mut found = Vec::new();
        while let Some(folder) = pending.pop() {
            let (files, folders) = self.propfind(&folder).await?;
            found.extend(files);
            pending.extend(folders);
        }
        Ok(found)
    }
}

#[derive(Debug)]
struct WebDavUpload {
    sink: WebDavSink,
    path: ObjectPath,
    temp: String,
    /// `None` once the body is closed.
    sender: Option<mpsc::Sender<Bytes>>,
    /// The `PUT` in flight; `None` once its body is closed and its outcome known.
    put: Option<JoinHandle<Result<()>>>,
    /// Finished or aborted: nothing is left on the server to remove on drop.
    done: bool,
    written: u64,
}

impl WebDavUpload {
    /// The `PUT`'s outcome once its body is closed (known already when sealed).
    async fn put_outcome(&mut self) -> Result<()> {
        drop(self.sender.take());
        match self.put.take() {
            Some(put) => put.await.map_err(|e| self.sink.error("writing", &self.temp, e))?,
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Upload for WebDavUpload {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let len = data.len() as u64;
        let Some(sender) = self.sender.as_ref() else {
            return Err(self.sink.error("writing", &self.temp, "the upload was sealed"));
        };
        if sender.send(data).await.is_err() {
            // The PUT ended early: its error says why.
            self.put_outcome().await?;
            return Err(self.sink.error("writing", &self.temp, "the server closed the upload"));
        }
        self.written += len;
        Ok(())
    }

    async fn seal(&mut self) -> Result<()> {
        self.put_outcome().await
    }

    async fn finish(mut self: Box<Self>) -> Result<ObjectInfo> {
        self.done = true;
        if let Err(e) = self.put_outcome().await {
            let _ = self.sink.remove(&self.temp).await;
            return Err(e);
        }
        if let Err(e) = self.sink.move_over(&self.temp, &self.path).await {
            let _ = self.sink.remove(&self.temp).await;
            return Err(e);
        }
        Ok(ObjectInfo { path: self.path.clone(), size: self.written, modified: None })
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.done = true;
        if let Some(put) = self.put.take() {
            put.abort();
            let _ = put.await;
        }
        self.sink.remove(&self.temp).await
    }
}

impl Drop for WebDavUpload {
    fn drop(&mut self) {
        // Dropped mid-way (or sealed and never finished): stop the PUT and remove what the
        // server kept of it.
        if !self.done {
            let put = self.put.take();
            if let Some(put) = &put {
                put.abort();
            }
            let (sink, temp) = (self.sink.clone(), self.temp.clone());
            self.sink.cleanup.clone().spawn(async move {
                if let Some(put) = put {
                    let _ = put.await;
                }
                if let Err(e) = sink.remove(&temp).await {
                    tracing::warn!("removing an abandoned upload failed: {e}");
                }
            });
        }
    }
}
