//! The exceptions: one class per kind a caller acts on, carrying the CLI's message (the error
//! and its causes on one line), its hint (also as a note under the traceback), its kind and
//! whether trying again later could help.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyList;
use wyvern_transfer::{ErrorKind, Hint, Setting};

create_exception!(wyvern, WyvernError, PyException, "Base class of every wyvern error.");
create_exception!(wyvern, NotReadyError, WyvernError, "The order is not fulfilled (yet, or ever).");
create_exception!(wyvern, AuthError, WyvernError, "The token was refused, or there is none.");
create_exception!(wyvern, NotFoundError, WyvernError, "The order or deliverable does not exist on this API.");
create_exception!(wyvern, VerificationError, WyvernError, "A zip is not whole and consistent; nothing of it was kept.");

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("WyvernError", py.get_type::<WyvernError>())?;
    module.add("NotReadyError", py.get_type::<NotReadyError>())?;
    module.add("AuthError", py.get_type::<AuthError>())?;
    module.add("NotFoundError", py.get_type::<NotFoundError>())?;
    module.add("VerificationError", py.get_type::<VerificationError>())?;
    Ok(())
}

/// The exception for a failure of `kind`, with its message and hint.
pub(crate) fn exception(kind: ErrorKind, message: String, hint: Option<String>) -> PyErr {
    let error = match kind {
        ErrorKind::NotReady => NotReadyError::new_err(message),
        ErrorKind::Auth => AuthError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Corrupt => VerificationError::new_err(message),
        _ => WyvernError::new_err(message),
    };
    Python::attach(|py| {
        let value = error.value(py);
        // Setting attributes on a fresh exception instance cannot fail.
        let _ = value.setattr("hint", hint.as_deref());
        let _ = value.setattr("kind", kind.as_str());
        let _ = value.setattr("retryable", matches!(kind, ErrorKind::Network | ErrorKind::NotReady));
        if let Some(hint) = &hint {
            let _ = value.setattr("__notes__", PyList::new(py, [format!("hint: {hint}")]).ok());
        }
    });
    error
}

/// A pipeline failure as its exception.
pub(crate) fn transfer(error: &wyvern_transfer::Error) -> PyErr {
    exception(error.kind(), wyvern_transfer::error_line(error), error.hint().map(|hint| keywords(&hint)))
}

/// A library hint in the Python package's words: settings by their keyword arguments.
fn keywords(hint: &Hint) -> String {
    hint.render(|setting, value| {
        match setting {
            Setting::IfExists => return format!("if_exists=\"{}\"", value.unwrap_or("skip")),
            Setting::Timeout => "Client.wait(timeout=...)",
            Setting::Verify => "verify=True",
            Setting::Token => {
                "pass Client(token=...), or set WYVERN_TOKEN or WYVERN_TOKEN_FILE, or run `wyvern auth login`"
            }
            Setting::TokenSource => "Client(token=...), WYVERN_TOKEN or WYVERN_TOKEN_FILE",
            Setting::Renewable => {
                "WYVERN_USERNAME with WYVERN_PASSWORD (or WYVERN_PASSWORD_FILE), or `wyvern auth login`"
            }
            Setting::CaCert => "Client(ca_cert=PATH)",
            Setting::Api => match value {
                Some("sandbox") => "Client(sandbox=True)",
                Some("url") => "Client(api_url=...) or WYVERN_API_URL",
                _ => "Client(api_url=...) or Client(sandbox=True)",
            },
            Setting::AllowHttp => "pass Client(allow_http=True)",
            Setting::Retries => "Client(retries=...)",
            Setting::Wait => return format!("`Client.wait({:?})`", value.unwrap_or("order_id")),
            _ => return setting.describe(value),
        }
        .to_owned()
    })
}

/// Raises pipeline and API errors as their exceptions.
pub(crate) trait OrRaise<T> {
    /// The value, or the exception of the error.
    fn or_raise(self) -> PyResult<T>;
}

impl<T, E: Into<wyvern_transfer::Error>> OrRaise<T> for Result<T, E> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| transfer(&e.into()))
    }
}

/// No token could be had (the token file, the login cache, refreshing it).
pub(crate) fn credentials(error: &wyvern_credentials::Error) -> PyErr {
    let kind = ErrorKind::of_credentials(error);
    exception(kind, wyvern_transfer::error_line(error), error.hint())
}
