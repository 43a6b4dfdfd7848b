//! Server text made safe to print: control characters (ESC, OSC, BEL, CR, ...) escaped, so that
//! what a server says cannot move the cursor, retitle the terminal or hide earlier output.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL and C1) escaped as `\u{..}`; `\n` and `\t` too.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain text, é"), "plain text, é");
        assert_eq!(printable("a\u{1b}]0;title\u{7}b\rc\u{9b}d"), "a\\u{1b}]0;title\\u{7}b\\u{d}c\\u{9b}d");
    }
}
