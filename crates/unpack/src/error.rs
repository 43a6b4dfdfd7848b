//! Why a zip failed verification, member by member.

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
    /// A member whose path could write outside the extraction folder.
    #[error("{entry}: unsafe member path: {reason}")]
    UnsafeName {
        /// The member.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two members with the same name.
    #[error("{entry}: the name appears twice")]
    DuplicateName {
        /// The member.
        entry: String,
    },
    /// A member that expands far more than imagery does (a zip bomb).
    #[error("{entry}: compression ratio {ratio}:1 is past the limit of {limit}:1 for members over 64 MiB")]
    CompressionRatio {
        /// The member.
        entry: String,
        /// Uncompressed over compressed size.
        ratio: u64,
        /// The limit.
        limit: u64,
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
    /// An end record describes another central directory than the one that was read: readers
    /// that start from the end would see other members than the forward pass.
    #[error("{record} gives {field} as {says}, not {actual} as read")]
    EndRecordMismatch {
        /// Which record.
        record: &'static str,
        /// Which field.
        field: &'static str,
        /// What the record says.
        says: u64,
        /// What was read.
        actual: u64,
    },
    /// A member compressed with a method this tool does not decompress.
    #[error("{entry}: compression method {method} is not supported (stored and deflated are)")]
    UnsupportedMethod {
        /// The member.
        entry: String,
        /// The method's number.
        method: u16,
    },
    /// A central directory record points where no member was read, or where another record's
    /// member is.
    #[error("{entry}: the central directory points to offset {offset}, where no member of its own starts")]
    NoLocalHeader {
        /// The member.
        entry: String,
        /// Where the record points.
        offset: u64,
    },
    /// The central directory lists another number of members than were read before it.
    #[error("the central directory lists {central} members, but {local} were read before it")]
    MemberCount {
        /// Listed by the central directory.
        central: u64,
        /// Read before it.
        local: u64,
    },
    /// The bytes end inside a stored member whose size only its data descriptor gives: no
    /// descriptor holding its CRC-32 and size, followed by another member or the central
    /// directory, was found.
    #[error(
        "{entry}: the zip ends before this member does (it is stored, and only its data descriptor gives its \
         size): it is truncated, or its descriptor is missing or followed by bytes that are no record"
    )]
    UnendedMember {
        /// The member.
        entry: String,
    },
    /// Bytes after the end-of-central-directory record.
    #[error("{count} bytes of trailing data after the end of the zip")]
    TrailingData {
        /// How many.
        count: u64,
    },
    /// The zip is sound but its contents disagree with its metadata (STAC sizes and checksums,
    /// `proj:shape`, band counts, catalog links).
    #[error("{}", problems_message(.0))]
    Problems(Vec<crate::Problem>),
    /// Reading the bytes failed.
    #[error("reading the zip failed")]
    Io(#[source] std::io::Error),
}

fn problems_message(problems: &[crate::Problem]) -> String {
    let mut text = format!("{} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" });
    for problem in problems {
        text.push_str(&format!("; {}: {}", problem.member, problem.message));
    }
    text
}
