//! Records a run holds by the million without holding them in memory: written once, in order,
//! in blocks; kept in memory while they are few, in an unnamed temporary file (in `TMPDIR`,
//! gone when the run ends, or the process does) once they are not; read back a block at a time.
//! A sync of an account's every deliverable keeps its jobs and the destination's listing this
//! way, so that its memory does not grow with the account (docs/benchmarks.md, "scale").
//!
//! The file is read and written with plain calls on the async threads: a block is a few
//! kilobytes of a file just written, in the page cache.

use std::io::{Seek, SeekFrom, Write};

/// Records in a block: the unit written, read back and indexed.
pub(crate) const BLOCK: usize = 128;

/// Encoded bytes kept in memory before the records go to a temporary file.
const IN_MEMORY: usize = 256 << 10;

/// A record a [`Spilled`] holds.
pub(crate) trait Record: Sized {
    /// Appends its encoding.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one from the front of `input`, advancing it; `None` when it is not one.
    fn decode(input: &mut &[u8]) -> Option<Self>;
}

/// Where a sealed block's bytes are.
#[derive(Debug)]
enum Sealed {
    Memory(Vec<u8>),
    File { offset: u64, len: usize },
}

/// Records in the order they were pushed, a block at a time.
#[derive(Debug)]
pub(crate) struct Spilled<T> {
    sealed: Vec<Sealed>,
    /// The block being filled.
    current: Vec<T>,
    file: Option<std::fs::File>,
    /// The leading blocks in the file, the bytes written there, and those held in memory.
    in_file: usize,
    written: u64,
    held: usize,
    len: u64,
}

impl<T> Default for Spilled<T> {
    fn default() -> Self {
        Self { sealed: Vec::new(), current: Vec::new(), file: None, in_file: 0, written: 0, held: 0, len: 0 }
    }
}

impl<T: Record> Spilled<T> {
    /// Adds a record at the end.
    pub(crate) fn push(&mut self, record: T) -> std::io::Result<()> {
        self.current.push(record);
        self.len += 1;
        if self.current.len() == BLOCK { self.seal() } else { Ok(()) }
    }

    /// How many records were pushed.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// How many blocks hold them ([`Spilled::seal`] first).
    pub(crate) fn blocks(&self) -> usize {
        self.sealed.len()
    }

    /// Seals the block being filled: call it once every record is pushed, before reading.
    pub(crate) fn seal(&mut self) -> std::io::Result<()> {
        if self.current.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        for record in self.current.drain(..) {
            record.encode(&mut bytes);
        }
        self.held += bytes.len();
        self.sealed.push(Sealed::Memory(bytes));
        if self.held > IN_MEMORY || self.file.is_some() {
            self.spill_to_file()?;
        }
        Ok(())
    }

    /// Moves the blocks held in memory to the file.
    fn spill_to_file(&mut self) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        // At the end of what was written (a read on Windows moves the file's cursor).
        file.seek(SeekFrom::Start(self.written))?;
        for block in &mut self.sealed[self.in_file..] {
            if let Sealed::Memory(bytes) = block {
                file.write_all(bytes)?;
                let len = bytes.len();
                *block = Sealed::File { offset: self.written, len };
                self.written += len as u64;
            }
        }
        self.in_file = self.sealed.len();
        self.held = 0;
        Ok(())
    }

    /// The records of block `index` (none past the last).
    pub(crate) fn block(&self, index: usize) -> std::io::Result<Vec<T>> {
        let read;
        let mut bytes: &[u8] = match (self.sealed.get(index), &self.file) {
            (None, _) => return Ok(Vec::new()),
            (Some(Sealed::Memory(bytes)), _) => bytes,
            (Some(Sealed::File { offset, len }), Some(file)) => {
                read = read_at(file, *offset, *len)?;
                &read
            }
            (Some(Sealed::File { .. }), None) => unreachable!("a block in the file has a file"),
        };
        let mut records = Vec::with_capacity(BLOCK);
        while !bytes.is_empty() {
            let record = T::decode(&mut bytes).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "a temporary file of this run was changed")
            })?;
            records.push(record);
        }
        Ok(records)
    }
}

/// `len` bytes of `file` at `offset`.
fn read_at(file: &std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut bytes, offset)?;
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < len {
            let n = std::os::windows::fs::FileExt::seek_read(file, &mut bytes[done..], offset + done as u64)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(bytes)
}

/// Appends a string, its length first.
pub(crate) fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u64(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends a number.
pub(crate) fn put_u64(out: &mut Vec<u8>, number: u64) {
    out.extend_from_slice(&number.to_le_bytes());
}

/// Reads a number [`put_u64`] wrote.
pub(crate) fn take_u64(input: &mut &[u8]) -> Option<u64> {
    let (number, rest) = input.split_first_chunk::<8>()?;
    *input = rest;
    Some(u64::from_le_bytes(*number))
}

/// Reads a string [`put_str`] wrote.
pub(crate) fn take_str<'a>(input: &mut &'a [u8]) -> Option<&'a str> {
    let len = usize::try_from(take_u64(input)?).ok()?;
    let text = input.get(..len)?;
    *input = &input[len..];
    std::str::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, Record, Spilled, put_str, take_str};

    impl Record for String {
        fn encode(&self, out: &mut Vec<u8>) {
            put_str(out, self);
        }
        fn decode(input: &mut &[u8]) -> Option<Self> {
            take_str(input).map(str::to_owned)
        }
    }

    fn read_back(spilled: &Spilled<String>) -> Vec<String> {
        (0..spilled.blocks()).flat_map(|i| spilled.block(i).expect("block")).collect()
    }

    #[test]
    fn records_come_back_in_order_from_memory_and_from_the_file() {
        for count in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 20_000] {
            let mut spilled = Spilled::default();
            let records: Vec<String> = (0..count).map(|i| format!("{i:0>40}")).collect();
            for record in &records {
                spilled.push(record.clone()).expect("push");
            }
            spilled.seal().expect("seal");
            assert_eq!(spilled.len(), count as u64);
            assert_eq!(spilled.file.is_some(), count == 20_000, "{count}");
            assert_eq!(read_back(&spilled), records, "{count}");
            assert!(spilled.block(spilled.blocks()).expect("past the end").is_empty());
        }
    }
}
