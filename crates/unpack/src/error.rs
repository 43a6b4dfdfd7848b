/// Why a zip failed verification. Each problem names the member it concerns, with the expected
/// and actual values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A member's data does not match its CRC-32.
    #[error("{entry}: CRC-32 mismatch: expected {expected:08x}, got {actual:08x}")]
    ChecksumMismatch {
        /// The member.
        entry: String,
        /// From the local header.
        expected: u32,
        /// Of the data.
        actual: u32,
    },
    /// A member's data is not the size its header says.
    #[error("{entry}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The member.
        entry: String,
        /// From the local header.
        expected: u64,
        /// Of the data.
        actual: u64,
    },
    /// An encrypted member (deliverables are never encrypted).
    #[error("{entry}: encrypted members are not supported")]
    Encrypted {
        /// The member.
        entry: String,
    },
    /// The bytes end before the zip does.
    #[error("the zip is truncated: its bytes end at offset {offset}")]
    Truncated {
        /// How many bytes there were.
        offset: u64,
    },
    /// The bytes are not a zip this tool can read.
    #[error("invalid zip at offset {offset}: {reason}")]
    Malformed {
        /// Where.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The central directory disagrees with what the local headers and data said.
    #[error("{entry}: the central directory says {field} is {central}, the local header says {local}")]
    CentralDirectoryMismatch {
        /// The member.
        entry: String,
        /// Which field.
        field: &'static str,
        /// In the local header.
        local: String,
        /// In the central directory.
        central: String,
    },
    /// Bytes after the end-of-central-directory record.
    #[error("{count} bytes of trailing data after the end of the zip")]
    TrailingData {
        /// How many.
        count: u64,
    },
    /// Reading the bytes failed.
    #[error("reading the zip failed")]
    Io(#[source] std::io::Error),
}
