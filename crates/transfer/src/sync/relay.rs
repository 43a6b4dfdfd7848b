//! Progress passed on as events: the batch's own observer still sees everything, and the event
//! stream gets started and progress events, dropped (never queued) when its consumer is behind.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::event::{Event, Progressed, Started};
use crate::Result;
use crate::observer::{Meter, Observer};

/// A deliverable's progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Passes progress to the batch's own observer, and to the event stream as started and
/// progress events (dropped when the consumer is behind).
pub(super) struct Relay {
    pub(super) events: mpsc::Sender<Result<Event>>,
    pub(super) inner: std::sync::Arc<dyn Observer>,
}

impl Observer for Relay {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        let _ = self.events.try_send(Ok(Event::Started(Started { started: label.to_owned(), bytes: total })));
        Box::new(RelayMeter {
            events: self.events.clone(),
            inner: self.inner.start(label, total),
            label: label.to_owned(),
            bytes: 0,
            total,
            sent: Instant::now(),
        })
    }

    fn warn(&self, message: &str) {
        self.inner.warn(message);
    }
}

struct RelayMeter {
    events: mpsc::Sender<Result<Event>>,
    inner: Box<dyn Meter>,
    label: String,
    bytes: u64,
    total: Option<u64>,
    sent: Instant,
}

impl Meter for RelayMeter {
    fn advance(&mut self, bytes: u64) {
        self.inner.advance(bytes);
        self.bytes += bytes;
        if self.sent.elapsed() >= PROGRESS_EVERY || Some(self.bytes) == self.total {
            self.sent = Instant::now();
            let progressed = Progressed { progressed: self.label.clone(), bytes: self.bytes, total: self.total };
            let _ = self.events.try_send(Ok(Event::Progressed(progressed)));
        }
    }

    fn restart(&mut self, total: Option<u64>) {
        self.inner.restart(total);
        self.bytes = 0;
        self.total = total;
    }
}
