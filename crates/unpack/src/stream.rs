use std::collections::{BTreeMap, HashSet};
use std::io::{self, Cursor, Read};

use zip::read::read_zipfile_from_stream;

use crate::error::VerifyError;
use crate::geotiff::HEADER_BYTES;

const LOCAL_HEADER: u32 = 0x0403_4b50;
pub(crate) const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
pub(crate) const END: u32 = 0x0605_4b50;
/// Central directories larger than this are refused, keeping memory bounded.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
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
    /// Compression method: 0 stored, 8 deflated.
    pub method: u16,
    /// Whether the encryption flag is set.
    pub encrypted: bool,
}

/// Digests of a member's uncompressed data, for STAC `file:checksum`.
///
/// Only BLAKE2b-512, the algorithm Wyvern's items use: hashing the imagery once more with
/// another algorithm would cost more CPU than moving its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// BLAKE2b-512.
    pub blake2b_512: [u8; 64],
}

/// What a zip holds: its members and, from the one pass over them, what the checks need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The members, in stored order.
    pub entries: Vec<Entry>,
    /// The zip's size in bytes.
    pub bytes: u64,
    /// Each member's digests, when its data was read (not by a random-access inspection).
    pub digests: BTreeMap<String, Digests>,
    /// JSON members (STAC catalog and item) up to [`JSON_LIMIT`] bytes each.
    pub json: BTreeMap<String, Vec<u8>>,
    /// The first [`HEADER_BYTES`] of each TIFF member.
    pub tiff_heads: BTreeMap<String, Vec<u8>>,
}

/// JSON members larger than this are not kept for the STAC checks.
pub const JSON_LIMIT: usize = 16 << 20;
/// Members over 64 MiB may not expand more than this (imagery barely compresses).
pub const MAX_RATIO: u64 = 100;
const RATIO_FLOOR: u64 = 64 << 20;

/// Receives each member's uncompressed bytes during the pass, e.g. to extract them.
pub trait MemberVisitor {
    /// A member starts. Names have been checked by [`crate::unsafe_name`] already.
    fn begin(&mut self, name: &str, size: u64) -> io::Result<()>;
    /// Its next bytes.
    fn data(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// It ended, whole and matching its CRC-32.
    fn end(&mut self) -> io::Result<()>;
}

/// Verifies a zip in one forward pass over `reader`, reading each byte once and holding no more
/// than one read buffer, the central directory and the small members the checks need in memory.
///
/// Checked here: member names (no absolute paths or `..`, no duplicates), encryption, expansion
/// ratios, every member's data against its CRC-32 and size, the central directory against the
/// local headers, and that nothing follows the end record. Members must carry their sizes in the
/// local header (no data descriptors), as zips written to a seekable file do.
pub fn verify_stream<R: Read>(reader: R, visitor: Option<&mut dyn MemberVisitor>) -> Result<Listing, VerifyError> {
    let mut ignore = Ignore;
    let visitor: &mut dyn MemberVisitor = match visitor {
        Some(visitor) => visitor,
        None => &mut ignore,
    };
    let mut reader = Counting { inner: reader, count: 0 };
    let mut listing = Listing::default();
    let mut names = HashSet::new();
    loop {
        let offset = reader.count;
        match read_u32(&mut reader)? {
            LOCAL_HEADER => {
                let entry = verify_member(&mut reader, offset, &mut listing, &mut names, &mut *visitor).map_err(
                    |e| match e {
                        // The member reader cannot see the count; fill it in here.
                        VerifyError::Truncated { .. } => VerifyError::Truncated { offset: reader.count },
                        other => other,
                    },
                )?;
                listing.entries.push(entry);
            }
            CENTRAL_HEADER => break,
            END if listing.entries.is_empty() => {
                finish_end(&mut reader)?;
                listing.bytes = reader.count;
                return Ok(listing);
            }
            other => {
                return Err(malformed(offset, format!("unexpected signature {other:08x}")));
            }
        }
    }
    let central = read_central_directory(&mut reader)?;
    compare(&listing.entries, &central)?;
    listing.bytes = reader.count;
    Ok(listing)
}

/// Refuses names, duplicates and ratios that make a zip dangerous to extract.
pub(crate) fn check_structure(entry: &Entry, names: &mut HashSet<String>) -> Result<(), VerifyError> {
    if let Some(reason) = crate::unsafe_name(&entry.name) {
        return Err(VerifyError::UnsafeName { entry: entry.name.clone(), reason });
    }
    if !names.insert(entry.name.clone()) {
        return Err(VerifyError::DuplicateName { entry: entry.name.clone() });
    }
    if entry.size > RATIO_FLOOR && entry.size > entry.compressed_size.saturating_mul(MAX_RATIO) {
        let ratio = entry.size / entry.compressed_size.max(1);
        return Err(VerifyError::CompressionRatio { entry: entry.name.clone(), ratio, limit: MAX_RATIO });
    }
    Ok(())
}

/// Whether the checks keep (part of) a member's data: JSON whole, TIFF headers.
pub(crate) fn keep_limit(name: &str, size: u64) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") && size <= JSON_LIMIT as u64 {
        Some(JSON_LIMIT)
    } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
        Some(HEADER_BYTES)
    } else {
        None
    }
}

/// Files kept bytes where they belong in the listing.
pub(crate) fn store_kept(listing: &mut Listing, name: &str, kept: Vec<u8>) {
    if name.to_ascii_lowercase().ends_with(".json") {
        listing.json.insert(name.to_owned(), kept);
    } else {
        listing.tiff_heads.insert(name.to_owned(), kept);
    }
}

/// The visitor of a pass that extracts nothing.
struct Ignore;

impl MemberVisitor for Ignore {
    fn begin(&mut self, _: &str, _: u64) -> io::Result<()> {
        Ok(())
    }

    fn data(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn verify_member<'v, R: Read>(
    reader: &mut Counting<R>,
    offset: u64,
    listing: &mut Listing,
    names: &mut HashSet<String>,
    visitor: &mut (dyn MemberVisitor + 'v),
) -> Result<Entry, VerifyError> {
    // The fixed part of the local header is read here to refuse encrypted members by name
    // (the zip crate stops earlier, asking for a password).
    let mut fixed = [0u8; 26];
    read_exact(reader, &mut fixed)?;
    if u16::from_le_bytes([fixed[2], fixed[3]]) & 1 == 1 {
        let mut name = vec![0; usize::from(u16::from_le_bytes([fixed[22], fixed[23]]))];
        read_exact(reader, &mut name)?;
        return Err(VerifyError::Encrypted { entry: String::from_utf8_lossy(&name).into_owned() });
    }
    let mut head = LOCAL_HEADER.to_le_bytes().to_vec();
    head.extend_from_slice(&fixed);
    let mut chained = Cursor::new(head).chain(&mut *reader);
    let mut file = match read_zipfile_from_stream(&mut chained) {
        Ok(Some(file)) => file,
        Ok(None) => return Err(malformed(offset, "expected a local header")),
        Err(zip::result::ZipError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(VerifyError::Truncated { offset: 0 });
        }
        Err(e) => return Err(malformed(offset, e.to_string())),
    };
    let name = file.name().map_err(|e| malformed(offset, e.to_string()))?.into_owned();
    let (expected_crc, expected_size, compressed_size) = (file.crc32(), file.size(), file.compressed_size());
    let method = match file.compression() {
        zip::CompressionMethod::Stored => 0,
        zip::CompressionMethod::Deflated => 8,
        _ => u16::MAX,
    };
    let entry =
        Entry { name, size: expected_size, compressed_size, crc32: expected_crc, offset, method, encrypted: false };
    check_structure(&entry, names)?;
    let name = entry.name.clone();
    let keep = keep_limit(&name, expected_size);
    let mut kept = Vec::new();
    visitor.begin(&name, expected_size).map_err(VerifyError::Io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut blake = blake2b_simd::Params::new().hash_length(64).to_state();
    let mut size = 0u64;
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let data = &buffer[..n];
                hasher.update(data);
                blake.update(data);
                size += n as u64;
                if size > expected_size {
                    return Err(VerifyError::SizeMismatch { entry: name, expected: expected_size, actual: size });
                }
                if let Some(limit) = keep.filter(|&limit| kept.len() < limit) {
                    kept.extend_from_slice(&data[..n.min(limit - kept.len())]);
                }
                visitor.data(data).map_err(VerifyError::Io)?;
            }
            // A stored member whose bytes stop early shows as a short read, then a bad checksum.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof || size < expected_size => {
                return Err(VerifyError::Truncated { offset: 0 });
            }
            Err(e) if e.to_string().contains("Invalid checksum") => {
                let actual = hasher.clone().finalize();
                return Err(VerifyError::ChecksumMismatch { entry: name, expected: expected_crc, actual });
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(malformed(offset, format!("{name}: {e}")));
            }
            Err(e) => return Err(VerifyError::Io(e)),
        }
    }
    if size < expected_size {
        return Err(VerifyError::Truncated { offset: 0 });
    }
    let actual = hasher.finalize();
    if actual != expected_crc {
        return Err(VerifyError::ChecksumMismatch { entry: name, expected: expected_crc, actual });
    }
    drop(file);
    visitor.end().map_err(VerifyError::Io)?;
    if keep.is_some() {
        store_kept(listing, &name, kept);
    }
    let mut blake2b_512 = [0; 64];
    blake2b_512.copy_from_slice(blake.finalize().as_bytes());
    listing.digests.insert(name, Digests { blake2b_512 });
    Ok(entry)
}

/// Central directory records, read after the first central header signature was consumed.
pub(crate) fn read_central_directory<R: Read>(reader: &mut Counting<R>) -> Result<Vec<Entry>, VerifyError> {
    let start = reader.count - 4;
    let mut entries = Vec::new();
    let mut signature = CENTRAL_HEADER;
    loop {
        if reader.count - start > MAX_CENTRAL_DIRECTORY {
            return Err(malformed(start, "central directory larger than 64 MiB"));
        }
        match signature {
            CENTRAL_HEADER => entries.push(read_central_entry(reader)?),
            ZIP64_END => {
                let size = read_u64(reader)?;
                skip(reader, size)?;
            }
            ZIP64_LOCATOR => skip(reader, 16)?,
            END => {
                finish_end(reader)?;
                return Ok(entries);
            }
            other => {
                let offset = reader.count - 4;
                return Err(malformed(offset, format!("unexpected signature {other:08x} in the central directory")));
            }
        }
        signature = read_u32(reader)?;
    }
}

fn read_central_entry<R: Read>(reader: &mut Counting<R>) -> Result<Entry, VerifyError> {
    let mut fixed = [0u8; 42];
    read_exact(reader, &mut fixed)?;
    let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
    let (flags, method, crc32) = (u16_at(4), u16_at(6), u32_at(12));
    let mut compressed_size = u64::from(u32_at(16));
    let mut size = u64::from(u32_at(20));
    let (name_len, extra_len, comment_len) = (u16_at(24), u16_at(26), u16_at(28));
    let mut offset = u64::from(u32_at(38));
    let mut name = vec![0; name_len.into()];
    read_exact(reader, &mut name)?;
    let mut extra = vec![0; extra_len.into()];
    read_exact(reader, &mut extra)?;
    skip(reader, comment_len.into())?;
    // Zip64: the extended values appear, in this order, only for fields set to 0xFFFFFFFF.
    let mut fields = extra.as_slice();
    while fields.len() >= 4 {
        let (id, len) =
            (u16::from_le_bytes([fields[0], fields[1]]), usize::from(u16::from_le_bytes([fields[2], fields[3]])));
        let data = fields.get(4..4 + len).unwrap_or_default();
        if id == 0x0001 {
            let mut values = data.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()));
            for field in [&mut size, &mut compressed_size, &mut offset] {
                if *field == 0xFFFF_FFFF {
                    *field = values.next().unwrap_or(*field);
                }
            }
        }
        fields = fields.get(4 + len..).unwrap_or_default();
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    Ok(Entry { name, size, compressed_size, crc32, offset, method, encrypted: flags & 1 == 1 })
}

/// Reads the end record (its signature already consumed) and checks that nothing follows it.
fn finish_end<R: Read>(reader: &mut Counting<R>) -> Result<(), VerifyError> {
    let mut fixed = [0u8; 18];
    read_exact(reader, &mut fixed)?;
    let comment_len = u16::from_le_bytes([fixed[16], fixed[17]]);
    skip(reader, comment_len.into())?;
    let trailing = io::copy(&mut reader.by_ref().take(u64::MAX), &mut io::sink()).map_err(VerifyError::Io)?;
    if trailing > 0 {
        return Err(VerifyError::TrailingData { count: trailing });
    }
    Ok(())
}

fn compare(local: &[Entry], central: &[Entry]) -> Result<(), VerifyError> {
    if local.len() != central.len() {
        return Err(VerifyError::CentralDirectoryMismatch {
            entry: "(archive)".to_owned(),
            field: "the member count",
            local: local.len().to_string(),
            central: central.len().to_string(),
        });
    }
    for (l, c) in local.iter().zip(central) {
        let fields: [(&'static str, String, String); 5] = [
            ("the name", l.name.clone(), c.name.clone()),
            ("the CRC-32", format!("{:08x}", l.crc32), format!("{:08x}", c.crc32)),
            ("the size", l.size.to_string(), c.size.to_string()),
            ("the compressed size", l.compressed_size.to_string(), c.compressed_size.to_string()),
            ("the local header offset", l.offset.to_string(), c.offset.to_string()),
        ];
        if let Some((field, local, central)) = fields.into_iter().find(|(_, l, c)| l != c) {
            return Err(VerifyError::CentralDirectoryMismatch { entry: l.name.clone(), field, local, central });
        }
    }
    Ok(())
}

pub(crate) fn malformed(offset: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Malformed { offset, reason: reason.into() }
}

fn read_exact<R: Read>(reader: &mut Counting<R>, buf: &mut [u8]) -> Result<(), VerifyError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => VerifyError::Truncated { offset: reader.count },
        _ => VerifyError::Io(e),
    })
}

pub(crate) fn read_u32<R: Read>(reader: &mut Counting<R>) -> Result<u32, VerifyError> {
    let mut buf = [0; 4];
    read_exact(reader, &mut buf)?;
    Ok(u32::from_le_bytes(buf))
}

fn read_u64<R: Read>(reader: &mut Counting<R>) -> Result<u64, VerifyError> {
    let mut buf = [0; 8];
    read_exact(reader, &mut buf)?;
    Ok(u64::from_le_bytes(buf))
}

fn skip<R: Read>(reader: &mut Counting<R>, count: u64) -> Result<(), VerifyError> {
    let skipped = io::copy(&mut reader.by_ref().take(count), &mut io::sink()).map_err(VerifyError::Io)?;
    if skipped < count {
        return Err(VerifyError::Truncated { offset: reader.count });
    }
    Ok(())
}

/// Counts the bytes read, for offsets in reports.
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::verify_stream;
    use crate::VerifyError;

    fn sample(large: bool) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(large);
        writer.start_file("p/data.tiff", stored).expect("start");
        writer.write_all(&[7u8; 5000]).expect("write");
        writer.start_file("p/item.json", SimpleFileOptions::default()).expect("start");
        writer.write_all(br#"{"id": "x"}"#).expect("write");
        writer.finish().expect("finish").into_inner()
    }

    /// Runs the verifier and renders its outcome as one line.
    fn check(bytes: &[u8]) -> String {
        match verify_stream(bytes, None) {
            Ok(listing) => format!(
                "ok {} bytes: {}",
                listing.bytes,
                listing
                    .entries
                    .iter()
                    .map(|e| format!("{} {} {:08x}", e.name, e.size, e.crc32))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn good_zip_lists_members() {
        let zip = sample(false);
        assert_eq!(
            check(&zip),
            format!(
                "ok {} bytes: p/data.tiff 5000 {:08x}, p/item.json 11 {:08x}",
                zip.len(),
                crc32fast::hash(&[7u8; 5000]),
                crc32fast::hash(br#"{"id": "x"}"#)
            )
        );
    }

    #[test]
    fn zip64_members_verify() {
        assert!(check(&sample(true)).starts_with("ok "));
    }

    #[test]
    fn flipped_data_byte_is_a_crc_mismatch() {
        let mut zip = sample(false);
        zip[100] ^= 0xff;
        let mut expected = [7u8; 5000];
        expected[100 - 30 - "p/data.tiff".len()] ^= 0xff;
        assert_eq!(
            check(&zip),
            format!(
                "error: p/data.tiff: CRC-32 mismatch: expected {:08x}, got {:08x}",
                crc32fast::hash(&[7u8; 5000]),
                crc32fast::hash(&expected)
            )
        );
    }

    #[test]
    fn truncated_and_trailing_bytes_are_refused() {
        let zip = sample(false);
        assert!(matches!(verify_stream(&zip[..zip.len() - 10], None), Err(VerifyError::Truncated { .. })));
        assert!(matches!(verify_stream(&zip[..3000], None), Err(VerifyError::Truncated { .. })));
        let mut trailing = zip.clone();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(check(&trailing), "error: 7 bytes of trailing data after the end of the zip");
    }

    #[test]
    fn html_is_not_a_zip() {
        assert_eq!(check(b"<html>nope</html>"), "error: invalid zip at offset 0: unexpected signature 6d74683c");
    }

    #[test]
    fn central_directory_disagreeing_with_local_header_is_refused() {
        let mut zip = sample(false);
        // Change the CRC-32 stored in the first central directory record.
        let central = zip.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).expect("central header");
        zip[central + 16] ^= 0x01;
        assert!(
            check(&zip).starts_with("error: p/data.tiff: the central directory says the CRC-32 is"),
            "{}",
            check(&zip)
        );
    }
}
