//! The bench's scale leg: the peak memory of a no-op `sync --all` of an account of 10,000 to a
//! million deliverables (one per order, the replica generating them from their index), into a
//! folder and into the S3 emulator, with the requests it costs.
//!
//! A first sync of a million deliverables would take hours here, so the destination is laid out
//! as a sync leaves it: one real sync of the first deliverable gives the zip and its receipt,
//! and every other deliverable gets a hard link to that zip and the receipt with its own ids.
//! The S3 emulator (s3s-fs) serves a bucket from a folder, so a bucket is laid out the same way;
//! its ListObjectsV2 walks and sorts the whole bucket for every page (quadratic), which caps the
//! S3 rows at [`S3_MAX`].

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Served, mib, record};
use crate::emulators::Emulators;
use crate::link::{Link, Shape};
use crate::replica::{TEST_ORDER, TOKEN};
use crate::{root, run};

/// The account sizes measured by default.
pub(super) const SIZES: [u64; 4] = [10_000, 30_000, 100_000, 1_000_000];

/// The largest account measured into the S3 emulator (see the module's comment).
const S3_MAX: u64 = 30_000;

/// The replica's fixture order with two deliverables (its test order has one).
const PARTIAL_ORDER: &str = "00000000-0000-0000-0000-000000000010";

/// Hard links to one file, at most (ext4 allows 65,000).
const LINKS_PER_ZIP: u64 = 50_000;

/// The ids of the replica's generated order `index` and of its one deliverable.
pub(super) fn ids(index: u64) -> (String, String) {
    (format!("00000000-0000-0000-0002-{index:012}"), format!("00000000-0000-0000-0003-{:012}", index + 1))
}

/// One measured no-op re-sync.
struct Measured {
    api: u64,
    storage: u64,
    rss_kib: u64,
    wall: f64,
}

pub(super) fn scale(target: &Path, sizes: &[u64], report: &mut String) -> anyhow::Result<()> {
    let emulators = Emulators::start(&root())?;
    let env = |key: &str| emulators.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let scratch = root().join("target/bench-scratch/scale");
    let bucket_dir = Path::new(&env("WYVERN_TEST_S3_DATA_DIR")).join("test-bucket/scale");
    let storage = Link::start(
        env("AWS_ENDPOINT").trim_start_matches("http://").parse()?,
        Shape { rtt: Duration::ZERO, rate: None },
    )?;
    let mut rows = String::new();
    let mut peaks = Vec::new();
    for &deliverables in sizes {
        let replica = Served::start_many(target, deliverables, 1)?;
        let api = Link::start(replica.addr()?, Shape { rtt: Duration::ZERO, rate: None })?;
        let template = scratch.join("template");
        let _ = std::fs::remove_dir_all(&template);
        let (order, _) = ids(0);
        let template_arg = template.to_str().context("a UTF-8 path")?;
        run(
            "sync the replica's fixture orders and the first generated deliverable, which every other copies",
            Command::new(target.join("wyvern"))
                .args([
                    "--api-url",
                    &replica.api,
                    "sync",
                    TEST_ORDER,
                    PARTIAL_ORDER,
                    &order,
                    "--to",
                    template_arg,
                    "-q",
                ])
                .env("WYVERN_TOKEN", TOKEN),
        )?;
        for (destination, folder) in [("local folder", scratch.join("dest")), ("S3 emulator", bucket_dir.clone())] {
            let s3 = destination == "S3 emulator";
            if s3 && deliverables > S3_MAX {
                continue;
            }
            let _ = std::fs::remove_dir_all(&folder);
            crate::timed(&format!("lay out {deliverables} deliverables ({destination})"), || {
                lay_out(&template, &folder, deliverables)
            })?;
            let to = if s3 { "s3://test-bucket/scale".to_owned() } else { folder.display().to_string() };
            let measured = no_op_sync(target, &api, &storage, &emulators.env, &to, &scratch)?;
            let _ = std::fs::remove_dir_all(&folder);
            peaks.push((destination, measured.rss_kib));
            writeln!(
                rows,
                "| {deliverables} | {destination} | {} | {} | {} | {:.1} s |",
                measured.api,
                if s3 { measured.storage.to_string() } else { "- (no listing: a look at each)".to_owned() },
                mib(measured.rss_kib * 1024),
                measured.wall
            )?;
        }
    }
    let mut spread = String::new();
    for destination in ["local folder", "S3 emulator"] {
        let rss: Vec<u64> = peaks.iter().filter(|(d, _)| *d == destination).map(|(_, rss)| *rss).collect();
        if let (Some(low), Some(high)) = (rss.iter().min(), rss.iter().max()) {
            write!(spread, "{destination}: peak RSS within {} across the sizes. ", mib((high - low) * 1024))?;
        }
    }
    let table = format!(
        "| deliverables | destination | API requests | destination requests | peak RSS | wall |\n\
         |---|---|---|---|---|---|\n{rows}\n{spread}(Goal: within 8 MiB from 10,000 to 1,000,000.)\n"
    );
    writeln!(report, "### Account scale: a no-op `sync --all` (one deliverable per order)\n\n{table}")?;
    record("docs/benchmarks.md", "<!-- scale:start -->", "<!-- scale:end -->", &table)?;
    eprintln!("docs/benchmarks.md's account-scale table updated");
    Ok(())
}

/// Lays out `deliverables` as a sync leaves them in `folder`: `<order>/<deliverable>.zip`, a
/// hard link to the template's zip, and its receipt (the template's, with the ids replaced),
/// written after the zips.
fn lay_out(template: &Path, folder: &Path, deliverables: u64) -> anyhow::Result<()> {
    let (order, deliverable) = ids(0);
    let zip = template.join(&order).join(format!("{deliverable}.zip"));
    let receipt = std::fs::read_to_string(template.join(&order).join(format!("{deliverable}.receipt.json")))?;
    let mut source = folder.to_path_buf();
    for index in 0..deliverables {
        let (order_id, deliverable_id) = ids(index);
        let dir = folder.join(&order_id);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{deliverable_id}.zip"));
        if index % LINKS_PER_ZIP == 0 {
            std::fs::copy(&zip, &path)?;
            source = path;
        } else {
            std::fs::hard_link(&source, &path)?;
        }
    }
    // The fixture orders as they are, and receipts after every zip: a receipt written before
    // its zip vouches for nothing.
    let fixtures = [TEST_ORDER, PARTIAL_ORDER].map(|fixture| (template.join(fixture), folder.join(fixture)));
    let files = |from: &Path| -> anyhow::Result<Vec<std::path::PathBuf>> {
        Ok(std::fs::read_dir(from)?.map(|entry| entry.map(|e| e.path())).collect::<Result<_, _>>()?)
    };
    for (from, to) in &fixtures {
        std::fs::create_dir_all(to)?;
        for zip in files(from)?.iter().filter(|f| f.extension().is_some_and(|e| e == "zip")) {
            std::fs::copy(zip, to.join(zip.file_name().context("a file")?))?;
        }
    }
    std::thread::sleep(Duration::from_millis(20));
    for (from, to) in &fixtures {
        for receipt in files(from)?.iter().filter(|f| f.extension().is_some_and(|e| e != "zip")) {
            std::fs::copy(receipt, to.join(receipt.file_name().context("a file")?))?;
        }
    }
    for index in 0..deliverables {
        let (order_id, deliverable_id) = ids(index);
        let text = receipt.replace(&order, &order_id).replace(&deliverable, &deliverable_id);
        std::fs::write(folder.join(&order_id).join(format!("{deliverable_id}.receipt.json")), text)?;
    }
    Ok(())
}

/// Runs `sync --all --to to` under `/usr/bin/time`, checks that it fetched nothing, and says
/// what it cost.
fn no_op_sync(
    target: &Path,
    api: &Link,
    storage: &Link,
    env: &[(String, String)],
    to: &str,
    scratch: &Path,
) -> anyhow::Result<Measured> {
    let (figures, lines) = (scratch.join("time.txt"), scratch.join("lines.json"));
    let before = (api.responses(), storage.responses());
    let started = std::time::Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&figures)
        .arg(target.join("wyvern"))
        .args(["--api-url", &api.url(), "sync", "--all", "--to", to, "--concurrency", "16", "--json"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT", storage.url())
        .env("WYVERN_TOKEN", TOKEN)
        .stdout(std::fs::File::create(&lines)?)
        .status()?;
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the no-op sync into {to} failed ({status})");
    }
    let text = std::fs::read_to_string(&lines)?;
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())?;
    if summary["summary"]["downloaded"] != 0 {
        bail!("the sync into {to} was no no-op: {summary}");
    }
    let rss_kib = std::fs::read_to_string(&figures)?.trim().parse().context("/usr/bin/time's figure")?;
    Ok(Measured { api: api.responses() - before.0, storage: storage.responses() - before.1, rss_kib, wall })
}
