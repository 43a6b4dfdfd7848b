//! What to do about a failure, in the words of whoever shows it: a [`Hint`] names the
//! [`Setting`]s to change, and each front-end renders them its own way (the CLI by its flags,
//! the Python package by its keyword arguments). [`Hint`]'s `Display` uses plain words.

use std::borrow::Cow;

/// Something a hint asks the user to change, or to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// What to do with a deliverable already there; its value is `skip`, `overwrite` or `fail`.
    IfExists,
    /// How long to wait for an order.
    Timeout,
    /// Verification of the zip while it streams, on.
    Verify,
    /// Where a token can be given.
    Token,
    /// Where the token given was read from.
    TokenSource,
    /// Credentials that renew their token: a login, or a username and password.
    Renewable,
    /// Private certificate authorities to trust.
    CaCert,
    /// The API the token and the ids belong to.
    Api,
    /// Accepting a plain-http API.
    AllowHttp,
    /// Retries of a failed request.
    Retries,
    /// Waiting until an order is fulfilled.
    Wait,
}

impl Setting {
    /// The setting a hint's `{name}` or `{name:value}` names.
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "if_exists" => Self::IfExists,
            "timeout" => Self::Timeout,
            "verify" => Self::Verify,
            "token" => Self::Token,
            "token_source" => Self::TokenSource,
            "renewable" => Self::Renewable,
            "ca_cert" => Self::CaCert,
            "api" => Self::Api,
            "allow_http" => Self::AllowHttp,
            "retries" => Self::Retries,
            "wait" => Self::Wait,
            _ => return None,
        })
    }

    /// The setting in plain words (a hint shown by no front-end in particular, or a setting a
    /// front-end does not know yet).
    pub fn describe(self, value: Option<&str>) -> String {
        match self {
            Self::IfExists => format!("if-exists {}", value.unwrap_or("skip")),
            Self::Timeout => "a longer timeout".to_owned(),
            Self::Verify => "verification on".to_owned(),
            Self::Token => "give a token (or log in)".to_owned(),
            Self::TokenSource => "the token given".to_owned(),
            Self::Renewable => "credentials that renew (a login, or a username and password)".to_owned(),
            Self::CaCert => "the certificate authority's PEM file".to_owned(),
            Self::Api if value == Some("sandbox") => "the sandbox API".to_owned(),
            Self::Api => "the API's URL".to_owned(),
            Self::AllowHttp => "plain http allowed".to_owned(),
            Self::Retries => "more retries".to_owned(),
            Self::Wait => "waiting for the order".to_owned(),
        }
    }
}

/// What the user can do about a failure: a text whose `{setting}` and `{setting:value}` marks
/// name [`Setting`]s, rendered by [`Hint::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(Cow<'static, str>);

impl Hint {
    /// A hint; `{if_exists:overwrite}`, `{retries}`... name settings (see [`Setting`]), and an
    /// unknown mark is kept as it is.
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        Self(text.into())
    }

    /// The hint, each setting named by `name` (given the setting and its value, when the hint
    /// gives one).
    pub fn render(&self, name: impl Fn(Setting, Option<&str>) -> String) -> String {
        let mut out = String::with_capacity(self.0.len());
        let mut rest = &*self.0;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let mark = &after[..close];
            let (setting, value) = mark.split_once(':').map_or((mark, None), |(s, v)| (s, Some(v)));
            match Setting::named(setting) {
                Some(setting) => out.push_str(&name(setting, value)),
                None => out.push_str(&rest[open..open + close + 2]),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Setting::describe))
    }
}

#[cfg(test)]
mod tests {
    use super::{Hint, Setting};

    #[test]
    fn settings_are_named_by_the_renderer() {
        let hint = Hint::new("use {if_exists:skip} or {if_exists:overwrite}, or raise {retries}; {unknown} stays");
        let flags = |setting: Setting, value: Option<&str>| match setting {
            Setting::IfExists => format!("--if-exists {}", value.unwrap_or_default()),
            _ => "--retries".to_owned(),
        };
        assert_eq!(
            hint.render(flags),
            "use --if-exists skip or --if-exists overwrite, or raise --retries; {unknown} stays"
        );
        assert_eq!(Hint::new("a {b").to_string(), "a {b");
        assert_eq!(Hint::new("fetch it with {if_exists:overwrite}").to_string(), "fetch it with if-exists overwrite");
    }
}
