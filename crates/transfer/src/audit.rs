//! An audit of a destination (`wyvern verify DEST`): every deliverable a sync wrote, read again.
//!
//! A sync decides what is already there from listings and receipts: it notices a zip of another
//! size than its receipt records, or one written after its receipt, but not a zip rewritten with
//! the same size and dated back to its receipt's time. An audit reads every zip whole, verifies
//! it as a download does, and compares its size and SHA-256 with its receipt; an extracted
//! deliverable's files are checked against the sizes and checksums its STAC item records.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use wyvern_sinks::{ObjectPath, Sink};
use wyvern_unpack::{Multihash, VerifyError};

use crate::holdings::{Held, Objects, extracted_item, holdings, nothing_there};
use crate::observer::Observer;
use crate::receipt::{Receipt, Selected};
use crate::zipfile::ZipFile;
use crate::{Error, Result, pipeline};

/// Extracted files are read in pieces of this size.
const PIECE: u64 = 8 << 20;

/// One deliverable at the destination, read again.
#[derive(Debug)]
pub struct Audited {
    /// Its order, when it is in an order's folder.
    pub order_id: Option<String>,
    /// The deliverable.
    pub deliverable_id: String,
    /// Where it is (the zip, or the folder of its members), as the destination shows it.
    pub destination: String,
    /// Its size (the zip's, or its files' together) and, of a zip, its SHA-256, when it is
    /// whole, verifies, and is what its receipt says.
    pub result: Result<(u64, Option<String>)>,
}

/// Reads every deliverable at `sink` again (see the module's documentation), `concurrency` at
/// once, yielding each as it ends. A destination with no deliverable is an error.
pub async fn audit<'a>(
    sink: &'a Arc<dyn Sink>,
    observer: &'a dyn Observer,
    concurrency: usize,
) -> Result<impl Stream<Item = Audited> + 'a> {
    let (objects, held) = holdings(sink).await?;
    if held.is_empty() {
        return Err(nothing_there(sink));
    }
    let objects = Arc::new(objects);
    Ok(futures::stream::iter(held)
        .map(move |held| {
            let objects = objects.clone();
            async move { check(sink, &held, &objects, observer).await }
        })
        .buffered(concurrency.max(1)))
}

async fn check(sink: &Arc<dyn Sink>, held: &Held, objects: &Objects, observer: &dyn Observer) -> Audited {
    let location = sink.location();
    let (mut destination, mut result) = (format!("{}/{}.zip", location.trim_end_matches('/'), held.base), None);
    let receipt = match held.read_receipt(sink).await {
        Ok(receipt) => Some(receipt),
        Err(e) => {
            result = Some(Err(e));
            None
        }
    };
    if let Some(receipt) = &receipt {
        result = Some(match &receipt.extracted {
            Some(extracted) => {
                destination = format!("{}/{}", location.trim_end_matches('/'), extracted.folder);
                let checked = match &extracted.selected {
                    Some(selected) => {
                        check_selected(sink, &extracted.folder, extracted.members, selected, objects).await
                    }
                    None => check_extracted(sink, &extracted.folder, extracted.members, objects).await,
                };
                checked.map(|bytes| (bytes, None))
            }
            None => check_zip(sink, held, receipt, observer).await.map(|(bytes, sha)| (bytes, Some(sha))),
        });
    }
    Audited {
        order_id: held.order.clone(),
        deliverable_id: held.deliverable().to_owned(),
        destination,
        result: result.unwrap_or_else(|| Err(Error::Internal("nothing was checked".to_owned()))),
    }
}

/// The zip read whole: verified, and its size and SHA-256 compared with its receipt's.
async fn check_zip(
    sink: &Arc<dyn Sink>,
    held: &Held,
    receipt: &Receipt,
    observer: &dyn Observer,
) -> Result<(u64, String)> {
    let path = held.zip_path()?;
    let shown = format!("{}/{path}", sink.location());
    let zip = ZipFile::Remote { sink: sink.clone(), path: path.clone(), shown: shown.clone() };
    let plan = zip.plan().await;
    let mut source = zip.source().await?;
    let (inspection, sha256) = pipeline::verify(&mut source, &plan, observer, true).await?;
    if !inspection.problems.is_empty() {
        return Err(Error::Corrupt { source: VerifyError::Problems(inspection.problems), named: true });
    }
    let sha256 = sha256.unwrap_or_default();
    let changed = |why: String| Err(Error::Changed { path: shown.clone(), why });
    if inspection.bytes != receipt.bytes {
        return changed(format!("it has {} bytes, its receipt records {}", inspection.bytes, receipt.bytes));
    }
    if !sha256.eq_ignore_ascii_case(&receipt.sha256) {
        return changed(format!("its SHA-256 is {sha256:.16}…, its receipt records {:.16}…", receipt.sha256));
    }
    Ok((inspection.bytes, sha256))
}

/// Some members of a deliverable (`--include`/`--exclude`): as many files as its receipt counts,
/// and each it lists there with the size and CRC-32 it records.
async fn check_selected(
    sink: &Arc<dyn Sink>,
    folder: &str,
    members: u64,
    selected: &Selected,
    objects: &Objects,
) -> Result<u64> {
    let files = crate::holdings::under(objects, folder).len() as u64;
    let shown_folder = format!("{}/{folder}", sink.location());
    if files < members {
        return Err(Error::Changed { path: shown_folder, why: format!("it holds {files} of its {members} files") });
    }
    let mut bytes = 0;
    for fetched in &selected.fetched {
        let path = ObjectPath::parse(&format!("{folder}/{}", fetched.path))
            .map_err(|e| Error::Invalid { message: e.to_string(), hint: None })?;
        let changed = |why: String| Error::Changed { path: format!("{shown_folder}/{}", fetched.path), why };
        let Some(found) = objects.get(path.as_str()) else { return Err(changed("it is missing".to_owned())) };
        if found.size != fetched.size {
            return Err(changed(format!("it has {} bytes, its receipt records {}", found.size, fetched.size)));
        }
        let crc = read_through(sink, &path, found.size, crc32fast::Hasher::new(), |h, piece| h.update(piece)).await?;
        let crc = format!("{:08x}", crc.finalize());
        if crc != fetched.crc32 {
            return Err(changed(format!("its CRC-32 is {crc}, its receipt records {}", fetched.crc32)));
        }
        bytes += found.size;
    }
    Ok(bytes)
}

/// Reads the object `path` (`size` bytes) in pieces into `state` with `update`, off the runtime.
async fn read_through<S: Send + 'static>(
    sink: &Arc<dyn Sink>,
    path: &ObjectPath,
    size: u64,
    mut state: S,
    update: fn(&mut S, &[u8]),
) -> Result<S> {
    let mut start = 0;
    while start < size {
        let end = (start + PIECE).min(size);
        let piece = sink.get_range(path, start..end).await?;
        state = tokio::task::spawn_blocking(move || {
            update(&mut state, &piece);
            state
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        start = end;
    }
    Ok(state)
}

/// An extracted deliverable's files: as many as its receipt counts (`members`), and each its
/// STAC item describes with the size and checksum the item records (an item that records
/// neither for any file leaves nothing to compare: a failure).
async fn check_extracted(sink: &Arc<dyn Sink>, folder: &str, members: u64, objects: &Objects) -> Result<u64> {
    let files = crate::holdings::under(objects, folder).len() as u64;
    let shown_folder = format!("{}/{folder}", sink.location());
    if files < members {
        return Err(Error::Changed { path: shown_folder, why: format!("it holds {files} of its {members} files") });
    }
    let (item, _) = extracted_item(sink, folder, objects).await?;
    let shown = |member: &str| format!("{shown_folder}/{member}");
    let (mut bytes, mut compared) = (0, 0);
    for asset in &item.assets {
        let Some(member) = &asset.member else { continue };
        let path = ObjectPath::parse(&format!("{folder}/{member}"))
            .map_err(|e| Error::Invalid { message: e.to_string(), hint: None })?;
        let Some(found) = objects.get(path.as_str()) else {
            return Err(Error::Changed { path: shown(member), why: "it is missing".to_owned() });
        };
        bytes += found.size;
        compared += usize::from(asset.size.is_some() || asset.checksum.is_some());
        if let Some(size) = asset.size.filter(|&size| size != found.size) {
            let why = format!("it has {} bytes, the STAC item records {size}", found.size);
            return Err(Error::Changed { path: shown(member), why });
        }
        let Some(Ok(Multihash::Known { algorithm, digest })) = asset.checksum.as_deref().map(Multihash::parse) else {
            continue;
        };
        let actual = read_through(sink, &path, found.size, algorithm.hasher(), |h, piece| h.update(piece)).await?;
        if !wyvern_unpack::digest_matches(&digest, &actual.finalize()) {
            let why = format!("its {algorithm} is not the one the STAC item records");
            return Err(Error::Changed { path: shown(member), why });
        }
    }
    if compared == 0 {
        let why = "its STAC item records no file's size or checksum: nothing to compare".to_owned();
        return Err(Error::Changed { path: shown_folder, why });
    }
    Ok(bytes)
}
