//! The receipt written beside each deliverable, and what it can vouch for.
//!
//! A receipt says what arrived (size, SHA-256, source, verdict). A later run trusts it only as far
//! as the destination agrees: a receipt that cannot be read, is larger than any receipt this tool
//! writes, or records another size than the zip has is no receipt; a zip written after its
//! receipt is not vouched for (see docs/sync.md for what a listing can and cannot notice).

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wyvern_sinks::{ObjectInfo, ObjectPath, Sink};

use crate::{Chosen, Error, Result};

/// A receipt larger than this is not one of ours (they are a few hundred bytes, a few KiB with
/// warnings), and is not read.
pub const RECEIPT_LIMIT: u64 = 256 << 10;
/// A receipt keeps at most this many of its verification's warnings, each cut to
/// [`MAX_FIELD`] bytes, as it cuts text from the server (ETag, source): so that no receipt it
/// writes is larger than [`RECEIPT_LIMIT`].
const MAX_WARNINGS: usize = 64;
const MAX_FIELD: usize = 1024;

/// `text` cut to [`MAX_FIELD`] bytes (at a character's boundary), marked `…` when cut.
pub(crate) fn cut(text: &str) -> String {
    wyvern_unpack::document::cut(text, MAX_FIELD)
}

/// The receipt written beside each deliverable (`<deliverable_id>.receipt.json`): what arrived,
/// from where, and whether it was verified. A re-run skips a deliverable whose receipt matches
/// what is at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The deliverable.
    pub deliverable_id: String,
    /// Its order, when known.
    pub order_id: Option<String>,
    /// The zip's size; of some members ([`Extracted::selected`]), the bytes downloaded for them.
    pub bytes: u64,
    /// The zip's SHA-256, lowercase hex; empty when only some members were fetched with ranged
    /// requests (each was verified against its CRC-32 and STAC checksum instead).
    pub sha256: String,
    /// The URL the bytes came from (after redirects), without its query string.
    pub source: String,
    /// The body's ETag, when the server sent one.
    pub etag: Option<String>,
    /// When it was completed, RFC 3339.
    pub completed_at: String,
    /// Whether the zip was verified while it streamed.
    pub verified: bool,
    /// The tool and its version, e.g. `wyvern 0.1.0`.
    pub tool: String,
    /// With extraction: where the members went, instead of the zip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted: Option<Extracted>,
    /// What verification could not check, or checked only weakly (e.g. a checksum whose
    /// multihash code is unknown, an MD5 match): `<member>: <message>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Where extraction wrote a deliverable's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// The folder (relative to the destination) holding the members.
    pub folder: String,
    /// How many files were written.
    pub members: u64,
    /// When only some members were fetched (`--include`, `--exclude`): which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<Selected>,
}

/// The members a receipt covers, when not all of them: what chose them, and what they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    /// The globs that chose them.
    #[serde(flatten)]
    pub chosen: Chosen,
    /// The members fetched, the first 64 (a receipt stays small whatever the zip holds;
    /// [`Extracted::members`] counts them all).
    pub fetched: Vec<Fetched>,
}

/// A member fetched on its own, as its zip's directory described it (and verification found it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    /// Its path in the zip (and under the folder), cut to 1024 bytes.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its CRC-32, 8 hex digits.
    pub crc32: String,
}

impl Selected {
    /// The members `fetched`, chosen by `chosen`.
    pub(crate) fn new(chosen: &Chosen, fetched: &[wyvern_unpack::EntryReport]) -> Self {
        let fetched = fetched
            .iter()
            .take(MAX_WARNINGS)
            .map(|e| Fetched { path: cut(&e.name), size: e.size, crc32: e.crc32.clone() })
            .collect();
        Self { chosen: chosen.clone(), fetched }
    }

    /// Whether every member is listed (else only the first are).
    pub(crate) fn complete(&self, members: u64) -> bool {
        self.fetched.len() as u64 == members
    }
}

/// What is at a receipt's path.
#[derive(Debug)]
pub(crate) enum Found {
    /// Nothing.
    Missing,
    /// Something that is not a receipt (too large, not JSON, not a receipt's fields): why.
    NotAReceipt(String),
    /// A receipt.
    Receipt(Box<Receipt>),
}

impl Receipt {
    /// Reads what is at `path`. Only the sink's own failures are errors.
    pub(crate) async fn read(sink: &Arc<dyn Sink>, path: &ObjectPath) -> Result<Found> {
        let bytes = match sink.get_small(path, RECEIPT_LIMIT).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Found::Missing),
            Err(wyvern_sinks::Error::TooLarge { .. }) => {
                return Ok(Found::NotAReceipt(format!("it is larger than {RECEIPT_LIMIT} bytes")));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match serde_json::from_slice::<Self>(&bytes) {
            Ok(receipt) if receipt.sha256.len() == 64 && receipt.sha256.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Found::Receipt(Box::new(receipt))
            }
            Ok(receipt) if receipt.sha256.is_empty() && receipt.selection().is_some() => {
                Found::Receipt(Box::new(receipt))
            }
            Ok(_) => Found::NotAReceipt("its sha256 is not a SHA-256".to_owned()),
            Err(e) => Found::NotAReceipt(format!("it cannot be read: {e}")),
        })
    }

    /// Writes it at `path`.
    pub(crate) async fn write(&self, sink: &Arc<dyn Sink>, path: &ObjectPath) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        json.push(b'\n');
        Ok(sink.put_small(path, Bytes::from(json)).await?)
    }

    /// Verification's warnings as a receipt keeps them: `<member>: <message>`, the first
    /// [`MAX_WARNINGS`], then how many more there were.
    pub(crate) fn warnings_of(warnings: &[wyvern_unpack::Problem]) -> Vec<String> {
        let mut kept: Vec<String> =
            warnings.iter().take(MAX_WARNINGS).map(|w| cut(&format!("{}: {}", w.member, w.message))).collect();
        if warnings.len() > MAX_WARNINGS {
            kept.push(format!("(and {} more warnings)", warnings.len() - MAX_WARNINGS));
        }
        kept
    }

    /// What chose its members, when it covers only some.
    pub(crate) fn selection(&self) -> Option<&Chosen> {
        self.extracted.as_ref()?.selected.as_ref().map(|selected| &selected.chosen)
    }

    /// Whether it is the receipt of `deliverable` of `order` (extracted into `folder`, when it
    /// says it was extracted): a receipt copied or edited from another is not.
    pub(crate) fn belongs_to(&self, deliverable: &str, order: Option<&str>, folder: &str) -> Result<(), String> {
        if self.deliverable_id != deliverable || self.order_id.as_deref() != order {
            return Err("its receipt is another deliverable's".to_owned());
        }
        match &self.extracted {
            Some(extracted) if extracted.folder != folder => {
                Err("its receipt names another folder of members".to_owned())
            }
            _ => Ok(()),
        }
    }

    /// Whether it vouches for the zip as the destination lists it (`zip`, and the receipt's own
    /// listing `listed`): the size it recorded, and the zip not written after it; else why not.
    pub(crate) fn vouches_for(&self, zip: &ObjectInfo, listed: Option<&ObjectInfo>) -> Result<(), String> {
        if self.extracted.is_some() {
            return Err("its receipt is of an extraction".to_owned());
        }
        if self.bytes != zip.size {
            return Err(format!("its receipt records {} bytes and the zip has {}", self.bytes, zip.size));
        }
        if let Some(listed) = listed
            && !written_after(listed, zip)
        {
            return Err("the zip was written after its receipt".to_owned());
        }
        Ok(())
    }
}

/// Whether a receipt was written after (or with) the object `written` (receipts are written once
/// a zip is in place; a zip replaced since is not vouched for). Unknown times vouch for nothing
/// against; they are not evidence of a change.
///
/// Times are compared to the second: stores give them in whole seconds in one answer (an S3
/// `HEAD`'s `Last-Modified`) and to the millisecond in another (its listing), so a file written
/// in the same second as its receipt counts as written before it.
pub(crate) fn written_after(receipt: &ObjectInfo, written: &ObjectInfo) -> bool {
    let seconds = |time: std::time::SystemTime| time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match (receipt.modified, written.modified) {
        (Some(receipt), Some(written)) => seconds(receipt) >= seconds(written),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_written_stay_under_the_limit_whatever_the_warnings() {
        let warning = wyvern_unpack::Problem {
            member: "m".repeat(70_000),
            check: "zip",
            expected: None,
            actual: None,
            message: "\"".repeat(10_000),
        };
        let receipt = Receipt {
            deliverable_id: "d".to_owned(),
            order_id: None,
            bytes: 1,
            sha256: "0".repeat(64),
            source: cut(&"s".repeat(100_000)),
            etag: Some(cut(&"e".repeat(100_000))),
            completed_at: String::new(),
            verified: true,
            tool: String::new(),
            extracted: None,
            warnings: Receipt::warnings_of(&vec![warning; 1000]),
        };
        let json = serde_json::to_vec_pretty(&receipt).expect("json");
        assert!((json.len() as u64) < RECEIPT_LIMIT / 2, "{} bytes", json.len());
        assert_eq!(receipt.warnings.len(), MAX_WARNINGS + 1);
    }
}
