//! The bench's first-sync leg: a fresh `sync --all` of an account of many
//! small deliverables, in deliverables a second, beside `aria2c -i` fetching the same URLs and
//! `rclone copy --http-url` copying the same zips from an HTTP server (`rclone serve http` of
//! wyvern's result), each 16 at a time.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::scale::ids;
use super::{Served, have};
use crate::replica::TOKEN;
use crate::root;

/// The orders of the account, one deliverable of 64 KiB each.
const ORDERS: u64 = 2_000;

/// Transfers at once, for every tool.
const AT_ONCE: &str = "16";

/// Times `command`, which must succeed.
fn timed(what: &str, command: &mut Command) -> anyhow::Result<f64> {
    eprintln!("==> {what}");
    let started = Instant::now();
    let status = command.stdout(Stdio::null()).status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The zips under `folder`.
fn zips(folder: &Path) -> anyhow::Result<u64> {
    let mut count = 0;
    for order in std::fs::read_dir(folder)? {
        let order = order?.path();
        if order.is_dir() {
            count += std::fs::read_dir(&order)?
                .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "zip")))
                .count() as u64;
        }
    }
    Ok(count)
}

pub(super) fn first_sync(target: &Path, report: &mut String) -> anyhow::Result<()> {
    let replica = Served::start_many(target, ORDERS, 1)?;
    let scratch = root().join("target/bench-scratch/first");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let mut rows = Vec::new();
    let synced = scratch.join("wyvern");
    let wall = timed(
        "wyvern sync --all of the account into an empty folder",
        Command::new(target.join("wyvern"))
            .args(["--api-url", &replica.api, "sync", "--all", "--concurrency", AT_ONCE, "-q", "--to"])
            .arg(&synced)
            .env("WYVERN_TOKEN", TOKEN),
    )?;
    rows.push(("wyvern sync --all (verified, receipts)", zips(&synced)?, wall));
    if have("aria2c") {
        let list = scratch.join("urls.txt");
        let mut text = String::new();
        for index in 0..ORDERS {
            let (order, deliverable) = ids(index);
            let url = format!("{}/1.0/tasking/deliverables/{deliverable}/", replica.api);
            writeln!(text, "{url}\n  out={order}/{deliverable}.zip")?;
        }
        std::fs::write(&list, text)?;
        let dest = scratch.join("aria2c");
        let wall = timed(
            "aria2c -i of the generated deliverables' URLs",
            Command::new("aria2c")
                .args(["-q", "-j", AT_ONCE, "--header", &format!("Authorization: Bearer {TOKEN}"), "-i"])
                .arg(&list)
                .arg("-d")
                .arg(&dest),
        )?;
        rows.push(("aria2c -i (the generated orders' URLs)", zips(&dest)?, wall));
    } else {
        eprintln!("note: aria2c is not installed (apt-get install aria2): its first-sync row is skipped");
    }
    if have("rclone") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        let mut server = Command::new("rclone")
            .args(["serve", "http", "--addr", &address])
            .arg(&synced)
            .stderr(Stdio::null())
            .spawn()
            .context("starting rclone serve http")?;
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::net::TcpStream::connect(&address).is_ok()
        });
        let dest = scratch.join("rclone");
        let copied = ready.then(|| {
            timed(
                "rclone copy --http-url of wyvern's zips",
                Command::new("rclone")
                    .args(["copy", "--http-url", &format!("http://{address}"), ":http:", "--include", "*.zip"])
                    .args(["--transfers", AT_ONCE, "--checkers", AT_ONCE])
                    .arg(&dest),
            )
        });
        let _ = server.kill();
        let _ = server.wait();
        let wall = copied.context("rclone serve http did not start")??;
        rows.push(("rclone copy --http-url (rclone serve http)", zips(&dest)?, wall));
    } else {
        eprintln!("note: rclone is not installed (apt-get install rclone): its first-sync row is skipped");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut table = String::from("| tool | deliverables | wall | deliverables a second |\n|---|---|---|---|\n");
    for (tool, count, wall) in rows {
        writeln!(table, "| {tool} | {count} | {wall:.1} s | {:.0} |", count as f64 / wall.max(1e-9))?;
    }
    writeln!(
        report,
        "### A first sync of many small deliverables ({ORDERS} orders of one 64 KiB deliverable, {AT_ONCE} at once)\n\n{table}"
    )?;
    Ok(())
}
