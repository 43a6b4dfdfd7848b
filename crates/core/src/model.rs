//! Wire models of the tasking API, tolerant of the shapes the public docs show.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::ids::{DeliverableId, OrderId};

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`")] $variant,)*
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as the API spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::from(String::deserialize(deserializer)?.as_str()))
            }
        }
    };
}

open_enum!(
    /// An order's `status_code`.
    OrderStatus {
        Received => "received",
        Accepted => "accepted",
        Rejected => "rejected",
        Held => "held",
        Completed => "completed",
        Expired => "expired",
        Cancelled => "cancelled",
        UserCancelled => "user_cancelled",
    }
);

open_enum!(
    /// An order's `reason_code`.
    ReasonCode {
        Fulfilled => "fulfilled",
        PartiallyFulfilled => "partially_fulfilled",
        InvalidGeometry => "invalid_geometry",
        AwaitingCustomerConfirmation => "awaiting_customer_confirmation",
    }
);

impl OrderStatus {
    /// Whether the order can no longer change (no point in waiting for it).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Rejected | Self::Expired | Self::Cancelled | Self::UserCancelled)
            || matches!(self, Self::Other(text) if text == "canceled")
    }
}

/// A link of an order, as in STAC/STAPI. Read leniently: a field of another type than a string
/// reads as absent, so one malformed link never fails the whole order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Where the link points (`None` when missing or not a string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// Its relation, e.g. `deliverable`.
    pub rel: Option<String>,
    /// Media type, e.g. `application/zip`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// A title, often null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Link {
    fn from_value(value: &serde_json::Value) -> Self {
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        Self { href: text("href"), rel: text("rel"), media_type: text("type"), title: text("title") }
    }
}

/// A `links` array whose entries are read one by one (see [`Link`]); anything but an array
/// reads as no links.
fn lenient_links<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Link>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.as_ref().and_then(serde_json::Value::as_array).into_iter().flatten().map(Link::from_value).collect())
}

/// Why a deliverable link of an order cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableLink {
    /// Its position among the order's links (0-based).
    pub index: usize,
    /// Its href, when it had a string one.
    pub href: Option<String>,
    /// Why.
    pub reason: &'static str,
}

/// One downloadable deliverable of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deliverable {
    /// The id at the end of the link.
    pub id: DeliverableId,
    /// The link itself.
    pub href: Url,
}

/// An order, normalised from either of the shapes the API documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The order id.
    pub id: OrderId,
    /// The product ordered.
    pub product_id: Option<String>,
    /// The requested time window (an ISO 8601 interval).
    pub datetime: Option<String>,
    /// Where the order is in its lifecycle (`None` when the API did not say).
    pub status: Option<OrderStatus>,
    /// Why it is there.
    pub reason_code: Option<ReasonCode>,
    /// Free text that may come with the reason.
    pub reason_text: Option<String>,
    /// When the status last changed.
    pub status_timestamp: Option<String>,
    /// Every link of the order and of its status object.
    pub links: Vec<Link>,
}

impl Order {
    /// Whether deliverables may be downloaded: the reason is `fulfilled` or `partially_fulfilled`.
    pub fn is_ready(&self) -> bool {
        matches!(self.reason_code, Some(ReasonCode::Fulfilled | ReasonCode::PartiallyFulfilled))
    }

    /// The order's deliverables: links with `rel == "deliverable"`, in order, without repeats.
    /// Links that cannot be used are left out: [`Order::unusable_links`] says which and why.
    pub fn deliverables(&self) -> Vec<Deliverable> {
        let mut found: Vec<Deliverable> = Vec::new();
        for (_, link) in self.deliverable_links() {
            if let Ok(deliverable) = deliverable_of(link)
                && !found.iter().any(|d| d.id == deliverable.id)
            {
                found.push(deliverable);
            }
        }
        found
    }

    /// The deliverable links that cannot be used: no href, not a URL, a dot segment (plain or
    /// percent-encoded), or no valid id at its end.
    pub fn unusable_links(&self) -> Vec<UnusableLink> {
        self.deliverable_links()
            .filter_map(|(index, link)| {
                let reason = deliverable_of(link).err()?;
                Some(UnusableLink { index, href: link.href.clone(), reason })
            })
            .collect()
    }

    fn deliverable_links(&self) -> impl Iterator<Item = (usize, &Link)> {
        self.links.iter().enumerate().filter(|(_, l)| l.rel.as_deref() == Some("deliverable"))
    }
}

/// The deliverable a link names, or why it names none.
fn deliverable_of(link: &Link) -> Result<Deliverable, &'static str> {
    let href = link.href.as_deref().ok_or("it has no href (or not a string)")?;
    // A dot segment, even percent-encoded (`%2e%2e`), would be resolved away by URL parsing
    // and name another resource.
    let dotted = href.split(['/', '?', '#']).any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if dotted {
        return Err("its path has a dot segment");
    }
    let url = Url::parse(href).map_err(|_| "its href is not a URL")?;
    let id = DeliverableId::from_href(&url).map_err(|_| "its href does not end in a deliverable id")?;
    Ok(Deliverable { id, href: url })
}

/// `status` is either a plain string or a STAPI status object.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawStatus {
    Flat(String),
    Nested(StatusObject),
}

/// Missing `Option` fields read as `None`; missing lists as empty.
#[derive(Deserialize)]
struct StatusObject {
    status_code: Option<String>,
    reason_code: Option<String>,
    reason_text: Option<String>,
    timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient_links")]
    links: Vec<Link>,
}

#[derive(Deserialize)]
struct RawOrder {
    id: OrderId,
    product_id: Option<String>,
    datetime: Option<String>,
    status: Option<RawStatus>,
    status_code: Option<String>,
    reason_code: Option<String>,
    reason_text: Option<String>,
    #[serde(default, deserialize_with = "lenient_links")]
    links: Vec<Link>,
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawOrder::deserialize(deserializer)?;
        let mut order = Order {
            id: raw.id,
            product_id: raw.product_id,
            datetime: raw.datetime,
            status: raw.status_code.as_deref().map(OrderStatus::from),
            reason_code: raw.reason_code.as_deref().map(ReasonCode::from),
            reason_text: raw.reason_text,
            status_timestamp: None,
            links: raw.links,
        };
        match raw.status {
            Some(RawStatus::Flat(status)) => order.status = Some(OrderStatus::from(status.as_str())),
            Some(RawStatus::Nested(nested)) => {
                order.status = nested.status_code.as_deref().map(OrderStatus::from).or(order.status);
                order.reason_code = nested.reason_code.as_deref().map(ReasonCode::from).or(order.reason_code);
                order.reason_text = nested.reason_text.or(order.reason_text);
                order.status_timestamp = nested.timestamp;
                order.links.extend(nested.links);
            }
            None => {}
        }
        Ok(order)
    }
}

/// The normalised order, as `wyvern order show --json` prints it.
impl Serialize for Order {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            id: &'a OrderId,
            status: &'a Option<OrderStatus>,
            reason_code: &'a Option<ReasonCode>,
            product_id: &'a Option<String>,
            datetime: &'a Option<String>,
            deliverables: Vec<Deliverable>,
        }
        Shown {
            id: &self.id,
            status: &self.status,
            reason_code: &self.reason_code,
            product_id: &self.product_id,
            datetime: &self.datetime,
            deliverables: self.deliverables(),
        }
        .serialize(serializer)
    }
}
