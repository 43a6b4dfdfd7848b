//! Bearer tokens that never show themselves, and what the API's login and refresh return.

use std::fmt;

/// A bearer token. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token, trimming surrounding white space (token files often end in a newline).
    pub fn new(secret: impl Into<String>) -> Option<Self> {
        let secret = secret.into().trim().to_owned();
        (!secret.is_empty()).then_some(Self(secret))
    }

    /// Wraps a secret as it is, white space included (a password may begin or end with a
    /// space); `None` when it is empty.
    pub fn verbatim(secret: impl Into<String>) -> Option<Self> {
        let secret = secret.into();
        (!secret.is_empty()).then_some(Self(secret))
    }

    /// The secret itself, for the one place that puts it in a header or a cache file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn debug_is_redacted_and_input_trimmed() {
        let token = Token::new("  s3cret\n").expect("non-empty");
        assert_eq!(token.expose(), "s3cret");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert!(Token::new(" \n").is_none());
        assert_eq!(Token::verbatim(" pass word ").expect("kept").expose(), " pass word ");
        assert!(Token::verbatim("").is_none());
    }
}
