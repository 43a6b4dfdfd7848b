//! `wyvern`: fetch Wyvern imagery deliverables to disk, verified.

// Doc comments of the clap structs are the `--help` text, where bare URLs read best.
#![allow(rustdoc::bare_urls)]

mod args;
mod auth;
mod commands;
mod error;
mod progress;
mod report;
mod settings;
mod shard;
mod transfer;
mod zipfile;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::error::Exit;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure as u8);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Do not wait for blocking tasks (a verifier of an abandoned download) on the way out.
    runtime.shutdown_background();
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "{}", error::render(&error));
            if let Some(hint) = error::hint_for(&error) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(Exit::of(&error) as u8)
        }
    }
}

fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,wyvern=info,wyvern_core=info,wyvern_sinks=info,wyvern_unpack=info",
        (false, 2) => "info,wyvern=debug,wyvern_core=debug,wyvern_sinks=debug,wyvern_unpack=debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WYVERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose >= 2)
        .init();
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
