//! Background clean-ups a process must let finish before it exits: the aborts of uploads that
//! were dropped mid-way (an error elsewhere, Ctrl-C). Sinks whose `Upload::drop` needs I/O spawn
//! it here; the CLI awaits [`wait`] before exiting, so no multipart upload is left dangling.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinHandle;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Runs `cleanup` in the background on the current Tokio runtime (if there is one).
pub fn spawn(cleanup: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let handle = runtime.spawn(cleanup);
        PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle);
    }
}

/// Waits for every clean-up spawned so far (and those they spawn).
pub async fn wait() {
    loop {
        let pending = std::mem::take(&mut *PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if pending.is_empty() {
            return;
        }
        for handle in pending {
            let _ = handle.await;
        }
    }
}
