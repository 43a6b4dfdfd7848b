//! The bench's contention leg: the same downloads on a quiet machine and beside a CPU hog (a
//! spinning thread per core, as a test suite or a `cargo build` on a shared runner), to disk and
//! to tmpfs, each run's wall time shown so that noise is visible; and the peak RSS of every
//! wyvern run held to the bound docs/benchmarks.md records.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

/// The peak RSS a verified download must stay under, however busy the machine.
const BOUND_MIB: u64 = 64;

/// Where the tmpfs runs write.
const TMPFS: &str = "/dev/shm/wyvern-bench";

/// Threads spinning until dropped.
struct Hog {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hog {
    /// One spinning thread per core.
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// To disk and to tmpfs from the replica on loopback, and over the link, quiet then busy.
pub(super) fn busy(target: &Path, options: &Options, report: &mut String) -> anyhow::Result<()> {
    let replica = Served::start(target, options.size, false)?;
    let far = Served::start(target, options.link_size, false)?;
    let link = Link::start(far.addr()?, options.shape)?;
    let token = [("WYVERN_TOKEN".to_owned(), TOKEN.to_owned())];
    let binary = target.join("wyvern");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let url = format!("{}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/", replica.api);
    let tools = [
        wyvern(&binary, "wyvern", &replica.api, "", "\"$OUT\"", &token),
        Tool::new("curl", format!("curl -sSf -H '{auth}' -o \"$OUT/d.zip\" '{url}'")),
    ];
    let over_link = [wyvern(&binary, "wyvern over the link", &link.url(), "", "\"$OUT\"", &token)];
    let mut peaks = Vec::new();
    writeln!(report, "### Quiet and busy (a spinning thread per core beside each run)\n")?;
    for busy in [false, true] {
        let _hog = busy.then(Hog::start);
        let state = if busy { "busy" } else { "quiet" };
        for (place, scratch) in [("disk", root().join("target/bench-scratch")), ("tmpfs", TMPFS.into())] {
            let rows = compare_in(&tools, options.runs, &scratch)?;
            writeln!(report, "{state}, to {place}: {}", table(replica.bytes, options.runs, &rows, "curl"))?;
            peaks.extend(rows.into_iter().filter(|(name, _)| name == "wyvern").map(|(_, s)| (state, place, s)));
        }
        let rows = compare(&over_link, options.runs)?;
        writeln!(report, "{state}, over the link: {}", table(far.bytes, options.runs, &rows, "wyvern over the link"))?;
        peaks.extend(rows.into_iter().map(|(_, s)| (state, "the link", s)));
    }
    let worst = peaks.iter().map(|(_, _, samples)| max_rss(samples) >> 10).max().unwrap_or(0);
    let met = if worst < BOUND_MIB { "**met**" } else { "**not met**" };
    writeln!(
        report,
        "Peak RSS of every wyvern run, quiet or busy, under {BOUND_MIB} MiB: {met} (worst {worst} MiB).\n"
    )?;
    if worst >= BOUND_MIB {
        bail!("a wyvern run peaked at {worst} MiB, over the {BOUND_MIB} MiB bound");
    }
    Ok(())
}
