//! Zips named by a path or a sink URL: inspected (directory and headers only), verified (every
//! byte), their thumbnail drawn, or extracted into a sink.

use std::sync::Arc;

use wyvern_core::DeliverableId;
use wyvern_sinks::{Registry, Sink};
use wyvern_unpack::Inspection;

use crate::batch::Done;
use crate::job::{IfExists, Job, Options, Outcome};
use crate::observer::Observer;
use crate::pipeline::{self, Delivery, Ready};
use crate::zipfile::ZipFile;
use crate::{Error, Result};

/// Inspects a zip named by a path or a sink URL, reading only its records and headers (a few
/// ranged reads of an object). `bytes_read` says how much was read.
pub async fn inspect(registry: &Registry, zip: &str) -> Result<Inspection> {
    ZipFile::parse(zip, registry)?.inspect().await
}

/// The thumbnail of a zip named by a path or a sink URL (else its overview), as `inspection`
/// found it, decoded and scaled to fit `width` by `height` pixels: `None` when it has none.
pub async fn thumbnail(
    registry: &Registry,
    zip: &str,
    inspection: &Inspection,
    width: u32,
    height: u32,
) -> Result<Option<(String, wyvern_unpack::Picture)>> {
    let Some(entry) = picture_entry(inspection) else { return Ok(None) };
    let png = ZipFile::parse(zip, registry)?.read_member(entry, crate::html::PICTURE_LIMIT).await?;
    decode_picture(entry, png, width, height).await.map(Some)
}

/// The member to draw, as `inspection` found it: the item's thumbnail, else its overview.
pub(crate) fn picture_entry(inspection: &Inspection) -> Option<&wyvern_unpack::EntryReport> {
    let item = inspection.items.first()?;
    let exists = |name: &str| inspection.entries.iter().any(|e| e.name == name);
    crate::html::picture_member(item, exists).and_then(|name| inspection.entries.iter().find(|e| e.name == name))
}

/// A PNG member, decoded and scaled to fit `width` by `height` pixels; with its name.
pub(crate) async fn decode_picture(
    entry: &wyvern_unpack::EntryReport,
    png: Vec<u8>,
    width: u32,
    height: u32,
) -> Result<(String, wyvern_unpack::Picture)> {
    let picture = tokio::task::spawn_blocking(move || wyvern_unpack::Picture::from_png(&png, width, height))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|message| Error::Invalid { message: format!("{}: {message}", entry.name), hint: None })?;
    Ok((entry.name.clone(), picture))
}

/// Verifies a zip named by a path or a sink URL, reading every byte once. A zip whose structure
/// fails is an error; contents that disagree with their metadata are the inspection's problems.
pub async fn verify(registry: &Registry, zip: &str, observer: &dyn Observer) -> Result<Inspection> {
    let zip = ZipFile::parse(zip, registry)?;
    let plan = zip.plan().await;
    let mut source = zip.source().await?;
    let (mut inspection, _) = pipeline::verify(&mut source, &plan, observer, false).await.map_err(named)?;
    inspection.bytes_read = Some(inspection.bytes);
    Ok(inspection)
}

/// Extracts a zip named by a path or a sink URL into `sink`, under a folder named after the zip
/// (verified in the same pass; all members published together, or none). Fails before starting
/// when the zip cannot be named; how the extraction ended is the [`Done`]'s result.
pub async fn extract(
    registry: &Registry,
    zip: &str,
    sink: &Arc<dyn Sink>,
    if_exists: IfExists,
    observer: &dyn Observer,
) -> Result<Done> {
    let zip = ZipFile::parse(zip, registry)?;
    let stem: String =
        zip.stem().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let deliverable_id: DeliverableId =
        stem.parse().map_err(|e: wyvern_core::InvalidId| Error::Invalid { message: e.to_string(), hint: None })?;
    let job = Job::single(deliverable_id);
    let options = Options { if_exists, verify: true, extract: true, members: None };
    let destination = format!("{}/{}", sink.location().trim_end_matches('/'), job.shown_path(&options));
    let delivery = Delivery { sink, job: &job, options: &options, observer };
    let result = match pipeline::existing(&delivery, None).await {
        Ok(Some(present)) => Ok(Outcome::Skipped(present)),
        Ok(None) => {
            let ready = async {
                let plan = zip.plan().await;
                Ok(Ready { source: zip.source().await?, etag: None, partial: None, plan })
            };
            match ready.await {
                Ok(ready) => delivery.deliver(ready).await.map(Outcome::Downloaded).map_err(named),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    Ok(Done { job, destination, result })
}

/// A verification failure of a zip the caller named (its hint speaks of that zip).
fn named(error: Error) -> Error {
    match error {
        Error::Corrupt { source, .. } => Error::Corrupt { source, named: true },
        other => other,
    }
}
