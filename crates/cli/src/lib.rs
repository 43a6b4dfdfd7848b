//! The `wyvern` command line: arguments, settings, output and exit codes around the
//! [`wyvern_transfer`] pipeline. The `wyvern` binary and the Python package's `wyvern` command
//! both run [`main`].

// Doc comments of the clap structs are the `--help` text, where bare URLs and <placeholders>
// read best.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

mod args;
mod auth;
mod commands;
pub mod error;
mod log;
mod metrics;
mod output;
mod preview;
mod progress;
mod report;
mod settings;

use std::ffi::OsString;

use crate::error::Exit;
use crate::output::errln;

/// Runs the command line `args` (the program name first) to the end and returns its exit code.
/// Usage errors, `--help` and `--version` print as clap does. Ctrl-C (SIGINT) and SIGTERM stop
/// the command: transfers in flight are discarded, their uploads aborted, except that on Ctrl-C
/// a download to a local folder keeps its partial file for the same command to continue.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let cli = match args::Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Printing help or a usage error to a closed stream is no failure of ours.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let json = cli.json;
    let watching = matches!(&cli.command, args::Command::Sync(sync) if sync.watch);
    if let Err(e) = log::init(cli.quiet, cli.verbose, cli.log_file.as_deref()) {
        errln!("error: cannot open the log file: {e}");
        errln!("hint: give --log-file (or $WYVERN_LOG_FILE) a path in a folder this user may write to");
        return Exit::Failure as u8;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return Exit::Failure as u8;
        }
    };
    let opened = commands::Opened::default();
    let (result, kept) = runtime.block_on(run(cli, &opened));
    // Do not wait for blocking tasks (a verifier of an abandoned download) on the way out.
    runtime.shutdown_background();
    let result = match result {
        Ok(result) => result,
        Err(signal) => return stopped(signal, watching, kept),
    };
    match result {
        Ok(exit) => exit as u8,
        Err(failure) => {
            let exit = failure.exit();
            if json {
                // Scripts reading --json see every failure on stdout, not only per-deliverable ones.
                let line = serde_json::json!({ "status": "failed", "error": wyvern_transfer::error_line(&failure), "exit_code": exit as u8 });
                output::json(&line);
            }
            error::print(&failure, failure.hint_text());
            exit as u8
        }
    }
}

/// Runs the command until it ends or a signal stops it (`Err`), then lets the uploads it
/// dropped clean up; also returns how many partial files were kept for a later run.
async fn run(cli: args::Cli, opened: &commands::Opened) -> (Result<Result<Exit, error::Failure>, Exit>, u64) {
    let signalled = async {
        let signal = shutdown_signal().await;
        // Ctrl-C: a download in flight keeps its partial file for the same command to
        // continue (before the transfers are dropped).
        if signal == Exit::Interrupted {
            opened.interrupted();
        }
        signal
    };
    let outcome = tokio::select! {
        result = commands::run(cli, opened) => Ok(result),
        signal = signalled => Err(signal),
    };
    // Transfers dropped by an interruption abort their uploads in the background: let them
    // finish, so that no temporary file or multipart upload outlives the process.
    if tokio::time::timeout(std::time::Duration::from_secs(60), opened.settle()).await.is_err() {
        tracing::warn!("some interrupted uploads could not be aborted within 60 s");
    }
    (outcome, opened.kept())
}

/// What a signal that stopped the command leaves said, and the exit code.
fn stopped(signal: Exit, watching: bool, kept: u64) -> u8 {
    match signal {
        // A service asked to stop: nothing went wrong.
        Exit::Terminated if watching => {
            errln!("stopped: transfers in flight were discarded; finished deliverables and their receipts are kept");
            return Exit::Success as u8;
        }
        _ if kept > 0 => errln!(
            "interrupted: {} in flight kept as hidden partial files, which running the same command again \
             continues; finished deliverables and their receipts are kept",
            wyvern_core::counted(kept, "download", "downloads")
        ),
        _ => errln!(
            "interrupted: transfers in flight were discarded (nothing half-written is left); finished \
             deliverables and their receipts are kept, and running the same command again fetches the rest"
        ),
    }
    signal as u8
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM. A signal that cannot be listened for never arrives.
async fn shutdown_signal() -> Exit {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => Exit::Interrupted,
        () = terminate => Exit::Terminated,
    }
}
