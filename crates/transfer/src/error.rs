//! Why a transfer failed, in kinds a caller can act on: [`Error::kind`] sorts every failure into
//! not ready, authentication, not found, corrupt, destination, network and the rest, and
//! [`Error::is_retryable`] says whether trying again later could help.

use wyvern_core::Error as ApiError;

use crate::Hint;
use wyvern_sinks::ObjectPath;
use wyvern_unpack::VerifyError;

/// A failure of the pipeline. The cause is in [`std::error::Error::source`], never repeated in
/// the message; [`Error::hint`] says what the user can do about it, when there is something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API or the network: not ready, refused credentials, not found, rate limited, server
    /// errors, a cut that could not be resumed (see [`Error::kind`]).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The zip is not whole and consistent (its bytes, its structure, or its contents against
    /// its STAC metadata). Nothing was kept.
    #[error("verification failed")]
    Corrupt {
        /// What is wrong with it.
        #[source]
        source: VerifyError,
        /// The zip was named by the caller (a file, an object), not downloaded.
        named: bool,
    },
    /// A zip the caller named could not be read as one (inspecting it, or reading a member): its
    /// directory or a header is missing or malformed.
    #[error("{zip} cannot be read as a zip")]
    Unreadable {
        /// The zip, as the caller named it.
        zip: String,
        /// What is wrong with it.
        #[source]
        source: VerifyError,
    },
    /// What is at the destination is not what its receipt (or its STAC item) says: an audit read
    /// it again (see [`crate::audit`]).
    #[error("{path} is not what was delivered: {why}")]
    Changed {
        /// The zip or file, as the destination shows it.
        path: String,
        /// What differs.
        why: String,
    },
    /// The destination cannot be used (checked before any byte is fetched).
    #[error("the destination {location} cannot be written to")]
    Destination {
        /// The destination, without credentials.
        location: String,
        /// What the check met (shared by the jobs of a batch that all met it).
        #[source]
        source: std::sync::Arc<wyvern_sinks::Error>,
    },
    /// The destination failed while writing or reading.
    #[error(transparent)]
    Sink(#[from] wyvern_sinks::Error),
    /// The deliverable is at the destination already, and [`crate::IfExists::Fail`] was asked for.
    #[error("{0} already exists")]
    Exists(String),
    /// A member of the zip cannot be extracted where it would go.
    #[error("member {member:?} cannot be extracted: {reason}")]
    Extraction {
        /// The member.
        member: String,
        /// Why.
        reason: String,
    },
    /// One extracted member could not be published; those published before it were removed.
    #[error("{path} could not be written; the members written before it were removed")]
    Publish {
        /// The member's path at the destination.
        path: ObjectPath,
        /// What the destination said.
        #[source]
        source: wyvern_sinks::Error,
    },
    /// The server behaved in a way that leaves no usable body: another size than it announced,
    /// another range than asked for.
    #[error("{0}")]
    Server(String),
    /// A body without a length, ended by a closed connection, with verification off: a cut one
    /// cannot be told from a whole one.
    #[error(
        "the server sent the deliverable without a length and ended it by closing the connection: without \
         verification, a cut body cannot be told from a whole one"
    )]
    Unframed,
    /// A partial file left by a killed run is shorter than when it was found.
    #[error("the partial file {0} is shorter than it was")]
    ShortPartial(ObjectPath),
    /// Something given by the caller cannot be used (a zip URL without a path, a deliverable
    /// link on another origin, an id with characters a path cannot hold).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to give instead.
        hint: Option<String>,
    },
    /// Reading a local file failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for an order ended without it being fulfilled: it can no longer be, or the
    /// time given ran out (`waited`).
    #[error("{}", .waited.map_or_else(|| "the order will not be fulfilled".to_owned(), |w| format!("gave up waiting after {}", humantime::format_duration(w))))]
    Wait {
        /// How long it waited, when it gave up.
        waited: Option<std::time::Duration>,
        /// The order's state.
        #[source]
        source: ApiError,
    },
    /// The transfer was cancelled by the caller (see [`crate::Batch::cancel_on`]); its upload
    /// was aborted and nothing of it is at the destination.
    #[error("interrupted")]
    Interrupted,
    /// A hook run after a delivery (see [`crate::Hook`]) failed; the delivery stands.
    #[error("the hook `{}` {reason}", wyvern_core::printable(.command))]
    Hook {
        /// The hook's command.
        command: String,
        /// How it failed.
        reason: String,
    },
    /// A worker thread failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The kinds of [`Error`] a caller acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The order is not fulfilled (yet, or ever).
    NotReady,
    /// The credentials were refused, or none were given, or the token cannot be sent.
    Auth,
    /// The order or deliverable does not exist (for this account, on this API).
    NotFound,
    /// The zip failed verification.
    Corrupt,
    /// The destination refused or failed.
    Destination,
    /// The network or the server failed: trying again later may work.
    Network,
    /// Something the caller gave cannot be used.
    Invalid,
    /// Interrupted by the caller.
    Interrupted,
    /// A hook run after a delivery failed (the delivery stands).
    Hook,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Its name in snake case (`not_ready`, `auth`...), as the Python package shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotReady => "not_ready",
            Self::Auth => "auth",
            Self::NotFound => "not_found",
            Self::Corrupt => "corrupt",
            Self::Destination => "destination",
            Self::Network => "network",
            Self::Invalid => "invalid",
            Self::Interrupted => "interrupted",
            Self::Hook => "hook",
            Self::Other => "other",
        }
    }

    /// The kind of a failure to find credentials: the API's answer when it was one, else an
    /// authentication failure when credentials are missing or half given.
    pub fn of_credentials(error: &wyvern_credentials::Error) -> Self {
        use wyvern_credentials::Error as E;
        match error {
            E::Api { source, .. } => Self::of_api(source),
            E::MissingCredentials
            | E::HalfCredentials
            | E::Unreadable { .. }
            | E::EmptyTokenFile(_)
            | E::EmptyRefreshToken(_) => Self::Auth,
            _ => Self::Other,
        }
    }

    /// The kind of an API failure.
    pub fn of_api(error: &ApiError) -> Self {
        match error {
            ApiError::NotReady { .. } => Self::NotReady,
            ApiError::Unauthenticated { .. } | ApiError::MissingToken | ApiError::InvalidToken { .. } => Self::Auth,
            // The token endpoint down is a network failure; a refused refresh or login is auth.
            ApiError::Renewal { source } if source.is_transient() => Self::Network,
            ApiError::Renewal { .. } => Self::Auth,
            ApiError::NotFound { .. } => Self::NotFound,
            api if api.is_transient() => Self::Network,
            ApiError::InvalidUrl { .. } | ApiError::PlainHttp { .. } => Self::Invalid,
            _ => Self::Other,
        }
    }
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api(api) => ErrorKind::of_api(api),
            Self::Wait { .. } => ErrorKind::NotReady,
            Self::Corrupt { .. } | Self::Unreadable { .. } | Self::Changed { .. } => ErrorKind::Corrupt,
            Self::Destination { .. } | Self::Sink(_) | Self::Exists(_) | Self::Publish { .. } => ErrorKind::Destination,
            Self::Extraction { .. } | Self::Invalid { .. } | Self::Io { .. } => ErrorKind::Invalid,
            Self::Interrupted => ErrorKind::Interrupted,
            Self::Hook { .. } => ErrorKind::Hook,
            Self::Server(_) | Self::Unframed | Self::ShortPartial(_) | Self::Internal(_) => ErrorKind::Other,
        }
    }

    /// Whether the same call later could succeed without anything changing on this side (the
    /// network or the server failed, or the order may still be fulfilled).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Network | ErrorKind::NotReady)
    }

    /// What the user can do about it, when there is something: settings to change are named
    /// as [`Setting`](crate::Setting)s, for each front-end to render in its words.
    pub fn hint(&self) -> Option<Hint> {
        let text = match self {
            Self::Corrupt { named: true, .. } => {
                "the zip is damaged, cut short, or built so that readers could see it differently; if it came from \
                 Wyvern, download it again"
            }
            Self::Unreadable { .. } => {
                "it is not a zip, or a damaged or cut-short one; if it came from Wyvern, download it again"
            }
            Self::Corrupt { named: false, .. } => {
                "nothing was kept; run the command again, and tell Wyvern support if the same deliverable fails twice"
            }
            Self::Changed { .. } => {
                "it changed since it was delivered: fetch it again with {if_exists:overwrite} (or remove its \
                 receipt and sync again)"
            }
            Self::Destination { source, .. } => match &**source {
                wyvern_sinks::Error::Unreachable { .. } => {
                    "the store could not be reached: check its address (the URL, or AWS_ENDPOINT, \
                     AZURE_STORAGE_ENDPOINT... when set) and this machine's network"
                }
                wyvern_sinks::Error::NotFound { .. } => {
                    "the bucket (or folder) does not exist: check its name, or create it"
                }
                wyvern_sinks::Error::PermissionDenied { .. } => {
                    "the store refused these credentials here (a mistyped key or secret, or no permission to write \
                     there): check them, or give another destination"
                }
                wyvern_sinks::Error::Unauthenticated { location, .. } => credentials_hint(location),
                _ => "check that the folder or bucket exists and that these credentials (or this user) may write to it",
            },
            Self::Exists(_) => "use {if_exists:skip} or {if_exists:overwrite}",
            Self::Io { action: "writing", .. } => "check that the folder exists and that this user may write to it",
            Self::Io { .. } => "check the path: it must name a file this user may read",
            Self::Sink(wyvern_sinks::Error::ChecksumRefused { .. }) => {
                "the bucket refused bytes that did not match their checksum: something between this machine and \
                 the bucket changed them; run the command again (nothing is kept without its receipt)"
            }
            Self::Wait { waited: Some(_), .. } => "wait longer ({timeout}), or try again later",
            Self::Wait { waited: None, .. } => "the order ended without imagery; order it again, or ask Wyvern support",
            Self::Hook { .. } => {
                "the deliverable was delivered and stays; the hook's own output (on stderr) says what went wrong"
            }
            Self::Unframed => "download it with {verify}: verifying the zip tells whether it is whole",
            Self::Invalid { hint, .. } => return hint.clone().map(Hint::new),
            Self::Api(ApiError::NotReady { order, .. }) => return Some(not_ready_hint(self, order)),
            Self::Api(api) => api_hint(api)?,
            _ => return None,
        };
        Some(Hint::new(text))
    }
}

/// What to do about an order not ready: wait for it, unless it will never be fulfilled.
fn not_ready_hint(error: &Error, order: &str) -> Hint {
    match error {
        Error::Api(api) if api.ended().is_some() => Hint::new(
            "it ended without imagery: order it again (`wyvern order show` gives the reason), or ask Wyvern support",
        ),
        _ => Hint::new(format!("{{wait:{order}}} waits until the order is fulfilled")),
    }
}

/// What to set when a store found no credentials (or refused them), for the store at `location`.
fn credentials_hint(location: &str) -> &'static str {
    let scheme = location.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "s3" | "s3a" => {
            "S3 found no credentials, or refused them: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with \
             AWS_SESSION_TOKEN for temporary ones), or run where a role gives them (an instance profile, EKS's \
             AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE); AWS_PROFILE and ~/.aws are not read (docs/sinks.md)"
        }
        "gs" => {
            "Google Cloud Storage found no credentials, or refused them: set GOOGLE_APPLICATION_CREDENTIALS \
             (or GOOGLE_SERVICE_ACCOUNT) to a service account's key file, or run where the metadata server \
             gives them (docs/sinks.md)"
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            "Azure found no credentials, or refused them: set AZURE_STORAGE_ACCOUNT_NAME with \
             AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, or AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and \
             AZURE_TENANT_ID (docs/sinks.md)"
        }
        _ => {
            "the store found no credentials, or refused them: set them in the environment (docs/sinks.md lists \
             each store's)"
        }
    }
}

/// What to do about a failure at the API.
fn api_hint(api: &ApiError) -> Option<&'static str> {
    Some(match api {
        ApiError::MissingToken => "{token}",
        ApiError::InvalidToken { .. } => "the token ({token_source}) must be alone, on one line: check what was pasted",
        ApiError::InsecureRedirect { .. } => {
            "the server sent a link to plain http, which would expose the bytes and the link; nothing can be \
             done on this side: tell Wyvern support"
        }
        ApiError::Certificate { .. } => {
            "if the server uses a private certificate authority, give {ca_cert} (its PEM certificate) or add \
             it to the system's trust store; check the machine's clock too"
        }
        ApiError::TooLarge { .. } => {
            "the server sent far more than such a response holds; tell Wyvern support if it goes on"
        }
        ApiError::NoDeliverables { .. } => {
            "the order says it is fulfilled but names nothing to download; tell Wyvern support"
        }
        ApiError::Unauthenticated { url, .. } if in_use(url) == "url" => {
            "check the token ({token_source}, or `wyvern auth login`) and that it belongs to this API ({api:url}); \
             a token given as is cannot renew when it expires, for runs that outlive it use {renewable}"
        }
        ApiError::Unauthenticated { .. } => {
            "check the token ({token_source}, or `wyvern auth login`) and that it belongs to this API ({api}); \
             a token given as is cannot renew when it expires, for runs that outlive it use {renewable}"
        }
        ApiError::Renewal { source } if source.is_transient() => {
            "the API's token endpoint failed repeatedly; try again later, or raise {retries}"
        }
        ApiError::Renewal { .. } => {
            "the token expired and could not be renewed: check the credentials, or log in again ({renewable})"
        }
        ApiError::NotFound { url } => match in_use(url) {
            "sandbox" => {
                "check the id: the sandbox API ({api:sandbox}) holds only its own test orders; an account's orders \
                 are on the production API"
            }
            "production" => "check the id; the sandbox's test orders exist only on the sandbox API ({api:sandbox})",
            _ => "check the id, and that the API given ({api:url}) is the one that holds it",
        },
        ApiError::NotAZip { .. } => "the server sent an error page instead of the deliverable; try again later",
        ApiError::PlainHttp { .. } => {
            "use an https:// API URL, or {allow_http} if you accept sending the token unencrypted"
        }
        api if api.is_transient() => "the network or the server failed repeatedly; try again later, or raise {retries}",
        _ => return None,
    })
}

/// Which API a request went to, as an `{api:...}` mark's value: `sandbox`, `production`, or `url`
/// (another, given by URL).
fn in_use(url: &str) -> &'static str {
    if url.starts_with(wyvern_core::SANDBOX_API_URL) {
        "sandbox"
    } else if url.starts_with(wyvern_core::PRODUCTION_API_URL) {
        "production"
    } else {
        "url"
    }
}

impl From<VerifyError> for Error {
    fn from(source: VerifyError) -> Self {
        Self::Corrupt { source, named: false }
    }
}

/// The messages of an error and its causes, without repeats, with control characters escaped
/// and the query strings of any URL in them cut off: storage libraries put URLs in their
/// errors, and a query may hold a signature or a SAS token.
pub fn error_causes(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        let text = redact_queries(&wyvern_core::printable(&current.to_string()));
        // A cause the line before ends with adds nothing (storage libraries wrap their causes'
        // text into their own).
        if !text.is_empty() && !lines.last().is_some_and(|last| last.ends_with(&text)) {
            lines.push(text);
        }
        cause = current.source();
    }
    lines
}

/// An error and its causes on one line, `: `-separated (see [`error_causes`]).
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    error_causes(error).join(": ")
}

/// Cuts `?query` off every URL in a text.
fn redact_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        let url_end = rest[scheme..].find(char::is_whitespace).map_or(rest.len(), |end| scheme + end);
        let url = &rest[..url_end];
        match url.find('?') {
            Some(query) => {
                out.push_str(&url[..query]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_queries;

    #[test]
    fn queries_of_urls_are_cut() {
        assert_eq!(
            redact_queries("PUT https://a.blob.core.windows.net/c/x?sv=1&sig=SECRET in 2ms - 403: nope"),
            "PUT https://a.blob.core.windows.net/c/x?… in 2ms - 403: nope"
        );
        assert_eq!(redact_queries("no url? fine"), "no url? fine");
        assert_eq!(redact_queries("a http://h/p and s3://b/k?x=1"), "a http://h/p and s3://b/k?…");
    }
}
