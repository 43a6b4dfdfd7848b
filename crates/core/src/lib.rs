//! Client for Wyvern's tasking API.
//!
//! [`Client`] fetches orders ([`Order`]) and streams deliverables ([`Download`]) with retries,
//! resumption from the last byte and strict handling of the bearer token: it is sent only to the
//! API's own origin, never to a redirect target on another host, and never shows in `Debug`
//! output or error messages.

mod auth;
mod client;
mod defaults;
mod download;
mod encoding;
pub mod env;
mod error;
mod ids;
mod model;
mod printable;
mod retry;
mod token;
mod transport;
mod url_redact;
mod words;

pub use auth::{Credentials, OnRenew, TokenSet};
pub use client::{Client, ClientBuilder, JSON_LIMIT, PRODUCTION_API_URL, SANDBOX_API_URL};
pub use defaults::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_CONNECTIONS, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES, DEFAULT_SEGMENT_SIZE,
    DEFAULT_SPEED_LIMIT, DEFAULT_SPEED_TIME, MAX_CONNECTIONS,
};
pub use download::{Chunk, Download, SPLIT_BELOW};
pub use error::Error;
pub use ids::{DeliverableId, InvalidId, OrderId};
pub use model::{Deliverable, Link, Order, OrderStatus, ReasonCode, UnusableLink};
pub use printable::{is_unsafe, printable, printable_json, printable_lines};
pub use retry::RetryPolicy;
pub use token::Token;
pub use url_redact::redact_url;
pub use words::counted;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
