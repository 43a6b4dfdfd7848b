//! Syncs the deliverables of an order into a bucket (or any destination `wyvern` can name),
//! verified on the way, each with its receipt; a second run skips what is there:
//!
//! ```text
//! WYVERN_TOKEN=... cargo run -p wyvern-transfer --example sync_to_bucket -- ORDER_ID s3://bucket/prefix
//! ```
//!
//! `WYVERN_API_URL` picks another API (the sandbox replica, say); bucket credentials come from
//! the usual variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`...).

use futures::TryStreamExt;
use wyvern_core::{Client, Token};
use wyvern_transfer::{Batch, Done, Jobs, Options, Silent, open_destination, order_jobs};

/// Fetches every deliverable of `order` into `to`, four at a time; one [`Done`] each.
pub(crate) async fn sync(
    api: &str,
    token: &str,
    order: &str,
    to: &str,
) -> Result<Vec<Done>, Box<dyn std::error::Error>> {
    let client = Client::builder().base_url(api).token(Token::new(token)).build()?;
    let sink = open_destination(&wyvern_sinks::Registry::with_builtins(), to).await?;
    let order = client.order(&order.parse()?).await?;
    let jobs = Jobs::try_from(order_jobs(&order, None, &Silent)?)?;
    let batch = Batch::new(client, sink.clone(), Options::default());
    let done = batch.run(jobs, 4).try_collect().await?;
    sink.settle().await;
    Ok(done)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [order, to] = args.as_slice() else { return Err("usage: sync_to_bucket ORDER_ID DESTINATION".into()) };
    let api = std::env::var("WYVERN_API_URL").unwrap_or_else(|_| wyvern_core::PRODUCTION_API_URL.to_owned());
    let token = std::env::var("WYVERN_TOKEN").map_err(|_| "set WYVERN_TOKEN")?;
    for done in sync(&api, &token, order, to).await? {
        match done.result {
            Ok(outcome) => println!("{:<10} {} ({} bytes)", outcome.status(), done.destination, outcome.bytes()),
            Err(error) => eprintln!("failed     {}: {}", done.destination, wyvern_transfer::error_line(&error)),
        }
    }
    Ok(())
}
