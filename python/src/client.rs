//! The API client and the zip functions. Values cross to Python as JSON text (orders, results,
//! inspections: the shapes the CLI's `--json` prints), which the Python side turns into its
//! documented types.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};
use wyvern_core::{Credentials, Error as ApiError, Order, OrderId, RetryPolicy, Token};
use wyvern_sinks::{Registry, Sink};
use wyvern_transfer::{
    Batch, CatalogRefresh, ErrorKind, Event, IfExists, Line, Observer, Options, Request, Shard, Silent, Status, Wanted,
};

use crate::errors::{self, OrRaise};
use crate::observer::PyObserver;
use crate::{block_on, runtime};

/// The sink schemes a destination or a zip can name: the built-in ones and WebDAV's.
fn registry() -> Registry {
    Registry::with_builtins().with(wyvern_sink_webdav::register)
}

/// How long an interrupted call waits for the aborts of its uploads.
const SETTLE: Duration = Duration::from_secs(60);

/// The keyword arguments of `Client(api_url, ...)` (`allow_http` required, the others optional).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
struct ClientSettings {
    #[pyo3(default)]
    token: Option<String>,
    #[pyo3(default)]
    token_file: Option<PathBuf>,
    #[pyo3(default)]
    password_file: Option<PathBuf>,
    #[pyo3(default)]
    retries: Option<u32>,
    #[pyo3(default)]
    connections: Option<usize>,
    #[pyo3(default)]
    ca_cert: Option<PathBuf>,
    allow_http: bool,
}

/// The keyword arguments of `Client.transfer(order_ids, to, ...)` (`extract`, `verify` and
/// `strict` required).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
struct TransferSettings {
    extract: bool,
    verify: bool,
    #[pyo3(default)]
    if_exists: Option<String>,
    #[pyo3(default = 1)]
    concurrency: usize,
    #[pyo3(default)]
    shard: Option<String>,
    strict: bool,
    #[pyo3(default)]
    observer: Option<Py<PyAny>>,
    /// Called with the JSON line of each deliverable's end (and, watching, of each failed hook
    /// and each round) as it happens.
    #[pyo3(default)]
    on_event: Option<Py<PyAny>>,
    /// Watch: a round every this many seconds, until interrupted.
    #[pyo3(default)]
    watch: Option<f64>,
    /// Only the members these globs match (and `exclude` does not).
    #[pyo3(default)]
    include: Vec<String>,
    #[pyo3(default)]
    exclude: Vec<String>,
}

/// Drives a sync's (or a watch's) events one at a time, the callback called between steps with
/// the GIL held and outside the runtime (so that it may call this package again); the lines of
/// the deliverables that ended (of a watch: only the refusal that ended it).
fn drive(
    py: Python<'_>,
    mut events: futures::stream::BoxStream<'_, wyvern_transfer::Result<Event>>,
    watching: bool,
    on_event: Option<&Py<PyAny>>,
) -> PyResult<Vec<Line>> {
    let result = steps(py, &mut events, watching, on_event);
    // Dropped in the runtime, where the transfers still in flight (after Ctrl-C, say) abort
    // their uploads.
    let _entered = runtime()?.enter();
    drop(events);
    result
}

fn steps(
    py: Python<'_>,
    events: &mut futures::stream::BoxStream<'_, wyvern_transfer::Result<Event>>,
    watching: bool,
    on_event: Option<&Py<PyAny>>,
) -> PyResult<Vec<Line>> {
    let mut ended = Vec::new();
    while let Some(event) = block_on(py, async { Ok(events.next().await) })? {
        if let Ok(event) = &event {
            call_back(py, on_event, event)?;
        }
        match event {
            // A watch keeps nothing from round to round (its results went to the callback)
            // but the refusal of the credentials that ends it.
            Ok(Event::Failed(line)) if watching && line.failure.as_ref().is_some_and(is_refusal) => {
                ended = vec![line];
            }
            Ok(_) if watching => {}
            Ok(Event::Delivered(line) | Event::Skipped(line) | Event::Failed(line) | Event::NotReady(line)) => {
                ended.push(line);
            }
            Ok(_) => {}
            // A destination that cannot be written to fails every deliverable left: one
            // failure among the results, as the others.
            Err(error @ wyvern_transfer::Error::Destination { .. }) => {
                ended.push(Line::from_error(error));
                break;
            }
            Err(error) => return Err(errors::transfer(&error)),
        }
    }
    Ok(ended)
}

/// Whether an error is the API refusing the credentials (which ends a watch).
fn is_refusal(error: &wyvern_transfer::Error) -> bool {
    error.kind() == ErrorKind::Auth
}

/// Passes an event's JSON line to `callback`; its exception, when it raised one.
fn call_back(py: Python<'_>, callback: Option<&Py<PyAny>>, event: &Event) -> PyResult<()> {
    let Some(callback) = callback else { return Ok(()) };
    let said = matches!(
        event,
        Event::Delivered(_)
            | Event::Skipped(_)
            | Event::Failed(_)
            | Event::NotReady(_)
            | Event::HookFailed(_)
            | Event::Polled(_)
    );
    if !said {
        return Ok(());
    }
    let text = serde_json::to_string(event).unwrap_or_default();
    callback.call1(py, (text,)).map(drop)
}

/// An API client holding its token.
#[pyclass(module = "wyvern._native", frozen)]
#[derive(Debug)]
pub struct Client {
    client: wyvern_core::Client,
}

fn invalid(message: impl Into<String>, hint: &str) -> PyErr {
    errors::exception(ErrorKind::Invalid, message.into(), Some(hint.to_owned()))
}

fn order_id(text: &str) -> PyResult<OrderId> {
    text.parse().map_err(|e: wyvern_core::InvalidId| invalid(e.to_string(), "give an order id (a UUID)"))
}

fn observer(observer: Option<Py<PyAny>>) -> Arc<dyn Observer> {
    match observer {
        Some(observer) => Arc::new(PyObserver::new(observer)),
        None => Arc::new(Silent),
    }
}

/// An order as the Python `Order` type holds it.
fn order_json(order: &Order) -> String {
    json!({
        "id": order.id.as_str(),
        "status": order.status.as_ref().map(|s| s.as_str()),
        "reason_code": order.reason_code.as_ref().map(|r| r.as_str()),
        "product_id": order.product_id,
        "datetime": order.datetime,
        "deliverables": order.deliverables().iter().map(|d| d.id.as_str().to_owned()).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Waits for the clean-ups of `sink`'s dropped uploads, whatever became of the call (not
/// interruptible: this is what leaves nothing half-written).
fn settle(py: Python<'_>, sink: &Arc<dyn Sink>) -> PyResult<()> {
    let runtime = runtime()?;
    py.detach(|| {
        runtime.block_on(async {
            if tokio::time::timeout(SETTLE, sink.settle()).await.is_err() {
                tracing::warn!("some interrupted uploads could not be aborted within {SETTLE:?}");
            }
        });
    });
    Ok(())
}

#[pymethods]
impl Client {
    /// A client of `api_url`. The token is `token`, else the file `token_file`, else
    /// `$WYVERN_TOKEN`, else a login with `$WYVERN_USERNAME` and `$WYVERN_PASSWORD` (or
    /// `password_file`), else the `wyvern auth login` cache for this API; all but a fixed token
    /// renew during long runs.
    #[new]
    #[pyo3(signature = (api_url, **settings))]
    fn new(py: Python<'_>, api_url: String, settings: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let ClientSettings { token, token_file, password_file, retries, connections, ca_cert, allow_http } =
            settings.map_or_else(|| PyDict::new(py).extract(), |settings| settings.extract())?;
        let pem = match &ca_cert {
            // `Client(...)` is synchronous Python: no async runtime waits on this thread.
            #[allow(clippy::disallowed_methods)]
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                invalid(format!("reading the CA certificates {}: {e}", path.display()), "give a PEM file")
            })?),
            None => None,
        };
        let build = |credentials: Option<Credentials>| {
            let mut builder = wyvern_core::Client::builder().base_url(&api_url).allow_http(allow_http);
            if let Some(credentials) = credentials {
                builder = builder.credentials(credentials);
            }
            if let Some(retries) = retries {
                builder = builder.retry_policy(RetryPolicy { max_retries: retries, ..RetryPolicy::default() });
            }
            if let Some(connections) = connections {
                builder = builder.connections(connections);
            }
            if let Some(pem) = &pem {
                builder = builder.ca_certificates(pem.clone());
            }
            builder.build().or_raise()
        };
        let anonymous = build(None)?;
        let credentials = match token {
            Some(token) => Token::new(token).map(Credentials::token),
            None => block_on(py, async {
                wyvern_credentials::resolve(token_file.as_deref(), password_file.as_deref(), &anonymous)
                    .await
                    .map_err(|e| errors::credentials(&e))
            })?,
        };
        let credentials = credentials.ok_or(ApiError::MissingToken).or_raise()?;
        Ok(Self { client: build(Some(credentials))? })
    }

    /// The API's base URL.
    #[getter]
    fn api_url(&self) -> String {
        self.client.base_url().to_string()
    }

    /// The order, as JSON.
    fn order(&self, py: Python<'_>, order_id: &str) -> PyResult<String> {
        let id = self::order_id(order_id)?;
        let order = block_on(py, async { self.client.order(&id).await.or_raise() })?;
        Ok(order_json(&order))
    }

    /// The inspection of a deliverable at the API (an id or its URL), read with ranged requests,
    /// as JSON: `wyvern deliverable inspect --json`.
    fn inspect(&self, py: Python<'_>, deliverable: &str) -> PyResult<String> {
        let inspection = block_on(py, async {
            let id = wyvern_transfer::deliverable_id(&self.client, deliverable).or_raise()?;
            wyvern_transfer::inspect_deliverable(&self.client, &id, &Silent).await.or_raise()
        })?;
        Ok(serde_json::to_string(&inspection).unwrap_or_default())
    }

    /// Writes the HTML report of the deliverables of `order_ids` (every order the account lists
    /// when `None`) as they are at the API, downloading none (`wyvern order report`); how many
    /// deliverables it shows, as JSON.
    #[pyo3(signature = (order_ids, output, observer=None))]
    fn report(
        &self,
        py: Python<'_>,
        order_ids: Option<Vec<String>>,
        output: PathBuf,
        observer: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let ids = order_ids.map(|ids| ids.iter().map(|id| order_id(id)).collect::<PyResult<Vec<_>>>()).transpose()?;
        let observer = self::observer(observer);
        let written = block_on(py, async {
            wyvern_transfer::html::write_api(&self.client, ids, &output, &*observer).await.or_raise()
        })?;
        Ok(json!({ "deliverables": written.deliverables, "thumbnails": written.thumbnails }).to_string())
    }

    /// The account's orders, each as JSON (every page of the listing).
    fn orders(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let orders = block_on(py, async { self.client.list_orders().await.or_raise() })?;
        Ok(orders.iter().map(order_json).collect())
    }

    /// Waits until the order is fulfilled (its JSON) or can no longer be, or `timeout` seconds
    /// pass.
    #[pyo3(signature = (order_id, timeout=None, interval=30.0))]
    fn wait(&self, py: Python<'_>, order_id: &str, timeout: Option<f64>, interval: f64) -> PyResult<String> {
        let id = self::order_id(order_id)?;
        let seconds = |value: f64, name: &str| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                invalid(format!("{name} {value} is not a duration in seconds"), "give a number of seconds, at least 0")
            })
        };
        let interval = seconds(interval, "interval")?.max(Duration::from_millis(100));
        let timeout = timeout.map(|t| seconds(t, "timeout")).transpose()?;
        let order = block_on(py, async {
            let changed =
                |order: &Order| tracing::info!("order {}: {:?} ({:?})", order.id, order.status, order.reason_code);
            wyvern_transfer::wait(&self.client, &id, interval, timeout, changed).await.or_raise()
        })?;
        Ok(order_json(&order))
    }

    /// Fetches the deliverables of `order_ids` (every order the account lists when `None`) into
    /// `to`. Returns the results as JSON, the exceptions of the deliverables (or orders) that
    /// failed, and the orders skipped as not ready (with `strict`, those are failures).
    #[pyo3(signature = (order_ids, to, **settings))]
    fn transfer(
        &self,
        py: Python<'_>,
        order_ids: Option<Vec<String>>,
        to: &str,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<(String, Vec<Py<PyAny>>, Vec<String>)> {
        let TransferSettings {
            extract,
            verify,
            if_exists,
            concurrency,
            shard,
            strict,
            observer,
            on_event,
            watch,
            include,
            exclude,
        } = settings.map_or_else(|| PyDict::new(py).extract(), |settings| settings.extract())?;
        let ids = order_ids.map(|ids| ids.iter().map(|id| order_id(id)).collect::<PyResult<Vec<_>>>()).transpose()?;
        let if_exists: IfExists = if_exists
            .as_deref()
            .unwrap_or("skip")
            .parse()
            .map_err(|e: String| invalid(e, "give skip, overwrite or fail"))?;
        let shard: Option<Shard> =
            shard.as_deref().map(str::parse).transpose().map_err(|e: String| invalid(e, "give K/N, e.g. 0/4"))?;
        if extract && !verify {
            return Err(invalid("extract needs verify", "extraction always verifies: leave verify=True"));
        }
        let members = wyvern_transfer::Members::new(include, exclude).or_raise()?.map(std::sync::Arc::new);
        let options = Options { if_exists, verify, extract, members };
        let wanted = ids.map_or(Wanted::Account, Wanted::Orders);
        let request = Request { concurrency: concurrency.max(1), shard, strict, ..Request::new(wanted) };
        let sink = wyvern_transfer::destination(&registry(), to).or_raise()?;
        let batch = Batch::new(self.client.clone(), sink.clone(), options).observed(self::observer(observer));
        let interval = match watch {
            Some(seconds) => Some(
                Duration::try_from_secs_f64(seconds)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| invalid(format!("interval={seconds}"), "give a positive number of seconds"))?,
            ),
            None => None,
        };
        let events = match interval {
            Some(interval) => batch.watch(&request, interval),
            None => batch.sync(&request),
        };
        let outcome = drive(py, events, interval.is_some(), on_event.as_ref());
        settle(py, &sink)?;
        let ended = outcome?;
        let mut results = Vec::new();
        let mut raised: Vec<Py<PyAny>> = Vec::new();
        let mut not_ready = Vec::new();
        for line in ended {
            match (&line.failure, line.status) {
                (Some(_), Status::NotReady) => not_ready.extend(line.order_id),
                (Some(error), _) => raised.push(errors::transfer(error).into_value(py).into_any()),
                (None, _) => results.push(serde_json::to_value(&line).unwrap_or_default()),
            }
        }
        Ok((Value::Array(results).to_string(), raised, not_ready))
    }
}

/// The inspection of a zip (a path or a sink URL), as JSON: `wyvern inspect --json`.
#[pyfunction]
pub(crate) fn inspect(py: Python<'_>, zip: &str) -> PyResult<String> {
    let inspection = block_on(py, async { wyvern_transfer::inspect(&registry(), zip).await.or_raise() })?;
    Ok(serde_json::to_string(&inspection).unwrap_or_default())
}

/// The verification of a zip (a path or a sink URL), as JSON: `wyvern verify --json`. A zip
/// that is not whole and consistent raises `VerificationError` (its `inspection` attribute
/// holds the JSON, when the zip could be read to the end).
#[pyfunction]
#[pyo3(signature = (zip, observer=None))]
pub(crate) fn verify(py: Python<'_>, zip: &str, observer: Option<Py<PyAny>>) -> PyResult<String> {
    let observer = self::observer(observer);
    let inspection = block_on(py, async { wyvern_transfer::verify(&registry(), zip, &*observer).await.or_raise() })?;
    let text = serde_json::to_string(&inspection).unwrap_or_default();
    if inspection.problems.is_empty() {
        return Ok(text);
    }
    let error = wyvern_transfer::Error::Corrupt {
        source: wyvern_unpack::VerifyError::Problems(inspection.problems),
        named: true,
    };
    let raised = errors::transfer(&error);
    raised.value(py).setattr("inspection", text)?;
    Err(raised)
}

/// Writes or refreshes the STAC catalog of everything at `destination` (`wyvern catalog`); what
/// it did, as JSON (the object `wyvern catalog --json` prints under `catalog`).
#[pyfunction]
#[pyo3(signature = (destination, band_assets=false))]
pub(crate) fn catalog(py: Python<'_>, destination: &str, band_assets: bool) -> PyResult<String> {
    let refreshed = block_on(py, async {
        let sink = wyvern_transfer::destination(&registry(), destination).or_raise()?;
        let scope = wyvern_transfer::catalog::Scope::All;
        let refreshed = wyvern_transfer::catalog::refresh(&sink, &scope, band_assets).await.or_raise()?;
        Ok(CatalogRefresh::new(refreshed, sink.location(), None))
    })?;
    Ok(serde_json::to_string(&refreshed).unwrap_or_default())
}

/// Writes the HTML report of everything at `destination` to `output` (`wyvern report`); how many
/// deliverables it shows, as JSON.
#[pyfunction]
pub(crate) fn report(py: Python<'_>, destination: &str, output: PathBuf) -> PyResult<String> {
    let written = block_on(py, async {
        let sink = wyvern_transfer::destination(&registry(), destination).or_raise()?;
        wyvern_transfer::html::write(&sink, &output).await.or_raise()
    })?;
    Ok(json!({ "deliverables": written.deliverables, "thumbnails": written.thumbnails }).to_string())
}
