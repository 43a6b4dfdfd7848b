//! A large deliverable's STAC items, read ahead in a few ranged requests while its body starts
//! to arrive, so that verifying it computes just the digests the items ask for.

use std::collections::VecDeque;

use wyvern_core::{Chunk, Client, DeliverableId, Download};
use wyvern_unpack::DigestPlan;

use super::Source;
use crate::Result;
use crate::job::Options;

/// Deliverables at least this large have their STAC items read ahead, in a few ranged requests,
/// so that verifying them computes just the digests the items ask for. Smaller ones are hashed
/// on speculation instead (see [`DigestPlan`]): at their size, that costs less than the requests.
const PLAN_AHEAD_FROM: u64 = 64 << 20;

/// The body's first bytes held while the STAC items are read ahead, at most.
const HOLD: usize = 8 << 20;

/// The deliverable's body as a [`Source`], with the digests its STAC items ask for, read from
/// its end (the central directory, the JSON members) when it is large, verified, and served in
/// ranges. The body keeps arriving meanwhile: its first chunks are read and held (up to
/// [`HOLD`]), so that the reading ahead costs no time, and the body's first bytes are read as
/// they arrive, which is what tells a slow link (and parallel ranges) from a fast one.
pub(super) async fn plan_ahead(
    client: &Client,
    id: &DeliverableId,
    mut download: Download,
    options: &Options,
) -> Result<(Source, DigestPlan)> {
    let worth_it = options.verify && download.accepts_ranges();
    let Some(len) = download.content_length().filter(|&len| worth_it && len >= PLAN_AHEAD_FROM) else {
        return Ok((Source::api(download), DigestPlan::unknown()));
    };
    let mut ranges = ApiRanges {
        client: client.clone(),
        id: id.clone(),
        etag: download.etag().map(str::to_owned),
        len,
        runtime: tokio::runtime::Handle::current(),
    };
    let planning = tokio::task::spawn_blocking(move || wyvern_unpack::read_digest_plan(&mut ranges));
    let (mut held, mut holding, mut ended) = (VecDeque::new(), 0, false);
    // Whole chunks only (a read is never cut short), while the plan is being read.
    while !planning.is_finished() && holding < HOLD {
        match download.next().await? {
            Some(chunk) => {
                if let Chunk::Data(data) = &chunk {
                    holding += data.len();
                }
                held.push_back(chunk);
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let plan = match planning.await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e)) => {
            tracing::debug!(deliverable = %id, "the STAC items could not be read ahead: {e}");
            DigestPlan::unknown()
        }
        Err(_) => DigestPlan::unknown(),
    };
    Ok((Source::Api { download: Box::new(download), held, ended }, plan))
}

/// Ranged requests for parts of a deliverable, from the blocking thread that reads them.
pub(crate) struct ApiRanges {
    pub(crate) client: Client,
    pub(crate) id: DeliverableId,
    pub(crate) etag: Option<String>,
    pub(crate) len: u64,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl wyvern_unpack::RandomAccess for ApiRanges {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let range = offset..offset.saturating_add(len as u64).min(self.len);
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let read = self.client.read_range(&self.id, range, self.etag.as_deref());
        Ok(self.runtime.block_on(read).map_err(std::io::Error::other)?.to_vec())
    }
}
