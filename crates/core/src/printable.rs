//! Text from elsewhere (a server, a STAC item, a zip, a receipt) made safe to print: control
//! characters (ESC, OSC, BEL, CR, C1 CSI...) and the invisible characters that reorder text
//! (bidi overrides and isolates) escaped, so that what a server or a file says cannot move the
//! cursor, retitle the terminal, write to the clipboard, or make a line read otherwise than it is.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls, DEL, the bidi controls
/// (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), the line and paragraph separators
/// (U+2028, U+2029: line breaks to some terminals), and the invisible characters that hide text
/// (zero-width space and joiners U+200B-U+200D, U+2060-U+2064, U+FEFF, the soft hyphen).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` with every unsafe character ([`is_unsafe`]) escaped as `\u{..}`; `\n` and `\t` too.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape_where(text, is_unsafe)
}

/// `text` with every unsafe character escaped but its line breaks: for a whole block of output
/// whose lines were put together by the program (the fields in them escaped already).
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && is_unsafe(c))
}

/// JSON text (as `serde_json` writes it) with the unsafe characters it leaves as they are (C1
/// controls, DEL, bidi controls: JSON only requires C0 to be escaped) written as `\uXXXX`
/// escapes, which read back as the same string.
pub fn printable_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one `\u` escape each.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if escape(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind of character that must not reach a terminal raw.
    const HOSTILE: &[(&str, char)] = &[
        ("ESC", '\u{1b}'),
        ("BEL", '\u{7}'),
        ("CR", '\r'),
        ("NUL", '\0'),
        ("DEL", '\u{7f}'),
        ("C1 CSI", '\u{9b}'),
        ("C1 OSC", '\u{9d}'),
        ("right-to-left override", '\u{202e}'),
        ("left-to-right isolate", '\u{2066}'),
        ("pop directional isolate", '\u{2069}'),
        ("right-to-left mark", '\u{200f}'),
        ("Arabic letter mark", '\u{61c}'),
        ("line separator", '\u{2028}'),
        ("zero-width space", '\u{200b}'),
        ("byte order mark", '\u{feff}'),
    ];

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain text, é, 東京"), "plain text, é, 東京");
        assert_eq!(printable("a\u{1b}]0;title\u{7}b\rc\u{9b}d"), "a\\u{1b}]0;title\\u{7}b\\u{d}c\\u{9b}d");
        for (name, c) in HOSTILE {
            let text = format!("x{c}y\nz");
            assert!(!printable(&text).chars().any(is_unsafe), "{name}");
            assert_eq!(printable_lines(&text).lines().count(), 2, "{name}: line breaks kept");
            assert!(!printable_lines(&text).chars().any(|c| c != '\n' && is_unsafe(c)), "{name}");
            let json = serde_json::to_string(&text).expect("json");
            let safe = printable_json(&json);
            assert!(!safe.chars().any(is_unsafe), "{name}: {safe}");
            assert_eq!(serde_json::from_str::<String>(&safe).expect("json"), text, "{name}: the same string");
        }
    }
}
