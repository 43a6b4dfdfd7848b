//! Which digests the pass computes for each member: those the STAC items ask for, or, when they
//! were not read ahead, a bounded speculation.

use std::collections::{BTreeMap, BTreeSet};

use crate::checksum::{Algorithm, Multihash, WYVERN_ALGORITHM};
use crate::stac::Item;

/// Which digests the pass computes for each member: those the STAC items ask for.
///
/// A digest costs about as much CPU as moving the bytes, so none is computed that no item asks
/// for. The items are usually in the same zip, and often after the members they describe, so
/// the plan comes from reading them ahead when the bytes can be reached at random
/// ([`crate::read_digest_plan`]). Without that ([`DigestPlan::unknown`]), the pass learns from
/// each item it meets; for a member no item met so far names, it computes every supported
/// algorithm over its first 4 MiB (small members are then checked whatever an item met later
/// asks for) and only Wyvern's BLAKE2b-512 and the common SHA2-256 past that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestPlan {
    wanted: BTreeMap<String, BTreeSet<Algorithm>>,
    /// Every item was read ahead: a member no item names needs no digest.
    complete: bool,
}

/// What is computed for members no item read so far names, when the items were not read ahead:
/// everything up to [`SPECULATE_ALL_UP_TO`], then these; and only these once the zip's members
/// have had [`SPECULATE_ALL_IN_ALL`] hashed every way (a small zip of many members that inflate
/// far would otherwise cost a dozen hashes of each).
pub(super) const SPECULATIVE: [Algorithm; 2] = [WYVERN_ALGORITHM, Algorithm::Sha2_256];
pub(super) const SPECULATE_ALL_UP_TO: u64 = 4 << 20;
pub(super) const SPECULATE_ALL_IN_ALL: u64 = 16 << 20;

impl DigestPlan {
    /// The items were not read ahead.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// The digests the items of a header-only inspection ask for.
    pub fn from_inspection(inspection: &crate::Inspection) -> Self {
        Self::from_items(&inspection.items)
    }

    /// The digests these items (every item of the zip) ask for.
    pub fn from_items(items: &[Item]) -> Self {
        let mut plan = Self { wanted: BTreeMap::new(), complete: true };
        for item in items {
            plan.learn(item);
        }
        plan
    }

    pub(super) fn learn(&mut self, item: &Item) {
        for asset in &item.assets {
            let (Some(member), Some(checksum)) = (&asset.member, &asset.checksum) else { continue };
            let wanted = self.wanted.entry(member.clone()).or_default();
            if let Ok(Multihash::Known { algorithm, .. }) = Multihash::parse(checksum) {
                wanted.insert(algorithm);
            }
        }
    }

    /// The algorithms to compute for `member`, and when they are speculative, the size past
    /// which only [`SPECULATIVE`] are kept.
    pub(super) fn algorithms(&self, member: &str) -> (Vec<Algorithm>, Option<u64>) {
        match self.wanted.get(member) {
            Some(wanted) => (wanted.iter().copied().collect(), None),
            None if self.complete => (Vec::new(), None),
            None => (Algorithm::ALL.to_vec(), Some(SPECULATE_ALL_UP_TO)),
        }
    }
}
