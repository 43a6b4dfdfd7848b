//! The zip inspector on arbitrary bytes: the streaming verifier and the random-access inspector
//! must return a verdict (never panic, hang or allocate without bound) whatever they are given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wyvern_unpack::{RandomAccess, inspect, inspect_random, verify_stream};

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
    if let Ok(listing) = verify_stream(data, None) {
        let _ = inspect("fuzz.zip", &listing, true);
    }
    let _ = inspect_random("fuzz.zip", &mut Bytes(data));
});
