//! A local upload: a locked temporary file beside its final name, written with gathered writes
//! on a blocking thread and flushed to disk in the background, renamed into place by `finish`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cap_std::fs::Dir;

use super::*;
use crate::{Error, ObjectInfo, ObjectPath, Result, Upload};

#[derive(Debug)]
pub(super) struct LocalUpload {
    dir: Arc<Dir>,
    root: PathBuf,
    path: ObjectPath,
    /// Relative paths of the temporary file and of the final one.
    temp: PathBuf,
    full: PathBuf,
    /// `None` once sealed, finished or aborted.
    file: Option<Writer>,
    /// Set once finished or aborted: nothing is left to remove on drop.
    done: bool,
    written: u64,
    writeback: Writeback,
    /// Kept, not removed, when dropped unfinished after the sink was interrupted (see
    /// [`Upload::resumable`]).
    resumable: bool,
    interrupt: Arc<Interrupt>,
}

/// The background flush of what an upload wrote so far.
#[derive(Debug, Default)]
struct Writeback {
    /// `written` when the last flush started.
    at: u64,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalUpload {
    pub(super) fn new(
        sink: &LocalSink,
        dir: Arc<Dir>,
        path: ObjectPath,
        temp: PathBuf,
        file: std::fs::File,
        written: u64,
    ) -> Self {
        sink.interrupt.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self {
            dir,
            root: sink.root.clone(),
            full: relative(&path),
            path,
            temp,
            file: Some(Writer::new(file)),
            done: false,
            written,
            writeback: Writeback { at: written, task: None },
            resumable: false,
            interrupt: sink.interrupt.clone(),
        }
    }

    fn shown(&self) -> PathBuf {
        self.root.join(&self.full)
    }

    fn file(&mut self) -> Result<&mut Writer> {
        let shown = self.shown();
        self.file.as_mut().ok_or_else(|| io_error("writing", &shown)(io::Error::other("the upload was sealed")))
    }

    /// Flushes what was written and waits for the background flush.
    async fn flush(&mut self) -> Result<()> {
        if let Some(task) = self.writeback.task.take() {
            let _ = task.await;
        }
        let shown = self.shown();
        self.file()?.flush().await.map_err(io_error("writing", &shown))
    }

    /// Removes the temporary file and the folders it leaves empty.
    fn discard(&mut self) {
        self.done = true;
        drop(self.file.take());
        let _ = self.dir.remove_file(&self.temp);
        LocalSink::prune(&self.dir, &self.temp);
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let shown = self.shown();
        let len = data.len() as u64;
        self.file()?.write(data).await.map_err(io_error("writing", &shown))?;
        self.written += len;
        if self.written - self.writeback.at >= WRITEBACK_EVERY
            && self.writeback.task.as_ref().is_none_or(|task| task.is_finished())
        {
            // A failure here shows again in the flush of `finish`, which is the one that counts.
            let file = self.file()?.file.clone();
            self.writeback = Writeback {
                at: self.written,
                task: Some(tokio::task::spawn_blocking(move || {
                    if let Err(e) = file.sync_data() {
                        tracing::debug!("background flush failed: {e}");
                    }
                })),
            };
        }
        Ok(())
    }

    async fn seal(&mut self) -> Result<()> {
        if self.file.is_some() {
            self.flush().await?;
            // Closing the file releases its lock: a sealed temporary file is not a partial to
            // continue (it is whole), and another run resuming one skips files it cannot verify.
            drop(self.file.take());
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<ObjectInfo> {
        let shown = self.shown();
        let flushed = match self.file.is_some() {
            true => self.flush().await,
            false => Ok(()),
        };
        // Data on disk before the name: the open file (still locked), or the sealed one reopened.
        let (dir, temp, full) = (self.dir.clone(), self.temp.clone(), self.full.clone());
        let file = self.file.take().map(|writer| writer.file);
        let renamed = match flushed {
            Ok(()) => tokio::task::spawn_blocking(move || {
                let file = match file {
                    Some(file) => file,
                    None => Arc::new(dir.open(&temp).map_err(io_error("writing", &shown))?.into_std()),
                };
                file.sync_all().map_err(io_error("writing", &shown))?;
                dir.rename(&temp, &dir, &full).map_err(io_error("renaming into place", &shown))?;
                // Private while written; once whole and in place, as the umask allows, as other
                // tools' files are. Best effort: a file system without Unix modes (vfat, some
                // network mounts) refuses, and the file is no less delivered.
                #[cfg(unix)]
                if let Err(e) = file.set_permissions(delivered_permissions()) {
                    tracing::debug!(path = %shown.display(), "the delivered file keeps its mode: {e}");
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|e| Err(Error::Io { action: "renaming", path: self.shown(), source: io::Error::other(e) })),
            Err(e) => Err(e),
        };
        match renamed {
            Ok(()) => {
                self.done = true;
                Ok(ObjectInfo { path: self.path.clone(), size: self.written, modified: None })
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.discard();
        Ok(())
    }

    fn resumable(&mut self) {
        self.resumable = true;
    }
}

/// A file written on the blocking pool with one write in flight: [`Writer::write`] hands the bytes
/// on without copying them and returns while they are written, so that the bytes after them are
/// received (and checked) meanwhile. Small writes are gathered and go out in one `writev`.
#[derive(Debug)]
struct Writer {
    file: Arc<std::fs::File>,
    /// The write in flight.
    busy: Option<tokio::task::JoinHandle<io::Result<()>>>,
    gathered: Vec<Bytes>,
    gathered_len: usize,
}

impl Writer {
    fn new(file: std::fs::File) -> Self {
        Self { file: Arc::new(file), busy: None, gathered: Vec::new(), gathered_len: 0 }
    }

    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.gathered_len += data.len();
        self.gathered.push(data);
        if self.gathered_len >= WRITE_BUFFER || self.gathered.len() >= GATHER_MAX {
            self.send().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight, then starts writing what was gathered.
    async fn send(&mut self) -> io::Result<()> {
        self.wait().await?;
        let (file, parts) = (self.file.clone(), std::mem::take(&mut self.gathered));
        self.gathered_len = 0;
        self.busy = Some(tokio::task::spawn_blocking(move || write_parts(&file, &parts)));
        Ok(())
    }

    async fn wait(&mut self) -> io::Result<()> {
        match self.busy.take() {
            Some(write) => write.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Everything written to the file (not yet to the disk).
    async fn flush(&mut self) -> io::Result<()> {
        if !self.gathered.is_empty() {
            self.send().await?;
        }
        self.wait().await
    }
}

/// Writes all of `parts`, in order, in as few `writev` calls as the kernel takes.
fn write_parts(mut file: &std::fs::File, parts: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> =
        parts.iter().filter(|part| !part.is_empty()).map(|part| io::IoSlice::new(part)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        // An upload dropped mid-way (error, cancellation) must not leave its temporary file,
        // unless it is a download to continue and the run is being interrupted: then its file
        // stays as a killed run leaves it (closed, which unlocks it), for resume_upload, which
        // takes it only as this sink makes them (where the file system keeps Unix modes).
        if !self.done {
            let interrupted = self.interrupt.now.load(std::sync::atomic::Ordering::SeqCst);
            let continuable = || self.dir.symlink_metadata(&self.temp).is_ok_and(|meta| made_here(&meta));
            if self.resumable && interrupted && continuable() {
                self.done = true;
                drop(self.file.take());
                self.interrupt.kept.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            } else {
                self.discard();
            }
        }
        // Last: settle() waits for this (see Sink::settle).
        self.interrupt.live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
