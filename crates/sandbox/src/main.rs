//! `wyvern-sandbox`: runs the replica on loopback until interrupted.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use wyvern_sandbox::{DEFAULT_DELIVERABLE_SIZE, Fault, Sandbox, TEST_DELIVERABLE, TEST_TOKEN, TokenShape};

/// A local replica of Wyvern's tasking API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The bearer token to accept.
    #[arg(long, default_value = TEST_TOKEN)]
    token: String,
    /// How long the access tokens its login and refresh endpoints issue live, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,
    /// Answer login and refresh as Django REST SimpleJWT does (`{"access", "refresh"}`, the
    /// lifetime only in the JWT), instead of OAuth's field names.
    #[arg(long)]
    simplejwt: bool,
    /// Approximate size of generated deliverables, in bytes.
    #[arg(long, default_value_t = DEFAULT_DELIVERABLE_SIZE)]
    size: u64,
    /// Answer the test deliverable with a redirect to a presigned link on the storage host, as
    /// Wyvern's API does.
    #[arg(long)]
    redirect_to_storage: bool,
    /// Also serve this many fulfilled orders (ids `00000000-0000-0000-0002-<n>`, listed newest
    /// first, generated from their index as they are asked for), for load and re-sync
    /// measurements; their deliverables share the bytes of one generated zip.
    #[arg(long, default_value_t = 0)]
    orders: u64,
    /// Deliverables of each of those orders (ids `00000000-0000-0000-0003-<n>`).
    #[arg(long, default_value_t = 1)]
    deliverables_per_order: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let mut builder = Sandbox::builder()
        .token(args.token)
        .deliverable_size(args.size)
        .token_lifetimes(Duration::from_secs(args.token_lifetime), Duration::from_secs(24 * 3600));
    if args.simplejwt {
        builder = builder.token_shape(TokenShape::SimpleJwt);
    }
    if args.redirect_to_storage {
        builder = builder.fault(TEST_DELIVERABLE, Fault::RedirectToStorage);
    }
    builder = builder.generated_orders(args.orders, args.deliverables_per_order);
    let sandbox = builder.start_on(args.listen).await?;
    println!("{}", sandbox.api_url());
    eprintln!("wyvern-sandbox: API on {}, storage host on {}", sandbox.api_url(), sandbox.storage_url());
    tokio::select! {
        result = sandbox.wait() => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
