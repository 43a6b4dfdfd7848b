//! Progress and warnings, for whoever shows them: the CLI draws bars, Python a tqdm bar, a
//! service its metrics. The pipeline never prints.

/// Watches transfers. Called from the pipeline's tasks: implementations must be cheap and must
/// not block.
pub trait Observer: Send + Sync {
    /// A transfer of `label` (a deliverable id, a zip) starts, of `total` bytes when known.
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter>;

    /// Something the user should know, in one line (a retry, a partial file thrown away, a
    /// checksum that could not be checked).
    fn warn(&self, message: &str);
}

/// The progress of one transfer.
pub trait Meter: Send {
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);

    /// The body starts over (the server could not resume): `total` bytes, when known.
    fn restart(&mut self, total: Option<u64>);
}

/// An observer that shows nothing (warnings go to `tracing` only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn start(&self, _: &str, _: Option<u64>) -> Box<dyn Meter> {
        Box::new(Silent)
    }

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }
}

impl Meter for Silent {
    fn advance(&mut self, _: u64) {}

    fn restart(&mut self, _: Option<u64>) {}
}
