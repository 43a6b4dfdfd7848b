//! Parsed arguments turned once into validated settings, before any I/O.

use std::time::Duration;

use wyvern_core::{Client, PRODUCTION_API_URL, RetryPolicy, SANDBOX_API_URL};

use crate::args::Cli;

/// Which base URL: `--api-url` > `$WYVERN_API_URL` (both through clap) > `--sandbox` > production.
pub fn api_url(cli: &Cli) -> &str {
    match (&cli.api_url, cli.sandbox) {
        (Some(url), _) => url,
        (None, true) => SANDBOX_API_URL,
        (None, false) => PRODUCTION_API_URL,
    }
}

/// A client without a token (for login and refresh) or with one.
pub fn client(cli: &Cli, token: Option<wyvern_core::Token>) -> anyhow::Result<Client> {
    let retry = RetryPolicy { max_retries: cli.retries, ..RetryPolicy::default() };
    Ok(Client::builder()
        .base_url(api_url(cli))
        .token(token)
        .read_timeout(cli.read_timeout)
        .connect_timeout(Duration::from_secs(10).min(cli.read_timeout))
        .retry_policy(retry)
        .build()?)
}
