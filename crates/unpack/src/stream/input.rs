//! The pass's input: the bytes as the reader buffers them, looked at in place where possible.

use std::io::{self, BufRead};

use super::{MemberVisitor, READ_BUFFER};
use crate::error::VerifyError;
use crate::format::u32_at;

/// The reader's buffer, filled when empty (empty at the end of the input).
fn filled<R: BufRead>(reader: &mut R) -> Result<&[u8], VerifyError> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(VerifyError::Io(e)),
        }
    }
    reader.fill_buf().map_err(VerifyError::Io)
}

/// The bytes, as the reader buffers them: looked at in place when the reader's buffer holds what
/// is asked for (the data of a member, most of the time: no copy), and copied into a buffer of
/// its own only where a record, a data descriptor or a look-ahead spans two of the reader's
/// buffers.
pub(super) struct Input<R> {
    inner: R,
    /// Bytes taken from the reader to be looked at together: `buf[start..end]`, read before
    /// anything still in the reader.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The offset in the zip of the next byte to consume.
    pub(super) offset: u64,
    eof: bool,
}

impl<R: BufRead> Input<R> {
    pub(super) fn new(inner: R) -> Self {
        Self { inner, buf: vec![0; READ_BUFFER].into_boxed_slice(), start: 0, end: 0, offset: 0, eof: false }
    }

    /// At least `n` bytes (`n` at most [`READ_BUFFER`]), fewer only where the input ends; all
    /// of the bytes left when it does.
    pub(super) fn fill(&mut self, n: usize) -> Result<&[u8], VerifyError> {
        if self.start == self.end && !self.eof {
            let available = filled(&mut self.inner)?.len();
            if available == 0 {
                self.eof = true;
            } else if available >= n {
                return filled(&mut self.inner);
            }
        }
        while self.end - self.start < n && !self.eof {
            // Keep copies large: start from the front when everything was consumed, and move
            // what is left to the front when room runs short.
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.buf.len() - self.end < (self.buf.len() / 4).max(n - (self.end - self.start)) {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            let room = self.buf.len() - self.end;
            let chunk = filled(&mut self.inner)?;
            if chunk.is_empty() {
                self.eof = true;
                break;
            }
            let copied = chunk.len().min(room);
            self.buf[self.end..self.end + copied].copy_from_slice(&chunk[..copied]);
            self.inner.consume(copied);
            self.end += copied;
        }
        Ok(&self.buf[self.start..self.end])
    }

    pub(super) fn eof_reached(&self) -> bool {
        self.eof
    }

    /// Consumes `n` of the bytes the last [`Input::fill`] returned.
    pub(super) fn consume(&mut self, n: usize) {
        if self.start == self.end {
            self.inner.consume(n);
        } else {
            self.start += n;
        }
        self.offset += n as u64;
    }

    /// Exactly `n` bytes (at most [`READ_BUFFER`]), consumed.
    pub(super) fn take(&mut self, n: usize) -> Result<Vec<u8>, VerifyError> {
        let bytes = match self.fill(n)? {
            available if available.len() >= n => available[..n].to_vec(),
            _ => return Err(self.truncated()),
        };
        self.consume(n);
        Ok(bytes)
    }

    /// A whole record, consumed: its fixed part of `fixed` bytes and the variable part whose
    /// length `variable_len` reads from the fixed part.
    pub(super) fn record(&mut self, fixed: usize, variable_len: fn(&[u8]) -> usize) -> Result<Vec<u8>, VerifyError> {
        let head = self.fill(fixed)?;
        if head.len() < fixed {
            return Err(self.truncated());
        }
        let len = fixed + variable_len(head);
        self.take(len)
    }

    /// The next record's signature, not consumed.
    pub(super) fn signature(&mut self) -> Result<u32, VerifyError> {
        let bytes = self.fill(4)?;
        if bytes.len() < 4 {
            return Err(self.truncated());
        }
        Ok(u32_at(bytes, 0))
    }

    pub(super) fn skip(&mut self, mut n: u64) -> Result<(), VerifyError> {
        while n > 0 {
            let available = self.fill(1)?.len();
            if available == 0 {
                return Err(self.truncated());
            }
            let step = available.min(usize::try_from(n).unwrap_or(usize::MAX));
            self.consume(step);
            n -= step as u64;
        }
        Ok(())
    }

    /// Reads to the end; returns how many bytes there were, and whether they were all zero.
    pub(super) fn drain(&mut self) -> Result<(u64, bool), VerifyError> {
        let (mut count, mut zeros) = (0, true);
        loop {
            let available = self.fill(1)?;
            if available.is_empty() {
                return Ok((count, zeros));
            }
            zeros &= available.iter().all(|&b| b == 0);
            let n = available.len();
            self.consume(n);
            count += n as u64;
        }
    }

    pub(super) fn truncated(&self) -> VerifyError {
        VerifyError::Truncated { offset: self.offset + (self.end - self.start) as u64 }
    }
}

/// The visitor of a pass that extracts nothing.
pub(super) struct Ignore;

impl MemberVisitor for Ignore {
    fn begin(&mut self, _: &str, _: Option<u64>) -> io::Result<()> {
        Ok(())
    }

    fn data(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
}
