//! The zip records (APPNOTE 6.3.10), parsed from bytes, and the checks that make the forward
//! pass ([`crate::verify_stream`]) and the readers that start from the end (Python's `zipfile`,
//! `unzip`, GDAL's `/vsizip/`, [`crate::inspect_random`]) see the same archive.

use crate::error::VerifyError;

pub(crate) const LOCAL_HEADER: u32 = 0x0403_4b50;
pub(crate) const CENTRAL_HEADER: u32 = 0x0201_4b50;
pub(crate) const DESCRIPTOR: u32 = 0x0807_4b50;
pub(crate) const ZIP64_END: u32 = 0x0606_4b50;
pub(crate) const ZIP64_LOCATOR: u32 = 0x0706_4b50;
pub(crate) const END: u32 = 0x0605_4b50;

/// The fixed part of a local header, signature included.
pub(crate) const LOCAL_FIXED: usize = 30;
/// The fixed part of a central directory header, signature included.
pub(crate) const CENTRAL_FIXED: usize = 46;
/// The end record without its comment.
pub(crate) const END_FIXED: usize = 22;
/// The zip64 end record without its extensible data.
pub(crate) const ZIP64_END_FIXED: usize = 56;
/// The zip64 end locator.
pub(crate) const LOCATOR_LEN: usize = 20;
/// The longest data descriptor (signature, CRC-32, two 8-byte sizes) and the signature after it.
pub(crate) const DESCRIPTOR_WINDOW: usize = 28;

const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_UTF8: u16 = 1 << 11;
const FLAG_MASKED_HEADERS: u16 = 1 << 13;
const MAX16: u16 = 0xFFFF;
const MAX32: u32 = 0xFFFF_FFFF;
const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_UNICODE_PATH: u16 = 0x7075;

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A local file header.
#[derive(Debug, Clone)]
pub(crate) struct LocalHeader {
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub name: String,
    /// It carries a zip64 extra field (its data descriptor, if any, then has 8-byte sizes).
    pub zip64: bool,
    /// Signature to the end of the extra field.
    pub len: u64,
}

impl LocalHeader {
    /// The lengths of the name and the extra field, from the fixed part.
    pub(crate) fn variable_len(fixed: &[u8]) -> usize {
        usize::from(u16_at(fixed, 26)) + usize::from(u16_at(fixed, 28))
    }

    /// Parses a whole header (fixed part, name, extra field).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < LOCAL_FIXED || bytes.len() < LOCAL_FIXED + Self::variable_len(bytes) {
            return Err("the local header is cut short".to_owned());
        }
        let (flags, method) = (u16_at(bytes, 6), u16_at(bytes, 8));
        let name_len = usize::from(u16_at(bytes, 26));
        let raw_name = &bytes[LOCAL_FIXED..LOCAL_FIXED + name_len];
        let extra = &bytes[LOCAL_FIXED + name_len..];
        let name = decode_name(raw_name, flags, extra)?;
        let (mut size, mut compressed_size) = (u64::from(u32_at(bytes, 22)), u64::from(u32_at(bytes, 18)));
        let zip64 = extra_field(extra, EXTRA_ZIP64);
        if let Some(values) = zip64 {
            // In a local header the zip64 field holds both sizes (APPNOTE 4.5.3), yet some
            // writers put only the ones that overflowed: read it in order for those.
            if values.len() >= 16 {
                (size, compressed_size) = (u64_at(values, 0), u64_at(values, 8));
            } else {
                let mut words = values.chunks_exact(8).map(|w| u64_at(w, 0));
                for field in [&mut size, &mut compressed_size] {
                    if *field == u64::from(MAX32) {
                        *field = words.next().unwrap_or(*field);
                    }
                }
            }
        }
        if (size == u64::from(MAX32) || compressed_size == u64::from(MAX32)) && zip64.is_none() {
            return Err(format!("{name}: zip64 sizes without a zip64 extra field"));
        }
        Ok(Self {
            flags,
            method,
            crc32: u32_at(bytes, 14),
            compressed_size,
            size,
            name,
            zip64: zip64.is_some(),
            len: bytes.len() as u64,
        })
    }

    pub(crate) fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DESCRIPTOR != 0
    }

    /// The CRC-32 the header vouches for: none when a data descriptor holds it.
    pub(crate) fn declared_crc32(&self) -> Option<u32> {
        (!self.has_descriptor()).then_some(self.crc32)
    }

    /// The uncompressed size the header vouches for. With a data descriptor, writers put zero
    /// (the size was not known yet) or, some (libarchive), the size they knew.
    pub(crate) fn declared_size(&self) -> Option<u64> {
        (!self.has_descriptor() || self.size != 0).then_some(self.size)
    }

    /// The compressed size the header vouches for (as [`LocalHeader::declared_size`]).
    pub(crate) fn declared_compressed_size(&self) -> Option<u64> {
        (!self.has_descriptor() || self.compressed_size != 0).then_some(self.compressed_size)
    }
}

/// Whether a member's flags say it is encrypted in any way this tool cannot read.
pub(crate) fn encrypted(flags: u16) -> bool {
    flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS) != 0
}

/// A central directory header.
#[derive(Debug, Clone)]
pub(crate) struct CentralEntry {
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub offset: u64,
    pub disk: u32,
    pub name: String,
    /// The whole record's length.
    pub len: u64,
}

impl CentralEntry {
    /// The lengths of the name, extra field and comment, from the fixed part.
    pub(crate) fn variable_len(fixed: &[u8]) -> usize {
        usize::from(u16_at(fixed, 28)) + usize::from(u16_at(fixed, 30)) + usize::from(u16_at(fixed, 32))
    }

    /// Parses a whole record (fixed part, name, extra field, comment).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < CENTRAL_FIXED || bytes.len() < CENTRAL_FIXED + Self::variable_len(bytes) {
            return Err("the central directory record is cut short".to_owned());
        }
        let (flags, method) = (u16_at(bytes, 8), u16_at(bytes, 10));
        let (name_len, extra_len) = (usize::from(u16_at(bytes, 28)), usize::from(u16_at(bytes, 30)));
        let raw_name = &bytes[CENTRAL_FIXED..CENTRAL_FIXED + name_len];
        let extra = &bytes[CENTRAL_FIXED + name_len..CENTRAL_FIXED + name_len + extra_len];
        let name = decode_name(raw_name, flags, extra)?;
        let mut compressed_size = u64::from(u32_at(bytes, 20));
        let mut size = u64::from(u32_at(bytes, 24));
        let mut offset = u64::from(u32_at(bytes, 42));
        let mut disk = u64::from(u16_at(bytes, 34));
        // Zip64: the extended values appear, in this order, only for fields set to their maximum.
        if let Some(values) = extra_field(extra, EXTRA_ZIP64) {
            let mut words = values.chunks_exact(8).map(|w| u64_at(w, 0));
            for field in [&mut size, &mut compressed_size, &mut offset] {
                if *field == u64::from(MAX32) {
                    *field = words.next().unwrap_or(*field);
                }
            }
            if disk == u64::from(MAX16) {
                disk = values.get(values.len().saturating_sub(4)..).map_or(disk, |w| u64::from(u32_at(w, 0)));
            }
        }
        Ok(Self {
            flags,
            method,
            crc32: u32_at(bytes, 16),
            compressed_size,
            size,
            offset,
            disk: u32::try_from(disk).unwrap_or(u32::MAX),
            name,
            len: bytes.len() as u64,
        })
    }
}

/// The end-of-central-directory record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    pub disk: u16,
    pub directory_disk: u16,
    pub entries_here: u16,
    pub entries: u16,
    pub directory_size: u32,
    pub directory_offset: u32,
    pub comment_len: u16,
}

impl End {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Self {
            disk: u16_at(bytes, 4),
            directory_disk: u16_at(bytes, 6),
            entries_here: u16_at(bytes, 8),
            entries: u16_at(bytes, 10),
            directory_size: u32_at(bytes, 12),
            directory_offset: u32_at(bytes, 16),
            comment_len: u16_at(bytes, 20),
        }
    }
}

/// The zip64 end-of-central-directory record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zip64End {
    pub disk: u32,
    pub directory_disk: u32,
    pub entries_here: u64,
    pub entries: u64,
    pub directory_size: u64,
    pub directory_offset: u64,
    /// The whole record, extensible data included.
    pub len: u64,
}

impl Zip64End {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Self {
            disk: u32_at(bytes, 16),
            directory_disk: u32_at(bytes, 20),
            entries_here: u64_at(bytes, 24),
            entries: u64_at(bytes, 32),
            directory_size: u64_at(bytes, 40),
            directory_offset: u64_at(bytes, 48),
            len: u64_at(bytes, 4).saturating_add(12),
        }
    }
}

/// The zip64 end-of-central-directory locator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locator {
    pub disk: u32,
    pub offset: u64,
    pub disks: u32,
}

impl Locator {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Self { disk: u32_at(bytes, 4), offset: u64_at(bytes, 8), disks: u32_at(bytes, 16) }
    }
}

/// Where the central directory was found, as read (not as the end records say).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// The zip64 records, with where the zip64 end record was found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zip64 {
    pub end: Zip64End,
    pub at: u64,
    pub locator: Locator,
}

/// Checks that the end records describe exactly the central directory that was read: its entry
/// count, size and offset, one disk, and the locator pointing at the zip64 end record. A field of
/// the end record may hold its maximum instead when a zip64 end record holds the value.
pub(crate) fn check_end_records(read: &Directory, zip64: Option<&Zip64>, end: &End) -> Result<(), VerifyError> {
    let zip64_present = zip64.is_some();
    let small = |record: &'static str, field: &'static str, says: u64, max: u64, actual: u64| {
        if says == actual || (zip64_present && says == max) {
            Ok(())
        } else {
            Err(VerifyError::EndRecordMismatch { record, field, says, actual })
        }
    };
    const EOCD: &str = "the end-of-central-directory record";
    small(EOCD, "its disk number", end.disk.into(), MAX16.into(), 0)?;
    small(EOCD, "the central directory's disk", end.directory_disk.into(), MAX16.into(), 0)?;
    small(EOCD, "the entries on this disk", end.entries_here.into(), MAX16.into(), read.entries)?;
    small(EOCD, "the entry count", end.entries.into(), MAX16.into(), read.entries)?;
    small(EOCD, "the central directory size", end.directory_size.into(), MAX32.into(), read.size)?;
    small(EOCD, "the central directory offset", end.directory_offset.into(), MAX32.into(), read.offset)?;
    let Some(zip64) = zip64 else { return Ok(()) };
    const ZIP64: &str = "the zip64 end record";
    const LOCATOR: &str = "the zip64 locator";
    let exact = |record: &'static str, field: &'static str, says: u64, actual: u64| {
        if says == actual { Ok(()) } else { Err(VerifyError::EndRecordMismatch { record, field, says, actual }) }
    };
    exact(ZIP64, "its disk number", zip64.end.disk.into(), 0)?;
    exact(ZIP64, "the central directory's disk", zip64.end.directory_disk.into(), 0)?;
    exact(ZIP64, "the entries on this disk", zip64.end.entries_here, read.entries)?;
    exact(ZIP64, "the entry count", zip64.end.entries, read.entries)?;
    exact(ZIP64, "the central directory size", zip64.end.directory_size, read.size)?;
    exact(ZIP64, "the central directory offset", zip64.end.directory_offset, read.offset)?;
    exact(LOCATOR, "the zip64 end record's disk", zip64.locator.disk.into(), 0)?;
    exact(LOCATOR, "the zip64 end record's offset", zip64.locator.offset, zip64.at)?;
    // One disk: writers put 1 (the count) or, some, 0.
    if zip64.locator.disks > 1 {
        return Err(VerifyError::EndRecordMismatch {
            record: LOCATOR,
            field: "the number of disks",
            says: zip64.locator.disks.into(),
            actual: 1,
        });
    }
    Ok(())
}

/// Zero bytes after the end record that are not trailing data: libarchive pads a zip written to a
/// pipe to its block size (10,240 bytes). They hold nothing, and every reader finds the same end
/// record before them.
pub(crate) const MAX_PADDING: u64 = 10_240;

/// An archive comment holding an end-record signature could be taken for the end record by a
/// reader that searches from the end: such a zip means different things to different readers.
pub(crate) fn check_comment(comment: &[u8], at: u64) -> Result<(), VerifyError> {
    match comment.windows(4).position(|w| u32_at(w, 0) == END) {
        Some(i) => Err(VerifyError::Malformed {
            offset: at + i as u64,
            reason: "the archive comment holds an end-of-central-directory signature, which readers that search \
                     from the end would take for the end of the zip"
                .to_owned(),
        }),
        None => Ok(()),
    }
}

/// The data descriptor at the start of `bytes`, for a member whose data had this CRC-32 and
/// these sizes: its length when one of its four forms (with or without its signature, 4- or
/// 8-byte sizes) holds exactly these values and is followed by a signature `next` accepts.
/// `wide_first` tries the 8-byte forms first (the member has a zip64 extra field).
pub(crate) fn descriptor_len(
    bytes: &[u8],
    values: (u32, u64, u64),
    wide_first: bool,
    next: impl Fn(u32) -> bool,
) -> Option<usize> {
    descriptor_forms(wide_first).into_iter().find_map(|(signed, wide)| {
        let (crc32, compressed_size, size) = read_descriptor(bytes, signed, wide)?;
        let len = descriptor_form_len(signed, wide);
        (bytes.len() >= len + 4 && next(u32_at(bytes, len)) && (crc32, compressed_size, size) == values).then_some(len)
    })
}

/// The first form of a data descriptor that is structurally there (its signature when it has
/// one, followed by a signature `next` accepts), with the values it holds: for reporting what
/// a descriptor says when it does not match the data.
pub(crate) fn descriptor_values(
    bytes: &[u8],
    wide_first: bool,
    next: impl Fn(u32) -> bool,
) -> Option<(usize, (u32, u64, u64))> {
    descriptor_forms(wide_first).into_iter().find_map(|(signed, wide)| {
        let values = read_descriptor(bytes, signed, wide)?;
        let len = descriptor_form_len(signed, wide);
        (bytes.len() >= len + 4 && next(u32_at(bytes, len))).then_some((len, values))
    })
}

fn descriptor_forms(wide_first: bool) -> [(bool, bool); 4] {
    if wide_first {
        [(true, true), (false, true), (true, false), (false, false)]
    } else {
        [(true, false), (false, false), (true, true), (false, true)]
    }
}

fn descriptor_form_len(signed: bool, wide: bool) -> usize {
    usize::from(signed) * 4 + 4 + if wide { 16 } else { 8 }
}

fn read_descriptor(bytes: &[u8], signed: bool, wide: bool) -> Option<(u32, u64, u64)> {
    let len = descriptor_form_len(signed, wide);
    if bytes.len() < len || (signed && u32_at(bytes, 0) != DESCRIPTOR) {
        return None;
    }
    let at = usize::from(signed) * 4;
    let crc32 = u32_at(bytes, at);
    Some(if wide {
        (crc32, u64_at(bytes, at + 4), u64_at(bytes, at + 12))
    } else {
        (crc32, u32_at(bytes, at + 4).into(), u32_at(bytes, at + 8).into())
    })
}

/// The data of the extra field with this id, if present.
fn extra_field(mut extra: &[u8], id: u16) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let (field, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
        let data = extra.get(4..4 + len)?;
        if field == id {
            return Some(data);
        }
        extra = &extra[4 + len..];
    }
    None
}

/// A member name as readers show it: UTF-8 when flagged so; else the Info-ZIP Unicode Path field
/// when it matches the stored name; else the bytes as UTF-8 when they are (what Linux tools
/// write); else code page 437, the format's default.
fn decode_name(raw: &[u8], flags: u16, extra: &[u8]) -> Result<String, String> {
    if flags & FLAG_UTF8 != 0 {
        return String::from_utf8(raw.to_vec())
            .map_err(|_| format!("{}: the name is flagged UTF-8 but is not", cp437(raw)));
    }
    if let Some(field) = extra_field(extra, EXTRA_UNICODE_PATH)
        && field.len() > 5
        && field[0] == 1
        && u32_at(field, 1) == crc32fast::hash(raw)
        && let Ok(name) = std::str::from_utf8(&field[5..])
    {
        return Ok(name.to_owned());
    }
    Ok(std::str::from_utf8(raw).map_or_else(|_| cp437(raw), str::to_owned))
}

fn cp437(raw: &[u8]) -> String {
    const HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";
    raw.iter()
        .map(|&b| if b < 0x80 { char::from(b) } else { HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('?') })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{DESCRIPTOR, LOCAL_HEADER, cp437, decode_name, descriptor_len};

    #[test]
    fn names_decode_as_readers_show_them() {
        assert_eq!(decode_name(b"plain.txt", 0, &[]), Ok("plain.txt".to_owned()));
        assert_eq!(decode_name("é.txt".as_bytes(), 1 << 11, &[]), Ok("é.txt".to_owned()));
        assert!(decode_name(&[0xff, 0x41], 1 << 11, &[]).is_err());
        assert_eq!(decode_name(&[0x82, b'.', b't'], 0, &[]), Ok("é.t".to_owned()));
        assert_eq!(cp437(&[0x80, 0xff]), "Ç\u{a0}");
        // The Unicode Path field wins when its CRC matches the stored name.
        let raw = [0x82u8, b'x'];
        let mut field = vec![1];
        field.extend_from_slice(&crc32fast::hash(&raw).to_le_bytes());
        field.extend_from_slice("ü-x".as_bytes());
        let mut extra = vec![0x75, 0x70, field.len() as u8, 0];
        extra.extend_from_slice(&field);
        assert_eq!(decode_name(&raw, 0, &extra), Ok("ü-x".to_owned()));
    }

    #[test]
    fn descriptors_in_all_four_forms() {
        let next = |sig: u32| sig == LOCAL_HEADER;
        let values = (0xdead_beef, 10, 12);
        let mut signed32 = DESCRIPTOR.to_le_bytes().to_vec();
        signed32.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
        signed32.extend_from_slice(&10u32.to_le_bytes());
        signed32.extend_from_slice(&12u32.to_le_bytes());
        signed32.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        assert_eq!(descriptor_len(&signed32, values, false, next), Some(16));
        assert_eq!(descriptor_len(&signed32[4..], values, false, next), Some(12));
        assert_eq!(descriptor_len(&signed32, (0xdead_beef, 10, 13), false, next), None);
        let mut signed64 = DESCRIPTOR.to_le_bytes().to_vec();
        signed64.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
        signed64.extend_from_slice(&10u64.to_le_bytes());
        signed64.extend_from_slice(&12u64.to_le_bytes());
        signed64.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        assert_eq!(descriptor_len(&signed64, values, true, next), Some(24));
        assert_eq!(descriptor_len(&signed64, values, false, next), Some(24), "found whatever is tried first");
        assert_eq!(descriptor_len(&signed64[4..], values, false, next), Some(20));
        // Without a record signature after it, it is not the end of the member.
        assert_eq!(descriptor_len(&signed64[..24], values, true, next), None);
    }
}
