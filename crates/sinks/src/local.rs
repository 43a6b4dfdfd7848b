use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::fs;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::{Error, ObjectInfo, ObjectPath, Result, Sink, Upload};

/// Write buffer of an upload: large writes keep syscalls few on multi-gigabyte files, and writes
/// of this size or more (the CLI hands on 256 KiB batches) go straight through.
const WRITE_BUFFER: usize = 256 << 10;
/// Written data is sent on to the disk in the background every this many bytes, so the flush
/// before the rename waits for the last stretch only, not for the whole file.
const WRITEBACK_EVERY: u64 = 64 << 20;

/// The local-disk sink: objects are files under a root folder.
///
/// Uploads go to a hidden temporary file (`.<name>.part`, locked while written) in the
/// destination folder and are renamed into place by `finish`, after the data is flushed to disk;
/// an aborted or dropped upload removes its temporary file. A process killed mid-way leaves it:
/// [`Sink::resume_upload`] continues it.
#[derive(Debug, Clone)]
pub struct LocalSink {
    root: PathBuf,
}

impl LocalSink {
    /// A sink writing under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn full_path(&self, path: &ObjectPath) -> PathBuf {
        path.segments().fold(self.root.clone(), |full, segment| full.join(segment))
    }

    /// The temporary sibling a path is written to: `.<name>.part`, which a later run can resume.
    fn partial(path: &ObjectPath) -> ObjectPath {
        let name = format!(".{}.part", path.file_name());
        match path.as_str().rsplit_once('/') {
            Some((folder, _)) => ObjectPath::parse(&format!("{folder}/{name}")),
            None => ObjectPath::parse(&name),
        }
        .expect("a hidden sibling of a valid path is valid")
    }

    /// Opens `temp` for writing under an exclusive lock, or `None` when another writer holds it.
    async fn open_locked(temp: &Path) -> Result<Option<fs::File>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(temp)
            .await
            .map_err(io("creating", temp))?;
        let file = file.into_std().await;
        match file.try_lock() {
            Ok(()) => Ok(Some(fs::File::from_std(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io("locking", temp)(e)),
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_path_buf(), source }
}

fn is_not_found(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound
}

#[async_trait]
impl Sink for LocalSink {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn check(&self) -> Result<()> {
        fs::create_dir_all(&self.root).await.map_err(io("creating folder", &self.root))?;
        let probe = self.root.join(format!(".wyvern-check-{}", uuid::Uuid::new_v4().simple()));
        let written = fs::write(&probe, [0u8; 4096]).await;
        let _ = fs::remove_file(&probe).await;
        written.map_err(io("writing in", &self.root))
    }

    async fn head(&self, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
        let full = self.full_path(path);
        match fs::metadata(&full).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo { path: path.clone(), size: meta.len() })),
            Ok(_) => Err(Error::InvalidDestination {
                location: full.display().to_string(),
                reason: "exists and is not a file".to_owned(),
            }),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(io("reading metadata of", &full)(e)),
        }
    }

    async fn get_small(&self, path: &ObjectPath) -> Result<Option<Bytes>> {
        let full = self.full_path(path);
        match fs::read(&full).await {
            Ok(data) => Ok(Some(data.into())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(io("reading", &full)(e)),
        }
    }

    async fn get_range(&self, path: &ObjectPath, range: std::ops::Range<u64>) -> Result<Bytes> {
        use tokio::io::AsyncReadExt;
        let full = self.full_path(path);
        let mut file = fs::File::open(&full).await.map_err(io("reading", &full))?;
        file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(io("reading", &full))?;
        let mut data = Vec::new();
        file.take(range.end.saturating_sub(range.start)).read_to_end(&mut data).await.map_err(io("reading", &full))?;
        Ok(data.into())
    }

    async fn put_small(&self, path: &ObjectPath, data: Bytes) -> Result<()> {
        let mut upload = self.start_upload(path, Some(data.len() as u64)).await?;
        upload.write(data).await?;
        upload.finish().await.map(drop)
    }

    async fn start_upload(&self, path: &ObjectPath, _size_hint: Option<u64>) -> Result<Box<dyn Upload>> {
        let full = self.full_path(path);
        let parent = full.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&parent).await.map_err(io("creating folder", &parent))?;
        // `.<name>.part`, locked while written (a killed run's partial is resumed from it); if
        // another writer holds it, a private `.<name>.<random>.part` instead.
        let mut temp = self.full_path(&Self::partial(path));
        let file = match Self::open_locked(&temp).await? {
            Some(file) => file,
            None => {
                temp = parent.join(format!(".{}.{}.part", path.file_name(), uuid::Uuid::new_v4().simple()));
                let busy = || io("locking", &temp)(std::io::ErrorKind::WouldBlock.into());
                Self::open_locked(&temp).await?.ok_or_else(busy)?
            }
        };
        file.set_len(0).await.map_err(io("creating", &temp))?;
        Ok(Box::new(LocalUpload {
            path: path.clone(),
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            temp,
            full,
            written: 0,
            writeback: Writeback::default(),
        }))
    }

    async fn resume_upload(&self, path: &ObjectPath) -> Result<Option<crate::Resumable>> {
        let partial = Self::partial(path);
        let temp = self.full_path(&partial);
        match fs::metadata(&temp).await {
            Ok(meta) if meta.len() > 0 => {}
            _ => return Ok(None),
        }
        let Some(mut file) = Self::open_locked(&temp).await? else { return Ok(None) };
        let offset = file.seek(std::io::SeekFrom::End(0)).await.map_err(io("reading", &temp))?;
        let upload = LocalUpload {
            path: path.clone(),
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            temp,
            full: self.full_path(path),
            written: offset,
            writeback: Writeback { at: offset, task: None },
        };
        Ok(Some(crate::Resumable { upload: Box::new(upload), offset, partial }))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let full = self.full_path(path);
        match fs::remove_file(&full).await {
            Err(e) if !is_not_found(&e) => Err(io("deleting", &full)(e)),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let start = prefix.map_or_else(|| root.clone(), |p| self.full_path(p));
        let walked = tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            walk(&root, &start, &mut found).map(|()| found)
        });
        walked.await.map_err(|e| Error::Io {
            action: "listing",
            path: self.root.clone(),
            source: std::io::Error::other(e),
        })?
    }
}

/// Files under `dir`, as paths relative to `root`; hidden files (uploads in progress) skipped.
fn walk(root: &Path, dir: &Path, found: &mut Vec<ObjectInfo>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(io("listing", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io("listing", dir))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(io("reading metadata of", &path))?;
        if meta.is_dir() {
            walk(root, &path, found)?;
        } else if !entry.file_name().to_string_lossy().starts_with('.') {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let text: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
            if let Ok(object) = ObjectPath::parse(&text.join("/")) {
                found.push(ObjectInfo { path: object, size: meta.len() });
            }
        }
    }
    Ok(())
}

#[derive(Debug)]
struct LocalUpload {
    path: ObjectPath,
    /// `None` once finished or aborted.
    file: Option<BufWriter<fs::File>>,
    temp: PathBuf,
    full: PathBuf,
    written: u64,
    writeback: Writeback,
}

/// The background flush of what an upload wrote so far.
#[derive(Debug, Default)]
struct Writeback {
    /// `written` when the last flush started.
    at: u64,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalUpload {
    fn file(&mut self) -> &mut BufWriter<fs::File> {
        // Only `finish` and `abort` take the file, and both consume the upload.
        self.file.as_mut().expect("upload used after finish or abort")
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let result = self.file().write_all(&data).await;
        result.map_err(io("writing", &self.full))?;
        self.written += data.len() as u64;
        if self.written - self.writeback.at >= WRITEBACK_EVERY
            && self.writeback.task.as_ref().is_none_or(|task| task.is_finished())
        {
            // A failure here shows again in the flush of `finish`, which is the one that counts.
            let file = self.file().get_ref().try_clone().await.map_err(io("writing", &self.full))?;
            self.writeback = Writeback {
                at: self.written,
                task: Some(tokio::spawn(async move {
                    if let Err(e) = file.sync_data().await {
                        tracing::debug!("background flush failed: {e}");
                    }
                })),
            };
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<ObjectInfo> {
        let mut file = self.file.take().expect("upload used after finish or abort");
        if let Some(task) = self.writeback.task.take() {
            let _ = task.await;
        }
        let flushed = async {
            file.flush().await?;
            file.get_ref().sync_all().await
        };
        if let Err(e) = flushed.await {
            drop(file);
            let _ = fs::remove_file(&self.temp).await;
            return Err(io("writing", &self.full)(e));
        }
        drop(file);
        if let Err(e) = fs::rename(&self.temp, &self.full).await {
            let _ = fs::remove_file(&self.temp).await;
            return Err(io("renaming into place", &self.full)(e));
        }
        Ok(ObjectInfo { path: self.path.clone(), size: self.written })
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        drop(self.file.take());
        match fs::remove_file(&self.temp).await {
            Err(e) if !is_not_found(&e) => Err(io("removing", &self.temp)(e)),
            _ => Ok(()),
        }
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // An upload dropped mid-way (error, cancellation) must not leave its temporary file.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::LocalSink;
    use crate::{ObjectPath, Sink};

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> =
            walk(dir).into_iter().map(|p| p.strip_prefix(dir).expect("under").display().to_string()).collect();
        names.sort();
        names
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .expect("read_dir")
            .flat_map(|e| {
                let path = e.expect("entry").path();
                if path.is_dir() { walk(&path) } else { vec![path] }
            })
            .collect()
    }

    #[tokio::test]
    async fn upload_is_invisible_until_finished_and_abort_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = LocalSink::new(dir.path());
        let path = ObjectPath::parse("order/d.zip").expect("path");

        let mut upload = sink.start_upload(&path, None).await.expect("start");
        upload.write(Bytes::from_static(b"hello ")).await.expect("write");
        assert!(sink.head(&path).await.expect("head").is_none());
        upload.write(Bytes::from_static(b"world")).await.expect("write");
        let info = upload.finish().await.expect("finish");
        assert_eq!(info.size, 11);
        assert_eq!(sink.get_small(&path).await.expect("get").expect("exists"), "hello world");

        let mut upload = sink.start_upload(&path, None).await.expect("start");
        upload.write(Bytes::from_static(b"partial")).await.expect("write");
        upload.abort().await.expect("abort");
        let upload = sink.start_upload(&path, None).await.expect("start");
        drop(upload);
        assert_eq!(files(dir.path()), ["order/d.zip"]);
        assert_eq!(sink.head(&path).await.expect("head").expect("exists").size, 11);

        sink.delete(&path).await.expect("delete");
        sink.delete(&path).await.expect("delete of a missing file");
        assert!(sink.get_small(&path).await.expect("get").is_none());
    }
}
