//! Errors shown to people: the chain of causes, a `hint:` when there is something to do, and a
//! documented exit code chosen from the error's kind.

use wyvern_transfer::{ErrorKind, Hint, Setting};

use crate::output::errln;

/// Exit codes, documented in docs/cli.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: success.
    Success = 0,
    /// 1: any other failure.
    Failure = 1,
    /// 3: a deliverable failed verification.
    Verification = 3,
    /// 4: the order is not ready.
    NotReady = 4,
    /// 5: authentication or permission refused.
    Auth = 5,
    /// 6: order or deliverable not found.
    NotFound = 6,
    /// 7: a hook (`--exec`) failed; the deliveries stand.
    Hook = 7,
    /// 130: interrupted (SIGINT, Ctrl-C).
    Interrupted = 130,
    /// 143: terminated (SIGTERM).
    Terminated = 143,
}

impl Exit {
    /// The exit code that describes a failed transfer.
    pub fn of(error: &wyvern_transfer::Error) -> Self {
        Self::of_kind(error.kind())
    }

    /// The exit code of a sync: its failures'.
    pub fn of_summary(summary: &wyvern_transfer::Summary) -> Self {
        Self::combine(summary.failures.iter().map(|kind| Self::of_kind(*kind)))
    }

    fn of_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Corrupt => Self::Verification,
            ErrorKind::NotReady => Self::NotReady,
            ErrorKind::Auth => Self::Auth,
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::Hook => Self::Hook,
            ErrorKind::Interrupted => Self::Interrupted,
            _ => Self::Failure,
        }
    }

    /// One code for several failures: theirs when they agree, 1 otherwise.
    pub fn combine(codes: impl IntoIterator<Item = Self>) -> Self {
        let mut codes = codes.into_iter();
        match codes.next() {
            None => Self::Success,
            Some(first) if codes.all(|c| c == first) => first,
            Some(_) => Self::Failure,
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The pipeline, the API or a destination failed.
    #[error(transparent)]
    Transfer(#[from] wyvern_transfer::Error),
    /// The command's own work failed: a certificate file, reading the credentials typed in.
    #[error("{message}")]
    Local {
        /// What failed.
        message: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No token could be had (a token file, the login cache, logging in, refreshing).
    #[error(transparent)]
    Credentials(#[from] wyvern_credentials::Error),
}

impl From<wyvern_core::Error> for Failure {
    fn from(error: wyvern_core::Error) -> Self {
        Self::Transfer(error.into())
    }
}

impl Failure {
    /// A failure of the command's own work, with no cause.
    pub fn local(message: impl Into<String>) -> Self {
        Self::Local { message: message.into(), source: None }
    }

    /// Its kind (the command's own failures are [`ErrorKind::Other`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Transfer(error) => error.kind(),
            Self::Local { .. } => ErrorKind::Other,
            Self::Credentials(error) => ErrorKind::of_credentials(error),
        }
    }

    /// Its exit code.
    pub fn exit(&self) -> Exit {
        Exit::of_kind(self.kind())
    }

    /// What to do about it, when there is something.
    pub fn hint_text(&self) -> Option<String> {
        match self {
            Self::Transfer(error) => hint(error),
            Self::Local { .. } => None,
            Self::Credentials(error) => error.hint(),
        }
    }
}

/// Turns the errors of the command's own work into a [`Failure`] that says what was being done.
pub trait Context<T> {
    /// `message` (e.g. "reading the CA certificates x"), caused by the error.
    fn context(self, message: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, message: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|e| Failure::Local { message: message(), source: Some(Box::new(e)) })
    }
}

/// The hint of a library error, in the command line's words.
pub fn hint(error: &wyvern_transfer::Error) -> Option<String> {
    error.hint().map(|hint| flags(&hint))
}

/// A library hint in the command line's words: settings by their flags.
fn flags(hint: &Hint) -> String {
    hint.render(|setting, value| {
        match setting {
            Setting::IfExists => return format!("--if-exists {}", value.unwrap_or("skip")),
            Setting::Timeout => "--timeout",
            Setting::Verify => "verification on (without --no-verify)",
            Setting::Token => "set WYVERN_TOKEN, pass --token-file PATH, or run `wyvern auth login`",
            Setting::TokenSource => "WYVERN_TOKEN or the --token-file",
            Setting::Renewable => "`wyvern auth login`, or WYVERN_USERNAME with WYVERN_PASSWORD (or --password-file)",
            Setting::CaCert => "--ca-cert PATH",
            Setting::Api => match value {
                Some("sandbox") => "--sandbox",
                Some("url") => "--api-url or WYVERN_API_URL",
                _ => "--api-url, --sandbox",
            },
            Setting::AllowHttp => "pass --allow-http",
            Setting::Retries => "--retries",
            Setting::Wait => return format!("`wyvern order wait {}`", value.unwrap_or("ORDER_ID")),
            _ => return setting.describe(value),
        }
        .to_owned()
    })
}

/// At most this many `caused by` lines are printed: all when there are no more, else the first
/// ones, `…` and the last.
const SHOWN_CAUSES: usize = 4;

/// A failure and its causes, one line each, then its hint; on stderr.
pub fn print(error: &(dyn std::error::Error + 'static), hint: Option<String>) {
    print_about("", error, hint);
}

/// [`print()`], the first line starting with `about` (what the failure is about).
pub fn print_about(about: &str, error: &(dyn std::error::Error + 'static), hint: Option<String>) {
    let lines = wyvern_transfer::error_causes(error);
    errln!("error: {about}{}", lines.first().map_or("", String::as_str));
    // The first causes say what failed, the last why; between them, libraries' layers (a
    // client's, a connection's), which `--json` and the log keep.
    let causes = lines.len().saturating_sub(1);
    for (n, cause) in lines.iter().enumerate().skip(1) {
        match n {
            _ if causes <= SHOWN_CAUSES || n < SHOWN_CAUSES - 1 || n == causes => errln!("  caused by: {cause}"),
            _ if n == SHOWN_CAUSES - 1 => errln!("  caused by: …"),
            _ => {}
        }
    }
    if let Some(hint) = hint {
        errln!("hint: {hint}");
    }
}
