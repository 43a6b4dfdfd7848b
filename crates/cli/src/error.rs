//! Errors shown to people: the chain of causes, a `hint:` when there is something to do, and a
//! documented exit code chosen from the error's kind.

use std::fmt;

use wyvern_core::Error as ApiError;
use wyvern_unpack::VerifyError;

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
    /// 130: interrupted (SIGINT, Ctrl-C).
    Interrupted = 130,
    /// 143: terminated (SIGTERM).
    Terminated = 143,
}

impl Exit {
    /// The exit code that describes `error`, from the first cause that says.
    pub fn of(error: &anyhow::Error) -> Self {
        for cause in error.chain() {
            if cause.is::<VerifyError>() {
                return Self::Verification;
            }
            if let Some(api) = cause.downcast_ref::<ApiError>() {
                return match api {
                    ApiError::Unauthenticated { .. } | ApiError::MissingToken | ApiError::InvalidToken { .. } => {
                        Self::Auth
                    }
                    ApiError::NotFound { .. } => Self::NotFound,
                    ApiError::NotReady { .. } => Self::NotReady,
                    _ => Self::Failure,
                };
            }
        }
        Self::Failure
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

/// Attaches a hint, shown as `hint: ...` under the error.
pub trait Hint<T> {
    /// Adds a hint to the error, if any.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Hint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Hinted(hint.into())))
    }
}

impl<T> Hint<T> for Option<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.ok_or_else(|| anyhow::Error::msg("missing value")).hint(hint)
    }
}

/// The context layer carrying a hint. It displays as nothing, and [`render`] leaves out empty
/// layers, so the chain of causes reads as if it were not there.
#[derive(Debug)]
struct Hinted(String);

impl fmt::Display for Hinted {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// A verification failure of a zip named on the command line gets the hint that fits it (the
/// default one speaks of downloads).
pub fn on_local_zip(error: anyhow::Error) -> anyhow::Error {
    if error.chain().any(|cause| cause.is::<VerifyError>()) {
        return error.context(Hinted(
            "the zip is damaged, cut short, or built so that readers could see it differently; if it came from \
             Wyvern, download it again"
                .to_owned(),
        ));
    }
    error
}

/// The hint for an error: an explicit one, else one derived from its kind.
pub fn hint_for(error: &anyhow::Error) -> Option<String> {
    if let Some(hinted) = error.downcast_ref::<Hinted>() {
        return Some(hinted.0.clone());
    }
    error.chain().find_map(|cause| {
        if cause.is::<VerifyError>() {
            return Some("nothing was kept; run the command again, and tell Wyvern support if the same deliverable fails twice".to_owned());
        }
        let text = match cause.downcast_ref::<ApiError>()? {
            ApiError::MissingToken => "set WYVERN_TOKEN, pass --token-file PATH, or run `wyvern auth login`",
            ApiError::InvalidToken { .. } => {
                "WYVERN_TOKEN (or the --token-file) must hold the token alone, on one line: check what was pasted"
            }
            ApiError::InsecureRedirect { .. } => {
                "the server sent a link to plain http, which would expose the bytes and the link; nothing can be done on this side: tell Wyvern support"
            }
            ApiError::Certificate { .. } => {
                "if the server uses a private certificate authority, pass --ca-cert PATH (its PEM certificate) or add it to the system's trust store; check the machine's clock too"
            }
            ApiError::TooLarge { .. } => "the server sent far more than such a response holds; tell Wyvern support if it goes on",
            ApiError::NoDeliverables { .. } => {
                "the order says it is fulfilled but names nothing to download; tell Wyvern support"
            }
            ApiError::Unauthenticated { .. } => "check the token (WYVERN_TOKEN, --token-file or `wyvern auth login`) and that it belongs to this API (--api-url, --sandbox)",
            ApiError::NotFound { .. } => "check the id and the API: sandbox orders exist only with --sandbox",
            ApiError::NotReady { .. } => "`wyvern order wait ORDER_ID` waits until the order is fulfilled",
            ApiError::NotAZip { .. } => "the server sent an error page instead of the deliverable; try again later",
            ApiError::InvalidUrl { reason, .. } if reason.contains("plain http") => {
                "use an https:// API URL, or pass --allow-http if you accept sending the token unencrypted"
            }
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Transport { .. } | ApiError::Incomplete { .. } => {
                "the network or the server failed repeatedly; try again later, or raise --retries"
            }
            _ => return None,
        };
        Some(text.to_owned())
    })
}

/// The error and its causes on one line each, without the hint layers.
pub fn render(error: &anyhow::Error) -> String {
    let lines = causes(error);
    let mut out = format!("error: {}", lines.first().map_or("", String::as_str));
    for cause in lines.iter().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

/// The error's causes as one line, for `--json` output.
pub fn one_line(error: &anyhow::Error) -> String {
    causes(error).join(": ")
}

/// The messages of the chain, without hint layers and repeats, and with the query strings of any
/// URL in them cut off: storage libraries put URLs in their errors, and a query may hold a
/// signature or a SAS token.
fn causes(error: &anyhow::Error) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for text in
        error.chain().map(|cause| redact_queries(&wyvern_core::printable(&cause.to_string()))).filter(|t| !t.is_empty())
    {
        if lines.last() != Some(&text) {
            lines.push(text);
        }
    }
    lines
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
