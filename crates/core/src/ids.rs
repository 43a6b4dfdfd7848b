//! Order and deliverable ids: non-empty, safe as a URL path segment and as a file name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An identifier that was empty or would not fit in a URL path segment.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {kind} id {value:?}: ids are non-empty and contain only letters, digits, '-' and '_'")]
pub struct InvalidId {
    kind: &'static str,
    value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(value: &str) -> Result<Self, InvalidId> {
                if is_valid_id(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidId { kind: $kind, value: value.to_owned() })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, InvalidId> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The id of a tasking order, e.g. `00000000-0000-0000-0000-000000000000`.
    OrderId,
    "order"
);
id_type!(
    /// The id of a deliverable: the last path segment of an order's `rel: "deliverable"` link.
    DeliverableId,
    "deliverable"
);

/// Ids become path segments and file names, so only a safe alphabet is accepted.
fn is_valid_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DeliverableId {
    /// The id at the end of a deliverable URL such as
    /// `https://api.sandbox.wyvern.space/1.0/tasking/deliverables/<id>/`.
    pub fn from_href(href: &url::Url) -> Result<Self, InvalidId> {
        let last = href.path_segments().and_then(|mut segments| segments.rfind(|s| !s.is_empty())).unwrap_or_default();
        last.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::{DeliverableId, OrderId};

    #[test]
    fn parses_ids_and_rejects_path_tricks() {
        assert!("00000000-0000-0000-0000-000000000000".parse::<OrderId>().is_ok());
        for bad in ["", "..", "a/b", "a b", "%2e"] {
            assert!(bad.parse::<OrderId>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn deliverable_id_from_href_takes_last_segment() {
        let href = url::Url::parse("https://h/1.0/tasking/deliverables/abc-1/").expect("url");
        assert_eq!(DeliverableId::from_href(&href).expect("id").as_str(), "abc-1");
        let href = url::Url::parse("https://h/1.0/tasking/deliverables/abc-2?x=1").expect("url");
        assert_eq!(DeliverableId::from_href(&href).expect("id").as_str(), "abc-2");
    }
}
