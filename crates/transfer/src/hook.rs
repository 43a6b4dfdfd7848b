//! A command run for each deliverable delivered (`--exec`): `sh -c COMMAND` with the delivery in
//! its environment (`WYVERN_ORDER_ID`, `WYVERN_DELIVERABLE_ID`, `WYVERN_DESTINATION`,
//! `WYVERN_SHA256`, `WYVERN_BYTES`) and never the token or the password, its output on stderr,
//! killed past its timeout. A hook that fails does not undo the delivery.

use std::process::Stdio;
use std::time::Duration;

use wyvern_core::env::{WYVERN_PASSWORD, WYVERN_PASSWORD_FILE, WYVERN_TOKEN, WYVERN_TOKEN_FILE};

use crate::Error;
use crate::sync::Line;

/// A command to run after each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The command, run by `sh -c` (`cmd /C` on Windows).
    pub command: String,
    /// How long it may run before it is killed (and counted as failed).
    pub timeout: Duration,
}

/// What a hook is told of one delivery.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    order_id: Option<String>,
    deliverable_id: String,
    destination: String,
    sha256: String,
    bytes: u64,
}

impl Delivery {
    /// The delivery a line reports, when it reports one.
    pub(crate) fn of(line: &Line) -> Option<Self> {
        Some(Self {
            order_id: line.order_id.clone(),
            deliverable_id: line.deliverable_id.clone()?,
            destination: line.destination.clone()?,
            sha256: line.sha256.clone().unwrap_or_default(),
            bytes: line.bytes.unwrap_or(0),
        })
    }

    /// The deliverable, and its order.
    pub(crate) fn ids(&self) -> (Option<&str>, &str) {
        (self.order_id.as_deref(), &self.deliverable_id)
    }
}

impl Hook {
    /// Runs the hook for `delivery`; how it failed, when it did.
    pub(crate) async fn run(&self, delivery: &Delivery) -> Result<(), Error> {
        let failed = |reason: String| Error::Hook { command: self.command.clone(), reason };
        let mut command = shell(&self.command);
        command
            .env_remove(WYVERN_TOKEN)
            .env_remove(WYVERN_PASSWORD)
            .env_remove(WYVERN_TOKEN_FILE)
            .env_remove(WYVERN_PASSWORD_FILE)
            .env("WYVERN_ORDER_ID", delivery.order_id.as_deref().unwrap_or_default())
            .env("WYVERN_DELIVERABLE_ID", &delivery.deliverable_id)
            .env("WYVERN_DESTINATION", &delivery.destination)
            .env("WYVERN_SHA256", &delivery.sha256)
            .env("WYVERN_BYTES", delivery.bytes.to_string())
            .stdin(Stdio::null())
            // Its output goes to stderr: stdout may carry `--json` lines.
            .stdout(std::io::stderr())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| failed(format!("could not start: {e}")))?;
        // What the shell started goes with it when the hook is killed or dropped.
        let _group = Group(child.id());
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(failed(match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".to_owned(),
            })),
            Ok(Err(e)) => Err(failed(format!("could not be waited for: {e}"))),
            Err(_) => {
                let _ = child.kill().await;
                Err(failed(format!("ran past its timeout of {}", humantime::format_duration(self.timeout))))
            }
        }
    }
}

#[cfg(not(windows))]
fn shell(command: &str) -> tokio::process::Command {
    let mut shell = tokio::process::Command::new("sh");
    // A process group of its own, so that the commands it starts can be killed with it.
    shell.arg("-c").arg(command).process_group(0);
    shell
}

/// The hook's process group: killed when the hook ends (its leftovers: a background command, a
/// pipeline still running past a timeout).
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|pid| rustix::process::Pid::from_raw(pid.try_into().ok()?)) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(windows)]
fn shell(command: &str) -> tokio::process::Command {
    let mut shell = tokio::process::Command::new("cmd");
    shell.arg("/C").arg(command);
    shell
}
