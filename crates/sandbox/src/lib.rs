//! A local replica of Wyvern's tasking API, for tests, demos and benchmarks.
//!
//! [`Sandbox`] serves `GET /1.0/tasking/orders/{id}/`, `GET /1.0/tasking/deliverables/{id}/`
//! (with Range, ETag and Content-Length), `POST /1.0/auth/token` and its refresh call, checks the
//! bearer token and answers 401/404 with JSON errors. A second listener plays the part of a
//! storage host serving presigned URLs. Deliverables are generated on first use ([`generate`]),
//! and [`Fault`]s make any deliverable misbehave in the ways real networks and servers do.

mod auth;
mod body;
mod faults;
pub mod generate;
mod orders;
mod server;
pub mod tiff;

pub use auth::{ISSUED_TOKEN_PREFIX, TEST_PASSWORD, TEST_USERNAME, TokenShape};
pub use faults::{Fault, OrderFault, OrderShape};
pub use server::{
    DEFAULT_DELIVERABLE_SIZE, PARTIAL_DELIVERABLES, PARTIAL_ORDER, PENDING_ORDER, REJECTED_ORDER, RequestRecord,
    Sandbox, SandboxBuilder, Served, TEST_DELIVERABLE, TEST_ORDER, TEST_TOKEN, signature,
};
