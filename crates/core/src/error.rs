//! The API client's errors, sorted by what a caller does about them.

use std::time::Duration;

use crate::model::{OrderStatus, ReasonCode};

/// What went wrong talking to the API, in terms a caller can act on.
///
/// URLs in errors are redacted (no query string), and the token never appears.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the credentials (HTTP 401 or 403).
    #[error("{url} refused the request (HTTP {status}){}", detail_suffix(.detail))]
    Unauthenticated {
        /// The HTTP status.
        status: u16,
        /// Where (redacted).
        url: String,
        /// The server's explanation, if it gave one.
        detail: Option<String>,
    },
    /// No token was configured for a call that needs one.
    #[error("no API token configured")]
    MissingToken,
    /// The token had to be renewed (it expired, or the API refused it), and renewing it failed.
    #[error("getting a new API token failed")]
    Renewal {
        /// Why: what the token endpoint answered.
        #[source]
        source: Box<Error>,
    },
    /// The token cannot be sent: it holds a character an HTTP header may not (a line break,
    /// say).
    #[error("the API token holds {what}, which cannot be sent in a header")]
    InvalidToken {
        /// What it holds.
        what: &'static str,
    },
    /// A plain `http://` API URL off loopback, refused: the token would travel in clear text.
    #[error("invalid URL {url:?}: plain http sends the token in clear text; use https (or allow it explicitly)")]
    PlainHttp {
        /// The URL (redacted).
        url: String,
    },
    /// A redirect from `https` to plain `http`, refused: the bytes would travel unprotected.
    #[error("{from} redirected to {to}, plain http: refused")]
    InsecureRedirect {
        /// Where from (redacted).
        from: String,
        /// Where to (redacted).
        to: String,
    },
    /// The server's TLS certificate is not trusted here (an unknown issuer, a wrong name, an
    /// expired certificate): retrying would not help.
    #[error("the TLS certificate of {url} is not trusted")]
    Certificate {
        /// Where (redacted).
        url: String,
        /// What the TLS library said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// HTTP 404.
    #[error("not found: {url}")]
    NotFound {
        /// Where (redacted).
        url: String,
    },
    /// The order exists but its deliverables cannot be downloaded yet (or ever: see
    /// [`Error::ended`]).
    #[error("{}", not_ready(order, status.as_ref(), reason.as_ref()))]
    NotReady {
        /// The order.
        order: String,
        /// Its status.
        status: Option<OrderStatus>,
        /// Its reason code.
        reason: Option<ReasonCode>,
    },
    /// The order is fulfilled but none of its links names a deliverable that can be fetched.
    #[error("order {order} is ready but {}", match *.unusable { 0 => "lists no deliverable link".to_owned(), 1 => "its deliverable link cannot be used".to_owned(), n => format!("none of its {n} deliverable links can be used") })]
    NoDeliverables {
        /// The order.
        order: String,
        /// How many deliverable links it had that could not be used.
        unusable: usize,
    },
    /// HTTP 429 until the retry budget was spent.
    #[error("rate limited by {url} (HTTP 429) after {}", crate::counted(*.attempts, "attempt", "attempts"))]
    RateLimited {
        /// Where (redacted).
        url: String,
        /// How many requests were made.
        attempts: u32,
        /// The last `Retry-After` the server sent.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx until the retry budget was spent.
    #[error("server error HTTP {status} from {url} after {}", crate::counted(*.attempts, "attempt", "attempts"))]
    Server {
        /// The last status.
        status: u16,
        /// Where (redacted).
        url: String,
        /// How many requests were made.
        attempts: u32,
    },
    /// Any other unexpected status.
    #[error("unexpected HTTP {status} from {url}{}", detail_suffix(.detail))]
    UnexpectedStatus {
        /// The status.
        status: u16,
        /// Where (redacted).
        url: String,
        /// The start of the body, if it was text.
        detail: Option<String>,
    },
    /// The network failed (connect, TLS, timeout) until the retry budget was spent.
    #[error("could not talk to {url}")]
    Transport {
        /// Where (redacted).
        url: String,
        /// The cause (its URL removed).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A body read whole was larger than it may be.
    #[error("{what} from {url} is larger than {limit} bytes: refused")]
    TooLarge {
        /// Where (redacted).
        url: String,
        /// What the body was.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The body ended early and could not be resumed within the retry budget.
    #[error("download from {url} stopped after {received} of {} bytes", .expected.map_or("an unknown number of".to_owned(), |n| n.to_string()))]
    Incomplete {
        /// Where (redacted).
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced by Content-Length, if any.
        expected: Option<u64>,
        /// The last interruption.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The response is not a zip (an error page served with 200, for example).
    #[error("{url} did not send a zip: {reason}")]
    NotAZip {
        /// Where (redacted).
        url: String,
        /// What gave it away.
        reason: String,
    },
    /// A body that should be JSON was not the JSON expected.
    #[error("unexpected response from {url}")]
    Decode {
        /// Where (redacted).
        url: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A URL could not be built or followed.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL (redacted where it parsed).
        url: String,
        /// Why.
        reason: String,
    },
}

/// An order not ready, called what it is: one that ended without imagery (rejected, cancelled,
/// expired) says so; one still on its way says where it is.
fn not_ready(order: &str, status: Option<&OrderStatus>, reason: Option<&ReasonCode>) -> String {
    match status.filter(|status| status.is_final()) {
        Some(status) => {
            let reason = reason.map_or_else(String::new, |r| format!(" ({})", r.as_str()));
            format!("order {order} was {}{reason}: it will not be fulfilled", status.as_str().replace('_', " "))
        }
        None => format!(
            "order {order} is not ready for download yet (status {}, reason {})",
            status.map_or("unknown", OrderStatus::as_str),
            reason.map_or("none", ReasonCode::as_str)
        ),
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail.as_ref().map_or_else(String::new, |d| format!(": {d}"))
}

impl Error {
    /// What happened in a few words, without the URL (a retry's warning names the deliverable
    /// or order it is about): `HTTP 503`, `HTTP 429 (rate limited)`, `connection failed: ...`.
    pub fn brief(&self) -> String {
        match self {
            Self::RateLimited { .. } => "HTTP 429 (rate limited)".to_owned(),
            Self::Server { status, .. }
            | Self::UnexpectedStatus { status, .. }
            | Self::Unauthenticated { status, .. } => {
                format!("HTTP {status}")
            }
            Self::Transport { source, .. } => format!("connection failed: {source}"),
            other => other.to_string(),
        }
    }

    /// Of an order not ready: the status it ended in, when it will never be fulfilled (rejected,
    /// cancelled, expired, completed without imagery).
    pub fn ended(&self) -> Option<&OrderStatus> {
        match self {
            Self::NotReady { status: Some(status), .. } if status.is_final() => Some(status),
            _ => None,
        }
    }

    /// Whether retrying the same request later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. } | Self::Incomplete { .. }
        )
    }
}
