//! Files written whole or not at all: [`AtomicFile`] writes into a temporary file beside the
//! target and renames it over the target once complete and on disk, so that a reader (or a run
//! that failed half-way) never sees half a file. The login cache and `wyvern report`'s page are
//! written this way; the local sink's uploads are the same idea with resumable partial files.

// Blocking by design: callers run it on a blocking thread (`spawn_blocking`).
#![allow(clippy::disallowed_methods)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written whole: [`AtomicFile::commit`] puts it in place, dropping it first
/// removes what was written.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    file: Option<io::BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target` (its folder must exist), with Unix permissions `mode` (`0o600`
    /// for secrets, `0o644` for a page to share; the umask applies).
    pub fn create(target: &Path, mode: u32) -> io::Result<Self> {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Unique per writer: two threads (or a killed run's leftover) never share one.
        let temporary = target.with_file_name(format!(".{name}.{}.wyvern-new", uuid::Uuid::new_v4().simple()));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let file = options.open(&temporary)?;
        Ok(Self { target: target.to_path_buf(), temporary, file: Some(io::BufWriter::new(file)) })
    }

    /// Writes `bytes` to `target` whole (see [`AtomicFile::create`]).
    pub fn write(target: &Path, mode: u32, bytes: &[u8]) -> io::Result<()> {
        let mut file = Self::create(target, mode)?;
        file.write_all(bytes)?;
        file.commit()
    }

    /// Flushes the file to disk and renames it over the target; on failure the temporary file
    /// is removed (by `Drop`).
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.as_mut().expect("a file until committed");
        file.flush()?;
        file.get_ref().sync_all()?;
        std::fs::rename(&self.temporary, &self.target)?;
        self.file = None;
        Ok(())
    }
}

/// Runs blocking file work (an [`AtomicFile`]'s, say) on a blocking thread, from async code.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Err(io::Error::other(e)))
}

impl Write for AtomicFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("a file until committed").write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("a file until committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::AtomicFile;

    #[test]
    fn a_file_is_there_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("page.html");
        std::fs::write(&target, b"old").expect("old");
        let mut file = AtomicFile::create(&target, 0o644).expect("create");
        file.write_all(b"half").expect("write");
        drop(file);
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "the temporary file is gone");
        AtomicFile::write(&target, 0o600, b"new").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }
}
