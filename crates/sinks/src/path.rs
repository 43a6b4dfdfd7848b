//! [`ObjectPath`]: a relative path that cannot escape its destination.

use std::fmt;

/// A relative object path such as `order/deliverable.zip`: `/`-separated segments, none empty,
/// `.` or `..`, no backslashes or control characters. Safe to join under any destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectPath(String);

/// A path that could escape its destination or is otherwise unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid object path {0:?}: use relative '/'-separated names without '.', '..' or empty segments")]
pub struct InvalidPath(String);

impl ObjectPath {
    /// Validates a path.
    pub fn parse(path: &str) -> Result<Self, InvalidPath> {
        let valid = !path.is_empty()
            && path.len() <= 1024
            && path.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && !segment.chars().any(|c| c == '\\' || c.is_control())
            });
        if valid { Ok(Self(path.to_owned())) } else { Err(InvalidPath(path.to_owned())) }
    }

    /// Appends a segment or relative path.
    pub fn join(&self, rest: &str) -> Result<Self, InvalidPath> {
        Self::parse(&format!("{}/{rest}", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::ObjectPath;

    #[test]
    fn accepts_relative_paths_and_refuses_escapes() {
        for good in ["a.zip", "order/a.zip", "a/b/c.json", "x..y"] {
            assert!(ObjectPath::parse(good).is_ok(), "{good} refused");
        }
        for bad in ["", "/a", "a/", "a//b", "../a", "a/./b", "a\\b", "a\nb"] {
            assert!(ObjectPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        let base = ObjectPath::parse("order").expect("path");
        assert_eq!(base.join("d.zip").expect("join").as_str(), "order/d.zip");
        assert!(base.join("../d.zip").is_err());
        assert_eq!(base.join("d.zip").expect("join").file_name(), "d.zip");
    }
}
