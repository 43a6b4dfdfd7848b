//! Storage sinks for wyvern.
//!
//! A [`Sink`] stores objects under relative [`ObjectPath`]s. Large objects are written through
//! an [`Upload`]: a stream of parts that becomes visible under its final path only when
//! [`Upload::finish`] succeeds, and leaves nothing behind when aborted or dropped. This is the
//! public API boundary for third-party sink crates.

pub mod atomic;
pub mod cleanup;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod env;
mod error;
mod local;
mod object;
mod path;
mod registry;
pub mod tls;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

pub use error::{Error, Source};
pub use local::LocalSink;
pub use object::ObjectStoreSink;
pub use path::{InvalidPath, ObjectPath};
pub use registry::{Registry, SinkFactory};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a sink knows of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Where it is.
    pub path: ObjectPath,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the sink knows (listings compare a receipt's time with
    /// its zip's).
    pub modified: Option<std::time::SystemTime>,
}

/// A place deliverables are written to: a local folder, a bucket, anything that stores bytes
/// under names.
///
/// Implementations must make [`Upload`]s atomic: no object appears under the final path unless
/// `finish` succeeded.
#[async_trait]
pub trait Sink: std::fmt::Debug + Send + Sync {
    /// Where the sink writes, for messages (no secrets).
    fn location(&self) -> String;

    /// Whether [`ObjectInfo::modified`] is the time the store itself gave an object when it was
    /// written, which no client can set (S3, GCS, Azure; not WebDAV, whose servers may take a
    /// client's time). A sync then takes a receipt listed as written after its zip as vouching
    /// for it, without reading it. A local folder's file times can be set by any program, so
    /// there receipts are read.
    fn stamps_writes(&self) -> bool {
        false
    }

    /// A cheap check, before any download, that the destination exists and accepts writes with
    /// these credentials. It must leave nothing behind.
    async fn check(&self) -> Result<()>;

    /// Facts about an object, `None` when it does not exist.
    async fn head(&self, path: &ObjectPath) -> Result<Option<ObjectInfo>>;

    /// Reads a small object (receipts, manifests) whole, `None` when it does not exist; one larger
    /// than `limit` bytes is [`Error::TooLarge`], and no more than `limit + 1` bytes of it are
    /// held in memory.
    async fn get_small(&self, path: &ObjectPath, limit: u64) -> Result<Option<Bytes>>;

    /// Reads bytes `range` of an object (fewer at its end): remote inspection reads a zip's
    /// central directory and headers this way.
    async fn get_range(&self, path: &ObjectPath, range: std::ops::Range<u64>) -> Result<Bytes>;

    /// Writes a small object whole and atomically.
    async fn put_small(&self, path: &ObjectPath, data: Bytes) -> Result<()>;

    /// Starts a streaming upload. `size_hint` is the expected size when known, so that a sink
    /// can size its parts.
    async fn start_upload(&self, path: &ObjectPath, size_hint: Option<u64>) -> Result<Box<dyn Upload>>;

    /// Continues the upload of `path` that a killed process left unfinished, when this sink keeps
    /// such partials (local disk does; object stores discard them). The bytes written so far can
    /// be read at `partial` for the caller to re-check before appending. `None` when there is no
    /// partial, or another process is writing it.
    async fn resume_upload(&self, path: &ObjectPath) -> Result<Option<Resumable>> {
        let _ = path;
        Ok(None)
    }

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, path: &ObjectPath) -> Result<()>;

    /// Every object under `prefix` (everything when `None`), in no particular order. Unfinished
    /// uploads are not objects and never appear.
    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectInfo>>;

    /// Every object under `prefix`, as [`Sink::list`], but in the byte order of their paths and
    /// as a stream: a sink whose store lists that way (object stores list a page at a time, in
    /// lexicographic order) holds a page, however many objects there are. The default sorts
    /// [`Sink::list`]'s answer. A sync of many deliverables merges it with its jobs (and takes
    /// an object out of order as a listing it cannot use).
    fn list_sorted<'a>(&'a self, prefix: Option<&'a ObjectPath>) -> BoxStream<'a, Result<ObjectInfo>> {
        futures::stream::once(async move {
            let mut listed = self.list(prefix).await?;
            listed.sort_unstable_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
            Ok(futures::stream::iter(listed.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    /// Whether [`Sink::head`] costs no request (a local folder: a file-system call): a sync
    /// then asks about each deliverable instead of listing the destination first, which would
    /// cost as much and hold the listing.
    fn heads_are_cheap(&self) -> bool {
        false
    }

    /// The run is being interrupted (Ctrl-C): uploads marked [`Upload::resumable`] and dropped
    /// from now on keep what they wrote where [`Sink::resume_upload`] finds it, so that the same
    /// command continues them, instead of discarding it. Sinks that cannot resume ignore it (the
    /// default): their uploads are aborted as always.
    fn interrupted(&self) {}

    /// How many uploads were kept for a later run since [`Sink::interrupted`].
    fn kept(&self) -> u64 {
        0
    }

    /// Waits until the uploads of this sink that were dropped mid-way are cleaned up (the
    /// aborts that need I/O, run in the background from `Drop`; see [`cleanup::Cleanup`]; the
    /// local sink's uploads still held by a task being cancelled: it waits until every upload it
    /// started is finished, aborted or dropped, so call it once they are). A
    /// process calls it before exiting so that no multipart upload or temporary object outlives
    /// it.
    async fn settle(&self);
}

/// An unfinished upload found again: see [`Sink::resume_upload`].
#[derive(Debug)]
pub struct Resumable {
    /// Appends after the bytes already written.
    pub upload: Box<dyn Upload>,
    /// How many bytes were written before.
    pub offset: u64,
    /// Where those bytes can be read (with [`Sink::get_range`]).
    pub partial: ObjectPath,
}

/// A streaming write in progress. Nothing is visible under the final path until `finish`.
/// Dropping an unfinished upload must not leave it visible either.
#[async_trait]
pub trait Upload: std::fmt::Debug + Send {
    /// Appends bytes. Applies backpressure: it returns when the sink can take more.
    async fn write(&mut self, data: Bytes) -> Result<()>;

    /// No more bytes will be written: completes the writing while the object stays invisible,
    /// and lets go of what the upload holds (a local file flushes and closes its temporary file,
    /// an object store uploads its last part and keeps no buffer, WebDAV ends its `PUT`), so that
    /// a caller can hold many sealed uploads (extraction keeps every member unpublished until the
    /// whole zip is verified) without an open file, a connection or a buffer for each. `finish`
    /// or `abort` follow; a write after `seal` is an error. Sealing twice is harmless.
    async fn seal(&mut self) -> Result<()>;

    /// Makes the object visible under its final path, replacing any object there.
    async fn finish(self: Box<Self>) -> Result<ObjectInfo>;

    /// Discards everything written.
    async fn abort(self: Box<Self>) -> Result<()>;

    /// Marks this upload as one a later run continues through [`Sink::resume_upload`] (a zip
    /// being downloaded, not an extracted member): dropped unfinished after
    /// [`Sink::interrupted`], it keeps what it wrote. Does nothing where uploads cannot resume.
    fn resumable(&mut self) {}
}
