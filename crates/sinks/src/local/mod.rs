//! The local-disk sink, safe in folders other users can write to.
//!
//! Every path is opened relative to the destination folder with `cap-std` (openat-style): no path
//! can leave it, and a symbolic link in a folder on the way is refused, so a link planted in a
//! shared destination never redirects a write. Temporary files have unpredictable names, are
//! created exclusively (never through an existing file or link) with mode 0600, and are locked
//! while written; a killed run's temporary file is continued only when it is a regular file this
//! user owns, created as this sink creates them, and not locked by a running writer.

// The file work runs on blocking threads (`LocalSink::blocking`, the upload's writer thread).
#![allow(clippy::disallowed_methods)]

mod upload;

use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use crate::{Error, ObjectInfo, ObjectPath, Result, Sink, Upload};
use upload::LocalUpload;

/// Writes smaller than this are gathered (not copied) until they add up to it, so that syscalls
/// stay few on multi-gigabyte files; the pipeline hands on 256 KiB batches, which go straight
/// through.
const WRITE_BUFFER: usize = 256 << 10;
/// At most this many gathered writes go in one `writev` (Linux takes up to 1024).
const GATHER_MAX: usize = 64;
/// Written data is sent on to the disk in the background every this many bytes, so the flush
/// before the rename waits for the last stretch only, not for the whole file.
const WRITEBACK_EVERY: u64 = 16 << 20;
/// Temporary files are `.<name>.<32 hex digits>.wyvern-part`.
const PART_SUFFIX: &str = ".wyvern-part";
/// ...created as `.<name>.<32 hex digits>.wyvern-new`, and renamed once locked, so that no other
/// run ever sees an unlocked partial file of a live writer (and continues it).
const NEW_SUFFIX: &str = ".wyvern-new";
/// The final name is cut to this many bytes in a temporary name (names are at most 255 bytes).
const NAME_IN_PART: usize = 180;

/// The local-disk sink: objects are files under a root folder.
///
/// Uploads go to a hidden temporary file (`.<name>.<random>.wyvern-part`, locked while written)
/// in the destination folder and are renamed into place by `finish`, after the data is flushed to
/// disk, while still locked; an aborted or dropped upload removes its temporary file (and the
/// folders it leaves empty). A process killed mid-way leaves it: [`Sink::resume_upload`]
/// continues it.
#[derive(Debug, Clone)]
pub struct LocalSink {
    root: PathBuf,
    /// The root folder, opened once: uploads share it, so that a sealed upload holds no handle.
    opened: Arc<std::sync::OnceLock<Arc<Dir>>>,
    /// Shared with the uploads: whether the run is interrupted, and the partial files kept.
    interrupt: Arc<Interrupt>,
    /// The blocking calls under way at once, at most [`CALLS`].
    calls: Arc<tokio::sync::Semaphore>,
}

/// Blocking calls of a sink under way at once (a sync's skip checks of many deliverables): each
/// runs on a thread of tokio's blocking pool, and every thread that allocates warms a malloc
/// arena of its own, so that more of them grow the process's memory, not its speed (the scale
/// bench: 23 MiB at 100,000 deliverables with 16 at once, docs/benchmarks.md).
const CALLS: usize = 4;

/// What the sink's uploads share: whether the run is interrupted (see [`Sink::interrupted`]),
/// the partial files kept, and how many uploads are alive (see [`Sink::settle`]).
#[derive(Debug, Default)]
struct Interrupt {
    now: std::sync::atomic::AtomicBool,
    kept: std::sync::atomic::AtomicU64,
    live: std::sync::atomic::AtomicUsize,
}

impl LocalSink {
    /// A sink writing under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        // Read now, before any upload runs (reading it may set it for an instant).
        #[cfg(unix)]
        let _ = delivered_permissions();
        let calls = Arc::new(tokio::sync::Semaphore::new(CALLS));
        Self { root: root.into(), opened: Arc::default(), interrupt: Arc::default(), calls }
    }

    /// The root folder, opened (created first when `create`); `None` when it does not exist.
    fn open_root(&self, create: bool) -> Result<Option<Arc<Dir>>> {
        if let Some(dir) = self.opened.get() {
            return Ok(Some(dir.clone()));
        }
        let dir = match Dir::open_ambient_dir(&self.root, ambient_authority()) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                std::fs::create_dir_all(&self.root).map_err(io_error("creating folder", &self.root))?;
                Dir::open_ambient_dir(&self.root, ambient_authority())
                    .map_err(io_error("opening folder", &self.root))?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("opening folder", &self.root)(e)),
        };
        Ok(Some(self.opened.get_or_init(|| Arc::new(dir)).clone()))
    }

    /// Runs blocking file-system work off the async threads.
    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce(Self) -> Result<T> + Send + 'static) -> Result<T> {
        let sink = self.clone();
        let root = self.root.clone();
        let _call = self.calls.acquire().await.expect("never closed");
        tokio::task::spawn_blocking(move || work(sink)).await.map_err(|e| Error::Io {
            action: "using",
            path: root,
            source: io::Error::other(e),
        })?
    }

    /// The absolute path of a relative one, for messages.
    fn shown(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// The folders of `relative` exist as real folders (created when `create`): `Ok(false)` when
    /// one is missing, an error when one is a symbolic link or not a folder.
    fn folders(&self, dir: &Dir, relative: &Path, create: bool) -> Result<bool> {
        let mut prefix = PathBuf::new();
        for part in relative.parent().into_iter().flat_map(Path::components) {
            prefix.push(part);
            loop {
                match dir.symlink_metadata(&prefix) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(Error::InvalidDestination {
                            location: self.shown(&prefix).display().to_string(),
                            reason: "is a symbolic link: wyvern writes only into real folders of the destination"
                                .to_owned(),
                        });
                    }
                    Ok(meta) if meta.is_dir() => break,
                    Ok(_) => {
                        return Err(Error::InvalidDestination {
                            location: self.shown(&prefix).display().to_string(),
                            reason: "exists and is not a folder".to_owned(),
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound && create => match dir.create_dir(&prefix) {
                        // Made by someone else meanwhile: look again at what it is.
                        Ok(()) => break,
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io_error("creating folder", &self.shown(&prefix))(e)),
                    },
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(io_error("reading metadata of", &self.shown(&prefix))(e)),
                }
            }
        }
        Ok(true)
    }

    /// The file at `relative` when it is a regular file: `None` when it does not exist or is a
    /// symbolic link (never read through; a finished upload replaces the link itself), an error
    /// when it is a folder.
    fn regular(&self, dir: &Dir, relative: &Path) -> Result<Option<cap_std::fs::Metadata>> {
        if !self.folders(dir, relative, false)? {
            return Ok(None);
        }
        match dir.symlink_metadata(relative) {
            Ok(meta) if meta.is_file() => Ok(Some(meta)),
            Ok(meta) if meta.file_type().is_symlink() => {
                tracing::warn!(path = %self.shown(relative).display(), "a symbolic link where wyvern writes a file: ignored (it is replaced, never followed)");
                Ok(None)
            }
            Ok(_) => Err(Error::InvalidDestination {
                location: self.shown(relative).display().to_string(),
                reason: "exists and is not a file".to_owned(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading metadata of", &self.shown(relative))(e)),
        }
    }

    /// A new temporary file beside `relative`, created exclusively and locked before it takes
    /// its partial name; returns its relative path.
    fn create_part(&self, dir: &Dir, relative: &Path) -> Result<(PathBuf, std::fs::File)> {
        let name = relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for attempt in 0..3 {
            self.folders(dir, relative, true)?;
            let stem = format!("{}{}", part_prefix(&name), uuid::Uuid::new_v4().simple());
            let (new, temp) = (
                relative.with_file_name(format!("{stem}{NEW_SUFFIX}")),
                relative.with_file_name(format!("{stem}{PART_SUFFIX}")),
            );
            let mut options = OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            cap_std::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match dir.open_with(&new, &options) {
                Ok(file) => {
                    let file = file.into_std();
                    let named = file
                        .try_lock()
                        .map_err(io::Error::from)
                        .and_then(|()| dir.rename(&new, dir, &temp))
                        .map_err(io_error("creating", &self.shown(&temp)));
                    if let Err(e) = named {
                        let _ = dir.remove_file(&new);
                        return Err(e);
                    }
                    return Ok((temp, file));
                }
                // Its folder was removed meanwhile (an upload beside it was aborted): again.
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 2 => {}
                Err(e) => return Err(io_error("creating", &self.shown(&new))(e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Removes the folders of `relative` that are left empty, up to the root (as object stores
    /// have no empty folders). Stops at the first that is not empty.
    fn prune(dir: &Dir, relative: &Path) {
        let mut folder = relative.parent();
        while let Some(current) = folder.filter(|f| !f.as_os_str().is_empty()) {
            if dir.remove_dir(current).is_err() {
                break;
            }
            folder = current.parent();
        }
    }
}

/// A file's modification time.
fn modified(meta: &cap_std::fs::Metadata) -> Option<std::time::SystemTime> {
    meta.modified().ok().map(cap_std::time::SystemTime::into_std)
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_path_buf(), source }
}

fn relative(path: &ObjectPath) -> PathBuf {
    path.segments().collect()
}

/// The start of every temporary name of a file called `name`.
fn part_prefix(name: &str) -> String {
    let mut end = name.len().min(NAME_IN_PART);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.", &name[..end])
}

/// Whether a file name is `.<name>.<32 hex digits><suffix>`.
fn is_temporary_with(name: &str, suffix: &str) -> bool {
    name.starts_with('.')
        && name.strip_suffix(suffix).is_some_and(|stem| {
            stem.len() > 33
                && stem.as_bytes()[stem.len() - 33] == b'.'
                && stem[stem.len() - 32..].bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// Whether a file name is one of this sink's partial files (which a later run may continue).
fn is_part(name: &str) -> bool {
    is_temporary_with(name, PART_SUFFIX)
}

/// Whether a file name is one of this sink's temporary names (partial, or being created).
fn is_temporary(name: &str) -> bool {
    is_part(name) || is_temporary_with(name, NEW_SUFFIX)
}

/// The permissions of a delivered file: what the umask allows of `rw-rw-rw-`, as curl, rclone
/// and unzip create theirs (temporary files stay `0600` until then).
#[cfg(unix)]
fn delivered_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    static MODE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    std::fs::Permissions::from_mode(*MODE.get_or_init(|| 0o666 & !umask()))
}

/// The process's umask: Linux shows it in /proc (4.7 on); elsewhere it is set (to a stricter
/// one, for the instant) and put back, the only way POSIX has to read it.
#[cfg(unix)]
fn umask() -> u32 {
    let shown = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Umask:"))
            .and_then(|mask| u32::from_str_radix(mask.trim(), 8).ok())
    });
    shown.unwrap_or_else(|| {
        use rustix::fs::Mode;
        let old = rustix::process::umask(Mode::from_raw_mode(0o077));
        rustix::process::umask(old);
        old.as_raw_mode()
    })
}

/// Whether a temporary file is one this user created as this sink creates them (a regular file
/// of this user, readable by nobody else).
fn made_here(meta: &cap_std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use cap_std::fs::MetadataExt;
        meta.is_file() && meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o077 == 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[async_trait]
impl Sink for LocalSink {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn heads_are_cheap(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<()> {
        self.blocking(|sink| {
            let dir = sink.open_root(true)?.expect("created");
            let probe = PathBuf::from(format!(".wyvern-check-{}", uuid::Uuid::new_v4().simple()));
            let written = dir
                .open_with(&probe, OpenOptions::new().write(true).create_new(true))
                .and_then(|mut file| file.write_all(&[0u8; 4096]));
            let _ = dir.remove_file(&probe);
            written.map_err(io_error("writing in", &sink.root))
        })
        .await
    }

    async fn head(&self, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
        let path = path.clone();
        self.blocking(move |sink| {
            let Some(dir) = sink.open_root(false)? else { return Ok(None) };
            let meta = sink.regular(&dir, &relative(&path))?;
            Ok(meta.map(|meta| ObjectInfo { path, size: meta.len(), modified: modified(&meta) }))
        })
        .await
    }

    async fn get_small(&self, path: &ObjectPath, limit: u64) -> Result<Option<Bytes>> {
        let path = path.clone();
        self.blocking(move |sink| {
            let Some(dir) = sink.open_root(false)? else { return Ok(None) };
            let relative = relative(&path);
            if sink.regular(&dir, &relative)?.is_none() {
                return Ok(None);
            }
            let read = || -> io::Result<Vec<u8>> {
                let mut data = Vec::new();
                dir.open(&relative)?.take(limit.saturating_add(1)).read_to_end(&mut data)?;
                Ok(data)
            };
            match read() {
                Ok(data) if data.len() as u64 > limit => {
                    Err(Error::TooLarge { location: sink.shown(&relative).display().to_string(), limit })
                }
                Ok(data) => Ok(Some(data.into())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error("reading", &sink.shown(&relative))(e)),
            }
        })
        .await
    }

    async fn get_range(&self, path: &ObjectPath, range: std::ops::Range<u64>) -> Result<Bytes> {
        let path = path.clone();
        self.blocking(move |sink| {
            let relative = relative(&path);
            let missing = || io_error("reading", &sink.shown(&relative))(io::ErrorKind::NotFound.into());
            let dir = sink.open_root(false)?.ok_or_else(missing)?;
            sink.regular(&dir, &relative)?.ok_or_else(missing)?;
            let read = || {
                let mut file = dir.open(&relative)?;
                file.seek(io::SeekFrom::Start(range.start))?;
                let mut data = Vec::new();
                file.take(range.end.saturating_sub(range.start)).read_to_end(&mut data)?;
                Ok(Bytes::from(data))
            };
            read().map_err(io_error("reading", &sink.shown(&relative)))
        })
        .await
    }

    async fn put_small(&self, path: &ObjectPath, data: Bytes) -> Result<()> {
        let mut upload = self.start_upload(path, Some(data.len() as u64)).await?;
        upload.write(data).await?;
        upload.finish().await.map(drop)
    }

    async fn start_upload(&self, path: &ObjectPath, _size_hint: Option<u64>) -> Result<Box<dyn Upload>> {
        let path = path.clone();
        // Made an upload on the blocking thread: if the caller is cancelled meanwhile, the
        // upload is dropped there and takes its temporary file with it.
        let upload = self
            .blocking(move |sink| {
                let dir = sink.open_root(true)?.expect("created");
                let (temp, file) = sink.create_part(&dir, &relative(&path))?;
                Ok(LocalUpload::new(&sink, dir, path, temp, file, 0))
            })
            .await?;
        Ok(Box::new(upload))
    }

    async fn resume_upload(&self, path: &ObjectPath) -> Result<Option<crate::Resumable>> {
        let target = path.clone();
        let found = self
            .blocking(move |sink| {
                let Some(dir) = sink.open_root(false)? else { return Ok(None) };
                let relative = relative(&target);
                if !sink.folders(&dir, &relative, false)? {
                    return Ok(None);
                }
                let folder = relative.parent().unwrap_or(Path::new("")).to_path_buf();
                let name = relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let prefix = part_prefix(&name);
                let listing = if folder.as_os_str().is_empty() { dir.entries() } else { dir.read_dir(&folder) };
                let mut candidates = Vec::new();
                for entry in listing.map_err(io_error("listing", &sink.shown(&folder)))?.flatten() {
                    let file_name = entry.file_name().to_string_lossy().into_owned();
                    if !file_name.starts_with(&prefix) || !is_part(&file_name) {
                        continue;
                    }
                    let temp = folder.join(&file_name);
                    if let Ok(meta) = dir.symlink_metadata(&temp).filter_ok(made_here) {
                        candidates.push((temp, meta));
                    }
                }
                // The longest partial is continued; the others, when no running writer holds them,
                // are leftovers of killed runs.
                candidates.sort_by_key(|(_, meta)| std::cmp::Reverse(meta.len()));
                let mut chosen = None;
                for (temp, meta) in candidates {
                    let Ok(file) = dir.open_with(&temp, OpenOptions::new().read(true).write(true)) else { continue };
                    let file = file.into_std();
                    if !same_file(&file, &meta) || file.try_lock().is_err() {
                        continue;
                    }
                    if chosen.is_none() && meta.len() > 0 {
                        chosen = Some((temp, file, meta.len()));
                    } else {
                        drop(file);
                        let _ = dir.remove_file(&temp);
                    }
                }
                Ok(chosen.map(|(temp, file, len)| (dir, temp, file, len)))
            })
            .await?;
        let Some((dir, temp, file, offset)) = found else { return Ok(None) };
        let partial = ObjectPath::parse(&temp.to_string_lossy().replace('\\', "/"))
            .map_err(|e| Error::InvalidDestination { location: self.location(), reason: e.to_string() })?;
        let shown = self.shown(&temp);
        let file = tokio::task::spawn_blocking(move || (&file).seek(io::SeekFrom::End(0)).map(|_| file))
            .await
            .map_err(io::Error::other)
            .flatten()
            .map_err(io_error("reading", &shown))?;
        let upload = LocalUpload::new(self, dir, path.clone(), temp, file, offset);
        Ok(Some(crate::Resumable { upload: Box::new(upload), offset, partial }))
    }

    async fn delete(&self, path: &ObjectPath) -> Result<()> {
        let path = path.clone();
        self.blocking(move |sink| {
            let Some(dir) = sink.open_root(false)? else { return Ok(()) };
            let relative = relative(&path);
            if !sink.folders(&dir, &relative, false)? {
                return Ok(());
            }
            match dir.remove_file(&relative) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("deleting", &sink.shown(&relative))(e)),
                _ => {
                    Self::prune(&dir, &relative);
                    Ok(())
                }
            }
        })
        .await
    }

    async fn settle(&self) {
        // Dropped uploads remove their temporary files at once, but one may still be held by a
        // task being cancelled (an extraction's): wait for them all to be dropped.
        while self.interrupt.live.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    fn interrupted(&self) {
        self.interrupt.now.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn kept(&self) -> u64 {
        self.interrupt.kept.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn list(&self, prefix: Option<&ObjectPath>) -> Result<Vec<ObjectInfo>> {
        let prefix = prefix.cloned();
        self.blocking(move |sink| {
            let Some(dir) = sink.open_root(false)? else { return Ok(Vec::new()) };
            let start = prefix.as_ref().map(relative).unwrap_or_default();
            if !start.as_os_str().is_empty() && !sink.folders(&dir, &start.join("x"), false)? {
                return Ok(Vec::new());
            }
            let mut found = Vec::new();
            sink.walk(&dir, &start, &mut found)?;
            Ok(found)
        })
        .await
    }
}

/// Whether an open file is the one `meta` (read without following links) describes.
fn same_file(file: &std::fs::File, meta: &cap_std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use cap_std::fs::MetadataExt;
        use std::os::unix::fs::MetadataExt as _;
        file.metadata().is_ok_and(|opened| opened.dev() == meta.dev() && opened.ino() == meta.ino())
    }
    #[cfg(not(unix))]
    {
        file.metadata().is_ok_and(|opened| opened.len() == meta.len())
    }
}

/// `Result::filter`, for metadata reads.
trait FilterOk<T> {
    fn filter_ok(self, keep: impl FnOnce(&T) -> bool) -> io::Result<T>;
}

impl<T> FilterOk<T> for io::Result<T> {
    fn filter_ok(self, keep: impl FnOnce(&T) -> bool) -> io::Result<T> {
        self.and_then(|value| if keep(&value) { Ok(value) } else { Err(io::ErrorKind::InvalidData.into()) })
    }
}

impl LocalSink {
    /// Files under `folder` (relative), as object paths; temporary files, links and anything that
    /// is not a regular file or a folder left out.
    fn walk(&self, dir: &Dir, folder: &Path, found: &mut Vec<ObjectInfo>) -> Result<()> {
        let entries = if folder.as_os_str().is_empty() { dir.entries() } else { dir.read_dir(folder) };
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("listing", &self.shown(folder))(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error("listing", &self.shown(folder)))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = folder.join(&name);
            let kind = entry.file_type().map_err(io_error("reading metadata of", &self.shown(&path)))?;
            if kind.is_dir() {
                self.walk(dir, &path, found)?;
            } else if kind.is_file() && !is_temporary(&name) && !name.starts_with(".wyvern-check-") {
                let meta = entry.metadata().map_err(io_error("reading metadata of", &self.shown(&path)))?;
                let text: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy()).collect();
                if let Ok(object) = ObjectPath::parse(&text.join("/")) {
                    found.push(ObjectInfo { path: object, size: meta.len(), modified: modified(&meta) });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{LocalSink, is_part, is_temporary, part_prefix};
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

    #[test]
    fn temporary_names_are_recognised_and_nothing_else() {
        let name = format!("{}0123456789abcdef0123456789abcdef.wyvern-part", part_prefix("d.zip"));
        assert!(is_part(&name), "{name}");
        assert!(!is_part(".d.zip.part"));
        assert!(!is_part("d.zip.0123456789abcdef0123456789abcdef.wyvern-part"));
        assert!(!is_part(".x.wyvern-part"));
        let new = name.replace(".wyvern-part", ".wyvern-new");
        assert!(is_temporary(&new) && !is_part(&new), "{new}");
        let long = "é".repeat(200);
        assert!(part_prefix(&long).len() <= 182);
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
        assert_eq!(sink.get_small(&path, 1 << 20).await.expect("get").expect("exists"), "hello world");

        let mut upload = sink.start_upload(&path, None).await.expect("start");
        upload.write(Bytes::from_static(b"partial")).await.expect("write");
        upload.abort().await.expect("abort");
        let upload = sink.start_upload(&path, None).await.expect("start");
        drop(upload);
        assert_eq!(files(dir.path()), ["order/d.zip"]);
        assert_eq!(sink.head(&path).await.expect("head").expect("exists").size, 11);

        sink.delete(&path).await.expect("delete");
        sink.delete(&path).await.expect("delete of a missing file");
        assert!(sink.get_small(&path, 1 << 20).await.expect("get").is_none());
        assert!(!dir.path().join("order").exists(), "the emptied folder goes too");
    }

    #[tokio::test]
    async fn sealed_uploads_hold_no_file_and_still_finish_or_abort() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = LocalSink::new(dir.path());
        let (a, b) = (ObjectPath::parse("x/a").expect("path"), ObjectPath::parse("x/b").expect("path"));
        let mut first = sink.start_upload(&a, None).await.expect("start");
        first.write(Bytes::from_static(b"first")).await.expect("write");
        first.seal().await.expect("seal");
        assert!(first.write(Bytes::from_static(b"more")).await.is_err(), "no writes after seal");
        let mut second = sink.start_upload(&b, None).await.expect("start");
        second.write(Bytes::from_static(b"second")).await.expect("write");
        second.seal().await.expect("seal");
        first.finish().await.expect("finish");
        second.abort().await.expect("abort");
        assert_eq!(files(dir.path()), ["x/a"]);
        assert_eq!(sink.get_small(&a, 1 << 20).await.expect("get").expect("there"), "first");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symbolic_links_in_the_destination_are_never_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let sink = LocalSink::new(dir.path().join("dest"));
        std::fs::create_dir_all(dir.path().join("dest")).expect("dest");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dest/order")).expect("link");
        let path = ObjectPath::parse("order/d.zip").expect("path");
        let refused = sink.start_upload(&path, None).await.expect_err("a linked folder is refused");
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert!(sink.head(&path).await.is_err());
        assert_eq!(std::fs::read_dir(outside.path()).expect("outside").count(), 0, "nothing written outside");
    }
}
