//! Running unattended: `sync --watch` round after round, hooks (`--exec`), `--metrics`.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use wyvern_sandbox::{PARTIAL_DELIVERABLES, PARTIAL_ORDER, PENDING_ORDER, TEST_DELIVERABLE, TEST_ORDER, TEST_TOKEN};

use crate::World;
use crate::signals::signal;

/// The deliverable of the pending order, once it is fulfilled.
const LATER: &str = "00000000-0000-0000-0000-000000000021";

/// Waits until `path` exists (a deliverable was published), at most 60 s.
async fn appears(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `--json` lines a child printed so far, read as they come.
struct Lines {
    reader: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: Vec<serde_json::Value>,
}

impl Lines {
    fn of(child: &mut tokio::process::Child) -> Self {
        Self { reader: BufReader::new(child.stdout.take().expect("stdout")).lines(), seen: Vec::new() }
    }

    /// Reads lines until one satisfies `wanted`; returns it.
    async fn until(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let read = async {
            while let Some(line) = self.reader.next_line().await.expect("stdout") {
                let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                self.seen.push(value.clone());
                if wanted(&value) {
                    return value;
                }
            }
            panic!("the watch ended; lines so far: {:#?}", self.seen);
        };
        tokio::time::timeout(Duration::from_secs(90), read).await.expect("in time")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_fetches_orders_completed_later_rides_out_failing_polls_and_stops_on_sigterm() {
    let world = World::new().await;
    let dest = world.dest();
    let args = ["sync", "--all", "--watch", "--interval", "300ms", "--json", "--to", dest.to_str().expect("utf-8")];
    let mut child = world.spawn(&args, &[]);
    drop(child.stdin.take());
    let mut lines = Lines::of(&mut child);
    lines.until(|line| line["round"] == 1).await;
    for id in [TEST_DELIVERABLE, PARTIAL_DELIVERABLES[0], PARTIAL_DELIVERABLES[1]] {
        assert!(lines.seen.iter().any(|l| l["deliverable_id"] == id && l["status"] == "downloaded"), "{id}");
    }

    // The API goes down for a while: rounds fail, are said, and the watch goes on.
    world.sandbox.fail_order_listings(8);
    let failed = lines.until(|line| line["round"].is_u64() && line["error"].is_string()).await;
    assert!(failed["error"].as_str().expect("error").contains("503"), "{failed}");
    assert!(failed["next_in_s"].as_f64().expect("next") >= 0.6, "backs off: {failed}");

    // An order fulfilled later arrives in a later round.
    world.sandbox.set_order(PENDING_ORDER, "completed", Some("fulfilled"), &[LATER]);
    lines.until(|line| line["deliverable_id"] == LATER && line["status"] == "downloaded").await;
    appears(&dest.join(PENDING_ORDER).join(format!("{LATER}.zip"))).await;
    let round = lines.until(|line| line["round"].is_u64() && line["error"].is_null()).await;

    signal(&child, Signal::SIGTERM);
    let run = crate::finish(child).await;
    assert_eq!(run.code, 0, "a service asked to stop: {run:#?}");
    assert!(run.stderr.contains("stopped"), "{}", run.stderr);
    // Nothing was fetched twice over all those rounds.
    let downloads = lines.seen.iter().filter(|l| l["status"] == "downloaded").count();
    assert_eq!(downloads, 4, "{round}: {:#?}", lines.seen);
    let mut names: Vec<String> = walk(&dest);
    names.retain(|name| !name.ends_with(".zip") && !name.ends_with(".receipt.json"));
    assert!(names.is_empty(), "nothing half-written: {names:?}");
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_watch_prints_nothing_and_its_memory_does_not_grow_with_rounds() {
    let world = World::new().await.without_log();
    let dest = world.dest();
    let to = dest.to_str().expect("utf-8");
    assert_eq!(world.run(&["sync", "--all", "--to", to]).await.code, 0);

    // At default verbosity a round with nothing new says nothing.
    let mut child = world.spawn(&["sync", "--all", "--watch", "--interval", "200ms", "--to", to], &[]);
    drop(child.stdin.take());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&child, Signal::SIGTERM);
    let run = crate::finish(child).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "only the stop: {run:#?}");

    // Hundreds of rounds: the resident memory after the 100th and after the 600th.
    let mut child = world.spawn(&["sync", "--all", "--watch", "--interval", "5ms", "--json", "--to", to], &[]);
    drop(child.stdin.take());
    let pid = child.id().expect("pid");
    let mut lines = Lines::of(&mut child);
    lines.until(|line| line["round"] == 100).await;
    let early = resident(pid);
    lines.until(|line| line["round"] == 600).await;
    let late = resident(pid);
    signal(&child, Signal::SIGTERM);
    drop(lines);
    let _ = child.wait().await;
    eprintln!("resident memory: {} KiB after 100 rounds, {} KiB after 600", early >> 10, late >> 10);
    assert!(late < early + (4 << 20), "grew from {early} to {late} bytes over 500 rounds");
}

/// The process's resident memory, in bytes (`VmRSS`).
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kib: u64 = line.split_whitespace().nth(1).expect("figure").parse().expect("KiB");
    kib << 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_once_per_delivery_with_its_facts_and_no_secrets_and_failures_exit_7() {
    let world = World::new().await;
    let dest = world.dest();
    let to = dest.to_str().expect("utf-8");
    let out = world.dir.path().join("hooks");
    std::fs::create_dir(&out).expect("mkdir");
    let hook = format!("env > '{}'/\"$WYVERN_DELIVERABLE_ID\".env", out.display());
    let env = [("WYVERN_PASSWORD", "hunter2-password")];
    let run = world.run_with(&["order", "download", PARTIAL_ORDER, "--to", to, "--exec", &hook], &env, None).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for id in PARTIAL_DELIVERABLES {
        let text = std::fs::read_to_string(out.join(format!("{id}.env"))).expect("the hook ran");
        let var = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name}: {text}"))
        };
        assert_eq!(var("WYVERN_ORDER_ID"), PARTIAL_ORDER);
        let zip = dest.join(PARTIAL_ORDER).join(format!("{id}.zip"));
        assert_eq!(var("WYVERN_DESTINATION"), zip.to_str().expect("utf-8"));
        let bytes = std::fs::read(&zip).expect("the zip is there when the hook runs");
        assert_eq!(var("WYVERN_BYTES"), bytes.len().to_string());
        assert_eq!(var("WYVERN_SHA256"), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
        assert!(!text.contains(TEST_TOKEN) && !text.contains("hunter2") && !text.contains("WYVERN_TOKEN="), "{text}");
    }

    // Skipped deliverables run no hook.
    std::fs::remove_dir_all(&out).expect("rm");
    std::fs::create_dir(&out).expect("mkdir");
    let run = world.run(&["order", "download", PARTIAL_ORDER, "--to", to, "--exec", &hook]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0);

    // With --extract, the destination is the folder of the members.
    let extracted = world.dir.path().join("extracted");
    let args = ["deliverable", "download", TEST_DELIVERABLE, "--extract", "--to", extracted.to_str().expect("utf-8")];
    let run = world.run(&[&args[..], &["--exec", &hook]].concat()).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let text = std::fs::read_to_string(out.join(format!("{TEST_DELIVERABLE}.env"))).expect("the hook ran");
    let folder = text.lines().find_map(|l| l.strip_prefix("WYVERN_DESTINATION=")).expect("destination");
    assert!(Path::new(folder).is_dir(), "{folder}");

    // A hook that fails, or outlives its timeout, is reported and counted; the deliveries stand.
    // (What the timed-out hook started goes with it.)
    let leftover = world.dir.path().join("leftover.pid");
    let lingering = format!("sleep 30 & echo $! > '{}'; wait", leftover.display());
    for (hook, says) in [("exit 3", "exited with status 3"), (lingering.as_str(), "ran past its timeout of 300ms")] {
        let again = ["--if-exists", "overwrite", "--exec", hook, "--exec-timeout", "300ms"];
        let run = world.run(&[&["sync", TEST_ORDER, "--json", "--to", to][..], &again].concat()).await;
        assert_eq!(run.code, 7, "{run:#?}");
        assert!(run.stderr.contains(says) && run.stderr.contains("hint: the deliverable was delivered"), "{run:#?}");
        let lines = run.json_lines();
        assert!(lines.iter().any(|l| l["hook_failed"] == TEST_DELIVERABLE), "{lines:#?}");
        assert!(lines.iter().any(|l| l["summary"]["hooks_failed"] == 1), "{lines:#?}");
        assert!(dest.join(TEST_ORDER).join(format!("{TEST_DELIVERABLE}.zip")).exists());
    }
    let pid = std::fs::read_to_string(&leftover).expect("the hook started its sleep");
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z "), "the hook's sleep lives on: {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_whose_credentials_are_refused_ends_with_exit_5() {
    let world = World::new().await;
    let dest = world.dest();
    let args = ["sync", "--all", "--watch", "--interval", "200ms", "--json", "--to", dest.to_str().expect("utf-8")];
    let mut child = world.spawn(&args, &[]);
    drop(child.stdin.take());
    let mut lines = Lines::of(&mut child);
    lines.until(|line| line["round"] == 1).await;
    world.sandbox.revoke_tokens(Some("someone-else"));
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("the watch ends");
    assert_eq!(status.expect("status").code(), Some(5));
}
