//! A zip named on the command line: a local path, or an object in a sink (`s3://bucket/key.zip`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use wyvern_sinks::{ObjectPath, Sink};
use wyvern_unpack::{DigestPlan, EntryReport, Inspection, RandomAccess};

use crate::pipeline::Source;
use crate::{Error, Result};

/// Ranged reads of a zip in a bucket, and streamed reads of it whole, in pieces of this size.
const PIECE: u64 = 8 << 20;

pub(crate) enum ZipFile {
    Local(PathBuf),
    Remote { sink: Arc<dyn Sink>, path: ObjectPath, shown: String },
}

impl ZipFile {
    /// A path (`file://` or none), or an object in a sink a scheme of `registry` names.
    pub(crate) fn parse(text: &str, registry: &wyvern_sinks::Registry) -> Result<Self> {
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if !text.contains("://") {
            return Ok(Self::Local(PathBuf::from(text)));
        }
        let invalid = |message: String| Error::Invalid {
            message,
            hint: Some("give a path, or a URL such as s3://bucket/folder/deliverable.zip".to_owned()),
        };
        let (folder, name) = text
            .trim_end_matches('/')
            .rsplit_once('/')
            .ok_or_else(|| invalid(format!("{text}: a zip URL needs a path")))?;
        let sink = registry.resolve(folder).map_err(|e| invalid(e.to_string()))?;
        let path = ObjectPath::parse(name).map_err(|e| invalid(e.to_string()))?;
        let shown = format!("{}/{path}", sink.location());
        Ok(Self::Remote { sink, path, shown })
    }

    /// The zip's name without `.zip`: the folder `extract` writes into.
    pub(crate) fn stem(&self) -> String {
        let name = match self {
            Self::Local(path) => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            Self::Remote { path, .. } => path.file_name().to_owned(),
        };
        name.trim_end_matches(".zip").to_owned()
    }

    pub(crate) fn shown(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
            Self::Remote { shown, .. } => shown.clone(),
        }
    }

    /// The zip's size; `None` for a local file that is not a regular file (a pipe, a device),
    /// which can only be read as a stream.
    async fn size(&self) -> Result<Option<u64>> {
        match self {
            Self::Local(path) => {
                let meta = tokio::fs::metadata(path).await.map_err(io("reading", path))?;
                Ok(meta.is_file().then_some(meta.len()))
            }
            Self::Remote { sink, path, shown } => {
                let missing = || io("reading", std::path::Path::new(shown))(std::io::ErrorKind::NotFound.into());
                Ok(Some(sink.head(path).await?.ok_or_else(missing)?.size))
            }
        }
    }

    /// Random access for `inspect`; the counter tells how many bytes were read. A pipe or a
    /// device is refused before it is opened (opening a pipe waits for a writer).
    pub(crate) async fn random_access(&self) -> Result<(Box<dyn RandomAccess + Send>, Arc<AtomicU64>)> {
        let read = Arc::new(AtomicU64::new(0));
        let Some(len) = self.size().await? else {
            return Err(Error::Invalid {
                message: format!(
                    "{} is not a regular file (a pipe or a device): inspecting reads a zip at random, from its end",
                    self.shown()
                ),
                hint: Some("`wyvern verify` reads a zip as a stream, from a pipe too".to_owned()),
            });
        };
        let access: Box<dyn RandomAccess + Send> = match self {
            Self::Local(path) => {
                let file = tokio::fs::File::open(path).await.map_err(io("opening", path))?.into_std().await;
                Box::new(Counted { inner: file, read: read.clone() })
            }
            Self::Remote { sink, path, .. } => Box::new(Counted {
                inner: SinkRanges {
                    sink: sink.clone(),
                    path: path.clone(),
                    len,
                    runtime: tokio::runtime::Handle::current(),
                },
                read: read.clone(),
            }),
        };
        Ok((access, read))
    }

    /// Inspects the zip reading only what the report needs (see [`inspect_access`]).
    pub(crate) async fn inspect(&self) -> Result<Inspection> {
        let (access, read) = self.random_access().await?;
        inspect_access(access, &read, self.shown()).await
    }

    /// The first `limit` bytes of a member an inspection listed, inflated.
    pub(crate) async fn read_member(&self, entry: &EntryReport, limit: usize) -> Result<Vec<u8>> {
        let (access, _) = self.random_access().await?;
        member_of(access, entry, limit, self.shown()).await
    }

    /// The digests the zip's STAC items ask for, read ahead from its central directory and JSON
    /// members (a few small reads), so that the pass over the bytes computes just those. A zip
    /// whose directory cannot be read gets the plan of an unknown one: the pass then says what
    /// is wrong with it.
    pub(crate) async fn plan(&self) -> DigestPlan {
        let Ok((mut access, _)) = self.random_access().await else { return DigestPlan::unknown() };
        let read = tokio::task::spawn_blocking(move || wyvern_unpack::read_digest_plan(&mut *access)).await;
        match read {
            Ok(Ok(plan)) => plan,
            Ok(Err(e)) => {
                tracing::debug!("the STAC items could not be read ahead: {e}");
                DigestPlan::unknown()
            }
            Err(_) => DigestPlan::unknown(),
        }
    }

    /// The whole zip as a stream, for `verify` and `extract`.
    pub(crate) async fn source(&self) -> Result<Source> {
        let len = self.size().await?;
        let chunks = match self {
            Self::Local(path) => {
                let file = tokio::fs::File::open(path).await.map_err(io("opening", path))?;
                let reading = io("reading", path);
                tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |c| c.map_err(&reading)).boxed()
            }
            Self::Remote { sink, path, .. } => {
                let (sink, path) = (sink.clone(), path.clone());
                let len = len.unwrap_or_default();
                futures::stream::unfold(0u64, move |start| {
                    let (sink, path) = (sink.clone(), path.clone());
                    async move {
                        (start < len).then_some(())?;
                        let end = (start + PIECE).min(len);
                        let piece = sink.get_range(&path, start..end).await.map_err(Error::from);
                        Some((piece, end))
                    }
                })
                .boxed()
            }
        };
        Ok(Source::Stream { chunks, len, name: self.shown() })
    }
}

/// Inspects the zip `shown` names through `access`, reading only what the report needs (see
/// [`wyvern_unpack::inspect_random`]), with the bytes `read` counted.
pub(crate) async fn inspect_access(
    access: Box<dyn RandomAccess + Send>,
    read: &AtomicU64,
    shown: String,
) -> Result<Inspection> {
    inspect_with(access, read, shown, wyvern_unpack::inspect_random).await
}

/// [`inspect_access`] with `inspect` ([`wyvern_unpack::inspect_random`] or
/// [`wyvern_unpack::inspect_directory`]).
pub(crate) async fn inspect_with(
    mut access: Box<dyn RandomAccess + Send>,
    read: &AtomicU64,
    shown: String,
    inspect: fn(&str, &mut dyn RandomAccess) -> std::result::Result<Inspection, wyvern_unpack::VerifyError>,
) -> Result<Inspection> {
    let named = shown.clone();
    let inspected = tokio::task::spawn_blocking(move || inspect(&named, &mut *access))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut inspection = inspected.map_err(|source| Error::Unreadable { zip: shown, source })?;
    inspection.bytes_read = Some(read.load(Ordering::Relaxed));
    Ok(inspection)
}

/// The first `limit` bytes of the member `entry` of the zip `shown` names, read through `access`
/// and inflated.
pub(crate) async fn member_of(
    mut access: Box<dyn RandomAccess + Send>,
    entry: &EntryReport,
    limit: usize,
    shown: String,
) -> Result<Vec<u8>> {
    let entry = entry.clone();
    let read = tokio::task::spawn_blocking(move || wyvern_unpack::read_member(&mut *access, &entry, limit))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    match read {
        Some(read) => read.map_err(|source| Error::Unreadable { zip: shown, source }),
        None => Err(Error::Invalid { message: "the member's data cannot be found in the zip".to_owned(), hint: None }),
    }
}

/// Counts the bytes a random access reads.
pub(crate) struct Counted<R> {
    pub(crate) inner: R,
    pub(crate) read: Arc<AtomicU64>,
}

impl<R: RandomAccess> RandomAccess for Counted<R> {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let data = self.inner.read_at(offset, len)?;
        self.read.fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data)
    }
}

/// Ranged GETs of an object, from the blocking thread the inspection runs on.
struct SinkRanges {
    sink: Arc<dyn Sink>,
    path: ObjectPath,
    len: u64,
    runtime: tokio::runtime::Handle,
}

impl RandomAccess for SinkRanges {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let range = offset..offset.saturating_add(len as u64).min(self.len);
        let data: Bytes =
            self.runtime.block_on(self.sink.get_range(&self.path, range)).map_err(std::io::Error::other)?;
        Ok(data.to_vec())
    }
}

/// An I/O error about a local file.
fn io(action: &'static str, path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + use<> {
    let path = path.display().to_string();
    move |source| Error::Io { action, path: path.clone(), source }
}
