//! Inspection and verification of Wyvern deliverable zips.
//!
//! This crate reads bytes and nothing else: no HTTP, no buckets. [`verify_stream`] checks a zip
//! in one forward pass over its bytes, as they arrive from a download: every member's data
//! against its CRC-32 and size, then the central directory against the local headers seen, and
//! that nothing follows the end record.

mod error;
mod stream;

pub use error::VerifyError;
pub use stream::{Entry, Listing, verify_stream};
