//! The sandbox replica as a process of its own (`wyvern-sandbox`, built beside `wyvern`): xtask
//! does not link the replica, so that `cargo xtask` compiles in seconds before any task starts.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// The sandbox's test order and its deliverable, as Wyvern's download guide gives them (the
/// replica serves both).
pub(crate) const TEST_ORDER: &str = "00000000-0000-0000-0000-000000000000";
pub(crate) const TEST_DELIVERABLE: &str = "00000000-0000-0000-0000-000000000001";
/// The bearer token the replica is started with.
pub(crate) const TOKEN: &str = "xtask-sandbox-token";

/// A running replica, stopped when dropped.
pub(crate) struct Replica {
    child: std::process::Child,
    /// The API's base URL.
    pub api: String,
}

impl Drop for Replica {
    /// Stops the replica with SIGINT, so that it removes its generated deliverables (SIGKILL
    /// would leave gigabytes in the temporary folder).
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        for _ in 0..50 {
            if self.child.try_wait().is_ok_and(|status| status.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Starts the replica `binary` with `args` (see `wyvern-sandbox --help`) and [`TOKEN`], and
    /// waits for the API's URL it prints.
    pub(crate) fn start(binary: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--token", TOKEN])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting the replica {}", binary.display()))?;
        let api = {
            use std::io::BufRead;
            let stdout = child.stdout.take().context("replica stdout")?;
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line)?;
            line.trim().trim_end_matches('/').to_owned()
        };
        if api.is_empty() {
            bail!("the replica {} exited before listening", binary.display());
        }
        Ok(Self { child, api })
    }

    /// The test deliverable's API URL.
    pub(crate) fn deliverable_url(&self) -> String {
        format!("{}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/", self.api)
    }

    /// The API's address.
    pub(crate) fn addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.api.trim_start_matches("http://").parse()?)
    }

    /// A link to the deliverable that needs no token: the replica's storage URL.
    pub(crate) fn presigned_link(&self) -> anyhow::Result<String> {
        let output = Command::new("curl")
            .args(["-sSf", "-H", &format!("Authorization: Bearer {TOKEN}"), "-o", "/dev/null"])
            .args(["-w", "%{redirect_url}", &self.deliverable_url()])
            .output()?;
        let link = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if link.is_empty() {
            bail!("the replica gave no storage link");
        }
        Ok(link)
    }
}
