//! Some members of a deliverable, not the zip: its directory read at the API with ranged
//! requests (as `deliverable inspect` reads it), then the chosen members' data, close ones in one
//! request, each member inflated and verified as it streams (CRC-32, sizes, STAC `file:size` and
//! `file:checksum`) into an upload of its own; all published together once every one is
//! verified, none otherwise. A server that ignores `Range` gets the whole body through the
//! verifying pass instead, and only the chosen members are kept.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use tokio::sync::mpsc;
use wyvern_core::{Chunk, Client, DeliverableId};
use wyvern_unpack::{DigestPlan, EntryReport, Inspection, Problem, VerifyError};

use super::pass::{Batcher, Verifier};
use super::{Delivered, Delivery, Ready, Source, extract};
use crate::receipt::Receipt;
use crate::zipfile::{Counted, inspect_with};
use crate::{Error, Members, Result};

/// Chosen members whose data lie closer than this are fetched in one request, the bytes between
/// them read and dropped: a request costs a round trip, and often a redirect.
const COALESCE_GAP: u64 = 1 << 20;

/// Fetches the members of the deliverable that `members` chooses into the job's extraction
/// folder, and writes its receipt.
pub(super) async fn fetch(client: &Client, delivery: &Delivery<'_>, members: &Members) -> Result<Receipt> {
    let Delivery { job, observer, .. } = *delivery;
    let id = &job.deliverable_id;
    let Some((len, etag)) = client.probe(id).await? else {
        observer.warn(&format!(
            "deliverable {id}: its server ignores ranges, so it is read whole, once, verified, and only the chosen \
             members are kept"
        ));
        let download = client.download(id).await?;
        let etag = download.etag().map(str::to_owned);
        let ready = Ready { source: Source::api(download), etag, partial: None, plan: DigestPlan::unknown() };
        return delivery.deliver(ready).await;
    };
    let read = Arc::new(AtomicU64::new(0));
    let access = Box::new(Counted { inner: crate::remote::ranges(client, id, len, etag.clone()), read: read.clone() });
    let inspection = inspect_with(access, &read, format!("deliverable {id}"), wyvern_unpack::inspect_directory).await?;
    let (chosen, mut warnings) = choose(&inspection, members, id)?;
    let fetched = fetch_chosen(client, delivery, &chosen, &inspection, etag.as_deref()).await?;
    let (problems, checked) = wyvern_unpack::check_members(&inspection.items, &fetched.digests);
    if !problems.is_empty() {
        return Err(VerifyError::Problems(problems).into());
    }
    warnings.extend(checked);
    extract::finish_together(delivery.sink, fetched.uploads).await?;
    let bytes = fetched.received + inspection.bytes_read.unwrap_or_default();
    let delivered = Delivered { bytes, sha256: String::new(), source: &fetched.source, etag };
    delivery.record(delivered, Some(chosen), &warnings).await
}

/// The error of a choice of members that matches none of a deliverable's.
pub(super) fn none_match(id: &DeliverableId, members: &Members) -> Error {
    Error::Invalid {
        message: format!("deliverable {id}: no member matches {}", members.chosen()),
        hint: Some(format!("`wyvern deliverable inspect {id}` lists its members")),
    }
}

/// The members `members` chooses, in the order of their data, and what the inspection says of
/// the rest (as warnings: they are not fetched). A zip whose structure readers could see
/// differently, or a chosen member its directory or STAC item already shows wrong, is refused.
fn choose(inspection: &Inspection, members: &Members, id: &DeliverableId) -> Result<(Vec<EntryReport>, Vec<Problem>)> {
    if inspection.has_structure_problems() {
        return Err(VerifyError::Problems(inspection.problems.clone()).into());
    }
    let mut chosen: Vec<EntryReport> =
        inspection.entries.iter().filter(|e| members.matches(&e.name)).cloned().collect();
    if chosen.is_empty() {
        return Err(none_match(id, members));
    }
    let (wrong, others): (Vec<Problem>, Vec<Problem>) =
        inspection.problems.iter().cloned().partition(|p| chosen.iter().any(|e| e.name == p.member));
    if !wrong.is_empty() {
        return Err(VerifyError::Problems(wrong).into());
    }
    chosen.sort_by_key(|e| e.data_offset);
    let mut warnings = inspection.warnings.clone();
    warnings.extend(others);
    Ok((chosen, warnings))
}

/// What fetching the chosen members brought: each one's size and digests, their sealed uploads,
/// the bytes received and where from.
struct Brought {
    digests: BTreeMap<String, (u64, wyvern_unpack::Digests)>,
    uploads: Vec<extract::Member>,
    received: u64,
    source: String,
}

/// Fetches the `chosen` members' data (sorted by offset) with ranged requests, each member
/// verified on the way into an upload of its own (sealed, not published).
async fn fetch_chosen(
    client: &Client,
    delivery: &Delivery<'_>,
    chosen: &[EntryReport],
    inspection: &Inspection,
    etag: Option<&str>,
) -> Result<Brought> {
    let Delivery { sink, job, observer, .. } = *delivery;
    let id = &job.deliverable_id;
    let spans = chosen
        .iter()
        .map(|e| Some(e.data_offset?..e.data_offset? + e.compressed_size))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::Internal("a member's data was not found".to_owned()))?;
    let plan = DigestPlan::from_inspection(inspection);
    let (events, receiver) = mpsc::channel(extract::EXTRACT_QUEUE);
    let members = extract::members(sink.clone(), job.extract_folder()?, receiver);
    let extraction = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(members));
    let verifier = {
        let chosen = chosen.to_vec();
        Verifier::run(move |mut reader| {
            let mut forward = extract::Forward { sender: events, members: None, skipping: false };
            let mut fetched = BTreeMap::new();
            for entry in &chosen {
                let digests = wyvern_unpack::verify_member(&mut reader, entry, &plan, &mut forward)?;
                fetched.insert(entry.name.clone(), (entry.size, digests));
            }
            Ok(fetched)
        })
    };
    let mut stream = Stream { verifier, extraction, batcher: Batcher::default(), spans, next: 0 };
    let mut bar = observer.start(id.as_str(), Some(chosen.iter().map(|e| e.compressed_size).sum()));
    let (mut received, mut source) = (0, String::new());
    for range in requests(&stream.spans) {
        let mut download = client.download_range(id, range.clone(), etag).await?;
        source = download.source_url().to_owned();
        let mut at = range.start;
        while let Some(chunk) = download.next().await? {
            let Chunk::Data(data) = chunk else {
                return Err(Error::Server(format!("deliverable {id}: a ranged request was answered from the start")));
            };
            let len = data.len() as u64;
            (received, at) = (received + len, at + len);
            bar.advance(len);
            stream.push(at - len, &data).await?;
        }
    }
    let (digests, uploads) = stream.finish().await?;
    Ok(Brought { digests, uploads, received, source })
}

/// The requests that fetch `spans` (sorted): each span, spans closer than [`COALESCE_GAP`]
/// together.
fn requests(spans: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut requests: Vec<Range<u64>> = Vec::new();
    for span in spans.iter().filter(|span| !span.is_empty()) {
        match requests.last_mut() {
            Some(last) if span.start.saturating_sub(last.end) < COALESCE_GAP => last.end = last.end.max(span.end),
            _ => requests.push(span.clone()),
        }
    }
    requests
}

/// The chosen members' bytes on their way to the verifier, the bytes between them dropped.
struct Stream {
    verifier: Verifier<BTreeMap<String, (u64, wyvern_unpack::Digests)>>,
    extraction: tokio_util::task::AbortOnDropHandle<Result<Vec<extract::Member>>>,
    batcher: Batcher,
    /// The chosen members' data, in order; `next` is the first not passed yet.
    spans: Vec<Range<u64>>,
    next: usize,
}

impl Stream {
    /// The bytes `data` at offset `at` of the zip: those of chosen members go on.
    async fn push(&mut self, at: u64, data: &Bytes) -> Result<()> {
        let end = at + data.len() as u64;
        while let Some(span) = self.spans.get(self.next).filter(|span| span.start < end) {
            let (from, to) = (span.start.max(at), span.end.min(end));
            let piece = (from < to).then(|| data.slice((from - at) as usize..(to - at) as usize));
            if span.end > end {
                if let Some(piece) = piece {
                    self.feed(piece).await?;
                }
                break;
            }
            self.next += 1;
            if let Some(piece) = piece {
                self.feed(piece).await?;
            }
        }
        Ok(())
    }

    async fn feed(&mut self, piece: Bytes) -> Result<()> {
        let Some(batch) = self.batcher.push(piece) else { return Ok(()) };
        let fed = self.verifier.feed(batch).await;
        self.verdict(fed).await
    }

    /// Each member's size and digests, and their sealed uploads.
    async fn finish(mut self) -> Result<(BTreeMap<String, (u64, wyvern_unpack::Digests)>, Vec<extract::Member>)> {
        if let Some(rest) = self.batcher.rest() {
            let fed = self.verifier.feed(rest).await;
            self.verdict(fed).await?;
        }
        let fetched = self.verifier.result().await;
        let Self { extraction, .. } = self;
        let uploads = extraction.await.map_err(|e| Error::Internal(format!("the extraction task failed: {e}")))?;
        match (fetched, uploads) {
            // The extraction stopping stops the verifier: its error is the cause.
            (Err(_), Err(extraction)) => Err(extraction),
            (fetched, uploads) => Ok((fetched?, uploads?)),
        }
    }

    /// The verifier's verdict, or the extraction's error when that is what stopped it.
    async fn verdict(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err()
            && let Ok(Err(extraction)) = (&mut self.extraction).await
        {
            return Err(extraction);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{COALESCE_GAP, requests};

    #[test]
    fn close_spans_share_a_request_and_far_ones_do_not() {
        let gap = COALESCE_GAP;
        let spans = [0..10, 10..20, 30..40, 40 + gap..50 + gap, 50 + gap..50 + gap];
        assert_eq!(requests(&spans), vec![0..40, 40 + gap..50 + gap]);
        let one = std::iter::once(5..6).collect::<Vec<_>>();
        assert_eq!(requests(&one), one, "one member, one request");
    }
}
