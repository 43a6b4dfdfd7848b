//! `wyvern order report`: the page `wyvern report` makes, of deliverables still at the API: each
//! inspected with ranged requests (its STAC item, then its thumbnail), none downloaded, each card
//! saying what a full download costs.

use std::io::Write;

use futures::StreamExt;
use wyvern_core::{Client, DeliverableId, OrderId};
use wyvern_unpack::EntryReport;

use super::{At, CONCURRENCY, Card, PICTURE_LIMIT, PictureAt, Written, escape, picture_member, size};
use crate::{Error, Observer, Result};

/// A deliverable at the API, as its inspection found it.
pub(super) struct AtApi {
    pub(super) id: DeliverableId,
    pub(super) order: Option<String>,
    /// Its zip's size (what a full download costs) and what inspecting it read; `None` when it
    /// could not be inspected.
    pub(super) sizes: Option<(u64, u64)>,
    client: Client,
}

impl AtApi {
    /// The first [`PICTURE_LIMIT`] bytes of a member, read with ranged requests.
    pub(super) async fn read_member(&self, entry: &EntryReport) -> Result<Vec<u8>> {
        let (bytes, _) = self.sizes.unwrap_or_default();
        let ranges = crate::remote::ranges(&self.client, &self.id, bytes, None);
        crate::zipfile::member_of(Box::new(ranges), entry, PICTURE_LIMIT, format!("deliverable {}", self.id)).await
    }

    /// What inspecting it cost, in words.
    pub(super) fn inspected(bytes: u64, read: u64) -> String {
        let share = 100.0 * read as f64 / bytes.max(1) as f64;
        format!("at the API with ranged requests, not downloaded: {} read ({share:.2} %)", size(read))
    }
}

/// Writes the report of the deliverables of the orders `ids` (every order the account lists
/// when `None`) to `out`, as they are at the API: nothing is downloaded. Orders not ready are
/// left out, each with a warning to `observer`; a deliverable that cannot be inspected gets a
/// card saying why.
pub async fn report_api(
    client: &Client,
    ids: Option<Vec<OrderId>>,
    out: &mut (dyn Write + Send),
    observer: &dyn Observer,
) -> Result<Written> {
    let (mut deliverables, mut left_out) = (Vec::new(), None);
    let mut orders = std::pin::pin!(crate::orders(client, ids, CONCURRENCY));
    while let Some((id, order)) = orders.next().await.transpose()? {
        match order.and_then(|order| crate::order_jobs(&order, None, observer)) {
            Ok(jobs) => deliverables.extend(jobs.into_iter().map(|job| (id.to_string(), job.deliverable_id))),
            // An order that cannot be reported (not ready, not found, no usable link) is left
            // out, as a sync goes on past it; the last such is the error when nothing is left.
            Err(e) if e.kind() != crate::ErrorKind::Auth => {
                let about =
                    if crate::error_line(&e).contains(id.as_str()) { String::new() } else { format!("order {id}: ") };
                observer.warn(&format!("{about}{}: left out of the report", crate::error_line(&e)));
                left_out = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    if deliverables.is_empty() {
        return Err(left_out.unwrap_or_else(|| Error::Invalid {
            message: "the account lists no order: there is nothing to report".to_owned(),
            hint: None,
        }));
    }
    deliverables.sort();
    let cards: Vec<Card> = futures::stream::iter(deliverables)
        .map(|(order, id)| card(client, order, id, observer))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let location = format!("the API at {}", escape(client.base_url().as_str()));
    super::page(out, &location, &cards, None, None).await
}

/// Writes the report of [`report_api`] to the file `output`, whole or not at all.
pub async fn write_api(
    client: &Client,
    ids: Option<Vec<OrderId>>,
    output: &std::path::Path,
    observer: &dyn Observer,
) -> Result<Written> {
    let mut page = super::create(output).await?;
    let written = report_api(client, ids, &mut page, observer).await?;
    super::commit(page, output).await?;
    Ok(written)
}

/// The card of a deliverable at the API: its inspection's item, members and thumbnail.
async fn card(client: &Client, order: String, id: DeliverableId, observer: &dyn Observer) -> Card {
    let inspected = crate::inspect_deliverable(client, &id, observer).await;
    let sizes = inspected.as_ref().ok().map(|i| (i.bytes, i.bytes_read.unwrap_or(i.bytes)));
    let at = At::Api(AtApi { id, order: Some(order), sizes, client: client.clone() });
    let mut card = Card { at, receipt: None, vouched: Ok(()), item: None, members: None, picture: None, problem: None };
    match inspected {
        Ok(inspection) => {
            let entries = &inspection.entries;
            card.members = Some((entries.len(), entries.iter().map(|e| e.size).sum()));
            card.item = inspection.items.into_iter().next();
            let wanted =
                card.item.as_ref().and_then(|item| picture_member(item, |n| entries.iter().any(|e| e.name == n)));
            card.picture =
                wanted.and_then(|name| entries.iter().find(|e| e.name == name).cloned()).map(PictureAt::Member);
            if let Some(first) = inspection.problems.first() {
                let more = inspection.problems.len() - 1;
                let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                card.problem = Some(format!("{}: {}{more}", first.member, first.message));
            }
        }
        Err(e) => card.problem = Some(crate::error_line(&e)),
    }
    card
}
