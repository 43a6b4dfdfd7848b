use std::io::{self, Cursor, Read};

use zip::read::read_zipfile_from_stream;

use crate::error::VerifyError;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// Central directories larger than this are refused, keeping memory bounded.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
const READ_BUFFER: usize = 256 << 10;

/// One member of a verified zip.
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
}

/// What a verified zip holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The members, in stored order.
    pub entries: Vec<Entry>,
    /// The zip's size in bytes.
    pub bytes: u64,
}

/// Verifies a zip in one forward pass over `reader`, reading each byte once and holding no more
/// than one read buffer and the central directory in memory.
///
/// Members must carry their sizes in the local header (no data descriptors), as zips written to
/// a seekable file do.
pub fn verify_stream<R: Read>(reader: R) -> Result<Listing, VerifyError> {
    let mut reader = Counting { inner: reader, count: 0 };
    let mut entries = Vec::new();
    loop {
        let offset = reader.count;
        match read_u32(&mut reader)? {
            LOCAL_HEADER => {
                let entry = verify_member(&mut reader, offset).map_err(|e| match e {
                    // The member reader cannot see the count; fill it in here.
                    VerifyError::Truncated { .. } => VerifyError::Truncated { offset: reader.count },
                    other => other,
                })?;
                entries.push(entry);
            }
            CENTRAL_HEADER => break,
            END if entries.is_empty() => {
                return finish_end(&mut reader).map(|()| Listing { entries, bytes: reader.count });
            }
            other => {
                return Err(malformed(offset, format!("unexpected signature {other:08x}")));
            }
        }
    }
    let central = read_central_directory(&mut reader)?;
    compare(&entries, &central)?;
    Ok(Listing { entries, bytes: reader.count })
}

fn verify_member<R: Read>(reader: &mut Counting<R>, offset: u64) -> Result<Entry, VerifyError> {
    let mut chained = Cursor::new(LOCAL_HEADER.to_le_bytes()).chain(&mut *reader);
    let mut file = match read_zipfile_from_stream(&mut chained) {
        Ok(Some(file)) => file,
        Ok(None) => return Err(malformed(offset, "expected a local header")),
        Err(zip::result::ZipError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(VerifyError::Truncated { offset: 0 });
        }
        Err(e) => return Err(malformed(offset, e.to_string())),
    };
    let name = file.name().map_err(|e| malformed(offset, e.to_string()))?.into_owned();
    if file.encrypted() {
        return Err(VerifyError::Encrypted { entry: name });
    }
    let (expected_crc, expected_size, compressed_size) = (file.crc32(), file.size(), file.compressed_size());
    let mut hasher = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                size += n as u64;
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
    if size != expected_size {
        return Err(VerifyError::SizeMismatch { entry: name, expected: expected_size, actual: size });
    }
    drop(file);
    Ok(Entry { name, size, compressed_size, crc32: expected_crc, offset })
}

/// Central directory records, read after the first central header signature was consumed.
fn read_central_directory<R: Read>(reader: &mut Counting<R>) -> Result<Vec<Entry>, VerifyError> {
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
    let crc32 = u32_at(12);
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
    Ok(Entry { name: String::from_utf8_lossy(&name).into_owned(), size, compressed_size, crc32, offset })
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

fn malformed(offset: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Malformed { offset, reason: reason.into() }
}

fn read_exact<R: Read>(reader: &mut Counting<R>, buf: &mut [u8]) -> Result<(), VerifyError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => VerifyError::Truncated { offset: reader.count },
        _ => VerifyError::Io(e),
    })
}

fn read_u32<R: Read>(reader: &mut Counting<R>) -> Result<u32, VerifyError> {
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
struct Counting<R> {
    inner: R,
    count: u64,
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
        match verify_stream(bytes) {
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
        assert!(matches!(verify_stream(&zip[..zip.len() - 10]), Err(VerifyError::Truncated { .. })));
        assert!(matches!(verify_stream(&zip[..3000]), Err(VerifyError::Truncated { .. })));
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
