//! The zip inspector on arbitrary bytes: the streaming verifier and the random-access inspector
//! must return a verdict (never panic, hang or allocate without bound) whatever they are given,
//! and agree: when the verifier accepts a zip, the random-access reader (which starts from the
//! end, as Python's `zipfile`, `unzip` and GDAL do) lists the same members and finds nothing
//! wrong with the structure.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wyvern_unpack::{DigestPlan, RandomAccess, inspect, inspect_random, verify_stream};

struct Bytes<'a>(&'a [u8]);

impl RandomAccess for Bytes<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.0.len());
        Ok(self.0[start..start.saturating_add(len).min(self.0.len())].to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let verified = verify_stream(data, None, &DigestPlan::unknown());
    let read = inspect_random("fuzz.zip", &mut Bytes(data));
    let _ = wyvern_unpack::read_digest_plan(&mut Bytes(data));
    if let Ok(listing) = verified {
        let _ = inspect("fuzz.zip", &listing, true);
        let read = read.expect("the verifier accepted a zip the reader refuses");
        assert!(
            !read.has_structure_problems(),
            "the verifier accepted a zip the reader finds ambiguous: {:?}",
            read.problems
        );
        let mut passed: Vec<_> =
            listing.entries.iter().map(|e| (e.name.clone(), e.size, format!("{:08x}", e.crc32))).collect();
        let mut listed: Vec<_> = read.entries.iter().map(|e| (e.name.clone(), e.size, e.crc32.clone())).collect();
        passed.sort();
        listed.sort();
        assert_eq!(passed, listed, "the verifier and the reader list different members");
    }
});
