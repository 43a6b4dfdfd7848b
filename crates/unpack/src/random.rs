//! Inspection with random access: only the end records, the central directory, the JSON members
//! and the first bytes of the TIFF members are read. A zip in a bucket is inspected with a few
//! ranged reads, whatever its size.

use std::collections::HashSet;
use std::io::{self, Cursor, Read};

use flate2::read::DeflateDecoder;

use crate::error::VerifyError;
use crate::geotiff::read_header;
use crate::report::{Inspection, inspect};
use crate::stream::{
    CENTRAL_HEADER, Counting, END, Listing, READ_BUFFER, check_structure, keep_limit, malformed,
    read_central_directory, read_u32, store_kept,
};

/// Bytes of a zip at any offset: a local file, or ranged GETs of an object.
pub trait RandomAccess {
    /// The zip's size.
    fn size(&self) -> u64;
    /// `len` bytes from `offset` (fewer only at the end).
    fn read_at(&mut self, offset: u64, len: usize) -> io::Result<Vec<u8>>;
}

const END_RECORD: u64 = 22;
/// The first read of a TIFF member's header.
const FIRST_READ: usize = 64 << 10;
const MAX_COMMENT: u64 = 65_535;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;

/// Inspects a zip reading only what the report needs. Member data is not read, so CRC-32s and
/// STAC checksums are not checked (the result says `verified: false`).
pub fn inspect_random(source: &str, zip: &mut dyn RandomAccess) -> Result<Inspection, VerifyError> {
    let len = zip.size();
    let central_offset = central_directory_offset(zip, len)?;
    if central_offset >= len {
        return Err(malformed(central_offset, "the central directory starts past the end"));
    }
    let tail_len =
        usize::try_from(len - central_offset).map_err(|_| malformed(central_offset, "huge central directory"))?;
    if tail_len as u64 > 64 << 20 {
        return Err(malformed(central_offset, "central directory larger than 64 MiB"));
    }
    let tail = zip.read_at(central_offset, tail_len).map_err(VerifyError::Io)?;
    let mut reader = Counting { inner: Cursor::new(tail), count: central_offset };
    let entries = match read_u32(&mut reader)? {
        CENTRAL_HEADER => read_central_directory(&mut reader)?,
        END => Vec::new(),
        other => {
            return Err(malformed(
                central_offset,
                format!("unexpected signature {other:08x} at the central directory"),
            ));
        }
    };
    let mut names = HashSet::new();
    let mut listing = Listing { bytes: len, ..Listing::default() };
    for entry in &entries {
        check_structure(entry, &mut names)?;
        if entry.encrypted {
            return Err(VerifyError::Encrypted { entry: entry.name.clone() });
        }
        if let Some(limit) = keep_limit(&entry.name, entry.size) {
            // TIFF directories are usually in the first few KiB: read more only when needed.
            let mut kept = read_member_prefix(zip, entry, limit.min(FIRST_READ))?;
            if limit > FIRST_READ && entry.size > FIRST_READ as u64 && read_header(&entry.name, &kept).is_err() {
                kept = read_member_prefix(zip, entry, limit)?;
            }
            store_kept(&mut listing, &entry.name, kept);
        }
    }
    listing.entries = entries;
    Ok(inspect(source, &listing, false))
}

/// Where the central directory starts, from the end record (or the zip64 one).
fn central_directory_offset(zip: &mut dyn RandomAccess, len: u64) -> Result<u64, VerifyError> {
    let tail_len = len.min(END_RECORD + MAX_COMMENT + 20);
    let tail = zip.read_at(len - tail_len, tail_len as usize).map_err(VerifyError::Io)?;
    let base = len - tail_len;
    // The last end record whose comment reaches exactly to the end of the file.
    let position = (0..tail.len().saturating_sub(END_RECORD as usize - 1)).rev().find(|&i| {
        tail[i..].starts_with(&END.to_le_bytes())
            && i + END_RECORD as usize + usize::from(u16::from_le_bytes([tail[i + 20], tail[i + 21]])) == tail.len()
    });
    let Some(end) = position else {
        let any = (0..tail.len().saturating_sub(3)).rev().any(|i| tail[i..].starts_with(&END.to_le_bytes()));
        return Err(if any {
            VerifyError::Malformed { offset: len, reason: "bytes follow the end of the zip".to_owned() }
        } else {
            VerifyError::Malformed {
                offset: len,
                reason: "no end-of-central-directory record: not a zip, or truncated".to_owned(),
            }
        });
    };
    let offset = u64::from(u32::from_le_bytes([tail[end + 16], tail[end + 17], tail[end + 18], tail[end + 19]]));
    if offset != 0xFFFF_FFFF {
        return Ok(offset);
    }
    // Zip64: the locator sits just before the end record and points at the zip64 end record.
    let locator = end.checked_sub(20).filter(|&l| tail[l..].starts_with(&ZIP64_LOCATOR.to_le_bytes()));
    let Some(locator) = locator else {
        return Err(malformed(base + end as u64, "zip64 offsets without a zip64 locator"));
    };
    let record_at = u64::from_le_bytes(tail[locator + 8..locator + 16].try_into().unwrap_or_default());
    let record = zip.read_at(record_at, 56).map_err(VerifyError::Io)?;
    if record.len() < 56 || !record.starts_with(&0x0606_4b50u32.to_le_bytes()) {
        return Err(malformed(record_at, "the zip64 end record is missing"));
    }
    Ok(u64::from_le_bytes(record[48..56].try_into().unwrap_or_default()))
}

/// Up to `limit` bytes of a member's uncompressed data from its start.
fn read_member_prefix(zip: &mut dyn RandomAccess, entry: &crate::Entry, limit: usize) -> Result<Vec<u8>, VerifyError> {
    let header = zip.read_at(entry.offset, 30).map_err(VerifyError::Io)?;
    if header.len() < 30 || !header.starts_with(&0x0403_4b50u32.to_le_bytes()) {
        return Err(malformed(
            entry.offset,
            format!("{}: no local header where the central directory says", entry.name),
        ));
    }
    let name_len = u64::from(u16::from_le_bytes([header[26], header[27]]));
    let extra_len = u64::from(u16::from_le_bytes([header[28], header[29]]));
    let start = entry.offset + 30 + name_len + extra_len;
    let wanted = (limit as u64).min(entry.size);
    match entry.method {
        0 => zip.read_at(start, wanted.min(entry.compressed_size) as usize).map_err(VerifyError::Io),
        8 => {
            let compressed = Ranged { zip, next: start, end: start + entry.compressed_size };
            let mut out = Vec::new();
            DeflateDecoder::new(compressed).take(wanted).read_to_end(&mut out).map_err(VerifyError::Io)?;
            Ok(out)
        }
        other => Err(malformed(entry.offset, format!("{}: compression method {other} is not supported", entry.name))),
    }
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
