//! The faults a test asks the replica for: how it misbehaves serving a deliverable's bytes, or an
//! order's JSON, and the two shapes of an order's JSON.

use serde_json::Value;

/// How the replica misbehaves for one deliverable. Counted faults (`times`) apply to the first
/// requests of that deliverable's bytes and then stop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with a 302 to a presigned-style URL on the storage host, which refuses requests
    /// that carry an `Authorization` header (as S3 does).
    RedirectToStorage,
    /// 429 with `Retry-After` for the first `times` requests.
    RateLimit {
        /// How many requests are refused.
        times: u32,
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// A 5xx status for the first `times` requests.
    ServerError {
        /// How many requests fail.
        times: u32,
        /// Which status.
        status: u16,
    },
    /// Close the connection when the body reaches byte `offset`, for the first `times` bodies.
    CutAt {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// How many bodies are cut.
        times: u32,
    },
    /// Announce the full Content-Length but always send `missing` bytes fewer.
    ShortBody {
        /// How many bytes are never sent.
        missing: u64,
    },
    /// Send the body chunked, without Content-Length.
    Chunked,
    /// Answer with an HTML error page and status 200.
    HtmlPage,
    /// Flip the byte at `offset` in every body.
    CorruptByte {
        /// Absolute offset in the deliverable.
        offset: u64,
    },
    /// Ignore `Range` and do not advertise `Accept-Ranges`.
    IgnoreRange,
    /// Send the body up to byte `offset`, then nothing more (the connection stays open), for the
    /// first `times` bodies.
    Stall {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// How many bodies stall.
        times: u32,
    },
    /// Send at most this many bytes a second.
    Throttle {
        /// The rate.
        bytes_per_sec: u64,
    },
    /// With [`Fault::RedirectToStorage`]: each presigned link is good for one request; asked
    /// again, the storage host answers 403 `Request has expired`.
    ExpiringLinks,
    /// After the first `bodies` bodies, the deliverable is served as a new version: the same
    /// bytes under another ETag, so `If-Range` with the old one gets the whole body.
    NewVersionAfter {
        /// How many bodies the first version serves.
        bodies: u32,
    },
    /// As [`Fault::NewVersionAfter`], but ranges are served whatever `If-Range` says (a server
    /// that ignores it): a resumed body gets bytes of the new version under the new ETag.
    NewVersionIgnoringIfRange {
        /// How many bodies the first version serves.
        bodies: u32,
    },
    /// After byte `offset`, send `bytes_per_sec` in small pieces (a trickle, never silent long
    /// enough for a read timeout), for the first `times` bodies.
    Trickle {
        /// Absolute offset in the deliverable.
        offset: u64,
        /// The trickle's rate.
        bytes_per_sec: u64,
        /// How many bodies trickle.
        times: u32,
    },
    /// Answer a request for the whole deliverable with `206` and the bytes from `from` on.
    PartialToPlainGet {
        /// Where the bytes sent start.
        from: u64,
    },
    /// Send the body with this `Content-Encoding`: `gzip` compresses it; any other name sends
    /// the bytes as they are under that name.
    Encoded {
        /// The encoding's name.
        encoding: &'static str,
    },
    /// Refuse with `403` and a text body that never ends.
    EndlessErrorBody,
    /// Answer every request for the deliverable this much later (the round trip of a distant
    /// server).
    Latency {
        /// The delay, in milliseconds.
        millis: u64,
    },
}

/// How an order's JSON is served, when not as usual.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFault {
    /// This JSON instead of the order's.
    Raw(Value),
    /// The order's JSON gzip-encoded (`Content-Encoding: gzip`).
    Gzip,
    /// A JSON body that never ends.
    Endless,
}

/// How an order's JSON is shaped: the two shapes the public docs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderShape {
    /// `status` and `reason_code` as top-level strings.
    Flat,
    /// `status` as a STAPI status object `{status_code, reason_code, timestamp, links}`, with the
    /// deliverable links inside it.
    Nested,
}
