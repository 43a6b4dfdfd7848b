//! `wyvern._native`: the wyvern pipeline ([`wyvern_transfer`]) for the Python package. The
//! Python side (`python/python/wyvern`) wraps it in the documented API; everything here blocks
//! with the GIL released, on one Tokio runtime shared by the calls of all threads.
//!
//! Calls wait for their work on the calling thread and look for signals every
//! 100 ms: Ctrl-C raises `KeyboardInterrupt` within that time, after the transfers in
//! flight were dropped and their uploads aborted ([`Sink::settle`](wyvern_sinks::Sink::settle)).

mod client;
mod errors;
mod observer;
mod sandbox;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

/// How often a waiting call looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The runtime every call runs on (made on first use).
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wyvern")
        .build()
        .map_err(|e| errors::WyvernError::new_err(format!("cannot start the async runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `work` to the end with the GIL released, unless a signal handler raises first (Ctrl-C:
/// `KeyboardInterrupt`); then `work` is dropped, which stops its transfers.
fn block_on<T: Send>(py: Python<'_>, work: impl Future<Output = PyResult<T>> + Send) -> PyResult<T> {
    let runtime = runtime()?;
    py.detach(|| {
        runtime.block_on(async {
            tokio::select! {
                result = work => result,
                interrupted = signalled() => Err(interrupted),
            }
        })
    })
}

/// Waits until Python's signal handlers raise (only the main thread runs them: elsewhere this
/// never ends).
async fn signalled() -> PyErr {
    loop {
        tokio::time::sleep(SIGNAL_POLL).await;
        if let Err(raised) = Python::attach(|py| py.check_signals()) {
            return raised;
        }
    }
}

/// Runs the `wyvern` command line (`argv`, the program first) in this process and returns its
/// exit code: the `wyvern` command that `pip install` puts on the PATH.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| wyvern_cli::main(argv))
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<client::Client>()?;
    module.add_class::<sandbox::Sandbox>()?;
    module.add_function(wrap_pyfunction!(cli, module)?)?;
    module.add_function(wrap_pyfunction!(client::inspect, module)?)?;
    module.add_function(wrap_pyfunction!(client::verify, module)?)?;
    module.add_function(wrap_pyfunction!(client::catalog, module)?)?;
    module.add_function(wrap_pyfunction!(client::report, module)?)?;
    errors::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("PRODUCTION_API_URL", wyvern_core::PRODUCTION_API_URL)?;
    module.add("SANDBOX_API_URL", wyvern_core::SANDBOX_API_URL)?;
    module.add("SANDBOX_TOKEN", wyvern_sandbox::TEST_TOKEN)?;
    module.add("SANDBOX_ORDER", wyvern_sandbox::TEST_ORDER)?;
    module.add("SANDBOX_DELIVERABLE", wyvern_sandbox::TEST_DELIVERABLE)?;
    module.add("SANDBOX_PARTIAL_ORDER", wyvern_sandbox::PARTIAL_ORDER)?;
    module.add("SANDBOX_PARTIAL_DELIVERABLES", wyvern_sandbox::PARTIAL_DELIVERABLES.to_vec())?;
    module.add("SANDBOX_PENDING_ORDER", wyvern_sandbox::PENDING_ORDER)?;
    module.add("SANDBOX_REJECTED_ORDER", wyvern_sandbox::REJECTED_ORDER)?;
    Ok(())
}
