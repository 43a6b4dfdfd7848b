//! End-to-end tests: the real `wyvern` binary against the sandbox replica over real HTTP.

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

mod auth;
mod catalog;
mod cloud;
mod corpus;
mod docs;
mod download;
mod faults;
mod hostile;
mod members;
mod metadata;
mod network;
mod orders;
mod pipes;
mod reliability;
mod signals;
mod sync;
mod terminal;
mod unpack;
mod watch;

use std::path::{Path, PathBuf};
use std::process::Output;

use wyvern_sandbox::{Sandbox, SandboxBuilder, TEST_TOKEN};

/// Columns of the pseudo-terminal of [`World::on_a_terminal`].
pub const COLUMNS: u16 = 120;

/// A sandbox, a scratch folder and a way to run the binary against them.
#[derive(Debug)]
pub struct World {
    /// The replica the binary talks to.
    pub sandbox: Sandbox,
    /// The scratch folder (destinations go in it).
    pub dir: tempfile::TempDir,
    token: String,
    /// A command the binary runs under (e.g. `setpriv` to drop privileges).
    runner: Vec<String>,
    /// Where every run appends its full log, every level of every library (`--log-file`):
    /// checked for secrets when the world is dropped. `None` for the tests that move
    /// gigabytes, whose trace logs would only add time. In a folder of its own, which any user
    /// may write to (some runs drop privileges), apart from the files tests list.
    log: Option<PathBuf>,
    _logs: tempfile::TempDir,
    /// Whether runs get the storage emulators' settings (`AWS_*`, `AZURE_*`, `GOOGLE_*`).
    cloud_env: bool,
}

impl Drop for World {
    fn drop(&mut self) {
        let Some(log) = &self.log else { return };
        if std::thread::panicking() {
            return;
        }
        let text = std::fs::read(log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
        assert_no_secrets(&Run { code: 0, stdout: String::new(), stderr: text });
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// The `--json` lines on stdout.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

impl World {
    /// A world around the replica as built by default.
    pub async fn new() -> Self {
        Self::with(Sandbox::builder()).await
    }

    /// A world around the replica `builder` builds.
    pub async fn with(builder: SandboxBuilder) -> Self {
        let sandbox = builder.start().await.expect("sandbox starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = tempfile::tempdir().expect("tempdir");
        let log = logs.path().join("wyvern.log");
        std::fs::write(&log, b"").expect("the log");
        for (path, mode) in [(logs.path(), 0o777), (log.as_path(), 0o666)] {
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
        }
        Self {
            sandbox,
            dir,
            token: TEST_TOKEN.to_owned(),
            runner: Vec::new(),
            log: Some(log),
            _logs: logs,
            cloud_env: true,
        }
    }

    /// Runs get none of the storage emulators' settings (no cloud credentials at all).
    pub fn without_cloud_env(mut self) -> Self {
        self.cloud_env = false;
        self
    }

    /// An address on loopback where nothing listens and nothing will while the socket lives:
    /// connections to it are refused.
    pub fn refusing() -> (tokio::net::TcpSocket, String) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let address = socket.local_addr().expect("address");
        (socket, format!("http://{address}"))
    }

    /// The file every run appends its full log to.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Runs without `--log-file` (the gigabyte tests).
    pub fn without_log(mut self) -> Self {
        self.log = None;
        self
    }

    /// Runs the binary as `runner... wyvern ARGS`.
    pub fn with_runner(mut self, runner: &[&str]) -> Self {
        self.runner = runner.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The binary runs with `token` in `WYVERN_TOKEN` instead of the replica's.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = token.to_owned();
        self
    }

    /// The download destination.
    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    /// Runs `wyvern ARGS` with the API URL and token in the environment.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None).await
    }

    /// Runs the binary with `args`, `env` added, and `stdin` as its input.
    pub async fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut child = self.spawn(args, env);
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            tokio::io::AsyncWriteExt::write_all(&mut input, text.as_bytes()).await.expect("stdin written");
        }
        drop(input);
        finish(child).await
    }

    /// Runs `wyvern ARGS` and measures what the `wyvern` process cost (see [`Usage`]).
    pub async fn run_measured(&self, args: &[&str]) -> (Run, Usage) {
        let file = self.dir.path().join(format!("usage-{}", uuid::Uuid::new_v4().simple()));
        let mut runner = ["python3", "-c", MEASURE, file.to_str().expect("utf-8")].map(str::to_owned).to_vec();
        runner.extend(self.runner.iter().cloned());
        let mut child = self.spawn_under(&runner, args, &[]);
        drop(child.stdin.take());
        let run = finish(child).await;
        let text = std::fs::read_to_string(&file).expect("the usage");
        let (rss, cpu) = text.split_once(' ').expect("two figures");
        let usage = Usage {
            peak_rss: rss.parse::<u64>().expect("KiB") << 10,
            cpu: std::time::Duration::from_secs_f64(cpu.parse().expect("seconds")),
        };
        eprintln!("{:?}: {:?} of CPU, peak RSS {} MiB", args.first(), usage.cpu, usage.peak_rss >> 20);
        (run, usage)
    }

    /// Starts `wyvern ARGS` without waiting for it (for signals); [`finish`] collects it.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        self.spawn_under(&self.runner, args, env)
    }

    fn spawn_under(&self, runner: &[String], args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        let mut command = match runner.split_first() {
            Some((program, runner_args)) => {
                let mut command = tokio::process::Command::new(program);
                command.args(runner_args).arg(env!("CARGO_BIN_EXE_wyvern"));
                command
            }
            None => tokio::process::Command::new(env!("CARGO_BIN_EXE_wyvern")),
        };
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WYVERN_API_URL", self.sandbox.api_url())
            .env("WYVERN_CONFIG_DIR", self.dir.path().join("config"))
            .env("WYVERN_MAX_RETRIES", "3")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if !self.token.is_empty() {
            command.env("WYVERN_TOKEN", &self.token);
        }
        // Every level of every library, to prove that none shows a secret (see `Drop`).
        if let Some(log) = &self.log {
            command.env("WYVERN_LOG_FILE", log);
        }
        // The storage emulators' settings, from `cargo xtask test`.
        let cloud = |key: &str| self.cloud_env && ["AWS_", "AZURE_", "GOOGLE_"].iter().any(|p| key.starts_with(p));
        for (key, value) in std::env::vars().filter(|(k, _)| cloud(k)) {
            command.env(key, value);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.spawn().expect("wyvern runs")
    }

    /// Runs `wyvern ARGS` on a pseudo-terminal of [`COLUMNS`] x 40 (util-linux `script`) with
    /// the world's API and token, and `env`; returns what it wrote to the terminal, raw (`None`,
    /// with a note, where there is no `script`).
    pub fn on_a_terminal(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Vec<u8>> {
        if std::process::Command::new("script").arg("--version").output().is_err() {
            eprintln!("skipped: no `script` (util-linux) to give the binary a terminal");
            return None;
        }
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_wyvern"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect();
        let typescript = self.dir.path().join("typescript");
        let status = std::process::Command::new("script")
            .arg("-qec")
            .arg(format!("stty cols {COLUMNS} rows 40; {}", quoted.join(" ")))
            .arg(&typescript)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("WYVERN_API_URL", self.sandbox.api_url())
            .env("WYVERN_TOKEN", &self.token)
            .env("WYVERN_CONFIG_DIR", self.dir.path().join("config"))
            .env("WYVERN_MAX_RETRIES", "3")
            .envs(self.log.iter().map(|log| ("WYVERN_LOG_FILE", log)))
            .envs(env.iter().copied())
            .status()
            .expect("script runs");
        assert!(status.code().is_some(), "{status}");
        let raw = std::fs::read(typescript).expect("the typescript");
        let token = self.token.as_bytes();
        assert!(token.is_empty() || !raw.windows(token.len()).any(|w| w == token), "the token was shown");
        // `script` writes a line of its own first (`Script started on ...`).
        Some(raw.iter().position(|&b| b == b'\n').map_or(raw.clone(), |end| raw[end + 1..].to_vec()))
    }

    /// The bytes the replica serves for a deliverable.
    pub async fn served(&self, id: &str) -> Vec<u8> {
        let served = self.sandbox.deliverable(id).await.expect("generated");
        std::fs::read(served.path).expect("read")
    }

    /// Deliverable requests the replica saw (API and storage host).
    pub fn deliverable_requests(&self, id: &str) -> Vec<wyvern_sandbox::RequestRecord> {
        self.sandbox.requests().into_iter().filter(|r| r.path.contains(id) && !r.path.contains("/orders/")).collect()
    }
}

/// What a run of `wyvern` cost: its peak RSS (bytes) and CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Peak resident memory, in bytes.
    pub peak_rss: u64,
    /// CPU time, user and system.
    pub cpu: std::time::Duration,
}

/// Runs the command it is given and writes its peak RSS (KiB) and CPU time (s) to the file
/// named first. A small Python parent measures it because a child of the test process would
/// report the test's own peak RSS: Linux carries the peak of the process that spawns a program
/// into the program's (`getrusage(RUSAGE_CHILDREN)` in the test saw the test's growth).
const MEASURE: &str = "import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')
sys.exit(code if code >= 0 else 128 - code)";

/// Waits for a spawned run and checks its output for secrets.
pub async fn finish(child: tokio::process::Child) -> Run {
    let Output { status, stdout, stderr } = child.wait_with_output().await.expect("wyvern ends");
    let run = Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert_no_secrets(&run);
    run
}

/// No run, at any log level, shows the token, a password, an issued token or a presigned
/// signature, on stdout or stderr.
fn assert_no_secrets(run: &Run) {
    let mut secrets = vec![
        TEST_TOKEN.to_owned(),
        wyvern_sandbox::TEST_PASSWORD.to_owned(),
        wyvern_sandbox::ISSUED_TOKEN_PREFIX.to_owned(),
        "rotated-token-".to_owned(),
        "X-Amz-Signature".to_owned(),
    ];
    secrets.extend((0..64).map(|link| wyvern_sandbox::signature(wyvern_sandbox::TEST_DELIVERABLE, link)));
    for secret in secrets {
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "a secret ({secret:.12}…) leaked: {run:#?}"
        );
    }
}

/// The members of the zip at `path`, in order: names and bytes.
pub fn members_of(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).expect("member");
            let mut data = Vec::new();
            file.read_to_end(&mut data).expect("read");
            (file.name().expect("name").into_owned(), data)
        })
        .collect()
}

/// Writes a copy of the zip `original` to `out` whose members `edit` changed (their names and
/// bytes, in order): stored, but JSON members deflated, so that a large item makes a small zip.
pub fn rewrite_zip(original: &Path, out: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
    use std::io::Write;
    let mut members = members_of(original);
    edit(&mut members);
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out).expect("create"));
    for (name, data) in members {
        let method =
            if name.ends_with(".json") { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(false);
        writer.start_file(name.as_str(), options).expect("start");
        writer.write_all(&data).expect("write");
    }
    writer.finish().expect("finish");
}

/// The STAC item (the `_l1b.json` member) among `members`, changed by `edit`.
pub fn edit_item(members: &mut [(String, Vec<u8>)], edit: impl FnOnce(&mut serde_json::Value)) {
    let (_, data) = members.iter_mut().find(|(name, _)| name.ends_with("_l1b.json")).expect("the item");
    let mut item: serde_json::Value = serde_json::from_slice(data).expect("item");
    edit(&mut item);
    *data = serde_json::to_vec(&item).expect("json");
}

/// Every file under `dir`, relative, sorted; hidden temporary files included.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).expect("under").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The length of a status line's start: `HTTP/1.1 200 `.
const STATUS_LINE: usize = 13;

fn is_status_line(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/1.1 ") && bytes[9..12].iter().all(u8::is_ascii_digit) && bytes[12] == b' '
}

/// Where the body of the first single-request `PUT` in `seen` starts, when its headers are in.
fn put_body(seen: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = seen[from..].windows(5).position(|w| w == b"PUT /").map(|p| p + from) {
        let line_end = seen[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let headers_end = seen[at..].windows(4).position(|w| w == b"\r\n\r\n")? + at;
        if !seen[at..line_end].windows(9).any(|w| w == b"uploadId=") {
            return Some(headers_end + 4);
        }
        from = line_end;
    }
    None
}

/// Copies requests to the server; flips one bit of the first PutObject's body while `flips`.
async fn requests(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    flips: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut buffer, mut seen, mut position) = (vec![0u8; 64 << 10], Vec::new(), 0usize);
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if flips.load(std::sync::atomic::Ordering::Relaxed) && seen.len() < 64 << 20 {
            seen.extend_from_slice(&buffer[..n]);
            if let Some(at) = put_body(&seen).filter(|&at| at >= position && at < position + n)
                && flips.swap(false, std::sync::atomic::Ordering::Relaxed)
            {
                buffer[at - position] ^= 1;
            }
        }
        position += n;
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

/// A TCP proxy on loopback in front of a server, counting the HTTP responses it carries (the
/// requests a client made), for tests of request counts; or flipping a bit on the way.
#[derive(Debug)]
pub struct CountingProxy {
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Responses carried, and how many of them were errors (4xx, 5xx).
    responses: std::sync::Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// A proxy to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        Self::start_flipping(upstream, false).await
    }

    /// The same; with `flip`, one bit of the first body of a single-request `PUT` (a PutObject,
    /// not a part of a multipart upload) is flipped on its way to the server.
    pub async fn start_flipping(upstream: &str, flip: bool) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let responses =
            std::sync::Arc::new((std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0)));
        let counted = responses.clone();
        let flips = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(flip));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (counted, flips) = (counted.clone(), flips.clone());
                tokio::spawn(async move {
                    let (client_read, mut client_write) = client.into_split();
                    let (mut server_read, server_write) = server.into_split();
                    tokio::spawn(requests(client_read, server_write, flips));
                    // Each response starts with its status line (`HTTP/1.1 200 `), right after the
                    // body before it; the tail of each read is kept for lines split across reads.
                    let (mut buffer, mut tail) = (vec![0u8; 64 << 10], Vec::new());
                    loop {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let n = match server_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut seen = std::mem::take(&mut tail);
                        seen.extend_from_slice(&buffer[..n]);
                        for line in seen.windows(STATUS_LINE).filter(|w| is_status_line(w)) {
                            counted.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if line[9] >= b'4' {
                                counted.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                        tail = seen[seen.len().saturating_sub(STATUS_LINE - 1)..].to_vec();
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { url, responses, task }
    }

    /// The responses carried so far.
    pub fn responses(&self) -> u64 {
        self.responses.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The error responses (4xx, 5xx) carried so far.
    pub fn errors(&self) -> u64 {
        self.responses.1.load(std::sync::atomic::Ordering::Relaxed)
    }
}
