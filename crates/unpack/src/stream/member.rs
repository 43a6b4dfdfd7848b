//! One member's data on its own, as a ranged request brings it: inflated, counted, hashed and
//! checked against what the central directory says of it.

use std::io::{self, Read};

use super::{DigestPlan, Digests, Member, MemberVisitor, READ_BUFFER, malformed};
use crate::error::VerifyError;
use crate::report::EntryReport;

/// Verifies one member from its data alone: `reader` yields its stored bytes (the
/// `compressed_size` bytes at `data_offset` that an inspection found), and this checks its
/// method, that it inflates to exactly its size with its CRC-32 as the central directory gives
/// them, that its stored bytes end where its deflate stream does, and that it expands no more
/// than imagery does; its bytes go to `visitor` on the way. Returns the digests `plan` names for
/// it, for [`check_members`](crate::check_members).
pub fn verify_member<R: Read>(
    reader: R,
    entry: &EntryReport,
    plan: &DigestPlan,
    visitor: &mut dyn MemberVisitor,
) -> Result<Digests, VerifyError> {
    let name = entry.name.clone();
    if !matches!(entry.method, 0 | 8) {
        return Err(VerifyError::UnsupportedMethod { entry: name, method: entry.method });
    }
    let crc32 = u32::from_str_radix(&entry.crc32, 16)
        .map_err(|_| malformed(0, format!("{name}: the CRC-32 {:?} is not 8 hex digits", entry.crc32)))?;
    let (algorithms, _) = plan.algorithms(&name);
    let mut member = Member {
        name: name.clone(),
        crc: crc32fast::Hasher::new(),
        size: 0,
        limit: Some(entry.size),
        hashers: algorithms.into_iter().map(|a| (a, a.hasher())).collect(),
        narrow_at: None,
        keep: None,
        kept: Vec::new(),
        visitor,
    };
    member.visitor.begin(&name, Some(entry.size)).map_err(VerifyError::Io)?;
    let mut stored = Counting { inner: reader.take(entry.compressed_size), count: 0 };
    let mut buf = vec![0; READ_BUFFER];
    let unreadable = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
            malformed(0, format!("{}: its data cannot be inflated: {e}", entry.name))
        }
        _ => VerifyError::Io(e),
    };
    let consumed = if entry.method == 8 {
        let mut inflater = flate2::bufread::DeflateDecoder::new(io::BufReader::new(&mut stored));
        loop {
            let n = inflater.read(&mut buf).map_err(unreadable)?;
            if n == 0 {
                break inflater.total_in();
            }
            member.data(&buf[..n], inflater.total_in())?;
        }
    } else {
        loop {
            let n = stored.read(&mut buf).map_err(VerifyError::Io)?;
            if n == 0 {
                break stored.count;
            }
            member.data(&buf[..n], stored.count)?;
        }
    };
    if consumed != entry.compressed_size {
        return Err(VerifyError::SizeMismatch { entry: name, expected: entry.compressed_size, actual: consumed });
    }
    if member.size != entry.size {
        return Err(VerifyError::SizeMismatch { entry: name, expected: entry.size, actual: member.size });
    }
    let actual = member.crc.clone().finalize();
    if actual != crc32 {
        return Err(VerifyError::ChecksumMismatch { entry: name, expected: crc32, actual });
    }
    member.visitor.end().map_err(VerifyError::Io)?;
    Ok(member.hashers.into_iter().map(|(algorithm, hasher)| (algorithm, hasher.finalize())).collect())
}

/// Counts the bytes read through it.
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
