//! Inspection with random access: the end records, the central directory, every local header
//! (to check that the members tile the zip as the central directory says), the JSON members and
//! the first bytes of the TIFF members. A zip in a bucket is inspected with a few ranged reads,
//! whatever its size.

use std::collections::HashSet;
use std::io::{self, Read};

use flate2::read::DeflateDecoder;

use crate::document::{Budgets, Document};
use crate::error::VerifyError;
use crate::format::{
    CENTRAL_FIXED, CENTRAL_HEADER, CentralEntry, DESCRIPTOR_WINDOW, Directory, END, END_FIXED, End, LOCAL_FIXED,
    LOCAL_HEADER, LOCATOR_LEN, LocalHeader, Locator, MAX_PADDING, ZIP64_END, ZIP64_END_FIXED, ZIP64_LOCATOR, Zip64,
    Zip64End, check_comment, check_end_records, descriptor_len, encrypted, u32_at,
};
use crate::geotiff::read_header;
use crate::report::{EntryReport, Inspection, Problem, inspect};
use crate::stac;
use crate::stream::{
    DigestPlan, Entry, JSON_LIMIT, Listing, MAX_CENTRAL_DIRECTORY, MAX_KEPT, READ_BUFFER, check_name, check_ratio,
    is_json, malformed,
};

/// Bytes of a zip at any offset: a local file, or ranged GETs of an object.
pub trait RandomAccess {
    /// The zip's size.
    fn size(&self) -> u64;
    /// `len` bytes from `offset` (fewer only at the end).
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
}

/// The first read of a TIFF member's header.
const FIRST_READ: usize = 64 << 10;
const MAX_COMMENT: usize = 65_535;
/// Local headers close to each other are read together: reads are merged across gaps up to
/// this, into reads of up to [`MERGED_READ`].
const MERGE_GAP: u64 = 64 << 10;
const MERGED_READ: u64 = 1 << 20;
/// How much of a local header's extra field is read with its fixed part (more only if needed).
const HEADER_SLACK: u64 = 512;

/// Inspects a zip reading only what the report needs. Member data is not read, so CRC-32s and
/// STAC checksums are not checked (the result says `verified: false`). An archive that readers
/// could see differently (end records that disagree with the central directory, bytes that
/// belong to no member, overlapping members, a local header that disagrees with the central
/// directory) is reported with problems of the check `zip`.
pub fn inspect_random(source: &str, zip: &mut dyn RandomAccess) -> Result<Inspection, VerifyError> {
    inspect_reading(source, zip, true)
}

/// [`inspect_random`] without the GeoTIFF headers (and so without the checks that need them):
/// what fetching some members needs (where each one's data is, the STAC items), for fewer reads.
pub fn inspect_directory(source: &str, zip: &mut dyn RandomAccess) -> Result<Inspection, VerifyError> {
    inspect_reading(source, zip, false)
}

fn inspect_reading(source: &str, zip: &mut dyn RandomAccess, tiffs: bool) -> Result<Inspection, VerifyError> {
    let len = zip.size();
    let mut problems = Vec::new();
    let mut reads = Reads::default();
    let mut structure = |message: String| problems.push(Problem::structure(message));
    let (central, offset) = read_directory(zip, &mut reads, &mut structure)?;
    let mut names = HashSet::new();
    let mut listing = Listing { bytes: len, ..Listing::default() };
    let budgets = Budgets::default();
    for entry in &central {
        check_name(&entry.name, &mut names)?;
        if encrypted(entry.flags) {
            return Err(VerifyError::Encrypted { entry: entry.name.clone() });
        }
        check_ratio(&entry.name, entry.size, entry.compressed_size)?;
    }
    let starts = check_layout(zip, &mut reads, &central, offset, &mut structure)?;
    for (entry, start) in central.iter().zip(&starts) {
        let Some(start) = *start else { continue };
        if !tiffs && !is_json(&entry.name) {
            continue;
        }
        if let Some(limit) = listing.keep_limit(&entry.name) {
            if is_json(&entry.name) && entry.size > limit as u64 {
                continue;
            }
            // TIFF directories are usually in the first few KiB: read more only when needed.
            let mut kept = read_member_prefix(zip, &mut reads, &Span::of(entry, start), limit.min(FIRST_READ));
            if limit > FIRST_READ
                && entry.size > FIRST_READ as u64
                && kept.as_ref().is_ok_and(|kept| read_header(&entry.name, kept).is_err())
            {
                kept = read_member_prefix(zip, &mut reads, &Span::of(entry, start), limit);
            }
            match kept {
                Ok(kept) => listing.store_kept(&entry.name, kept, &budgets),
                Err(VerifyError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    problems.push(Problem::structure(format!("{}: its data cannot be inflated: {e}", entry.name)));
                }
                Err(e) => return Err(e),
            }
        }
    }
    listing.entries = central
        .iter()
        .zip(&starts)
        .map(|(c, start)| Entry {
            name: c.name.clone(),
            size: c.size,
            compressed_size: c.compressed_size,
            crc32: c.crc32,
            offset: c.offset,
            data: *start,
            method: c.method,
            encrypted: encrypted(c.flags),
        })
        .collect();
    let mut inspection = inspect(source, &listing, false);
    problems.append(&mut inspection.problems);
    inspection.problems = problems;
    Ok(inspection)
}

/// Which digests the STAC items of a zip ask for, read ahead with as few reads as possible: the
/// end records, the central directory and the JSON members (usually two or three reads, the
/// last 64 KiB holding the directory and often the item).
pub fn read_digest_plan(zip: &mut dyn RandomAccess) -> Result<DigestPlan, VerifyError> {
    let mut reads = Reads::default();
    let (central, _) = read_directory(zip, &mut reads, &mut |_| {})?;
    let (mut items, budgets) = (Vec::new(), Budgets::default());
    for entry in central.iter().filter(|e| is_json(&e.name) && e.size <= JSON_LIMIT as u64).take(MAX_KEPT) {
        // The header and the data in one read, unless the header's extra field is long.
        let guess = LOCAL_FIXED as u64 + entry.name.len() as u64 + HEADER_SLACK + entry.compressed_size;
        reads.prefetch(zip, std::iter::once(entry.offset..entry.offset + guess))?;
        let fixed = reads.get(zip, entry.offset, LOCAL_FIXED)?;
        if fixed.len() < LOCAL_FIXED || u32_at(&fixed, 0) != LOCAL_HEADER {
            continue;
        }
        let Ok(header) =
            LocalHeader::parse(&reads.get(zip, entry.offset, LOCAL_FIXED + LocalHeader::variable_len(&fixed))?)
        else {
            continue;
        };
        let start = entry.offset + header.len;
        let Ok(json) = read_member_prefix(zip, &mut reads, &Span::of(entry, start), JSON_LIMIT) else { continue };
        if let Ok(document) = Document::read_within(&json, &budgets)
            && document.is_item()
        {
            items.push(stac::parse_item(&entry.name, &std::sync::Arc::new(document)));
        }
    }
    Ok(DigestPlan::from_items(&items))
}

/// The end records and the central directory, checked against each other; returns the
/// directory's records and offset. What does not add up is reported to `structure`.
fn read_directory(
    zip: &mut dyn RandomAccess,
    reads: &mut Reads,
    structure: &mut impl FnMut(String),
) -> Result<(Vec<CentralEntry>, u64), VerifyError> {
    let ends = read_end_records(zip, reads, structure)?;
    let (offset, size) = match &ends.zip64 {
        Some(zip64) => (zip64.end.directory_offset, zip64.end.directory_size),
        None => (u64::from(ends.end.directory_offset), u64::from(ends.end.directory_size)),
    };
    if size > MAX_CENTRAL_DIRECTORY {
        return Err(malformed(offset, "central directory larger than 64 MiB"));
    }
    if offset.checked_add(size).is_none_or(|end| end > ends.records_at) {
        return Err(malformed(offset, "the central directory the end record describes runs past it"));
    }
    if offset + size < ends.records_at {
        structure(format!(
            "{} bytes between the central directory and the end records belong to no record",
            ends.records_at - (offset + size)
        ));
    }
    let bytes = reads.get(zip, offset, size as usize)?;
    let central = parse_central_directory(&bytes, offset, structure);
    let read = Directory { offset, size: central.iter().map(|c| c.len).sum(), entries: central.len() as u64 };
    if let Err(e) = check_end_records(&read, ends.zip64.as_ref(), &ends.end) {
        structure(e.to_string());
    }
    Ok((central, offset))
}

/// The end records as a reader that starts from the end finds them.
struct EndRecords {
    end: End,
    zip64: Option<Zip64>,
    /// Where the records after the central directory begin (the zip64 end record, else the end
    /// record).
    records_at: u64,
}

/// Finds the end record as Python's `zipfile` does (the last end signature in the last
/// 64 KiB + 22 bytes) and, when a zip64 locator sits before it, the zip64 end record.
fn read_end_records(
    zip: &mut dyn RandomAccess,
    reads: &mut Reads,
    structure: &mut impl FnMut(String),
) -> Result<EndRecords, VerifyError> {
    let len = zip.size();
    let tail_len = len.min((END_FIXED + MAX_COMMENT + LOCATOR_LEN) as u64);
    let base = len - tail_len;
    reads.prefetch(zip, std::iter::once(base..len))?;
    let tail = reads.get(zip, base, tail_len as usize)?;
    let Some(at) = (0..tail.len().saturating_sub(3)).rev().find(|&i| u32_at(&tail, i) == END) else {
        return Err(malformed(len, "no end-of-central-directory record: not a zip, or truncated"));
    };
    if tail.len() - at < END_FIXED {
        return Err(malformed(base + at as u64, "the end-of-central-directory record is cut short"));
    }
    let end = End::parse(&tail[at..]);
    let comment_end = at + END_FIXED + usize::from(end.comment_len);
    if let Some(after) = tail.get(comment_end..).filter(|after| !after.is_empty())
        && !(after.len() as u64 <= MAX_PADDING && after.iter().all(|&b| b == 0))
    {
        return Err(malformed(len, format!("{} bytes follow the end of the zip", after.len())));
    }
    if comment_end > tail.len() {
        return Err(malformed(len, "the archive comment runs past the end: truncated"));
    }
    let end_at = base + at as u64;
    if let Err(e) = check_comment(&tail[at + END_FIXED..], end_at + END_FIXED as u64) {
        structure(e.to_string());
    }
    let locator_at = end_at.checked_sub(LOCATOR_LEN as u64);
    let locator = match locator_at {
        Some(locator_at) if locator_at >= base => {
            let i = (locator_at - base) as usize;
            (u32_at(&tail, i) == ZIP64_LOCATOR).then(|| Locator::parse(&tail[i..]))
        }
        Some(locator_at) => {
            let bytes = reads.get(zip, locator_at, LOCATOR_LEN)?;
            (bytes.len() == LOCATOR_LEN && u32_at(&bytes, 0) == ZIP64_LOCATOR).then(|| Locator::parse(&bytes))
        }
        None => None,
    };
    let Some(locator) = locator else {
        return Ok(EndRecords { end, zip64: None, records_at: end_at });
    };
    let locator_at = end_at - LOCATOR_LEN as u64;
    let record = reads.get(zip, locator.offset, ZIP64_END_FIXED)?;
    if record.len() < ZIP64_END_FIXED || u32_at(&record, 0) != ZIP64_END {
        return Err(malformed(locator.offset, "the zip64 locator points to no zip64 end record"));
    }
    let zip64 = Zip64 { end: Zip64End::parse(&record), at: locator.offset, locator };
    if zip64.at.checked_add(zip64.end.len) != Some(locator_at) {
        structure("bytes between the zip64 end record and its locator belong to no record".to_owned());
    }
    Ok(EndRecords { end, zip64: Some(zip64), records_at: zip64.at.min(locator_at) })
}

/// The records of the central directory; what cannot be parsed is reported and ends it.
fn parse_central_directory(bytes: &[u8], offset: u64, structure: &mut impl FnMut(String)) -> Vec<CentralEntry> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < CENTRAL_FIXED || u32_at(rest, 0) != CENTRAL_HEADER {
            structure(format!(
                "the central directory holds {} bytes at offset {} that are no central directory record",
                rest.len(),
                offset + at as u64
            ));
            break;
        }
        let len = CENTRAL_FIXED + CentralEntry::variable_len(rest);
        let parsed = rest.get(..len).ok_or_else(|| "a record runs past the central directory".to_owned());
        match parsed.and_then(CentralEntry::parse) {
            Ok(entry) => entries.push(entry),
            Err(reason) => {
                structure(format!("central directory record at offset {}: {reason}", offset + at as u64));
                break;
            }
        }
        at += len;
    }
    entries
}

/// Reads every local header and checks that the members tile the zip from its first byte to the
/// central directory, each where the central directory says and as it says: no bytes before,
/// between or after them, no overlaps. Returns where each member's data starts (`None` when its
/// local header is missing).
fn check_layout(
    zip: &mut dyn RandomAccess,
    reads: &mut Reads,
    central: &[CentralEntry],
    directory: u64,
    structure: &mut impl FnMut(String),
) -> Result<Vec<Option<u64>>, VerifyError> {
    reads.prefetch(
        zip,
        central
            .iter()
            .map(|c| {
                let start = c.offset.saturating_sub(DESCRIPTOR_WINDOW as u64);
                start..c.offset + (LOCAL_FIXED + c.name.len()) as u64 + HEADER_SLACK
            })
            .chain(std::iter::once(directory.saturating_sub(DESCRIPTOR_WINDOW as u64)..directory + 4)),
    )?;
    let mut order: Vec<usize> = (0..central.len()).collect();
    order.sort_by_key(|&i| central[i].offset);
    let mut starts = vec![None; central.len()];
    let mut expected = 0u64;
    for (rank, &i) in order.iter().enumerate() {
        let c = &central[i];
        let next = order.get(rank + 1).map_or(directory, |&n| central[n].offset);
        match c.offset.cmp(&expected) {
            std::cmp::Ordering::Greater => structure(format!(
                "{} bytes before {} belong to no member (offsets {expected} to {})",
                c.offset - expected,
                c.name,
                c.offset
            )),
            std::cmp::Ordering::Less => {
                structure(format!(
                    "{} overlaps the member before it (it starts at {}, before {expected})",
                    c.name, c.offset
                ));
            }
            std::cmp::Ordering::Equal => {}
        }
        let Some(header) = local_header(reads, zip, c, structure)? else {
            expected = next;
            continue;
        };
        let data = c.offset + header.len;
        starts[i] = Some(data);
        let data_end = data.saturating_add(c.compressed_size);
        expected = data_end;
        if header.has_descriptor() {
            let window = reads.get(zip, data_end, DESCRIPTOR_WINDOW)?;
            let values = (c.crc32, c.compressed_size, c.size);
            // Followed by a record, as a forward reader finds it; else followed by anything (the
            // bytes after it are then reported as belonging to no member).
            let found = descriptor_len(&window, values, header.zip64, |s| s == LOCAL_HEADER || s == CENTRAL_HEADER)
                .or_else(|| descriptor_len(&window, values, header.zip64, |_| true));
            match found {
                Some(len) => expected += len as u64,
                None => structure(format!(
                    "{}: no data descriptor holding its CRC-32 and sizes follows its data at offset {data_end}",
                    c.name
                )),
            }
        }
    }
    match expected.cmp(&directory) {
        std::cmp::Ordering::Less => structure(format!(
            "{} bytes before the central directory belong to no member (offsets {expected} to {directory})",
            directory - expected
        )),
        std::cmp::Ordering::Greater => structure("the last member runs into the central directory".to_owned()),
        std::cmp::Ordering::Equal => {}
    }
    Ok(starts)
}

/// A member's local header, checked against its central directory record.
fn local_header(
    reads: &mut Reads,
    zip: &mut dyn RandomAccess,
    c: &CentralEntry,
    structure: &mut impl FnMut(String),
) -> Result<Option<LocalHeader>, VerifyError> {
    let fixed = reads.get(zip, c.offset, LOCAL_FIXED)?;
    if fixed.len() < LOCAL_FIXED || u32_at(&fixed, 0) != LOCAL_HEADER {
        structure(format!("{}: no local header at offset {}, where the central directory says", c.name, c.offset));
        return Ok(None);
    }
    let bytes = reads.get(zip, c.offset, LOCAL_FIXED + LocalHeader::variable_len(&fixed))?;
    let header = match LocalHeader::parse(&bytes) {
        Ok(header) => header,
        Err(reason) => {
            structure(format!("{}: local header: {reason}", c.name));
            return Ok(None);
        }
    };
    // What the header does not vouch for (a data descriptor holds it) is not compared.
    let crc = header.declared_crc32().unwrap_or(c.crc32);
    let fields: [(&str, String, String); 6] = [
        ("the name", header.name.clone(), c.name.clone()),
        ("the compression method", header.method.to_string(), c.method.to_string()),
        ("the encryption flag", encrypted(header.flags).to_string(), encrypted(c.flags).to_string()),
        ("the CRC-32", format!("{crc:08x}"), format!("{:08x}", c.crc32)),
        ("the size", header.declared_size().unwrap_or(c.size).to_string(), c.size.to_string()),
        (
            "the compressed size",
            header.declared_compressed_size().unwrap_or(c.compressed_size).to_string(),
            c.compressed_size.to_string(),
        ),
    ];
    if let Some((field, local, central)) = fields.into_iter().find(|(_, l, c)| l != c) {
        structure(format!(
            "{}: the central directory says {field} is {central}, the local header says {local}",
            c.name
        ));
        return Ok(None);
    }
    Ok(Some(header))
}

/// Ranged reads, prefetched in merged windows and served from them when they cover a request.
#[derive(Default)]
struct Reads {
    windows: Vec<(u64, Vec<u8>)>,
}

impl Reads {
    /// Reads `ranges`, merged where they are close, unless already read.
    fn prefetch(
        &mut self,
        zip: &mut dyn RandomAccess,
        ranges: impl Iterator<Item = std::ops::Range<u64>>,
    ) -> Result<(), VerifyError> {
        let size = zip.size();
        let mut ranges: Vec<_> =
            ranges.map(|r| r.start.min(size)..r.end.min(size)).filter(|r| !r.is_empty() && !self.covers(r)).collect();
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<std::ops::Range<u64>> = Vec::new();
        for range in ranges {
            match merged.last_mut() {
                Some(last)
                    if range.start <= last.end + MERGE_GAP && range.end.max(last.end) - last.start <= MERGED_READ =>
                {
                    last.end = last.end.max(range.end);
                }
                _ => merged.push(range),
            }
        }
        for range in merged {
            let bytes = zip.read_at(range.start, (range.end - range.start) as usize).map_err(VerifyError::Io)?;
            self.windows.push((range.start, bytes));
        }
        Ok(())
    }

    fn covers(&self, range: &std::ops::Range<u64>) -> bool {
        self.window(range.start, range.end - range.start).is_some()
    }

    fn window(&self, offset: u64, len: u64) -> Option<&[u8]> {
        self.windows.iter().find_map(|(start, bytes)| {
            let end = start + bytes.len() as u64;
            (*start <= offset && offset + len <= end)
                .then(|| &bytes[(offset - start) as usize..(offset - start + len) as usize])
        })
    }

    /// `len` bytes at `offset` (fewer at the end of the zip), from a window when one covers
    /// them.
    fn get(&mut self, zip: &mut dyn RandomAccess, offset: u64, len: usize) -> Result<Vec<u8>, VerifyError> {
        match self.window(offset, len as u64) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => zip.read_at(offset, len).map_err(VerifyError::Io),
        }
    }
}

/// Up to `limit` bytes of a member's uncompressed data, its data starting at `start`.
/// Where a member's data is, and how it is stored: what reading it needs.
struct Span<'a> {
    name: &'a str,
    method: u16,
    size: u64,
    compressed_size: u64,
    start: u64,
}

impl<'a> Span<'a> {
    fn of(entry: &'a CentralEntry, start: u64) -> Self {
        Self {
            name: &entry.name,
            method: entry.method,
            size: entry.size,
            compressed_size: entry.compressed_size,
            start,
        }
    }
}

fn read_member_prefix(
    zip: &mut dyn RandomAccess,
    reads: &mut Reads,
    span: &Span<'_>,
    limit: usize,
) -> Result<Vec<u8>, VerifyError> {
    let (start, wanted) = (span.start, (limit as u64).min(span.size));
    match span.method {
        0 => reads.get(zip, start, wanted.min(span.compressed_size) as usize),
        8 => {
            if let Some(compressed) = reads.window(start, span.compressed_size) {
                let mut out = Vec::new();
                DeflateDecoder::new(compressed).take(wanted).read_to_end(&mut out).map_err(VerifyError::Io)?;
                return Ok(out);
            }
            let compressed = Ranged { zip, next: start, end: start + span.compressed_size };
            let mut out = Vec::new();
            DeflateDecoder::new(compressed).take(wanted).read_to_end(&mut out).map_err(VerifyError::Io)?;
            Ok(out)
        }
        method => Err(VerifyError::UnsupportedMethod { entry: span.name.to_owned(), method }),
    }
}

/// The first `limit` bytes of a member of an inspected zip (all of it when it is smaller),
/// inflated: a thumbnail, an item. `None` when the inspection found no data for it (its local
/// header could not be read).
pub fn read_member(
    zip: &mut dyn RandomAccess,
    entry: &EntryReport,
    limit: usize,
) -> Option<Result<Vec<u8>, VerifyError>> {
    let span = Span {
        name: &entry.name,
        method: entry.method,
        size: entry.size,
        compressed_size: entry.compressed_size,
        start: entry.data_offset?,
    };
    Some(read_member_prefix(zip, &mut Reads::default(), &span, limit))
}

/// Sequential reads of a byte range through [`RandomAccess`].
struct Ranged<'a> {
    zip: &'a mut dyn RandomAccess,
    next: u64,
    end: u64,
}

impl Read for Ranged<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.end - self.next).min(buf.len().min(READ_BUFFER) as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let chunk = self.zip.read_at(self.next, want)?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        self.next += chunk.len() as u64;
        Ok(chunk.len())
    }
}

impl RandomAccess for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map_or(0, |m| m.len())
    }

    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::io::Seek;
        self.seek(io::SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        self.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }
}
