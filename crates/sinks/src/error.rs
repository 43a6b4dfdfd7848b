//! Why a sink operation failed, in variants a caller can match on (object_store's kinds: not
//! found, already exists, precondition failed, permission denied, unauthenticated, not
//! supported), plus a checksum the store refused and a generic variant for the rest.

use std::path::PathBuf;

/// The cause of a store's failure, as the store's client gave it.
pub type Source = Option<Box<dyn std::error::Error + Send + Sync>>;

/// Why a sink operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Local file-system I/O failed.
    #[error("{action} {}", .path.display())]
    Io {
        /// What was being done ("writing", "renaming into place"...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The destination is not usable as given.
    #[error("invalid destination {location:?}: {reason}")]
    InvalidDestination {
        /// The destination as given.
        location: String,
        /// Why.
        reason: String,
    },
    /// The destination names a store whose backend this build leaves out (a cargo feature of
    /// this crate: `aws`, `gcp` or `azure`).
    #[error("{location}: this build has no sink for it (built without wyvern-sinks' `{feature}` feature)")]
    NotBuilt {
        /// The destination as given.
        location: String,
        /// The feature that would serve it.
        feature: &'static str,
    },
    /// A small object ([`crate::Sink::get_small`]) larger than the caller allows.
    #[error("{location}: larger than {limit} bytes")]
    TooLarge {
        /// The object.
        location: String,
        /// The limit.
        limit: u64,
    },
    /// What was asked for is not there: an object, or the bucket or folder itself.
    #[error("{location}: {message}")]
    NotFound {
        /// The store (without credentials).
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An object is there already, where a write asked for none.
    #[error("{location}: {message}")]
    AlreadyExists {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A conditional request's condition did not hold (the object changed meanwhile).
    #[error("{location}: {message}")]
    Precondition {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The credentials were accepted, but may not do this.
    #[error("{location}: {message}")]
    PermissionDenied {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The credentials were refused, or there were none.
    #[error("{location}: {message}")]
    Unauthenticated {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store refused bytes that did not match the checksum sent with them (S3's
    /// `BadDigest`, Azure's `Md5Mismatch`, and their kin): something on the way changed them.
    #[error("{location}: {message}")]
    ChecksumRefused {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store cannot do this.
    #[error("{location}: {message}")]
    NotSupported {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store could not be reached: no connection (refused, no route, a name that does not
    /// resolve), within the retries allowed.
    #[error("{location}: {message}")]
    Unreachable {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Any other failure of the store (the network, a server error...).
    #[error("{location}: {message}")]
    Generic {
        /// The store.
        location: String,
        /// What was being done, to what.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// The error codes stores answer a write with when its bytes do not match the checksum sent
/// with them.
const CHECKSUM_CODES: [&str; 6] =
    ["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "Md5Mismatch", "Crc64Mismatch", "InvalidChecksum"];

/// What a request that never reached the store says (hyper's and the system's words), where
/// object_store keeps them only in the text of a generic error.
const UNREACHABLE_SIGNS: [&str; 4] = ["tcp connect error", "dns error", "Connection refused", "No route to host"];

/// What the failures of object_store's credential providers say: the instance metadata and
/// container credential addresses and paths (the address can be moved: `AWS_METADATA_ENDPOINT`),
/// token and session requests.
const CREDENTIAL_SIGNS: [&str; 9] = [
    "169.254.169.254",
    "169.254.170.2",
    "/latest/api/token",
    "/latest/meta-data/iam/security-credentials",
    "AssumeRoleWithWebIdentity",
    "computeMetadata",
    "token request",
    "token response",
    "CreateSession request",
];

impl Error {
    /// The error of an HTTP answer `status` (a WebDAV server, another HTTP store): 401 is
    /// [`Error::Unauthenticated`], 403 [`Error::PermissionDenied`], 404 and 410
    /// [`Error::NotFound`], 412 [`Error::Precondition`], 501 [`Error::NotSupported`], the rest
    /// [`Error::Generic`].
    pub fn of_http_status(status: u16, location: String, message: String, source: Source) -> Self {
        match status {
            401 => Self::Unauthenticated { location, message, source },
            403 => Self::PermissionDenied { location, message, source },
            404 | 410 => Self::NotFound { location, message, source },
            412 => Self::Precondition { location, message, source },
            501 => Self::NotSupported { location, message, source },
            _ => Self::Generic { location, message, source },
        }
    }

    /// The error of an [`object_store`] failure, sorted by its kind (a refused checksum is told
    /// by the store's error code, which object_store leaves in the text of a generic error).
    pub fn of_object_store(source: object_store::Error, location: String, message: String) -> Self {
        use object_store::Error as Store;
        let make: fn(String, String, Source) -> Self = match &source {
            Store::NotFound { .. } => |location, message, source| Self::NotFound { location, message, source },
            Store::AlreadyExists { .. } => {
                |location, message, source| Self::AlreadyExists { location, message, source }
            }
            Store::Precondition { .. } | Store::NotModified { .. } => {
                |location, message, source| Self::Precondition { location, message, source }
            }
            Store::PermissionDenied { .. } => {
                |location, message, source| Self::PermissionDenied { location, message, source }
            }
            Store::Unauthenticated { .. } => {
                |location, message, source| Self::Unauthenticated { location, message, source }
            }
            Store::NotSupported { .. } | Store::NotImplemented { .. } => {
                |location, message, source| Self::NotSupported { location, message, source }
            }
            Store::Generic { .. } => {
                // object_store sorts some requests' failures (listings, a multipart upload's
                // parts) as generic; their HTTP status and the store's error code are in the
                // text of the cause (its type is private).
                let text = causes(&source);
                if CHECKSUM_CODES.iter().any(|code| text.contains(code)) {
                    return Self::ChecksumRefused { location, message, source: Some(Box::new(source)) };
                }
                // Fetching credentials failed (the instance metadata service, a token endpoint):
                // the status is that service's, not the store's.
                if CREDENTIAL_SIGNS.iter().any(|sign| text.contains(sign)) {
                    return Self::Unauthenticated { location, message, source: Some(Box::new(source)) };
                }
                if let Some(status) = http_status(&text) {
                    return Self::of_http_status(status, location, message, Some(Box::new(source)));
                }
                if UNREACHABLE_SIGNS.iter().any(|sign| text.contains(sign)) {
                    return Self::Unreachable { location, message, source: Some(Box::new(source)) };
                }
                |location, message, source| Self::Generic { location, message, source }
            }
            _ => |location, message, source| Self::Generic { location, message, source },
        };
        make(location, message, Some(Box::new(source)))
    }
}

/// An error and its causes, as text.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(current) = cause {
        text.push_str(&current.to_string());
        text.push('\n');
        cause = current.source();
    }
    text
}

/// The status of a failed HTTP request in object_store's words ("non-2xx status code: 404").
fn http_status(text: &str) -> Option<u16> {
    let (_, after) = text.split_once("status code: ")?;
    after.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn object_store_failures_keep_their_kind() {
        let sorted = |source: object_store::Error| Error::of_object_store(source, "s3://b".into(), "writing x".into());
        let not_found = object_store::Error::NotFound { path: "x".into(), source: "NoSuchBucket".into() };
        assert!(matches!(sorted(not_found), Error::NotFound { .. }));
        let denied = object_store::Error::PermissionDenied { path: "x".into(), source: "AccessDenied".into() };
        assert!(matches!(sorted(denied), Error::PermissionDenied { .. }));
        let refused = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 400 Bad Request: <Code>BadDigest</Code>".into(),
        };
        assert!(matches!(sorted(refused), Error::ChecksumRefused { .. }));
        let imds = object_store::Error::Generic {
            store: "S3",
            source: "Error performing GET http://169.254.169.254/latest/api/token - status code: 404 Not Found".into(),
        };
        assert!(matches!(sorted(imds), Error::Unauthenticated { .. }));
        // A bucket or key with "credential" in its name is no credential failure.
        let named = object_store::Error::Generic {
            store: "S3",
            source: "Error performing GET http://127.0.0.1:1/credentials-archive?list-type=2 - tcp connect error: \
                     Connection refused"
                .into(),
        };
        assert!(matches!(sorted(named), Error::Unreachable { .. }));
        let other = object_store::Error::Generic { store: "S3", source: "connection reset".into() };
        let other = sorted(other);
        assert!(matches!(other, Error::Generic { .. }));
        assert_eq!(other.to_string(), "s3://b: writing x");
    }

    #[test]
    fn http_statuses_keep_their_kind() {
        let of = |status| Error::of_http_status(status, "webdav://h".into(), "PUT x: HTTP".into(), None);
        assert!(matches!(of(401), Error::Unauthenticated { .. }));
        assert!(matches!(of(403), Error::PermissionDenied { .. }));
        assert!(matches!(of(404), Error::NotFound { .. }));
        assert!(matches!(of(412), Error::Precondition { .. }));
        assert!(matches!(of(500), Error::Generic { .. }));
    }
}
