//! `--limit-rate`: one bandwidth cap for the whole client, shared by every body and segment it
//! reads. A token bucket: each read takes its bytes and, when the bucket is in debt, waits
//! until the debt is paid. The wait comes after the read, outside the low-speed rule's measure.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How much may go at once after a pause: this long at the full rate.
const BURST: Duration = Duration::from_millis(250);

/// The cap, and the bucket every read takes from.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// Bytes a second.
    rate: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes that may go now (negative: owed).
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    /// A cap of `bytes_per_sec` (at least 1).
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        let rate = bytes_per_sec.max(1) as f64;
        Self { rate, bucket: Mutex::new(Bucket { tokens: 0.0, at: Instant::now() }) }
    }

    /// Takes `bytes` read; waits while the process is ahead of its cap.
    pub(crate) async fn take(&self, bytes: u64) {
        let wait = {
            let mut bucket = self.bucket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate;
            bucket.tokens = (bucket.tokens + refill).min(self.rate * BURST.as_secs_f64()) - bytes as f64;
            bucket.at = now;
            Duration::from_secs_f64((-bucket.tokens).max(0.0) / self.rate)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::RateLimit;

    #[tokio::test]
    async fn readers_share_one_cap() {
        let limit = Arc::new(RateLimit::new(4 << 20));
        let start = tokio::time::Instant::now();
        let readers = (0..4).map(|_| {
            let limit = limit.clone();
            tokio::spawn(async move {
                for _ in 0..16 {
                    limit.take(16 << 10).await;
                }
            })
        });
        futures::future::join_all(readers).await;
        // Four readers of 256 KiB each: 1 MiB at 4 MiB/s takes a quarter of a second at least,
        // whoever reads it.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(240), "{took:?}");
    }
}
