//! Whether a deliverable is at the destination already, whole, as its receipt vouches: the
//! skip decision.

use std::sync::Arc;

use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};

use super::Delivery;
use crate::inventory::Inventory;
use crate::job::{IfExists, Job, Options, Present};
use crate::receipt::{Found, RECEIPT_LIMIT, Receipt, written_after};
use crate::{Error, Result};

/// The deliverable when it is at the destination, whole, and `options.if_exists` says to skip
/// it; `listing` (a batch's) answers what it covers. A zip is whole when its receipt vouches for
/// it: a receipt is there, was written after the zip and records its size. On a sink that stamps
/// its writes ([`Sink::stamps_writes`]) a receipt listed after its zip vouches without being
/// read; elsewhere (a local folder, whose file times any program can set) it is read. An
/// extracted deliverable's receipt is read, and the folder must hold as many files as it counts,
/// none written after it.
pub(crate) async fn existing(delivery: &Delivery<'_>, listing: Option<&Inventory>) -> Result<Option<Present>> {
    let Delivery { sink, job, options, observer } = *delivery;
    if options.if_exists == IfExists::Overwrite {
        return Ok(None);
    }
    let there = if options.extracts() {
        extracted_there(sink, job, options, listing).await?
    } else {
        zip_there(sink, job, listing).await?
    };
    match (options.if_exists, there) {
        (IfExists::Fail, There::Whole(_) | There::Unvouched(_)) => {
            Err(Error::Exists(format!("{}/{}", sink.location(), job.path)))
        }
        (IfExists::Skip, There::Whole(present)) => {
            tracing::info!(
                "deliverable {}: {} is there, as its receipt says: skipped",
                job.deliverable_id,
                job.shown_path(options)
            );
            Ok(Some(*present))
        }
        (IfExists::Skip, There::Unvouched(why)) => {
            observer.warn(&format!("{} is there, but {why}: fetching it again", job.shown_path(options)));
            Ok(None)
        }
        _ => {
            tracing::info!("deliverable {}: fetching it to {}", job.deliverable_id, job.shown_path(options));
            Ok(None)
        }
    }
}

/// What the destination holds of a deliverable.
enum There {
    Nothing,
    /// Something its receipt does not vouch for: why.
    Unvouched(String),
    Whole(Box<Present>),
}

/// What a listing says of `path` (when it covers its folder), else what the sink says.
async fn info(sink: &Arc<dyn Sink>, listing: Option<&Inventory>, path: &ObjectPath) -> Result<Option<ObjectInfo>> {
    match listing.and_then(|listing| listing.get(path)) {
        Some(listed) => Ok(listed),
        None => Ok(sink.head(path).await?),
    }
}

async fn zip_there(sink: &Arc<dyn Sink>, job: &Job, listing: Option<&Inventory>) -> Result<There> {
    let Some(zip) = info(sink, listing, &job.path).await? else { return Ok(There::Nothing) };
    let receipt_path = job.receipt_path()?;
    let Some(listed) = info(sink, listing, &receipt_path).await? else {
        return Ok(There::Unvouched("it has no receipt".to_owned()));
    };
    if listed.size > RECEIPT_LIMIT {
        return Ok(There::Unvouched(format!("its receipt is larger than {RECEIPT_LIMIT} bytes")));
    }
    if !written_after(&listed, &zip) {
        return Ok(There::Unvouched("the zip was written after its receipt".to_owned()));
    }
    let stamped = listed.modified.is_some() && zip.modified.is_some();
    if sink.stamps_writes() && stamped {
        return Ok(There::Whole(Box::new(Present { bytes: zip.size, receipt: None })));
    }
    Ok(match Receipt::read(sink, &receipt_path).await? {
        Found::Missing => There::Unvouched("its receipt is gone".to_owned()),
        Found::NotAReceipt(why) => There::Unvouched(format!("its receipt is not one: {why}")),
        Found::Receipt(receipt) => {
            let vouched = belongs_to(&receipt, job).and_then(|()| receipt.vouches_for(&zip, Some(&listed)));
            match vouched {
                Ok(()) => There::Whole(Box::new(Present { bytes: zip.size, receipt: Some(*receipt) })),
                Err(why) => There::Unvouched(why),
            }
        }
    })
}

/// Whether `receipt` is `job`'s.
fn belongs_to(receipt: &Receipt, job: &Job) -> std::result::Result<(), String> {
    let folder = job.extract_folder().map(|f| f.to_string()).unwrap_or_default();
    receipt.belongs_to(job.deliverable_id.as_str(), job.order_id.as_ref().map(|o| o.as_str()), &folder)
}

async fn extracted_there(
    sink: &Arc<dyn Sink>,
    job: &Job,
    options: &Options,
    listing: Option<&Inventory>,
) -> Result<There> {
    let receipt_path = job.receipt_path()?;
    let Some(listed) = info(sink, listing, &receipt_path).await? else { return Ok(There::Nothing) };
    let receipt = match Receipt::read(sink, &receipt_path).await? {
        Found::Missing => return Ok(There::Nothing),
        Found::NotAReceipt(why) => return Ok(There::Unvouched(format!("its receipt is not one: {why}"))),
        Found::Receipt(receipt) => receipt,
    };
    if let Err(why) = belongs_to(&receipt, job) {
        return Ok(There::Unvouched(why));
    }
    let Some(members) = receipt.extracted.as_ref().map(|e| e.members) else {
        return Ok(There::Unvouched("its receipt is of a zip, not an extraction".to_owned()));
    };
    // A receipt of every member covers any choice of them; one of some, the same choice only.
    if let Some(covered) = receipt.selection()
        && options.members.as_deref().map(crate::Members::chosen) != Some(covered)
    {
        return Ok(There::Unvouched(format!("its receipt covers only the members {covered} chose")));
    }
    let folder = job.extract_folder()?;
    let files = match listing.and_then(|listing| listing.under(&folder)) {
        Some(files) => files,
        None => sink.list(Some(&folder)).await?,
    };
    let fetched = receipt.extracted.as_ref().and_then(|e| e.selected.as_ref()).filter(|s| s.complete(members));
    let missing = fetched.and_then(|selected| {
        let there: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        selected.fetched.iter().find(|f| !there.contains(format!("{folder}/{}", f.path).as_str()))
    });
    Ok(if let Some(missing) = missing {
        There::Unvouched(format!("{} is not in its folder", wyvern_core::printable(&missing.path)))
    } else if (files.len() as u64) < members {
        There::Unvouched(format!("its folder holds {} of its {members} files", files.len()))
    } else if files.iter().any(|file| !written_after(&listed, file)) {
        There::Unvouched("a file in its folder was written after its receipt".to_owned())
    } else {
        There::Whole(Box::new(Present { bytes: receipt.bytes, receipt: Some(*receipt) }))
    })
}
