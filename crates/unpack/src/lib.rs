//! Inspection and verification of Wyvern deliverable zips.
//!
//! This crate reads bytes and nothing else: no HTTP, no buckets.
//!
//! - [`verify_stream`] checks a zip in one forward pass over its bytes, as they arrive from a
//!   download: names, every member's CRC-32 and size, the central directory against the local
//!   headers, nothing after the end record; it keeps what the STAC checks need and can hand each
//!   member's bytes to a [`MemberVisitor`] (extraction).
//! - [`inspect_random`] reads only what it needs of a zip with random access (the central
//!   directory, the JSON members, the TIFF headers): a few ranged reads of a zip in a bucket.
//! - [`inspect`] turns either into an [`Inspection`]: members and their kinds, the STAC item, the
//!   GeoTIFF headers, and every problem found (STAC `file:size`/`file:checksum`, `proj:shape` and
//!   band count against the GeoTIFF, the catalog's item link).

mod checksum;
pub mod document;
mod error;
mod format;
mod geotiff;
mod names;
mod picture;
mod random;
mod report;
pub mod stac;
mod stream;

pub use checksum::{Algorithm, Hasher, Multihash, WYVERN_ALGORITHM, digest_matches};
pub use error::VerifyError;
pub use geotiff::{HEADER_BYTES, Raster, read_header};
pub use names::unsafe_name;
pub use picture::{PIXEL_BUDGET, Picture};
pub use random::{RandomAccess, inspect_directory, inspect_random, read_digest_plan, read_member};
pub use report::{EntryReport, Inspection, Problem, check_members, inspect};
pub use stac::{Band, Item, Kind};
pub use stream::{
    DigestPlan, Digests, Entry, JSON_LIMIT, Listing, MAX_KEPT, MAX_RATIO, MemberVisitor, verify_member, verify_stream,
};
