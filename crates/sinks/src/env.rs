//! Every environment variable the sinks read themselves (object_store reads the stores' own:
//! `AWS_*`, `GOOGLE_*`, `AZURE_*`; see docs/sinks.md). The CLI's and the API client's are in
//! `wyvern_core::env`.

/// The checksum S3 checks uploads against: `crc64nvme` (the default), `sha256` or `none`.
pub const WYVERN_S3_CHECKSUM: &str = "WYVERN_S3_CHECKSUM";
/// object_store's choice of checksum; when set, it wins over `WYVERN_S3_CHECKSUM`.
pub const AWS_CHECKSUM_ALGORITHM: &str = "AWS_CHECKSUM_ALGORITHM";
/// object_store's switch for unsigned payloads; when set, the sinks leave it to object_store.
pub const AWS_UNSIGNED_PAYLOAD: &str = "AWS_UNSIGNED_PAYLOAD";

/// The value of `name`, when it is set and valid Unicode.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Whether `name` is set (to anything).
pub fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some()
}
