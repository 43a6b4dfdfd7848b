//! The low-speed rule's measure of a body: bytes over the time its reads waited for the network.

use std::time::Duration;

use crate::transport::LowSpeed;

/// The low-speed rule's measure of a body: the bytes that came while its reads waited for the
/// network, over windows of the rule's time (time the consumer keeps the bytes waiting does not
/// count).
#[derive(Debug)]
pub(super) struct Pace {
    from: u64,
    waited: Duration,
    /// Windows in a row that were too slow.
    pub(super) slow: u32,
}

impl Pace {
    pub(super) fn new(from: u64) -> Self {
        Self { from, waited: Duration::ZERO, slow: 0 }
    }

    /// A new response: a new window.
    pub(super) fn restart(&mut self, from: u64) {
        (self.from, self.waited) = (from, Duration::ZERO);
    }

    /// How long reads may wait before the current window closes.
    pub(super) fn left(&self, rule: LowSpeed) -> Duration {
        rule.time.saturating_sub(self.waited)
    }

    /// Adds a read that waited `waited`, the body now at `received`: when the window closes,
    /// whether it was too slow.
    pub(super) fn measure(&mut self, rule: LowSpeed, waited: Duration, received: u64) -> Option<Slow> {
        self.waited += waited;
        if self.waited < rule.time {
            return None;
        }
        let rate = received.saturating_sub(self.from) as f64 / self.waited.as_secs_f64();
        self.restart(received);
        if rate < rule.limit as f64 {
            self.slow += 1;
            Some(Slow { rate, limit: rule.limit, secs: rule.time.as_secs_f64() })
        } else {
            self.slow = 0;
            None
        }
    }
}

/// A body cut for being too slow.
#[derive(Debug, thiserror::Error)]
#[error("slower than {limit} bytes/s over {secs} s of reading ({rate:.0} bytes/s)")]
pub(super) struct Slow {
    rate: f64,
    limit: u64,
    secs: f64,
}
