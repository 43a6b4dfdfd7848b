//! Background clean-ups of uploads dropped mid-way (an error elsewhere, a cancellation): the
//! aborts that need I/O. Each sink that has them owns a [`Cleanup`], and [`crate::Sink::settle`]
//! waits for its own: one caller's wait never waits for another's, and finished clean-ups are
//! dropped as new ones come.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinHandle;

/// The clean-ups of one sink. Cheap to clone; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Cleanup {
    pending: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Cleanup {
    /// Runs `cleanup` in the background on the current Tokio runtime (if there is one).
    pub fn spawn(&self, cleanup: impl Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.retain(|handle| !handle.is_finished());
            pending.push(runtime.spawn(cleanup));
        }
    }

    /// Waits for every clean-up spawned so far (and those they spawn).
    pub async fn wait(&self) {
        loop {
            let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
            if pending.is_empty() {
                return;
            }
            for handle in pending {
                let _ = handle.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::Cleanup;

    #[tokio::test]
    async fn each_handle_waits_for_its_own() {
        let (mine, theirs) = (Cleanup::default(), Cleanup::default());
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        mine.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        theirs.spawn(std::future::pending());
        tokio::time::timeout(std::time::Duration::from_secs(5), mine.wait()).await.expect("not held up by theirs");
        assert!(done.load(Ordering::SeqCst));
    }
}
