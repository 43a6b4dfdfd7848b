//! Wire-format tests: orders in every shape the public docs show, normalised, as snapshots.

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

use wyvern_core::{Client, Order, Token};

/// Parses `tests/fixtures/orders/<name>.json` and snapshots the normalised order with the
/// facts callers act on.
fn check(name: &str) {
    let path = format!("{}/../../tests/fixtures/orders/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let order: Order = serde_json::from_str(&text).expect("the order parses");
    let seen = serde_json::json!({
        "normalised": order,
        "ready": order.is_ready(),
        "final": order.status.as_ref().is_some_and(|s| s.is_final()),
        "reason_text": order.reason_text,
        "status_timestamp": order.status_timestamp,
    });
    insta::assert_json_snapshot!(name, seen);
}

#[test]
fn docs_example_without_status() {
    check("docs-example");
}

#[test]
fn flat_status_strings() {
    check("flat-status");
}

#[test]
fn nested_status_object_with_links_in_both_places() {
    check("nested-status");
}

#[test]
fn unknown_values_and_bad_links_are_tolerated() {
    check("unknown-values");
}

#[test]
fn accepted_order_without_reason_is_not_ready() {
    check("accepted-no-reason");
}

#[test]
fn client_debug_never_shows_the_token() {
    let client = Client::builder().token(Token::new("super-secret-token")).build().expect("client");
    let debug = format!("{client:?}");
    assert!(!debug.contains("super-secret-token"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
