//! Project tasks: `cargo xtask demo | test | live | dist | ...`.

mod bench;
mod corpus;
mod dist;
mod emulators;
mod link;
mod replica;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use replica::{Replica, TEST_DELIVERABLE, TEST_ORDER, TOKEN};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo   start the sandbox replica and download its test order into ./wyvern-demo/
  test   fmt check, clippy -D warnings, docs, and every test (what CI runs)
  live   download the sandbox test order from Wyvern's real sandbox (needs WYVERN_TOKEN)
  dist [--check]  build the wheel, the binary tarball and SHA256SUMS into target/dist/ (no Rust
         needed to install them); --check installs each without Rust and downloads through it
  emulators  start the storage emulators the tests use, print their environment, wait for Ctrl-C
  link UPSTREAM [--rtt MS] [--rate MB_PER_S]  a delay-line proxy on loopback in front of UPSTREAM
         (host:port; default 50 ms, 40 MB/s a connection, as the bench's link leg): prints its URL
  fuzz [SECONDS]  fuzz the zip inspector (needs cargo-fuzz; default 300 s), growing fuzz/corpus
  bench [--size SIZE] [--runs N] [--sweep] [--only local,link,busy,s3,resync,scale,first]
         [--link-size SIZE] [--rtt MS] [--rate MB_PER_S]
         wyvern against curl, curl + unzip -t, Python requests, aria2c (to disk, over a simulated
         50 ms / 40 MB/s link) and rclone (into the S3 emulator)";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(&[]),
        "test" => test(),
        "live" => live(),
        "dist" => match std::env::args().nth(2).as_deref() {
            None => dist::dist(false),
            Some("--check") => dist::dist(true),
            Some(other) => Err(anyhow::anyhow!("dist takes only --check, not {other}")),
        },
        "emulators" => emulators(),
        "bench" => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            bench::Options::parse(&args).and_then(|options| bench::bench(&options))
        }
        "link" => {
            let args: Vec<String> = std::env::args().skip(2).collect();
            link::serve(&args)
        }
        "fuzz" => fuzz(std::env::args().nth(2).as_deref().unwrap_or("300")),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs a command, failing with its description when it fails.
fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("\n==> {step}");
    let status = timed(step, || command.status()).with_context(|| format!("starting: {step}"))?;
    if !status.success() {
        bail!("failed: {step} ({status})");
    }
    Ok(())
}

/// Runs `work`, then prints how long `step` took (CI logs show where the minutes go).
fn timed<T>(step: &str, work: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let done = work();
    eprintln!("<== {step}: {:.0} s", started.elapsed().as_secs_f64());
    done
}

/// Builds the `wyvern` binary and returns its path.
fn build_wyvern() -> anyhow::Result<PathBuf> {
    run("build the wyvern binary", cargo().args(["build", "--quiet", "--package", "wyvern-cli", "--bin", "wyvern"]))?;
    Ok(debug_binary("wyvern"))
}

/// Where a debug build puts the binary `name`.
fn debug_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("debug").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

fn test() -> anyhow::Result<()> {
    // What needs no workspace build (the Python venv, the corpora, the storage servers, cargo-deny)
    // is made ready on another thread while the workspace compiles: downloads and the tools'
    // own builds fill the cores the compiler leaves idle (a fresh machine's run: see
    // docs/benchmarks.md). Its steps print as they go, between the compiler's.
    let ready = std::thread::spawn(prepare);
    run("format check", cargo().args(["fmt", "--all", "--check"]))?;
    let build = build_env();
    run(
        "clippy",
        cargo().args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]).envs(build.clone()),
    )?;
    run(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--quiet"])
            .env("RUSTDOCFLAGS", "-D warnings")
            .envs(build.clone()),
    )?;
    run("build the tests", cargo().args(["build", "--workspace", "--all-targets", "--quiet"]).envs(build.clone()))?;
    let (venv, corpora) = timed("wait for the venv, the corpora and the tools", || ready.join())
        .map_err(|_| anyhow::anyhow!("preparing the tests' tools panicked"))??;
    supply_chain()?;
    let emulators = emulators::Emulators::start(&root())?;
    let nextest = cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    let mut tests = cargo();
    tests.envs(build.clone());
    if nextest {
        tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        eprintln!("cargo-nextest is not installed; using cargo test (cargo install cargo-nextest --locked is faster)");
        tests.args(["test", "--workspace", "--no-fail-fast"]);
    }
    tests.envs(emulators.env.iter().chain(&corpora).map(|(k, v)| (k, v)));
    run("tests against the replica and the storage emulators", &mut tests)?;
    python(&venv, &emulators.env, &build)?;
    drop(emulators);
    if nextest {
        run("doc tests", cargo().args(["test", "--workspace", "--doc", "--quiet"]).envs(build.clone()))?;
    }
    // The README's first command, as a newcomer runs it (it once failed on a fresh clone unseen),
    // built as the tests were (what it shares with them is not compiled again).
    timed("the demo", || demo(&build))
}

/// The environment of every cargo command of a test run: no incremental compilation. A run
/// builds the workspace's crates from scratch on a fresh machine, where writing the incremental
/// caches only costs; every command of the run (the Python package's build too) passes the same
/// setting, or cargo would compile the workspace again (it is part of the fingerprint).
fn build_env() -> Vec<(String, std::ffi::OsString)> {
    vec![("CARGO_INCREMENTAL".to_owned(), "0".into())]
}

/// The tests' tools and data, each installed once: the Python venv, the corpora (with the Debian
/// and npm tools they need), the storage servers, cargo-deny. Returns the venv and the corpora's
/// environment.
fn prepare() -> anyhow::Result<(PathBuf, Vec<(String, String)>)> {
    let venv = corpus::venv(&root())?;
    let corpora = corpus::build(&root(), &venv)?;
    emulators::install(&root(), &venv)?;
    install_deny()?;
    Ok((venv, corpora))
}

/// Installs the Python package (`pip install ./python`) and runs its pytest suite against the
/// replica and the storage emulators, beside the cargo-built binary it must match.
fn python(venv: &Path, emulators: &[(String, String)], build: &[(String, std::ffi::OsString)]) -> anyhow::Result<()> {
    let path = corpus::install_package(&root(), venv, false, build)?;
    run(
        "the Python package's tests (pytest) against the replica and the storage emulators",
        Command::new(venv.join("bin/python"))
            .current_dir(root())
            .args(["-m", "pytest", "python/tests", "-q", "-p", "no:cacheprovider"])
            .env("PATH", &path)
            // The binary `cargo build --workspace` made: building it alone would resolve its
            // dependencies' features apart from the workspace's and compile most of them again.
            .env("WYVERN_CARGO_BINARY", debug_binary("wyvern"))
            .envs(emulators.iter().map(|(k, v)| (k, v))),
    )
}

/// The cargo-deny version `cargo xtask test` installs (builds on rustc 1.95).
const CARGO_DENY: &str = "cargo-deny@0.20.2";
/// Where cargo-deny finds the database of its default URL: `<db-path>/advisory-db-<URL hash>`.
const ADVISORY_DB: &str = "target/advisory-dbs/advisory-db-3157b0e258782691";

/// Where cargo-deny is installed.
fn deny() -> PathBuf {
    root().join("target/tools/bin/cargo-deny")
}

/// Installs cargo-deny under `target/tools` when it is not there.
fn install_deny() -> anyhow::Result<()> {
    if deny().exists() {
        return Ok(());
    }
    run(
        &format!("install {CARGO_DENY} (once, under target/tools; about 3 minutes)"),
        cargo()
            .args(["install", "--quiet", "--locked", "--debug", "--root"])
            .arg(root().join("target/tools"))
            .arg(CARGO_DENY),
    )
}

/// `cargo deny check` with fetching off: advisories from the snapshot in
/// `supply-chain/advisory-db.bundle`, licenses, bans and sources (deny.toml).
fn supply_chain() -> anyhow::Result<()> {
    install_deny()?;
    let deny = deny();
    let db = root().join(ADVISORY_DB);
    let _ = std::fs::remove_dir_all(&db);
    run(
        "unpack the RustSec advisory database snapshot (2026-08-21)",
        Command::new("git")
            .args(["-c", "init.defaultBranch=main", "clone", "--quiet"])
            .arg(root().join("supply-chain/advisory-db.bundle"))
            .arg(&db),
    )?;
    run("fetch every crate of the graph (cargo deny reads them offline)", cargo().args(["fetch", "--quiet"]))?;
    run(
        "cargo deny check: advisories as of the snapshot, licenses, bans, sources",
        Command::new(&deny).current_dir(root()).args(["--offline", "check", "--hide-inclusion-graph"]),
    )
}

fn demo(build: &[(String, std::ffi::OsString)]) -> anyhow::Result<()> {
    // The two binaries the demo runs, in one build (their dependencies resolved together), the
    // command without its cloud backends (object_store's S3, GCS and Azure clients): the demo
    // writes to a folder, and they were a fifth of a fresh clone's build.
    run(
        "build wyvern (without its cloud backends) and the sandbox replica",
        cargo()
            .args([
                "build",
                "--quiet",
                "--no-default-features",
                "-p",
                "wyvern-cli",
                "-p",
                "wyvern-sandbox",
                "--bin",
                "wyvern",
                "--bin",
                "wyvern-sandbox",
            ])
            .envs(build.iter().map(|(k, v)| (k, v))),
    )?;
    let wyvern = debug_binary("wyvern");
    let dest = root().join("wyvern-demo");
    let sandbox = Replica::start(&debug_binary("wyvern-sandbox"), &[])?;
    eprintln!("\nThe sandbox replica of Wyvern's API is listening on {}.", sandbox.api);
    let wyvern_cmd = |args: &[&str]| {
        let mut command = Command::new(&wyvern);
        command.args(["--api-url", &sandbox.api]).args(args).env("WYVERN_TOKEN", TOKEN);
        command
    };
    let dest_arg = dest.to_str().context("the demo folder is not UTF-8")?;
    run(&format!("wyvern order show {TEST_ORDER}"), &mut wyvern_cmd(&["order", "show", TEST_ORDER]))?;
    run(
        &format!("wyvern order download {TEST_ORDER} --to {dest_arg}"),
        &mut wyvern_cmd(&["order", "download", TEST_ORDER, "--to", dest_arg]),
    )?;
    run(
        "the same again: nothing to do, the receipt matches",
        &mut wyvern_cmd(&["order", "download", TEST_ORDER, "--to", dest_arg]),
    )?;
    eprintln!("\nFiles in {}:", dest.display());
    for file in files(&dest)? {
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        eprintln!("  {:>10}  {}", size, file.strip_prefix(&dest).unwrap_or(&file).display());
    }
    let zip = dest.join(TEST_ORDER).join(format!("{TEST_DELIVERABLE}.zip"));
    run("wyvern inspect: what the deliverable holds", Command::new(&wyvern).arg("inspect").arg(&zip))?;
    run(
        &format!("wyvern catalog {dest_arg}: a STAC catalog of the folder (pystac, rasterio, STAC browsers)"),
        Command::new(&wyvern).args(["catalog", dest_arg]),
    )?;
    let page = dest.join("report.html");
    run(
        &format!("wyvern report {dest_arg}: one page to look at"),
        Command::new(&wyvern).args(["report", dest_arg, "-o"]).arg(&page),
    )?;
    eprintln!(
        "\nThe zip was streamed to a temporary file and checked while it arrived (every member's CRC-32, \
         the central directory, the STAC item's sizes and BLAKE2b checksums, the GeoTIFF headers against \
         the item), then renamed into place; the receipt beside it records its size and SHA-256."
    );
    Ok(())
}

fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() { out.extend(files(&path)?) } else { out.push(path) }
    }
    out.sort();
    Ok(out)
}

/// Runs the storage emulators for tests run by hand: `eval` the printed lines in another shell.
fn emulators() -> anyhow::Result<()> {
    let emulators = emulators::Emulators::start(&root())?;
    for (key, value) in &emulators.env {
        println!("export {key}='{value}'");
    }
    eprintln!("storage emulators running; Ctrl-C (or SIGTERM) stops them");
    // Either signal returns here, so that dropping `emulators` stops them and removes their data.
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted,
            _ = terminate.recv() => Ok(()),
        }
    })?;
    drop(emulators);
    Ok(())
}

/// Fuzzes the inspector. cargo-fuzz needs nightly flags: `RUSTC_BOOTSTRAP=1` lets the stable
/// toolchain (the only one on these machines) accept them.
fn fuzz(seconds: &str) -> anyhow::Result<()> {
    let seconds: u64 = seconds.parse().context("fuzz takes a number of seconds")?;
    let corpus = root().join("fuzz/corpus/inspect");
    run(
        &format!("cargo fuzz run inspect for {seconds} s"),
        cargo()
            .current_dir(root().join("fuzz"))
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "inspect", "-O"])
            .arg(&corpus)
            .args(["--", &format!("-max_total_time={seconds}"), "-max_len=65536", "-rss_limit_mb=2048", "-timeout=10"]),
    )
}

fn live() -> anyhow::Result<()> {
    if std::env::var_os("WYVERN_TOKEN").is_none_or(|t| t.is_empty()) {
        eprintln!("xtask live: skipped: set WYVERN_TOKEN to a token for Wyvern's sandbox to run it");
        return Ok(());
    }
    let wyvern = build_wyvern()?;
    let dest = std::env::temp_dir().join(format!("wyvern-live-{}", std::process::id()));
    let dest_arg = dest.to_str().context("the temp folder is not UTF-8")?;
    run("wyvern --sandbox order show", Command::new(&wyvern).args(["--sandbox", "order", "show", TEST_ORDER]))?;
    run(
        "wyvern --sandbox order download",
        Command::new(&wyvern).args(["--sandbox", "order", "download", TEST_ORDER, "--to", dest_arg, "--json"]),
    )?;
    eprintln!("\nlive check passed; files are in {}", dest.display());
    Ok(())
}
