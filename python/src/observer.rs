//! Progress and warnings handed to a Python object (the package's tqdm bars, or its logger):
//! `observer.start(label, total) -> meter`, `meter.update(n)`, `meter.reset(total)`,
//! `meter.close()`, `observer.warn(message)`. Byte counts are gathered and handed over at most
//! every [`FLUSH`], so that the GIL is taken a few times a second, not per chunk. A callback
//! that raises is logged and ignored: a broken progress bar never fails a download.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use wyvern_transfer::{Meter, Observer};

/// How often counted bytes are handed to Python.
const FLUSH: Duration = Duration::from_millis(100);

/// An observer written in Python.
#[derive(Debug)]
pub(crate) struct PyObserver(Py<PyAny>);

impl PyObserver {
    pub(crate) fn new(observer: Py<PyAny>) -> Self {
        Self(observer)
    }
}

/// Calls `object.name(args)`, logging (not raising) what it raises.
fn call<'py>(
    py: Python<'py>,
    object: &Py<PyAny>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Option<Py<PyAny>> {
    match object.call_method1(py, name, args) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::debug!("the progress callback {name} raised: {e}");
            None
        }
    }
}

impl Observer for PyObserver {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        // `None` for a meter: nothing to update.
        let meter = Python::attach(|py| call(py, &self.0, "start", (label, total)).filter(|m| !m.is_none(py)));
        Box::new(PyMeter { meter, pending: 0, flushed: Instant::now() })
    }

    fn warn(&self, message: &str) {
        // Text from elsewhere may be in it: escaped, as the CLI prints it.
        let message = wyvern_core::printable(message);
        Python::attach(|py| call(py, &self.0, "warn", (message.as_ref(),)));
    }
}

/// The progress of one transfer, in Python.
#[derive(Debug)]
struct PyMeter {
    meter: Option<Py<PyAny>>,
    pending: u64,
    flushed: Instant,
}

impl PyMeter {
    fn flush(&mut self) {
        let Some(meter) = &self.meter else { return };
        if self.pending > 0 {
            let pending = std::mem::take(&mut self.pending);
            Python::attach(|py| call(py, meter, "update", (pending,)));
        }
        self.flushed = Instant::now();
    }
}

impl Meter for PyMeter {
    fn advance(&mut self, bytes: u64) {
        self.pending += bytes;
        if self.flushed.elapsed() >= FLUSH {
            self.flush();
        }
    }

    fn restart(&mut self, total: Option<u64>) {
        self.pending = 0;
        if let Some(meter) = &self.meter {
            Python::attach(|py| call(py, meter, "reset", (total,)));
        }
    }
}

impl Drop for PyMeter {
    fn drop(&mut self) {
        self.flush();
        if let Some(meter) = &self.meter {
            Python::attach(|py| call(py, meter, "close", ()));
        }
    }
}
