//! Every environment variable wyvern reads, in one place. The CLI refers to these constants.

/// Overrides the API base URL (below `--api-url`, above `--sandbox`).
pub const WYVERN_API_URL: &str = "WYVERN_API_URL";
/// A bearer token to use instead of `--token-file` or the login cache.
pub const WYVERN_TOKEN: &str = "WYVERN_TOKEN";
/// With [`WYVERN_PASSWORD`] (or `--password-file`): service credentials; the run logs in itself
/// and renews its token as it goes.
pub const WYVERN_USERNAME: &str = "WYVERN_USERNAME";
/// The password of [`WYVERN_USERNAME`].
pub const WYVERN_PASSWORD: &str = "WYVERN_PASSWORD";
/// A file whose first line is the password of [`WYVERN_USERNAME`] (the same as `--password-file`).
pub const WYVERN_PASSWORD_FILE: &str = "WYVERN_PASSWORD_FILE";
/// A file holding the bearer token (the same as `--token-file`).
pub const WYVERN_TOKEN_FILE: &str = "WYVERN_TOKEN_FILE";
/// How many times a failed request or interrupted body is retried (default 5).
pub const WYVERN_MAX_RETRIES: &str = "WYVERN_MAX_RETRIES";
/// Read timeout for one network read, e.g. `60s` (default 60 s).
pub const WYVERN_READ_TIMEOUT: &str = "WYVERN_READ_TIMEOUT";
/// Ranged requests in flight per deliverable (default 6; 1 streams it in one request).
pub const WYVERN_CONNECTIONS: &str = "WYVERN_CONNECTIONS";
/// The size of each ranged request, e.g. `6MiB` (the default).
pub const WYVERN_SEGMENT_SIZE: &str = "WYVERN_SEGMENT_SIZE";
/// The low-speed rule: a body slower than this (e.g. `1KiB`, per second; `0` turns it off)...
pub const WYVERN_SPEED_LIMIT: &str = "WYVERN_SPEED_LIMIT";
/// ...over this much time spent reading it (e.g. `30s`) is cut and resumed.
pub const WYVERN_SPEED_TIME: &str = "WYVERN_SPEED_TIME";
/// A cap on the bytes a second of all transfers together, e.g. `20MiB` (the same as
/// `--limit-rate`).
pub const WYVERN_LIMIT_RATE: &str = "WYVERN_LIMIT_RATE";
/// PEM certificates of private certificate authorities to trust beside the system's.
pub const WYVERN_CA_CERT: &str = "WYVERN_CA_CERT";
/// What to log, as a tracing `EnvFilter` directive (e.g. `wyvern_core=debug`), in the full format.
pub const WYVERN_LOG: &str = "WYVERN_LOG";
/// A file to append the full log to, at every level (the same as `--log-file`).
pub const WYVERN_LOG_FILE: &str = "WYVERN_LOG_FILE";
/// The directory holding the login cache (default: the platform's config dir + `/wyvern`).
pub const WYVERN_CONFIG_DIR: &str = "WYVERN_CONFIG_DIR";
/// Set and not empty: no colour, and no `inspect --preview` drawing (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// `0`: no colour.
pub const CLICOLOR: &str = "CLICOLOR";
/// Set and not `0`: colour even when stderr is not a terminal.
pub const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";

/// The value of `name`, when it is set and valid Unicode.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, when it is set (as the OS holds it).
pub fn var_os(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name)
}
