//! Parsed arguments turned once into validated settings, before any I/O.

use std::time::Duration;

use wyvern_core::{Client, PRODUCTION_API_URL, RetryPolicy, SANDBOX_API_URL};

use crate::args::Cli;
use crate::error::{Context, Failure};

/// Which base URL: `--api-url` > `$WYVERN_API_URL` (both through clap) > `--sandbox` > production.
pub(crate) fn api_url(cli: &Cli) -> &str {
    match (&cli.api_url, cli.sandbox) {
        (Some(url), _) => url,
        (None, true) => SANDBOX_API_URL,
        (None, false) => PRODUCTION_API_URL,
    }
}

/// A client without credentials (for login) or with them, and with a cap on the deliverable
/// bodies streaming at once from one host.
pub(crate) async fn client(
    cli: &Cli,
    credentials: Option<wyvern_core::Credentials>,
    per_host: Option<usize>,
) -> Result<Client, Failure> {
    let retry = RetryPolicy { max_retries: cli.retries, ..RetryPolicy::default() };
    let mut builder = Client::builder()
        .base_url(api_url(cli))
        .read_timeout(cli.read_timeout)
        .connect_timeout(Duration::from_secs(10).min(cli.read_timeout))
        .retry_policy(retry)
        .allow_http(cli.allow_http)
        .connections(usize::from(cli.connections))
        .segment_size(cli.segment_size)
        .low_speed(cli.speed_limit, cli.speed_time)
        .limit_rate(cli.limit_rate);
    if let Some(credentials) = credentials {
        builder = builder.credentials(credentials);
    }
    if let Some(path) = &cli.ca_cert {
        let pem = tokio::fs::read(path).await.context(|| format!("reading the CA certificates {}", path.display()))?;
        builder = builder.ca_certificates(pem);
    }
    if let Some(limit) = per_host {
        builder = builder.max_downloads_per_host(limit);
    }
    Ok(builder.build()?)
}
