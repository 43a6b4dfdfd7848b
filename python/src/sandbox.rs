//! The sandbox replica of the API, served from this process for offline tests of a pipeline.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;
use wyvern_sandbox::{DEFAULT_DELIVERABLE_SIZE, Fault};
use wyvern_transfer::ErrorKind;

use crate::{errors, runtime};

/// The replica, listening on a free loopback port until closed.
#[pyclass(module = "wyvern._native", frozen)]
#[derive(Debug)]
pub struct Sandbox {
    api_url: String,
    running: Mutex<Option<wyvern_sandbox::Sandbox>>,
}

/// A fault by its Python name, for a deliverable of `size` bytes.
fn fault(name: &str, size: u64) -> PyResult<Fault> {
    Ok(match name {
        "corrupt" => Fault::CorruptByte { offset: size / 2 },
        "cut" => Fault::CutAt { offset: size / 2, times: 1 },
        "slow" => Fault::Throttle { bytes_per_sec: 256 << 10 },
        "rate_limited" => Fault::RateLimit { times: 2, retry_after_secs: 1 },
        "unavailable" => Fault::ServerError { times: u32::MAX, status: 503 },
        other => {
            return Err(errors::exception(
                ErrorKind::Invalid,
                format!("unknown fault {other:?}"),
                Some("give corrupt, cut, slow, rate_limited or unavailable".to_owned()),
            ));
        }
    })
}

#[pymethods]
impl Sandbox {
    /// Starts the replica: its test orders, deliverables of about `deliverable_size` bytes, and
    /// `faults` (deliverable id to fault name).
    #[new]
    #[pyo3(signature = (deliverable_size=None, faults=None))]
    fn new(py: Python<'_>, deliverable_size: Option<u64>, faults: Option<HashMap<String, String>>) -> PyResult<Self> {
        let size = deliverable_size.unwrap_or(DEFAULT_DELIVERABLE_SIZE);
        let mut builder = wyvern_sandbox::Sandbox::builder().deliverable_size(size);
        for (deliverable, name) in faults.unwrap_or_default() {
            builder = builder.fault(&deliverable, fault(&name, size)?);
        }
        let runtime = runtime()?;
        let sandbox = py
            .detach(|| runtime.block_on(builder.start()))
            .map_err(|e| errors::exception(ErrorKind::Other, format!("the sandbox could not start: {e:#}"), None))?;
        Ok(Self { api_url: sandbox.api_url().to_owned(), running: Mutex::new(Some(sandbox)) })
    }

    /// Its base URL.
    #[getter]
    fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Stops it (again: nothing).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        // Dropped inside the runtime, whose tasks it stops.
        let runtime = runtime()?;
        py.detach(|| runtime.block_on(async move { drop(running) }));
        Ok(())
    }
}
