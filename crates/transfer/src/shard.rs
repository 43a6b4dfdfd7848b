//! `--shard K/N`: split one sync across N machines with no coordination beyond the destination.

use std::str::FromStr;

use sha2::{Digest, Sha256};
use wyvern_core::DeliverableId;

/// Shard `index` of `count`. A deliverable belongs to the shard
/// `u64::from_be_bytes(sha256(id)[..8]) % count`, so any tool can compute the same partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Whether the deliverable is this shard's.
    pub fn includes(&self, id: &DeliverableId) -> bool {
        let digest = Sha256::digest(id.as_str().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || format!("{text:?} is not K/N with 0 <= K < N (e.g. 0/4 for the first of four shards)");
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let (index, count): (u64, u64) =
            (index.trim().parse().map_err(|_| invalid())?, count.trim().parse().map_err(|_| invalid())?);
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard { index: 1, count: 4 }.to_string(), "1/4");
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_id_is_in_exactly_one_shard() {
        for count in 1..=7u64 {
            let shards: Vec<Shard> = (0..count).map(|i| format!("{i}/{count}").parse().expect("shard")).collect();
            for n in 0..500 {
                let id = format!("00000000-0000-0000-0000-{n:012}").parse().expect("id");
                assert_eq!(shards.iter().filter(|s| s.includes(&id)).count(), 1, "{id} with {count} shards");
            }
        }
    }
}
