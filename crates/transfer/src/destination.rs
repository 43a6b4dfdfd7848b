//! Destinations: the sink a folder or URL names, and the check that it can be written to
//! before any byte is fetched.

use std::sync::Arc;

use wyvern_sinks::{Registry, Sink};

use crate::{Error, Result};

/// The sink `to` names (not checked: see [`check_destination`]).
pub fn destination(registry: &Registry, to: &str) -> Result<Arc<dyn Sink>> {
    registry.resolve(to).map_err(|e| {
        let hint = match e {
            wyvern_sinks::Error::NotBuilt { .. } => {
                "the wyvern command has it with its default `cloud` feature (`cargo build -p wyvern-cli`; `cargo \
                 xtask demo` leaves it out to build faster), as do the releases and the Python package"
            }
            _ => "give a folder, or a URL such as s3://bucket/prefix, gs://bucket/prefix or az://container/prefix",
        };
        Error::Invalid { message: e.to_string(), hint: Some(hint.to_owned()) }
    })
}

/// Whether `sink` exists and these credentials (or this user) may write there; nothing is left
/// behind by the check.
pub async fn check_destination(sink: &Arc<dyn Sink>) -> Result<()> {
    sink.check().await.map_err(|source| Error::Destination { location: sink.location(), source: Arc::new(source) })
}

/// The sink `to` names, checked before any byte is fetched ([`destination`], then
/// [`check_destination`]).
pub async fn open_destination(registry: &Registry, to: &str) -> Result<Arc<dyn Sink>> {
    let sink = destination(registry, to)?;
    check_destination(&sink).await?;
    Ok(sink)
}
