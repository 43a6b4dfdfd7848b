//! A zip writer for tests that can write every form the format allows (and the ambiguous ones
//! it does not): data descriptors in their four forms, zip64 records, local extra fields that
//! differ from the central ones, comments, any central order, and end records that lie.

use std::io::Write;

/// How a member's sizes and CRC-32 are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Descriptor {
    /// In the local header.
    None,
    /// After the data, with the 0x08074b50 signature, 4-byte sizes.
    Signed32,
    /// After the data, without signature, 4-byte sizes.
    Unsigned32,
    /// After the data, with signature, 8-byte sizes.
    Signed64,
    /// After the data, without signature, 8-byte sizes.
    Unsigned64,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: String,
    pub data: Vec<u8>,
    pub deflate: bool,
    pub descriptor: Descriptor,
    /// A zip64 extra field in the local header (sizes there set to 0xFFFFFFFF).
    pub zip64_local: bool,
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
}

impl Member {
    pub(crate) fn new(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            data: data.to_vec(),
            deflate: false,
            descriptor: Descriptor::None,
            zip64_local: false,
            local_extra: Vec::new(),
            central_extra: Vec::new(),
        }
    }

    pub(crate) fn deflated(mut self) -> Self {
        self.deflate = true;
        self
    }

    pub(crate) fn descriptor(mut self, descriptor: Descriptor) -> Self {
        self.descriptor = descriptor;
        self
    }

    pub(crate) fn zip64(mut self) -> Self {
        self.zip64_local = true;
        self
    }

    pub(crate) fn extras(mut self, local: &[u8], central: &[u8]) -> Self {
        self.local_extra = local.to_vec();
        self.central_extra = central.to_vec();
        self
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Archive {
    pub members: Vec<Member>,
    pub comment: Vec<u8>,
    /// Write zip64 end records (with the end record's fields at their maximum).
    pub zip64_end: bool,
    /// The central directory's order (default: stored order).
    pub central_order: Option<Vec<usize>>,
    /// Bytes before the first member.
    pub prefix: Vec<u8>,
    /// Bytes between the members and the central directory.
    pub gap: Vec<u8>,
}

/// What was written, with where things are.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub bytes: Vec<u8>,
    /// Each member's local header offset.
    pub offsets: Vec<u64>,
    /// Where the central directory starts, and each of its records.
    pub central: u64,
    pub central_records: Vec<u64>,
    /// Where the end record starts.
    pub end: u64,
    /// Where the zip64 end record and its locator start, when written.
    pub zip64_end: Option<(u64, u64)>,
}

struct Written {
    crc: u32,
    size: u64,
    compressed: u64,
}

impl Archive {
    pub(crate) fn of(members: Vec<Member>) -> Self {
        Self { members, ..Self::default() }
    }

    pub(crate) fn build(&self) -> Built {
        let mut out = self.prefix.clone();
        let mut offsets = Vec::new();
        let mut written = Vec::new();
        for m in &self.members {
            offsets.push(out.len() as u64);
            let crc = crc32fast::hash(&m.data);
            let stored = if m.deflate {
                let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(&m.data).expect("deflate");
                encoder.finish().expect("deflate")
            } else {
                m.data.clone()
            };
            let (size, compressed) = (m.data.len() as u64, stored.len() as u64);
            let in_header = m.descriptor == Descriptor::None;
            let flags: u16 = if in_header { 0 } else { 1 << 3 };
            let mut extra = Vec::new();
            if m.zip64_local {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&16u16.to_le_bytes());
                extra.extend_from_slice(&(if in_header { size } else { 0 }).to_le_bytes());
                extra.extend_from_slice(&(if in_header { compressed } else { 0 }).to_le_bytes());
            }
            extra.extend_from_slice(&m.local_extra);
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&(if m.deflate { 8u16 } else { 0 }).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            let header32 = |v: u64| {
                if m.zip64_local {
                    0xFFFF_FFFF
                } else if in_header {
                    v as u32
                } else {
                    0
                }
            };
            out.extend_from_slice(&(if in_header { crc } else { 0 }).to_le_bytes());
            out.extend_from_slice(&header32(compressed).to_le_bytes());
            out.extend_from_slice(&header32(size).to_le_bytes());
            out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            out.extend_from_slice(m.name.as_bytes());
            out.extend_from_slice(&extra);
            out.extend_from_slice(&stored);
            match m.descriptor {
                Descriptor::None => {}
                Descriptor::Signed32 | Descriptor::Unsigned32 => {
                    if m.descriptor == Descriptor::Signed32 {
                        out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
                    }
                    out.extend_from_slice(&crc.to_le_bytes());
                    out.extend_from_slice(&(compressed as u32).to_le_bytes());
                    out.extend_from_slice(&(size as u32).to_le_bytes());
                }
                Descriptor::Signed64 | Descriptor::Unsigned64 => {
                    if m.descriptor == Descriptor::Signed64 {
                        out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
                    }
                    out.extend_from_slice(&crc.to_le_bytes());
                    out.extend_from_slice(&compressed.to_le_bytes());
                    out.extend_from_slice(&size.to_le_bytes());
                }
            }
            written.push(Written { crc, size, compressed });
        }
        out.extend_from_slice(&self.gap);
        let central = out.len() as u64;
        let order = self.central_order.clone().unwrap_or_else(|| (0..self.members.len()).collect());
        let mut central_records = Vec::new();
        for &i in &order {
            central_records.push(out.len() as u64);
            let (m, w) = (&self.members[i], &written[i]);
            let flags: u16 = if m.descriptor == Descriptor::None { 0 } else { 1 << 3 };
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&(if m.deflate { 8u16 } else { 0 }).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&w.crc.to_le_bytes());
            out.extend_from_slice(&(w.compressed as u32).to_le_bytes());
            out.extend_from_slice(&(w.size as u32).to_le_bytes());
            out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(m.central_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&[0; 2]);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&(offsets[i] as u32).to_le_bytes());
            out.extend_from_slice(m.name.as_bytes());
            out.extend_from_slice(&m.central_extra);
        }
        let (count, size) = (order.len() as u64, out.len() as u64 - central);
        let mut zip64_end = None;
        if self.zip64_end {
            let at = out.len() as u64;
            out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&central.to_le_bytes());
            let locator = out.len() as u64;
            out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            zip64_end = Some((at, locator));
        }
        let end = out.len() as u64;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let (count16, size32, offset32) = if self.zip64_end {
            (0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)
        } else {
            (count as u16, size as u32, central as u32)
        };
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&count16.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&offset32.to_le_bytes());
        out.extend_from_slice(&(self.comment.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.comment);
        Built { bytes: out, offsets, central, central_records, end, zip64_end }
    }
}

/// Overwrites a little-endian u16 / u32 / u64 at `at`.
pub(crate) fn put16(bytes: &mut [u8], at: u64, value: u16) {
    bytes[at as usize..at as usize + 2].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put32(bytes: &mut [u8], at: u64, value: u32) {
    bytes[at as usize..at as usize + 4].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn put64(bytes: &mut [u8], at: u64, value: u64) {
    bytes[at as usize..at as usize + 8].copy_from_slice(&value.to_le_bytes());
}
