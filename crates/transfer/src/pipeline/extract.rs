//! Extraction: each member written into an upload of its own as the verifier streams it,
//! sealed, and all published together once the whole zip is verified (or none).

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use wyvern_sinks::{ObjectPath, Sink, Upload};
use wyvern_unpack::MemberVisitor;

use crate::{Error, Members, Result};

/// Member events in flight between the verifier thread and the extraction uploads.
pub(super) const EXTRACT_QUEUE: usize = 16;

/// A member's bytes on their way from the verifier thread to the sink.
pub(super) enum MemberEvent {
    Begin { name: String, size: Option<u64> },
    Data(Bytes),
    End,
}

/// An extracted member waiting to be published: its path and its sealed upload.
pub(super) type Member = (ObjectPath, Box<dyn Upload>);

/// Writes each member into an upload under `folder`, sealing each as it ends (no open file,
/// connection or buffer is kept per member) and keeping them all unpublished: they are finished
/// together once the whole zip is verified, and dropped (aborted) otherwise. A member that would
/// need a folder where another member is a file (or the reverse) is refused here, before it is
/// written.
pub(super) async fn members(
    sink: Arc<dyn Sink>,
    folder: ObjectPath,
    mut events: mpsc::Receiver<MemberEvent>,
) -> Result<Vec<Member>> {
    let mut done: Vec<Member> = Vec::new();
    let mut layout = Layout::default();
    let mut current: Option<Member> = None;
    while let Some(event) = events.recv().await {
        match event {
            // Folder entries ("a/b/") hold nothing: object stores have no folders to create.
            MemberEvent::Begin { name, .. } if name.ends_with('/') => current = None,
            MemberEvent::Begin { name, size } => {
                let path = folder
                    .join(&name)
                    .map_err(|e| Error::Extraction { member: name.clone(), reason: e.to_string() })?;
                layout.add(&name)?;
                current = Some((path.clone(), sink.start_upload(&path, size).await?));
            }
            MemberEvent::Data(data) => {
                if let Some((_, upload)) = current.as_mut() {
                    upload.write(data).await?;
                }
            }
            MemberEvent::End => {
                if let Some((path, mut upload)) = current.take() {
                    upload.seal().await?;
                    done.push((path, upload));
                }
            }
        }
    }
    Ok(done)
}

/// The files and folders extraction creates, to refuse a member whose path is another's folder.
#[derive(Default)]
struct Layout {
    files: std::collections::HashSet<String>,
    folders: std::collections::HashSet<String>,
}

impl Layout {
    fn add(&mut self, name: &str) -> Result<()> {
        let clash = |other: &str| Error::Extraction {
            member: name.to_owned(),
            reason: format!("{other:?} would need to be both a file and a folder"),
        };
        if self.folders.contains(name) {
            return Err(clash(name));
        }
        let mut parents = name.match_indices('/').map(|(i, _)| &name[..i]);
        if let Some(file) = parents.find(|parent| self.files.contains(*parent)) {
            return Err(clash(file));
        }
        self.folders.extend(name.match_indices('/').map(|(i, _)| name[..i].to_owned()));
        self.files.insert(name.to_owned());
        Ok(())
    }
}

/// The paths in the zip of `job`'s extracted `members`.
pub(super) fn names(job: &crate::Job, members: &[Member]) -> Result<Vec<String>> {
    let folder = job.extract_folder()?;
    let name = |path: &ObjectPath| path.as_str().get(folder.as_str().len() + 1..).unwrap_or_default().to_owned();
    Ok(members.iter().map(|(path, _)| name(path)).collect())
}

/// Publishes the members, all or none: when one cannot be finished, those finished before it
/// are deleted and the rest aborted, so no partial tree is left.
pub(super) async fn finish_together(sink: &Arc<dyn Sink>, members: Vec<Member>) -> Result<()> {
    let mut finished = Vec::new();
    let mut members = members.into_iter();
    while let Some((path, upload)) = members.next() {
        if let Err(error) = upload.finish().await {
            for (_, upload) in members {
                let _ = upload.abort().await;
            }
            for path in &finished {
                if let Err(e) = sink.delete(path).await {
                    tracing::warn!(%path, "removing an extracted member after a failure failed: {e}");
                }
            }
            return Err(Error::Publish { path, source: error });
        }
        finished.push(path);
    }
    Ok(())
}

/// Passes the verifier's members on to the extraction task: all of them, or those `members`
/// chooses.
pub(super) struct Forward {
    pub(super) sender: mpsc::Sender<MemberEvent>,
    pub(super) members: Option<Arc<Members>>,
    /// Whether the member being read is one not chosen.
    pub(super) skipping: bool,
}

impl Forward {
    fn send(&self, event: MemberEvent) -> std::io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.sender.blocking_send(event).map_err(|_| std::io::Error::other("the extraction stopped"))
    }
}

impl MemberVisitor for Forward {
    fn begin(&mut self, name: &str, size: Option<u64>) -> std::io::Result<()> {
        self.skipping = self.members.as_ref().is_some_and(|members| !members.matches(name));
        self.send(MemberEvent::Begin { name: name.to_owned(), size })
    }

    fn data(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.send(MemberEvent::Data(Bytes::copy_from_slice(bytes)))
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.send(MemberEvent::End)
    }
}
