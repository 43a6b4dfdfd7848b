//! A deliverable inspected where it is, at the API (or the storage host it redirects to): its
//! directory, STAC items and GeoTIFF headers read with a few ranged requests, a small fraction
//! of its bytes; the same facts and JSON as `inspect` of the downloaded zip.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use wyvern_core::{Client, DeliverableId};
use wyvern_unpack::{DigestPlan, Inspection};

use crate::pipeline::{ApiRanges, Source};
use crate::zipfile::{Counted, inspect_access, member_of};
use crate::{Error, Observer, Result};

/// Inspects the deliverable `id` at the API without downloading it: a one-byte range learns its
/// size (and ETag), then ranged requests read its end records, directory, JSON members and
/// GeoTIFF headers (each resolved at the API again, so an expired presigned link is asked for
/// anew). A server that ignores `Range` gets a warning and the body read once as a stream,
/// verified: the inspection then covers every byte.
pub async fn inspect_deliverable(client: &Client, id: &DeliverableId, observer: &dyn Observer) -> Result<Inspection> {
    let Some((len, etag)) = client.probe(id).await? else {
        observer.warn(&format!(
            "deliverable {id}: its server ignores ranges, so inspecting it reads it whole, once (nothing is kept)"
        ));
        let mut source = Source::api(client.download(id).await?);
        let (mut inspection, _) = crate::pipeline::verify(&mut source, &DigestPlan::unknown(), observer, false).await?;
        inspection.bytes_read = Some(inspection.bytes);
        return Ok(inspection);
    };
    let read = Arc::new(AtomicU64::new(0));
    let access = Box::new(Counted { inner: ranges(client, id, len, etag), read: read.clone() });
    inspect_access(access, &read, format!("deliverable {id}")).await
}

/// The thumbnail (else the overview) of the deliverable `id` at the API, as `inspection` found
/// it, read with ranged requests, decoded and scaled to fit `width` by `height` pixels: `None`
/// when it has none.
pub async fn deliverable_thumbnail(
    client: &Client,
    id: &DeliverableId,
    inspection: &Inspection,
    width: u32,
    height: u32,
) -> Result<Option<(String, wyvern_unpack::Picture)>> {
    let Some(entry) = crate::named::picture_entry(inspection) else { return Ok(None) };
    let Some((len, etag)) = client.probe(id).await? else {
        return Err(Error::Invalid {
            message: format!("deliverable {id}: its server ignores ranges, so its thumbnail cannot be read alone"),
            hint: Some("download it and run `wyvern inspect --preview` on the zip".to_owned()),
        });
    };
    let access = Box::new(ranges(client, id, len, etag));
    let png = member_of(access, entry, crate::html::PICTURE_LIMIT, format!("deliverable {id}")).await?;
    crate::named::decode_picture(entry, png, width, height).await.map(Some)
}

/// Ranged reads of the deliverable, from a blocking thread.
pub(crate) fn ranges(client: &Client, id: &DeliverableId, len: u64, etag: Option<String>) -> ApiRanges {
    ApiRanges { client: client.clone(), id: id.clone(), etag, len, runtime: tokio::runtime::Handle::current() }
}
