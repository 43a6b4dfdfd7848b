use std::path::PathBuf;

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
    /// A small object ([`crate::Sink::get_small`]) larger than the caller allows.
    #[error("{location}: larger than {limit} bytes")]
    TooLarge {
        /// The object.
        location: String,
        /// The limit.
        limit: u64,
    },
    /// A backend-specific failure, for sinks outside this crate.
    #[error("{location}: {message}")]
    Backend {
        /// Where.
        location: String,
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}
