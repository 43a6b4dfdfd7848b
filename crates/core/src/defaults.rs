//! Every default setting of the client, in one place: the CLI's flags, the Python package and
//! [`ClientBuilder`](crate::ClientBuilder) all start from these.

use std::time::Duration;

/// Retries of a failed request, or of a body that stopped making progress, before giving up.
pub const DEFAULT_RETRIES: u32 = 5;
/// Give up on a connection that sends nothing for this long (then resume).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Give up on connecting after this long (never longer than the read timeout).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Ranged requests in flight per deliverable.
pub const DEFAULT_CONNECTIONS: usize = 6;
/// The most ranged requests in flight per deliverable.
pub const MAX_CONNECTIONS: usize = 64;
/// The size of each ranged request.
pub const DEFAULT_SEGMENT_SIZE: u64 = 6 << 20;
/// The low-speed rule: slower than this many bytes a second...
pub const DEFAULT_SPEED_LIMIT: u64 = 1024;
/// ...over this much time spent reading is a stall.
pub const DEFAULT_SPEED_TIME: Duration = Duration::from_secs(30);
