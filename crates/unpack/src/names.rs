//! Member names that are safe to extract: relative, no `..`, no drive letters or backslash tricks.

/// Why a member name cannot be extracted safely, or `None` when it can.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name is empty");
    }
    if name.chars().any(|c| c.is_control()) {
        return Some("the name holds control characters");
    }
    // Windows tools write '\' as a separator; treat it as one for these checks.
    let normalised = name.replace('\\', "/");
    if normalised.starts_with('/') {
        return Some("the path is absolute");
    }
    let bytes = normalised.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("the path starts with a drive letter");
    }
    if normalised.split('/').any(|segment| segment == "..") {
        return Some("the path escapes its folder with '..'");
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::unsafe_name;

    #[test]
    fn examples() {
        for good in ["a.tiff", "guid_l1b/catalog.json", "a/b/c..d.json", "x/./y"] {
            assert_eq!(unsafe_name(good), None, "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a\\..\\x", "C:\\x", "c:/x", "\\\\server\\share", "a\0b"] {
            assert!(unsafe_name(bad).is_some(), "{bad:?} accepted");
        }
    }

    proptest! {
        /// Names built from safe segments are accepted.
        #[test]
        fn safe_segments_are_accepted(segments in prop::collection::vec("[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", 1..6)) {
            let name = segments.join("/");
            prop_assume!(!segments.iter().any(|s| s == ".."));
            prop_assert_eq!(unsafe_name(&name), None);
        }

        /// Any name with a `..` segment, wherever it is, is refused.
        #[test]
        fn dot_dot_anywhere_is_refused(
            before in prop::collection::vec("[a-z0-9]{1,8}", 0..4),
            after in prop::collection::vec("[a-z0-9]{1,8}", 0..4),
            separator in prop::sample::select(vec!["/", "\\\\"]),
        ) {
            let mut segments = before.clone();
            segments.push("..".to_owned());
            segments.extend(after);
            prop_assert!(unsafe_name(&segments.join(separator)).is_some());
        }

        /// Whatever the input, an accepted name joined under a root stays under it.
        #[test]
        fn accepted_names_stay_under_the_root(name in "\\PC{0,40}") {
            if unsafe_name(&name).is_none() {
                let mut depth: i64 = 0;
                for segment in name.replace('\\', "/").split('/') {
                    match segment {
                        "" | "." => {}
                        ".." => depth -= 1,
                        _ => depth += 1,
                    }
                    prop_assert!(depth >= 0, "{name:?} escapes");
                }
            }
        }
    }
}
