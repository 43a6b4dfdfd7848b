//! The object-store sink (S3, GCS, Azure through `object_store`): multipart uploads published
//! only when complete, checksums the store checks, and the URLs that name them.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutPayloadMut};

use crate::{Error, ObjectInfo, ObjectPath, Result, Sink, Upload};

/// Parts uploaded at once by one upload: with the part being filled, this bounds its memory.
const PART_CONCURRENCY: usize = 4;
/// Smallest part size (S3 requires 5 MiB for every part but the last).
const MIN_PART: u64 = 8 << 20;
/// Stay under S3's and GCS's 10,000-part limit with room to spare.
const MAX_PARTS: u64 = 9_000;

/// A sink over any [`ObjectStore`]: S3, GCS, Azure, or anything else `object_store` speaks.
///
/// Uploads are multipart uploads whose parts are sent as the bytes arrive (at most
/// four at once; `write` waits when they are all busy), completed by `finish` and
/// aborted by `abort`. The object stores make a multipart upload visible only when it completes.
#[derive(Debug, Clone)]
pub struct ObjectStoreSink {
    store: Arc<dyn ObjectStore>,
    /// The store [`Sink::check`] asks: `store`, unless [`ObjectStoreSink::with_checker`] gave one.
    checker: Arc<dyn ObjectStore>,
    prefix: Path,
    location: String,
    cleanup: crate::cleanup::Cleanup,
}

impl ObjectStoreSink {
    /// A sink writing under `prefix` of `store`; `location` names it in messages (e.g.
    /// `s3://bucket/prefix`, without credentials).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, location: impl Into<String>) -> Self {
        let checker = store.clone();
        Self { store, checker, prefix, location: location.into(), cleanup: crate::cleanup::Cleanup::default() }
    }

    /// The store [`Sink::check`] asks instead: the same bucket with a short retry budget, so that
    /// a destination that cannot be reached fails within seconds, not after the minutes the
    /// transfers' own budget allows.
    pub fn with_checker(self, checker: Arc<dyn ObjectStore>) -> Self {
        Self { checker, ..self }
    }

    fn key(&self, path: &ObjectPath) -> Path {
        path.segments().fold(self.prefix.clone(), |key, segment| key.clone().join(segment))
    }

    fn error(&self, action: &str, path: &Path, source: object_store::Error) -> Error {
        // The bucket's root has an empty key: the action alone, with no trailing blank.
        let message = if path.as_ref().is_empty() { action.to_owned() } else { format!("{action} {path}") };
        Error::of_object_store(source, self.location.clone(), message)
    }

    fn relative(&self, key: &Path) -> Option<ObjectPath> {
        let rest: Vec<_> = key.prefix_match(&self.prefix)?.map(|part| part.as_ref().to_owned()).collect();
        ObjectPath::parse(&rest.join("/")).ok()
    }

    /// What a listing says of an object under the prefix (`None` for one outside it).
    fn info(&self, meta: &object_store::ObjectMeta) -> Option<ObjectInfo> {
        Some(ObjectInfo {
            path: self.relative(&meta.location)?,
            size: meta.size,
            modified: Some(meta.last_modified.into()),
        })
    }
}

/// A part size that keeps a deliverable of `size` bytes under [`MAX_PARTS`] parts.
pub(crate) fn part_size(size: Option<u64>) -> usize {
    let needed = size.unwrap_or(0).div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    usize::try_from(needed.max(MIN_PART)).unwrap_or(usize::MAX)
}

#[async_trait]
impl Sink for ObjectStoreSink {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn stamps_writes(&self) -> bool {
        true
    }

    fn list_sorted<'a>(&'a self, prefix: Option<&'a ObjectPath>) -> BoxStream<'a, Result<ObjectInfo>> {
        let under = prefix.map_or_else(|| self.prefix.clone(), |p| self.key(p));
        // S3, GCS and Azure list in the UTF-8 byte order of keys, a page at a time.
        self.store
            .list(Some(&under))
            .map_err(move |e| self.error("listing", &under, e))
            .try_filter_map(move |meta| async move { Ok(self.info(&meta)) })
            .boxed()
    }

    async fn check(&self) -> Result<()> {
        // One listing request proves the bucket exists and the credentials are accepted; starting
        // and aborting a multipart upload proves they may write (where the store asks the server
        // at that point: S3 and GCS do, Azure does not). Neither leaves an object behind.
        let store = &self.checker;
        store.list_with_delimiter(Some(&self.prefix)).await.map_err(|e| self.error("listing", &self.prefix, e))?;
        let key = self.prefix.clone().join(format!(".wyvern-check-{}", uuid::Uuid::new_v4().simple()));
        let mut upload =
            store.put_multipart(&key).await.map_err(|e| self.error("starting an upload in", &self.prefix, e))?;
        upload.abort().await.map_err(|e| self.error("aborting an upload in", &self.prefix, e))
    }

    async fn head(&self, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
        let key = self.key(path);
        match self.store.head(&key).await {
            Ok(meta) => {
                Ok(Some(ObjectInfo { path: path.clone(), size: meta.size, modified: Some(meta.last_modified.into()) }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("reading metadata of", &key, e)),
        }
    }

    async fn get_small(&self, path: &ObjectPath, limit: u64) -> Result<Option<Bytes>> {
        let key = self.key(path);
        let result = match self.store.get(&key).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error("reading", &key, e)),
        };
        // The size is in the response's headers: a larger object's body is not read.
        if result.meta.size > limit {
            return Err(Error::TooLarge { location: format!("{}/{path}", self.location), limit });
        }
        result.bytes().await.map(Some).map_err(|e| self.error("reading", &key, e))
    }

    async fn get_range(&self, path: &ObjectPath, range: std::ops::Range<u64>) -> Result<Bytes> {
        let key = self.key(path);
        // Object stores refuse ranges past the end: clamp to the object's size first.
        let size = self.store.head(&key).await.map_err(|e| self.error("reading metadata of", &key, e))?.size;
        let range = range.start.min(size)..range.end.min(size);
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.store.get_range(&key, range).await.map_err(|e| self.error("reading", &key, e))
    }

    async fn put_small(&self, path: &ObjectPath, data: Bytes) -> Result<()> {
        let key = self.key(path);
        self.store.put(&key, PutPayload::from(data)).await.map(drop).map_err(|e| self.error("writing", &key, e))
    }

    async fn start_upload(&self, path: &ObjectPath, size_hint: Option<u64>) -> Result<Box<dyn Upload>> {
        let key = self.key(path);
        let upload = self.store.put_multipart(&key).await.map_err(|e| self.error("starting an upload of", &key, e))?;
        Ok(Box::new(ObjectUpload {
            writer: Some(Parts::new(upload, part_size(size_hint))),
            path: path.clone(),
            sink: self.clone(),
            key,
            written: 0,
        }))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let key = self.key(path);
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("deleting", &key, e)),
        }
    }

    async fn settle(&self) {
        self.cleanup.wait().await;
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectInfo>> {
        let under = prefix.map_or_else(|| self.prefix.clone(), |p| self.key(p));
        let listed: Vec<_> =
            self.store.list(Some(&under)).try_collect().await.map_err(|e| self.error("listing", &under, e))?;
        Ok(listed.iter().filter_map(|meta| self.info(meta)).collect())
    }
}

/// A multipart upload fed as the bytes arrive: `write` fills the part being built and sends each
/// full one, at most [`PART_CONCURRENCY`] in flight; `seal` sends the rest as the last part and
/// waits for every part, keeping no buffer; `finish` completes the upload. (`object_store`'s
/// `WriteMultipart` can only send its last part when it completes.)
#[derive(Debug)]
struct Parts {
    upload: Box<dyn MultipartUpload>,
    part_size: usize,
    buffer: PutPayloadMut,
    sending: tokio::task::JoinSet<object_store::Result<()>>,
    sealed: bool,
}

impl Parts {
    fn new(upload: Box<dyn MultipartUpload>, part_size: usize) -> Self {
        Self { upload, part_size, buffer: PutPayloadMut::new(), sending: tokio::task::JoinSet::new(), sealed: false }
    }

    /// Waits until fewer than `max` parts are in flight (none, for 0).
    async fn wait(&mut self, max: usize) -> object_store::Result<()> {
        while !self.sending.is_empty() && self.sending.len() >= max {
            match self.sending.join_next().await {
                Some(Ok(sent)) => sent?,
                Some(Err(e)) => return Err(object_store::Error::Generic { store: "upload", source: Box::new(e) }),
                None => break,
            }
        }
        Ok(())
    }

    fn send(&mut self) {
        let part = std::mem::take(&mut self.buffer);
        self.sending.spawn(self.upload.put_part(part.freeze()));
    }

    async fn write(&mut self, mut bytes: Bytes) -> object_store::Result<()> {
        if self.sealed {
            return Err(object_store::Error::Generic { store: "upload", source: "the upload was sealed".into() });
        }
        self.wait(PART_CONCURRENCY).await?;
        while !bytes.is_empty() {
            let room = self.part_size - self.buffer.content_length();
            if bytes.len() < room {
                self.buffer.push(bytes);
                break;
            }
            self.buffer.push(bytes.split_to(room));
            self.send();
        }
        Ok(())
    }

    async fn seal(&mut self) -> object_store::Result<()> {
        if !self.buffer.is_empty() {
            self.send();
        }
        self.sealed = true;
        self.wait(0).await
    }

    async fn finish(mut self) -> object_store::Result<()> {
        let completed = match self.seal().await {
            Ok(()) => self.upload.complete().await.map(drop),
            Err(e) => Err(e),
        };
        if completed.is_err() {
            self.abort().await?;
        }
        completed
    }

    async fn abort(mut self) -> object_store::Result<()> {
        // Parts in flight are let finish (their failures do not matter now): a part the store
        // is still receiving when the abort arrives can outlive the upload (S3's documentation
        // says as much), and would be kept, and billed, with nothing to complete it.
        while self.sending.join_next().await.is_some() {}
        self.upload.abort().await
    }
}

#[derive(Debug)]
struct ObjectUpload {
    /// `None` once finished or aborted.
    writer: Option<Parts>,
    path: ObjectPath,
    sink: ObjectStoreSink,
    key: Path,
    written: u64,
}

#[async_trait]
impl Upload for ObjectUpload {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let writer = self.writer.as_mut().expect("upload used after finish or abort");
        let len = data.len() as u64;
        if let Err(e) = writer.write(data).await {
            return Err(self.sink.error("uploading a part of", &self.key, e));
        }
        self.written += len;
        Ok(())
    }

    async fn seal(&mut self) -> Result<()> {
        let writer = self.writer.as_mut().expect("upload used after finish or abort");
        if let Err(e) = writer.seal().await {
            return Err(self.sink.error("uploading the last part of", &self.key, e));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<ObjectInfo> {
        let writer = self.writer.take().expect("upload used after finish or abort");
        writer.finish().await.map_err(|e| self.sink.error("completing the upload of", &self.key, e))?;
        Ok(ObjectInfo { path: self.path.clone(), size: self.written, modified: None })
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        let writer = self.writer.take().expect("upload used after finish or abort");
        writer.abort().await.map_err(|e| self.sink.error("aborting the upload of", &self.key, e))
    }
}

impl Drop for ObjectUpload {
    fn drop(&mut self) {
        // An upload dropped mid-way (an error elsewhere, cancellation) is aborted in the
        // background, so that no multipart upload is left dangling.
        if let Some(writer) = self.writer.take() {
            let key = self.key.clone();
            self.sink.cleanup.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(%key, "aborting a dropped upload failed: {e}");
                }
            });
        }
    }
}

/// The cloud stores' URL schemes, each with the feature of this crate that serves it.
const CLOUD_SCHEMES: [(&str, &str); 8] = [
    ("s3", "aws"),
    ("s3a", "aws"),
    ("gs", "gcp"),
    ("az", "azure"),
    ("azure", "azure"),
    ("abfs", "azure"),
    ("abfss", "azure"),
    ("adl", "azure"),
];

/// Whether this build has `feature` (one of [`CLOUD_SCHEMES`]').
fn built(feature: &str) -> bool {
    (feature == "aws" && cfg!(feature = "aws"))
        || (feature == "gcp" && cfg!(feature = "gcp"))
        || (feature == "azure" && cfg!(feature = "azure"))
}

/// The URL schemes `object_store` serves in this build.
pub(crate) fn builtin_schemes() -> Vec<&'static str> {
    let mut schemes: Vec<_> =
        CLOUD_SCHEMES.iter().filter(|(_, feature)| built(feature)).map(|(scheme, _)| *scheme).collect();
    if !schemes.is_empty() {
        // The clouds' own https endpoints (bucket.s3.region.amazonaws.com, account.blob.core.windows.net...).
        schemes.push("https");
    }
    schemes
}

/// The feature of this crate that would serve `scheme`, when this build leaves it out.
pub(crate) fn left_out(scheme: &str) -> Option<&'static str> {
    left_out_of(scheme, built)
}

/// [`left_out`], for a build that has the features `built` says it has.
fn left_out_of(scheme: &str, built: impl Fn(&str) -> bool) -> Option<&'static str> {
    CLOUD_SCHEMES.iter().find(|(known, feature)| *known == scheme && !built(feature)).map(|(_, feature)| *feature)
}

/// How S3 checks what it receives: against a checksum of each part and object, sent beside it
/// (`x-amz-checksum-*`). Which one: `AWS_CHECKSUM_ALGORITHM` when set (object_store reads it:
/// `sha256` or `crc64nvme`), else `WYVERN_S3_CHECKSUM`: `crc64nvme` (the default: SIMD-fast, and
/// what S3 computes by default), `sha256`, or `none` (for an S3-compatible store that refuses
/// checksum headers). With a checksum, and `AWS_UNSIGNED_PAYLOAD` unset, the request signature
/// leaves the body out (`UNSIGNED-PAYLOAD`, as the AWS SDKs do over HTTPS): the checksum carries
/// the body's integrity, and a SHA-256 of every byte is not computed a second time. Without one,
/// the signature covers the body (its SHA-256), which S3 checks too.
#[cfg(feature = "aws")]
fn s3_integrity(
    builder: object_store::aws::AmazonS3Builder,
) -> std::result::Result<object_store::aws::AmazonS3Builder, String> {
    use object_store::aws::Checksum;

    use crate::env;

    let unsigned = |builder: object_store::aws::AmazonS3Builder| {
        if env::is_set(env::AWS_UNSIGNED_PAYLOAD) { builder } else { builder.with_unsigned_payload(true) }
    };
    if env::is_set(env::AWS_CHECKSUM_ALGORITHM) {
        return Ok(unsigned(builder));
    }
    let asked = env::var(env::WYVERN_S3_CHECKSUM).unwrap_or_default().to_ascii_lowercase();
    match asked.as_str() {
        "" | "crc64nvme" => Ok(unsigned(builder.with_checksum_algorithm(Checksum::CRC64NVME))),
        "sha256" => Ok(unsigned(builder.with_checksum_algorithm(Checksum::SHA256))),
        "none" => Ok(builder),
        other => Err(format!("WYVERN_S3_CHECKSUM={other:?}: expected crc64nvme, sha256 or none")),
    }
}

/// How the destination's check asks the store, its credentials included (from the instance
/// metadata service, a container's or a web identity's endpoint): within seconds, where the
/// transfers keep object_store's budget (minutes, for their credentials' renewals too). Where no
/// credential service answers (a laptop with no `AWS_*` set, and so no instance metadata) or the
/// store cannot be reached (a mistyped endpoint), the check fails within seconds, not after
/// minutes of retries; a store that answers 503 a few times still passes it.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn credential_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(15),
        ..Default::default()
    }
}

/// A sink's store, and the one its check asks (see [`ObjectStoreSink::with_checker`]).
type Stores = (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>);

/// Builds the stores of an object_store builder: the sink's, with object_store's retries, and
/// its checker (see [`ObjectStoreSink::with_checker`]), with [`credential_retry`]; each fetches
/// its own credentials.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
macro_rules! build_with_quick_checks {
    ($builder:expr) => {{
        let builder = $builder;
        builder.clone().with_retry(credential_retry()).build().and_then(|checker| {
            Ok((Arc::new(builder.build()?) as Arc<dyn ObjectStore>, Arc::new(checker) as Arc<dyn ObjectStore>))
        })
    }};
}

/// Builds a cloud sink from a URL, with credentials and endpoints from the environment.
pub(crate) fn from_url(url: &url::Url) -> Result<Arc<dyn Sink>> {
    use object_store::ObjectStoreScheme;

    let invalid = |reason: String| Error::InvalidDestination { location: shown(url), reason };
    let (scheme, prefix) = ObjectStoreScheme::parse(url).map_err(|e| invalid(e.to_string()))?;
    crate::tls::install();
    let built: Option<object_store::Result<Stores>> = match scheme {
        #[cfg(feature = "aws")]
        ObjectStoreScheme::AmazonS3 => {
            let builder = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
            Some(build_with_quick_checks!(s3_integrity(builder).map_err(invalid)?))
        }
        #[cfg(feature = "gcp")]
        ObjectStoreScheme::GoogleCloudStorage => Some(build_with_quick_checks!(
            object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str())
        )),
        #[cfg(feature = "azure")]
        ObjectStoreScheme::MicrosoftAzure => Some(build_with_quick_checks!(
            object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str())
        )),
        _ => None,
    };
    let Some(built) = built else {
        let feature = match scheme {
            ObjectStoreScheme::AmazonS3 => "aws",
            ObjectStoreScheme::GoogleCloudStorage => "gcp",
            ObjectStoreScheme::MicrosoftAzure => "azure",
            _ => return Err(invalid(format!("{scheme:?} is not supported as a destination"))),
        };
        return Err(Error::NotBuilt { location: shown(url), feature });
    };
    let (store, checker) = built.map_err(|e| invalid(e.to_string()))?;
    Ok(Arc::new(ObjectStoreSink::new(store, prefix, shown(url)).with_checker(checker)))
}

/// A bucket URL for messages: scheme, host and path only (no credentials or query).
pub(crate) fn shown(url: &url::Url) -> String {
    let port = url.port().map_or_else(String::new, |p| format!(":{p}"));
    format!("{}://{}{port}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::{CLOUD_SCHEMES, builtin_schemes, left_out, left_out_of, part_size};

    #[test]
    fn parts_stay_under_the_limit_and_above_the_minimum() {
        assert_eq!(part_size(None), 8 << 20);
        assert_eq!(part_size(Some(1 << 30)), 8 << 20);
        let hundred_gb = 100_000_000_000u64;
        let part = part_size(Some(hundred_gb)) as u64;
        assert!(hundred_gb.div_ceil(part) <= 10_000, "{part}");
        assert_eq!(part % (1 << 20), 0);
    }

    #[test]
    fn a_cloud_scheme_is_either_built_or_left_out_with_its_feature() {
        for (scheme, feature) in CLOUD_SCHEMES {
            assert_ne!(builtin_schemes().contains(&scheme), left_out(scheme).is_some(), "{scheme}");
            assert_eq!(left_out_of(scheme, |_| false), Some(feature));
            assert_eq!(left_out_of(scheme, |built| built != feature), Some(feature));
            assert_eq!(left_out_of(scheme, |built| built == feature), None);
        }
        assert_eq!(left_out_of("file", |_| false), None);
        assert_eq!(left_out_of("webdav", |_| false), None);
    }
}
