//! `--metrics ADDR`: while the process runs, Prometheus metrics (OpenMetrics text) at
//! `/metrics` and a health check at `/healthz`, counted from the sync's events and the transfers
//! in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use wyvern_transfer::{Event, Meter, Observer};

use crate::error::{Context, Failure};

/// The `status` label of `wyvern_deliverables_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// The metrics of one process.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    deliverables: Family<StatusLabel, Counter>,
    bytes: Counter,
    polls: Counter,
    poll_failures: Counter,
    hook_failures: Counter,
    last_success: Gauge<f64, AtomicU64>,
    in_flight: Gauge,
}

impl Metrics {
    /// Starts serving on `addr`; the server stops with the process.
    pub(crate) async fn serve(addr: SocketAddr) -> Result<Arc<Self>, Failure> {
        let metrics = Arc::new(Self::default());
        let mut registry = Registry::with_prefix("wyvern");
        registry.register("deliverables", "Deliverables that ended, by status", metrics.deliverables.clone());
        registry.register("bytes", "Bytes of deliverables fetched", metrics.bytes.clone());
        registry.register("polls", "Rounds of --watch", metrics.polls.clone());
        registry.register("poll_failures", "Rounds of --watch that failed as a whole", metrics.poll_failures.clone());
        registry.register("hook_failures", "--exec hooks that failed", metrics.hook_failures.clone());
        registry.register(
            "last_success_timestamp_seconds",
            "When a sync (a round) last ended without a failure, in Unix seconds",
            metrics.last_success.clone(),
        );
        registry.register("transfers_in_flight", "Deliverables streaming now", metrics.in_flight.clone());
        let registry = Arc::new(registry);
        let app = Router::new()
            .route("/metrics", get(move || text(registry.clone())))
            .route("/healthz", get(|| async { "ok\n" }));
        let listener =
            tokio::net::TcpListener::bind(addr).await.context(|| format!("listening on {addr} for --metrics"))?;
        tracing::info!("serving metrics on http://{}/metrics", listener.local_addr().unwrap_or(addr));
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!("the metrics server stopped: {error}");
            }
        });
        Ok(metrics)
    }

    /// Counts what `event` says.
    pub(crate) fn record(&self, event: &Event) {
        let count = |status| {
            self.deliverables.get_or_create(&StatusLabel { status }).inc();
        };
        match event {
            Event::Delivered(line) => {
                count("downloaded");
                self.bytes.inc_by(line.bytes.unwrap_or(0));
            }
            Event::Skipped(_) => count("skipped"),
            Event::Failed(line) if line.deliverable_id.is_some() => count("failed"),
            Event::HookFailed(_) => {
                self.hook_failures.inc();
            }
            Event::Summary(summary) if !summary.failed() => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
                self.last_success.set(now);
            }
            Event::Polled(polled) => {
                self.polls.inc();
                if polled.failure.is_some() {
                    self.poll_failures.inc();
                }
            }
            _ => {}
        }
    }

    /// An observer that counts the transfers in flight, passing everything on to `inner`.
    pub(crate) fn observer(self: &Arc<Self>, inner: Arc<dyn Observer>) -> Arc<dyn Observer> {
        Arc::new(InFlight { gauge: self.in_flight.clone(), inner })
    }
}

async fn text(registry: Arc<Registry>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => {
            let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
            (StatusCode::OK, [(header::CONTENT_TYPE, kind)], body).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

struct InFlight {
    gauge: Gauge,
    inner: Arc<dyn Observer>,
}

impl Observer for InFlight {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        self.gauge.inc();
        Box::new(InFlightMeter { gauge: self.gauge.clone(), inner: self.inner.start(label, total) })
    }

    fn warn(&self, message: &str) {
        self.inner.warn(message);
    }
}

/// One transfer in flight, until dropped.
struct InFlightMeter {
    gauge: Gauge,
    inner: Box<dyn Meter>,
}

impl Meter for InFlightMeter {
    fn advance(&mut self, bytes: u64) {
        self.inner.advance(bytes);
    }

    fn restart(&mut self, total: Option<u64>) {
        self.inner.restart(total);
    }
}

impl Drop for InFlightMeter {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
