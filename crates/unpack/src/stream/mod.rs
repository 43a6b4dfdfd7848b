//! The forward pass over a zip: every member's data read once, as the bytes arrive, and the
//! central directory and end records checked against what was read.

mod input;
mod member;
mod plan;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, BufRead};
use std::sync::Arc;

use crate::checksum::{Algorithm, Hasher};
use crate::document::{Budgets, Document};
use crate::error::VerifyError;
use crate::format::{
    CENTRAL_FIXED, CENTRAL_HEADER, CentralEntry, DESCRIPTOR, DESCRIPTOR_WINDOW, Directory, END, END_FIXED, End,
    LOCAL_FIXED, LOCAL_HEADER, LOCATOR_LEN, LocalHeader, Locator, MAX_PADDING, ZIP64_END, ZIP64_END_FIXED,
    ZIP64_LOCATOR, Zip64, Zip64End, check_comment, check_end_records, descriptor_len, descriptor_values, encrypted,
    u32_at,
};
use crate::geotiff::HEADER_BYTES;
use crate::stac;
use input::{Ignore, Input};
pub use member::verify_member;
pub use plan::DigestPlan;
use plan::{SPECULATE_ALL_IN_ALL, SPECULATE_ALL_UP_TO, SPECULATIVE};

/// Central directories larger than this are refused, keeping memory bounded.
pub(crate) const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
pub(crate) const READ_BUFFER: usize = 256 << 10;

/// One member of a zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path inside the zip.
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    /// Stored size.
    pub compressed_size: u64,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Offset of its local header.
    pub offset: u64,
    /// Offset of its data (past the local header), when that header was read.
    pub data: Option<u64>,
    /// Compression method: 0 stored, 8 deflated.
    pub method: u16,
    /// Whether the encryption flag is set.
    pub encrypted: bool,
}

/// The digests of a member's uncompressed data, by algorithm, for STAC `file:checksum`.
pub type Digests = BTreeMap<Algorithm, Vec<u8>>;

/// What a zip holds: its members and, from the one pass over them, what the checks need.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The members, in stored order.
    pub entries: Vec<Entry>,
    /// The zip's size in bytes.
    pub bytes: u64,
    /// Each member's digests, when its data was read (not by a random-access inspection): the
    /// algorithms its [`DigestPlan`] named.
    pub digests: BTreeMap<String, Digests>,
    /// JSON members (STAC catalog and item) up to [`JSON_LIMIT`] bytes each, read within
    /// bounds (or why they could not be read), the first [`MAX_KEPT`].
    pub json: BTreeMap<String, Result<Arc<Document>, String>>,
    /// The first [`HEADER_BYTES`] of each TIFF member, the first [`MAX_KEPT`].
    pub tiff_heads: BTreeMap<String, Vec<u8>>,
    /// JSON and TIFF members past the first [`MAX_KEPT`] of their kind: listed, not read.
    pub unread: u64,
}

/// JSON members, and TIFF headers, read of one zip: more are listed, not read (a deliverable
/// holds two JSON members and three TIFFs; a zip of thousands would hold thousands in memory).
pub const MAX_KEPT: usize = 64;

impl Listing {
    /// How much of the member `name` the checks keep: JSON whole (up to [`JSON_LIMIT`]), TIFF
    /// headers; `None` for other members, and past the first [`MAX_KEPT`] of a kind (counted in
    /// `unread`).
    pub(crate) fn keep_limit(&mut self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        let (limit, kept) = if lower.ends_with(".json") {
            (JSON_LIMIT, self.json.len())
        } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
            (HEADER_BYTES, self.tiff_heads.len())
        } else {
            return None;
        };
        if kept >= MAX_KEPT {
            self.unread += 1;
            return None;
        }
        Some(limit)
    }

    /// Keeps what was read of the member `name`: a JSON member read into a [`Document`] (spending
    /// `budgets`, the zip's), a TIFF's header as it is.
    pub(crate) fn store_kept(&mut self, name: &str, kept: Vec<u8>, budgets: &Budgets) {
        if is_json(name) {
            let document = Document::read_within(&kept, budgets).map(Arc::new).map_err(|e| e.to_string());
            self.json.insert(name.to_owned(), document);
        } else {
            self.tiff_heads.insert(name.to_owned(), kept);
        }
    }
}

/// JSON members larger than this are not kept for the STAC checks.
pub const JSON_LIMIT: usize = 16 << 20;
/// Members over 64 MiB may not expand more than this (imagery barely compresses).
pub const MAX_RATIO: u64 = 100;
const RATIO_FLOOR: u64 = 64 << 20;

/// Receives each member's uncompressed bytes during the pass, e.g. to extract them.
pub trait MemberVisitor {
    /// A member starts: its size when its header says (not for members with data descriptors).
    /// Names have been checked by [`crate::unsafe_name`] already.
    fn begin(&mut self, name: &str, size: Option<u64>) -> io::Result<()>;
    /// Its next bytes.
    fn data(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// It ended, whole and matching its CRC-32.
    fn end(&mut self) -> io::Result<()>;
}

/// Verifies a zip in one forward pass over `reader`, reading each byte once and holding no more
/// than one read buffer, the central directory and the small members the checks need in memory.
///
/// Checked here: member names (no absolute paths or `..`, no duplicates), encryption, expansion
/// ratios, every member's data against its CRC-32 and sizes (from its local header, or from its
/// data descriptor: see docs/inspection.md for how the end of a stored member of unknown size is
/// found), the central directory against the local headers, the end records against the central
/// directory, and that nothing lies before, between or after the records. `plan` says which
/// digests to compute for the STAC checks.
pub fn verify_stream<R: BufRead>(
    reader: R,
    visitor: Option<&mut dyn MemberVisitor>,
    plan: &DigestPlan,
) -> Result<Listing, VerifyError> {
    let mut ignore = Ignore;
    let visitor: &mut dyn MemberVisitor = match visitor {
        Some(visitor) => visitor,
        None => &mut ignore,
    };
    let mut pass = Pass {
        input: Input::new(reader),
        plan: plan.clone(),
        listing: Listing::default(),
        names: HashSet::new(),
        out: vec![0; READ_BUFFER],
        budgets: Budgets::default(),
        speculated: 0,
    };
    loop {
        let offset = pass.input.offset;
        match pass.input.signature()? {
            LOCAL_HEADER => {
                let entry = pass.member(&mut *visitor)?;
                pass.listing.entries.push(entry);
            }
            CENTRAL_HEADER | ZIP64_END | ZIP64_LOCATOR | END => break,
            other if offset == 0 => return Err(malformed(0, format!("not a zip: it starts with {other:08x}"))),
            other => {
                return Err(malformed(
                    offset,
                    format!("bytes that belong to no member follow the last one (signature {other:08x})"),
                ));
            }
        }
    }
    let central = pass.central_directory()?;
    compare(&pass.listing.entries, &central)?;
    pass.listing.bytes = pass.input.offset;
    Ok(pass.listing)
}

struct Pass<R> {
    input: Input<R>,
    plan: DigestPlan,
    listing: Listing,
    names: HashSet<String>,
    /// Inflated bytes, reused from member to member.
    out: Vec<u8>,
    /// What the zip's JSON documents may keep, together.
    budgets: Budgets,
    /// Bytes hashed every way on speculation so far (see [`SPECULATE_ALL_IN_ALL`]).
    speculated: u64,
}

impl<R: BufRead> Pass<R> {
    /// One member, from its local header (signature not consumed) to the end of its data
    /// descriptor.
    fn member(&mut self, visitor: &mut dyn MemberVisitor) -> Result<Entry, VerifyError> {
        let offset = self.input.offset;
        let bytes = self.input.record(LOCAL_FIXED, LocalHeader::variable_len)?;
        let header = LocalHeader::parse(&bytes).map_err(|reason| malformed(offset, reason))?;
        if encrypted(header.flags) {
            return Err(VerifyError::Encrypted { entry: header.name });
        }
        check_name(&header.name, &mut self.names)?;
        let (size, compressed_size) = (header.declared_size(), header.declared_compressed_size());
        if let (Some(size), Some(compressed_size)) = (size, compressed_size) {
            check_ratio(&header.name, size, compressed_size)?;
        }
        if !matches!(header.method, 0 | 8) {
            return Err(VerifyError::UnsupportedMethod { entry: header.name, method: header.method });
        }
        let data = self.input.offset;
        let (mut algorithms, mut narrow_at) = self.plan.algorithms(&header.name);
        if narrow_at.is_some() && self.speculated >= SPECULATE_ALL_IN_ALL {
            algorithms.retain(|algorithm| SPECULATIVE.contains(algorithm));
            narrow_at = None;
        }
        let mut member = Member {
            name: header.name.clone(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            limit: size,
            hashers: algorithms.into_iter().map(|a| (a, a.hasher())).collect(),
            narrow_at,
            keep: self.listing.keep_limit(&header.name),
            kept: Vec::new(),
            visitor,
        };
        member.visitor.begin(&header.name, size).map_err(VerifyError::Io)?;
        let compressed = match (header.method, compressed_size) {
            (8, compressed_size) => self.inflate(&mut member, compressed_size)?,
            (_, Some(compressed_size)) => self.copy(&mut member, compressed_size)?,
            (_, None) => self.scan_stored(&mut member, header.zip64)?,
        };
        let actual = (member.crc.clone().finalize(), compressed, member.size);
        // The scan of a stored member of unknown size consumed its descriptor already.
        let scanned = header.method == 0 && compressed_size.is_none();
        if header.has_descriptor() && !scanned {
            self.descriptor(&header, actual)?;
        }
        let entry = header.name.clone();
        if let Some(expected) = header.declared_crc32().filter(|&crc| crc != actual.0) {
            return Err(VerifyError::ChecksumMismatch { entry, expected, actual: actual.0 });
        }
        if let Some(expected) = size.filter(|&size| size != member.size) {
            return Err(VerifyError::SizeMismatch { entry, expected, actual: member.size });
        }
        if let Some(expected) = compressed_size.filter(|&size| size != compressed) {
            return Err(VerifyError::SizeMismatch { entry, expected, actual: compressed });
        }
        member.visitor.end().map_err(VerifyError::Io)?;
        let Member { name, hashers, keep, kept, size, .. } = member;
        if narrow_at.is_some() {
            self.speculated += size.min(SPECULATE_ALL_UP_TO);
        }
        if keep.is_some() && !(is_json(&name) && size > JSON_LIMIT as u64) {
            self.listing.store_kept(&name, kept, &self.budgets);
            if let Some(Ok(document)) = self.listing.json.get(&name)
                && document.is_item()
            {
                self.plan.learn(&stac::parse_item(&name, document));
            }
        }
        let digests = hashers.into_iter().map(|(algorithm, hasher)| (algorithm, hasher.finalize())).collect();
        self.listing.digests.insert(name.clone(), digests);
        Ok(Entry {
            name,
            size: actual.2,
            compressed_size: compressed,
            crc32: actual.0,
            offset,
            data: Some(data),
            method: header.method,
            encrypted: false,
        })
    }

    /// Stored data of known size; returns its size.
    fn copy(&mut self, member: &mut Member<'_>, size: u64) -> Result<u64, VerifyError> {
        let mut left = size;
        while left > 0 {
            let available = self.input.fill(1)?;
            if available.is_empty() {
                return Err(self.input.truncated());
            }
            let n = available.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            member.data(&available[..n], size - left + n as u64)?;
            self.input.consume(n);
            left -= n as u64;
        }
        Ok(size)
    }

    /// Deflated data: the stream ends itself. With a known compressed size, it must end exactly
    /// there. Returns the compressed size.
    fn inflate(&mut self, member: &mut Member<'_>, compressed_size: Option<u64>) -> Result<u64, VerifyError> {
        let mut inflater = flate2::Decompress::new(false);
        let start = self.input.offset;
        let mut want = 1;
        loop {
            let consumed = inflater.total_in();
            let available = self.input.fill(want)?;
            let available_len = available.len();
            let limit = compressed_size.map_or(available.len(), |size| {
                available.len().min(usize::try_from(size - consumed).unwrap_or(usize::MAX))
            });
            let produced_before = inflater.total_out();
            let status = inflater
                .decompress(&available[..limit], &mut self.out, flate2::FlushDecompress::None)
                .map_err(|e| malformed(start + consumed, format!("{}: invalid deflate data: {e}", member.name)))?;
            let used = (inflater.total_in() - consumed) as usize;
            let produced = (inflater.total_out() - produced_before) as usize;
            self.input.consume(used);
            member.data(&self.out[..produced], inflater.total_in())?;
            if status == flate2::Status::StreamEnd {
                break;
            }
            if used == 0 && produced == 0 {
                if compressed_size.is_some_and(|size| inflater.total_in() == size) {
                    return Err(malformed(
                        self.input.offset,
                        format!("{}: the deflate data goes on past its compressed size", member.name),
                    ));
                }
                if available_len < want || self.input.eof_reached() {
                    return Err(self.input.truncated());
                }
                // The inflater needs more than is buffered to make progress (it never needs more
                // than a read buffer's worth).
                if available_len >= READ_BUFFER {
                    return Err(malformed(self.input.offset, format!("{}: invalid deflate data", member.name)));
                }
                want = available_len + 1;
            } else {
                want = 1;
            }
        }
        let consumed = inflater.total_in();
        if let Some(size) = compressed_size.filter(|&size| size != consumed) {
            return Err(VerifyError::SizeMismatch { entry: member.name.clone(), expected: size, actual: consumed });
        }
        Ok(consumed)
    }

    /// Stored data whose size only its data descriptor tells (a streaming writer's stored
    /// member): it ends at the first place where a data descriptor holds the CRC-32 and the size
    /// of everything before it and is followed by a local or central header signature. Returns
    /// the size; the descriptor is consumed.
    fn scan_stored(&mut self, member: &mut Member<'_>, wide_first: bool) -> Result<u64, VerifyError> {
        let mut read = 0u64;
        // A descriptor in the right place whose CRC-32 did not match: what to report if no
        // descriptor matches before the input ends.
        let mut near_miss: Option<VerifyError> = None;
        loop {
            let available = self.input.fill(DESCRIPTOR_WINDOW * 2)?;
            let eof = available.len() < DESCRIPTOR_WINDOW * 2;
            // Positions where a descriptor could start are decided once the window after them
            // is in (or the input ended).
            let decidable = if eof { available.len() } else { available.len() - DESCRIPTOR_WINDOW };
            let mut crc = member.crc.clone();
            let mut hashed = 0;
            let mut found = None;
            for at in candidates(available, decidable) {
                let size = read + at as u64;
                crc.update(&available[hashed..at]);
                hashed = at;
                let values = (crc.clone().finalize(), size, size);
                if let Some(len) = descriptor_len(&available[at..], values, wide_first, is_record) {
                    found = Some((at, len));
                    break;
                }
                if near_miss.is_none()
                    && u32_at(&available[at..], 0) == DESCRIPTOR
                    && let Some((_, (expected, c, u))) = descriptor_values(&available[at..], wide_first, is_record)
                    && (c, u) == (size, size)
                {
                    near_miss =
                        Some(VerifyError::ChecksumMismatch { entry: member.name.clone(), expected, actual: values.0 });
                }
            }
            let data_end = found.map_or(decidable, |(at, _)| at);
            read += data_end as u64;
            member.data(&available[..data_end], read)?;
            if let Some((_, len)) = found {
                self.input.consume(data_end + len);
                return Ok(read);
            }
            self.input.consume(data_end);
            if eof {
                return Err(near_miss.unwrap_or_else(|| VerifyError::UnendedMember { entry: member.name.clone() }));
            }
        }
    }

    /// The data descriptor after a member's data, which must hold what was read.
    fn descriptor(&mut self, header: &LocalHeader, actual: (u32, u64, u64)) -> Result<(), VerifyError> {
        let window = self.input.fill(DESCRIPTOR_WINDOW)?;
        if let Some(len) = descriptor_len(window, actual, header.zip64, is_record) {
            self.input.consume(len);
            return Ok(());
        }
        let entry = header.name.clone();
        if let Some(len) = descriptor_len(window, actual, header.zip64, |_| true) {
            return Err(malformed(
                self.input.offset + len as u64,
                format!("bytes that belong to no member follow {entry} and its data descriptor"),
            ));
        }
        Err(match descriptor_values(window, header.zip64, is_record) {
            Some((_, (expected, _, _))) if expected != actual.0 => {
                VerifyError::ChecksumMismatch { entry, expected, actual: actual.0 }
            }
            Some((_, (_, _, expected))) if expected != actual.2 => {
                VerifyError::SizeMismatch { entry, expected, actual: actual.2 }
            }
            Some((_, (_, expected, _))) => VerifyError::SizeMismatch { entry, expected, actual: actual.1 },
            None if window.len() < DESCRIPTOR_WINDOW => self.input.truncated(),
            None => malformed(self.input.offset, format!("{entry}: no data descriptor after its data")),
        })
    }

    /// The central directory, the zip64 records and the end record, checked against each
    /// other; nothing may follow the end record's comment.
    fn central_directory(&mut self) -> Result<Vec<CentralEntry>, VerifyError> {
        let start = self.input.offset;
        let mut entries = Vec::new();
        while self.input.signature()? == CENTRAL_HEADER {
            if self.input.offset - start > MAX_CENTRAL_DIRECTORY {
                return Err(malformed(start, "central directory larger than 64 MiB"));
            }
            let at = self.input.offset;
            let record = self.input.record(CENTRAL_FIXED, CentralEntry::variable_len)?;
            entries.push(CentralEntry::parse(&record).map_err(|reason| malformed(at, reason))?);
        }
        let read = Directory { offset: start, size: self.input.offset - start, entries: entries.len() as u64 };
        let mut zip64 = None;
        if self.input.signature()? == ZIP64_END {
            let at = self.input.offset;
            let fixed = self.input.take(ZIP64_END_FIXED)?;
            let end = Zip64End::parse(&fixed);
            self.input.skip(end.len.saturating_sub(ZIP64_END_FIXED as u64))?;
            if self.input.signature()? != ZIP64_LOCATOR {
                return Err(malformed(self.input.offset, "a zip64 end record without its locator"));
            }
            let locator = Locator::parse(&self.input.take(LOCATOR_LEN)?);
            zip64 = Some(Zip64 { end, at, locator });
        }
        let at = self.input.offset;
        match self.input.signature()? {
            END => {}
            ZIP64_LOCATOR => return Err(malformed(at, "a zip64 locator without a zip64 end record")),
            other => return Err(malformed(at, format!("unexpected signature {other:08x} in the central directory"))),
        }
        let end = End::parse(&self.input.take(END_FIXED)?);
        let comment = self.input.take(usize::from(end.comment_len))?;
        check_comment(&comment, at + END_FIXED as u64)?;
        check_end_records(&read, zip64.as_ref(), &end)?;
        let (trailing, padding) = self.input.drain()?;
        if trailing > 0 && !(padding && trailing <= MAX_PADDING) {
            return Err(VerifyError::TrailingData { count: trailing });
        }
        Ok(entries)
    }
}

/// Where a descriptor might start in `bytes`, ascending, below `decidable`: at a descriptor
/// signature, or 12 or 20 bytes (an unsigned descriptor) before a local or central header
/// signature.
fn candidates(bytes: &[u8], decidable: usize) -> Vec<usize> {
    let mut found = BTreeSet::new();
    for at in memchr::memmem::find_iter(bytes, b"PK") {
        if at + 4 > bytes.len() {
            break;
        }
        match u32_at(bytes, at) {
            DESCRIPTOR => {
                found.insert(at);
            }
            LOCAL_HEADER | CENTRAL_HEADER => {
                found.extend([12, 16, 20, 24].into_iter().filter_map(|back| at.checked_sub(back)));
            }
            _ => {}
        }
    }
    found.into_iter().filter(|&at| at < decidable).collect()
}

/// What may follow a member: the next member, or the central directory.
fn is_record(signature: u32) -> bool {
    matches!(signature, LOCAL_HEADER | CENTRAL_HEADER)
}

/// One member's bytes on their way through the checks.
struct Member<'v> {
    name: String,
    crc: crc32fast::Hasher,
    size: u64,
    /// The size its header declared, past which it is refused.
    limit: Option<u64>,
    hashers: Vec<(Algorithm, Hasher)>,
    /// Past this size, only the [`SPECULATIVE`] hashers are kept.
    narrow_at: Option<u64>,
    keep: Option<usize>,
    kept: Vec<u8>,
    visitor: &'v mut dyn MemberVisitor,
}

impl Member<'_> {
    /// The next uncompressed bytes; `compressed` is how many compressed bytes gave everything so far.
    fn data(&mut self, bytes: &[u8], compressed: u64) -> Result<(), VerifyError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.narrow_at.is_some_and(|at| self.size + bytes.len() as u64 > at) {
            self.hashers.retain(|(algorithm, _)| SPECULATIVE.contains(algorithm));
            self.narrow_at = None;
        }
        self.size += bytes.len() as u64;
        if let Some(limit) = self.limit.filter(|&limit| self.size > limit) {
            return Err(VerifyError::SizeMismatch { entry: self.name.clone(), expected: limit, actual: self.size });
        }
        check_ratio(&self.name, self.size, compressed)?;
        self.crc.update(bytes);
        for (_, hasher) in &mut self.hashers {
            hasher.update(bytes);
        }
        if let Some(limit) = self.keep.filter(|&limit| self.kept.len() < limit) {
            self.kept.extend_from_slice(&bytes[..bytes.len().min(limit - self.kept.len())]);
        }
        self.visitor.data(bytes).map_err(VerifyError::Io)
    }
}

/// Refuses names that make a zip dangerous to extract, and duplicates.
pub(crate) fn check_name(name: &str, names: &mut HashSet<String>) -> Result<(), VerifyError> {
    if let Some(reason) = crate::unsafe_name(name) {
        return Err(VerifyError::UnsafeName { entry: name.to_owned(), reason });
    }
    if !names.insert(name.to_owned()) {
        return Err(VerifyError::DuplicateName { entry: name.to_owned() });
    }
    Ok(())
}

/// Refuses a member that expands far more than imagery does.
pub(crate) fn check_ratio(name: &str, size: u64, compressed_size: u64) -> Result<(), VerifyError> {
    if size > RATIO_FLOOR && size > compressed_size.saturating_mul(MAX_RATIO) {
        let ratio = size / compressed_size.max(1);
        return Err(VerifyError::CompressionRatio { entry: name.to_owned(), ratio, limit: MAX_RATIO });
    }
    Ok(())
}

pub(crate) fn is_json(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json")
}

/// The central directory against the members read: the same members (by local header offset),
/// with the same names, methods, CRC-32s and sizes.
fn compare(local: &[Entry], central: &[CentralEntry]) -> Result<(), VerifyError> {
    let mismatch = |entry: &str, field: &'static str, local: String, central: String| {
        Err(VerifyError::CentralDirectoryMismatch { entry: entry.to_owned(), field, local, central })
    };
    if local.len() != central.len() {
        return Err(VerifyError::MemberCount { central: central.len() as u64, local: local.len() as u64 });
    }
    let mut by_offset: HashMap<u64, &Entry> = local.iter().map(|e| (e.offset, e)).collect();
    for c in central {
        if encrypted(c.flags) {
            return Err(VerifyError::Encrypted { entry: c.name.clone() });
        }
        if c.disk != 0 {
            return mismatch(&c.name, "the disk number", "0".to_owned(), c.disk.to_string());
        }
        // Each local header matches one record: `remove`, so a second record for it finds none.
        let Some(l) = by_offset.remove(&c.offset) else {
            return Err(VerifyError::NoLocalHeader { entry: c.name.clone(), offset: c.offset });
        };
        let fields: [(&'static str, String, String); 5] = [
            ("the name", l.name.clone(), c.name.clone()),
            ("the compression method", l.method.to_string(), c.method.to_string()),
            ("the CRC-32", format!("{:08x}", l.crc32), format!("{:08x}", c.crc32)),
            ("the size", l.size.to_string(), c.size.to_string()),
            ("the compressed size", l.compressed_size.to_string(), c.compressed_size.to_string()),
        ];
        if let Some((field, local, central)) = fields.into_iter().find(|(_, l, c)| l != c) {
            return mismatch(&l.name, field, local, central);
        }
    }
    Ok(())
}

pub(crate) fn malformed(offset: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Malformed { offset, reason: reason.into() }
}
