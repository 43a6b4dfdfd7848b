//! The orders the replica serves: fixtures, as the API answers them, and a large account served
//! without holding it, its orders generated from their index (for scale measurements,
//! `wyvern-sandbox --orders N` and `cargo xtask bench`'s scale leg, and the tests of a sync whose
//! listing arrives in many pages).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::faults::OrderShape;

/// An order: its state and deliverables.
#[derive(Debug, Clone)]
pub(crate) struct OrderFixture {
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) shape: OrderShape,
    pub(crate) deliverables: Vec<String>,
}

impl OrderFixture {
    /// The order as the API answers it.
    pub(crate) fn json(&self, origin: &str, id: &str) -> Value {
        let links: Vec<Value> = self
            .deliverables
            .iter()
            .map(|d| json!({ "href": format!("{origin}/1.0/tasking/deliverables/{d}/"), "rel": "deliverable", "type": "application/zip", "title": null }))
            .collect();
        let mut order = json!({
            "id": id,
            "product_id": "f7311e41-b598-456f-8fe3-409372114e15",
            "datetime": "2025-06-01T00:00:00+00:00/2025-07-02T00:00:00+00:00",
        });
        let fields = order.as_object_mut().expect("object");
        match self.shape {
            OrderShape::Flat => {
                fields.insert("status".into(), json!(self.status));
                fields.insert("reason_code".into(), json!(self.reason));
                fields.insert("links".into(), json!(links));
            }
            OrderShape::Nested => {
                fields.insert(
                    "status".into(),
                    json!({ "timestamp": "2025-07-02T00:00:00Z", "status_code": self.status, "reason_code": self.reason, "links": links }),
                );
                fields.insert("links".into(), json!([]));
                fields.insert("wyvern:extra".into(), json!({ "unknown": "fields are tolerated" }));
            }
        }
        order
    }
}

/// The generated orders' ids: this prefix, then the index on 12 digits.
const ORDER_PREFIX: &str = "00000000-0000-0000-0002-";
/// Their deliverables' ids: this prefix, then the deliverable's number (from 1) on 12 digits.
const DELIVERABLE_PREFIX: &str = "00000000-0000-0000-0003-";

/// The one deliverable the generated ones serve the bytes of.
pub(crate) const SHARED: &str = "generated-account";

/// `orders` fulfilled orders of `per_order` deliverables each, all serving the bytes of one
/// generated zip. They are listed after the fixtures, newest (highest index) first, as an API
/// that lists by date would: not in the order of their ids.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Generated {
    pub(crate) orders: u64,
    pub(crate) per_order: u64,
}

/// The number in an id of the generated kind `prefix` names.
fn number(id: &str, prefix: &str) -> Option<u64> {
    let digits = id.strip_prefix(prefix)?;
    (digits.len() >= 12 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

impl Generated {
    /// The order `id` names, when it is one of these.
    pub(crate) fn order(&self, id: &str) -> Option<OrderFixture> {
        number(id, ORDER_PREFIX).filter(|n| *n < self.orders).map(|n| self.fixture(n))
    }

    /// Whether `id` is a deliverable of these orders.
    pub(crate) fn is_deliverable(&self, id: &str) -> bool {
        number(id, DELIVERABLE_PREFIX).is_some_and(|n| (1..=self.orders.saturating_mul(self.per_order)).contains(&n))
    }

    fn fixture(&self, index: u64) -> OrderFixture {
        OrderFixture {
            status: "completed".to_owned(),
            reason: Some("fulfilled".to_owned()),
            shape: OrderShape::Flat,
            deliverables: (1..=self.per_order)
                .map(|k| format!("{DELIVERABLE_PREFIX}{:012}", index * self.per_order + k))
                .collect(),
        }
    }

    /// The orders listed at positions `from..from + limit` after `fixtures`, and how many
    /// orders the listing holds in all.
    pub(crate) fn page(
        &self,
        fixtures: &BTreeMap<String, OrderFixture>,
        from: usize,
        limit: usize,
    ) -> (Vec<(String, OrderFixture)>, usize) {
        let total = fixtures.len().saturating_add(usize::try_from(self.orders).unwrap_or(usize::MAX));
        let page = (from..total.min(from.saturating_add(limit)))
            .map(|position| match position.checked_sub(fixtures.len()) {
                None => fixtures.iter().nth(position).map(|(id, f)| (id.clone(), f.clone())).expect("a fixture"),
                Some(generated) => {
                    let index = self.orders - 1 - generated as u64;
                    (format!("{ORDER_PREFIX}{index:012}"), self.fixture(index))
                }
            })
            .collect();
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Generated;

    #[test]
    fn orders_are_listed_newest_first_after_the_fixtures_and_found_by_id() {
        let account = Generated { orders: 3, per_order: 2 };
        let fixtures = BTreeMap::from([("fixture".to_owned(), account.fixture(7))]);
        let (page, total) = account.page(&fixtures, 0, 10);
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "fixture",
                "00000000-0000-0000-0002-000000000002",
                "00000000-0000-0000-0002-000000000001",
                "00000000-0000-0000-0002-000000000000"
            ]
        );
        assert_eq!(total, 4);
        assert_eq!(account.page(&fixtures, 2, 1).0[0].0, ids[2]);
        assert!(account.page(&fixtures, 4, 10).0.is_empty());
        let order = account.order("00000000-0000-0000-0002-000000000001").expect("generated");
        assert_eq!(
            order.deliverables,
            ["00000000-0000-0000-0003-000000000003", "00000000-0000-0000-0003-000000000004"]
        );
        assert!(account.order("00000000-0000-0000-0002-000000000003").is_none());
        assert!(account.is_deliverable("00000000-0000-0000-0003-000000000006"));
        assert!(!account.is_deliverable("00000000-0000-0000-0003-000000000007"));
        assert!(!account.is_deliverable("00000000-0000-0000-0003-000000000000"));
    }
}
