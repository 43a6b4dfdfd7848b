//! `wyvern-sandbox`: runs the replica on loopback until interrupted.

use std::net::SocketAddr;

use clap::Parser;
use wyvern_sandbox::{DEFAULT_DELIVERABLE_SIZE, Fault, Sandbox, TEST_DELIVERABLE, TEST_TOKEN};

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
    /// Approximate size of generated deliverables, in bytes.
    #[arg(long, default_value_t = DEFAULT_DELIVERABLE_SIZE)]
    size: u64,
    /// Answer the test deliverable with a redirect to a presigned link on the storage host, as
    /// Wyvern's API does.
    #[arg(long)]
    redirect_to_storage: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let mut builder = Sandbox::builder().token(args.token).deliverable_size(args.size);
    if args.redirect_to_storage {
        builder = builder.fault(TEST_DELIVERABLE, Fault::RedirectToStorage);
    }
    let sandbox = builder.start_on(args.listen).await?;
    println!("{}", sandbox.api_url());
    eprintln!("wyvern-sandbox: API on {}, storage host on {}", sandbox.api_url(), sandbox.storage_url());
    tokio::select! {
        result = sandbox.wait() => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
