//! Continuous sync: [`Batch::watch`] runs [`Batch::sync`] round after round, each deciding from
//! listings what is new, until its stream is dropped. A round that fails as a whole (the orders
//! cannot be listed, the API answers 5xx past its retries) is said ([`Event::Polled`] with its
//! error) and waited out, longer after each failure in a row, as is a round whose orders failed
//! on the network. Only credentials the API refuses (and that could not renew) end a watch:
//! polling with them again cannot succeed, and a supervisor restarting the process reads new
//! ones. Nothing is kept from one round to the next, so memory does not grow with rounds.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use super::event::{Event, Polled};
use super::{BACKLOG, Request};
use crate::batch::Batch;
use crate::{ErrorKind, Result};

/// The longest wait after failed rounds (unless the interval is longer).
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

impl Batch {
    /// Syncs `request` every `interval`, forever: each round's events as [`Batch::sync`] sends
    /// them, then [`Event::Polled`]. Drop the stream to stop (transfers in flight are dropped,
    /// their uploads aborted).
    pub fn watch<'a>(&'a self, request: &'a Request, interval: Duration) -> BoxStream<'a, Result<Event>> {
        let (sender, mut receiver) = mpsc::channel(BACKLOG);
        let work = async move {
            let mut failures = 0u32;
            for round in 1.. {
                let (failure, kinds) = match self.round(request, &sender).await {
                    Some(round) => round,
                    None => return,
                };
                let refused =
                    failure.as_ref().is_some_and(|e| e.kind() == ErrorKind::Auth) || kinds.contains(&ErrorKind::Auth);
                if refused {
                    tracing::error!("the API refused the credentials: the watch ends");
                    if let Some(error) = failure {
                        let _ = sender.send(Err(error)).await;
                    }
                    return;
                }
                let struggling = failure.is_some() || kinds.contains(&ErrorKind::Network);
                failures = if struggling { failures + 1 } else { 0 };
                let wait = wait(interval, failures);
                let error = failure.as_ref().map(|failure| crate::error_line(failure));
                let polled = Polled { round, error, next_in_s: wait.as_secs_f64(), failure };
                if sender.send(Ok(Event::Polled(polled))).await.is_err() {
                    return;
                }
                tokio::time::sleep(wait).await;
            }
        };
        let events = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        futures::stream::select(events.map(Some), work.into_stream().map(|()| None))
            .filter_map(std::future::ready)
            .boxed()
    }
}

impl Batch {
    /// One round: its events passed on; the error that ended it, and the kinds of its failures
    /// (`None` when the consumer went away).
    async fn round(
        &self,
        request: &Request,
        sender: &mpsc::Sender<Result<Event>>,
    ) -> Option<(Option<crate::Error>, BTreeSet<ErrorKind>)> {
        let mut failure = None;
        let mut kinds = BTreeSet::new();
        let mut events = self.sync(request);
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    if let Event::Summary(summary) = &event {
                        kinds.clone_from(&summary.failures);
                    }
                    sender.send(Ok(event)).await.ok()?;
                }
                Err(error) => failure = Some(error),
            }
        }
        Some((failure, kinds))
    }
}

/// The wait before the next round: the interval, doubled for each failed round in a row, up to
/// [`MAX_BACKOFF`] (or the interval, when that is longer).
fn wait(interval: Duration, failures: u32) -> Duration {
    interval.saturating_mul(1 << failures.min(10)).min(MAX_BACKOFF.max(interval))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::wait;

    #[test]
    fn failed_rounds_wait_longer_up_to_a_bound() {
        let minute = Duration::from_secs(60);
        assert_eq!(wait(minute, 0), minute);
        assert_eq!(wait(minute, 2), minute * 4);
        assert_eq!(wait(minute, 30), Duration::from_secs(15 * 60));
        assert_eq!(wait(Duration::from_secs(3600), 3), Duration::from_secs(3600), "never shorter than the interval");
    }
}
