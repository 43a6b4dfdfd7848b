//! `cargo xtask bench`: wyvern side by side with the tools people use today, on one machine, in
//! one run, against the replica on loopback: to local disk, over a simulated distant link, and
//! into the S3 emulator. Figures go to target/bench-report.md, docs/img/ and, when every leg ran,
//! between the markers of docs/benchmarks.md.

mod busy;
mod first;
mod s3;
mod scale;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::replica::{Replica, TEST_DELIVERABLE, TEST_ORDER, TOKEN};
use anyhow::{Context, bail};

use crate::emulators::Emulators;
use crate::link::{Link, Shape};
use crate::{cargo, root, run};

/// Each tool's samples, in the order the tools ran.
type Rows = Vec<(String, Vec<Sample>)>;

/// One measured run: wall seconds, user+sys seconds, peak RSS in KiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
}

/// A contender: a name, the shell command that fetches the deliverable (into `$OUT`, a fresh
/// folder, or under a key made of `$RUN`), and any environment it needs.
struct Tool {
    name: String,
    command: String,
    env: Vec<(String, String)>,
}

impl Tool {
    fn new(name: &str, command: String) -> Self {
        Self { name: name.to_owned(), command, env: Vec::new() }
    }

    fn env(mut self, env: &[(String, String)]) -> Self {
        self.env.extend_from_slice(env);
        self
    }
}

const ALL_LEGS: [Leg; 7] = [Leg::Local, Leg::Link, Leg::Busy, Leg::S3, Leg::Resync, Leg::Scale, Leg::First];

/// The legs of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Local,
    Link,
    Busy,
    S3,
    Resync,
    Scale,
    First,
}

#[derive(Debug)]
pub(crate) struct Options {
    pub size: u64,
    pub runs: usize,
    pub sweep: bool,
    legs: Vec<Leg>,
    /// The deliverable's size over the simulated link (slow by design).
    link_size: u64,
    shape: Shape,
    /// Another `wyvern` binary (an earlier build, say) to run beside this one in the local leg.
    baseline: Option<PathBuf>,
    /// The account sizes of the scale leg.
    scale: Vec<u64>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            size: 1 << 30,
            runs: 3,
            sweep: false,
            legs: ALL_LEGS.to_vec(),
            link_size: 256 << 20,
            shape: Shape { rtt: Duration::from_millis(50), rate: Some(40_000_000) },
            baseline: None,
            scale: scale::SIZES.to_vec(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} takes a value"));
            match arg.as_str() {
                "--size" => options.size = parse_size(value()?)?,
                "--link-size" => options.link_size = parse_size(value()?)?,
                "--runs" => options.runs = value()?.parse()?,
                "--sweep" => options.sweep = true,
                "--rtt" => options.shape.rtt = Duration::from_millis(value()?.parse()?),
                "--rate" => options.shape.rate = Some(value()?.parse::<u64>()? * 1_000_000),
                "--baseline" => options.baseline = Some(PathBuf::from(value()?)),
                "--scale" => {
                    options.scale = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?;
                }
                "--only" => {
                    options.legs = value()?
                        .split(',')
                        .map(|leg| match leg {
                            "local" => Ok(Leg::Local),
                            "link" => Ok(Leg::Link),
                            "busy" => Ok(Leg::Busy),
                            "s3" => Ok(Leg::S3),
                            "resync" => Ok(Leg::Resync),
                            "scale" => Ok(Leg::Scale),
                            "first" => Ok(Leg::First),
                            other => bail!("unknown leg {other:?} (legs: local, link, busy, s3, resync, scale, first)"),
                        })
                        .collect::<anyhow::Result<_>>()?;
                }
                other => bail!(
                    "unknown bench option {other:?} (options: --size SIZE, --runs N, --sweep, --only \
                     local,link,busy,s3,resync,scale,first, --link-size SIZE, --rtt MS, --rate MB_PER_S, --baseline WYVERN_BINARY, \
                     --scale N,N,...)"
                ),
            }
        }
        Ok(options)
    }
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let size: bytesize::ByteSize = text.parse().map_err(|e| anyhow::anyhow!("bad size {text:?}: {e}"))?;
    Ok(size.as_u64())
}

pub(crate) fn bench(options: &Options) -> anyhow::Result<()> {
    if !have("/usr/bin/time") || !have("curl") {
        bail!("the bench measures with /usr/bin/time and compares with curl (Debian packages `time` and `curl`)");
    }
    run(
        "build release binaries",
        cargo().args(["build", "--release", "--quiet", "-p", "wyvern-cli", "-p", "wyvern-sandbox"]),
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from).join("release");
    // The Python API contends in the local and S3 legs.
    let python =
        if options.legs.iter().any(|leg| matches!(leg, Leg::Local | Leg::S3)) { Some(python_api()?) } else { None };
    let mut report = String::new();
    writeln!(report, "Machine: {}; {} alternating runs.\n", machine(), options.runs)?;
    let mut failed = None;
    for leg in &options.legs {
        let ran = match leg {
            Leg::Local => local(&target, python.as_deref(), options, &mut report),
            Leg::Link => link(&target, options, &mut report),
            Leg::Busy => busy::busy(&target, options, &mut report),
            Leg::S3 => s3::s3(&target, python.as_deref(), options, &mut report),
            Leg::Resync => resync(&target, &mut report),
            Leg::Scale => scale::scale(&target, &options.scale, &mut report),
            Leg::First => first::first_sync(&target, &mut report),
        };
        // A goal a leg checks and misses fails the bench, after the report of every leg.
        if let Err(error) = ran {
            eprintln!("bench: {leg:?}: {error:#}");
            failed.get_or_insert(error);
        }
    }
    println!("{report}");
    std::fs::write(root().join("target/bench-report.md"), &report)?;
    eprintln!("report written to target/bench-report.md; charts to docs/img/");
    if let Some(error) = failed {
        return Err(error);
    }
    if options.legs.len() == ALL_LEGS.len() {
        record("docs/benchmarks.md", START, END, &report)?;
        eprintln!("docs/benchmarks.md updated");
    } else {
        eprintln!("docs/benchmarks.md keeps its figures: it is updated by runs of every leg");
    }
    Ok(())
}

const START: &str = "<!-- bench:start (written by `cargo xtask bench`) -->";
const END: &str = "<!-- bench:end -->";

/// Puts `text` between the markers `start` and `end` of the document `doc`.
fn record(doc: &str, start: &str, end: &str, text: &str) -> anyhow::Result<()> {
    let path = root().join(doc);
    let content = std::fs::read_to_string(&path)?;
    let (Some(from), Some(to)) = (content.find(start), content.find(end)) else {
        bail!("{} lacks the markers {start} and {end}", path.display());
    };
    let updated = format!("{}{start}\n{text}{}", &content[..from], &content[to..]);
    std::fs::write(&path, updated)?;
    Ok(())
}

/// A no-op re-sync, and what it costs in requests: 1,000 deliverables into the S3 emulator and
/// 10,000 to a local folder, each synced once, then again, through counting proxies in front of
/// the API and the emulator. The table also goes into docs/sync.md.
fn resync(target: &Path, report: &mut String) -> anyhow::Result<()> {
    let emulators = Emulators::start(&root())?;
    let mut rows = String::new();
    for (orders, per_order, to) in [(100u64, 10u64, "s3"), (1000, 10, "local")] {
        let replica = Served::start_many(target, orders, per_order)?;
        let api = Link::start(replica.addr()?, Shape { rtt: Duration::ZERO, rate: None })?;
        let env = |key: &str| emulators.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
        let storage = Link::start(
            env("AWS_ENDPOINT").trim_start_matches("http://").parse()?,
            Shape { rtt: Duration::ZERO, rate: None },
        )?;
        let folder = root().join("target/bench-scratch/resync");
        let _ = std::fs::remove_dir_all(&folder);
        let dest = if to == "s3" {
            format!("s3://test-bucket/resync-{}", std::process::id())
        } else {
            folder.display().to_string()
        };
        let sync = || {
            let mut command = Command::new(target.join("wyvern"));
            command
                .args(["--api-url", &api.url(), "sync", "--all", "--to", &dest, "--concurrency", "16", "-q"])
                .envs(emulators.env.iter().map(|(k, v)| (k, v)))
                .env("AWS_ENDPOINT", storage.url())
                .env("WYVERN_TOKEN", TOKEN);
            command
        };
        let deliverables = orders * per_order;
        run(&format!("sync {deliverables} deliverables ({to})"), &mut sync())?;
        let before = (api.responses(), storage.responses());
        let started = std::time::Instant::now();
        run(&format!("re-sync them ({to}): nothing new"), &mut sync())?;
        let wall = started.elapsed();
        let (api_requests, storage_requests) = (api.responses() - before.0, storage.responses() - before.1);
        let destination = if to == "s3" { "S3 emulator" } else { "local folder" };
        let storage_requests =
            if to == "s3" { storage_requests.to_string() } else { "- (no listing: a look at each)".to_owned() };
        let per_object = if to == "s3" { (2 * deliverables).to_string() } else { "-".to_owned() };
        writeln!(
            rows,
            "| {deliverables} in {orders} orders | {destination} | {api_requests} | {storage_requests} | {per_object} | {:.2} s |",
            wall.as_secs_f64()
        )?;
        let _ = std::fs::remove_dir_all(&folder);
    }
    let table = format!(
        "| deliverables | destination | API requests | destination requests | before (HEAD + GET each) | wall |\n\
         |---|---|---|---|---|---|\n{rows}\n"
    );
    writeln!(report, "### A no-op re-sync (`sync --all`, nothing new)\n\n{table}")?;
    record("docs/sync.md", "<!-- resync:start -->", "<!-- resync:end -->", &table)?;
    eprintln!("docs/sync.md updated");
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python package, an optimised build in the tests' venv: its interpreter.
fn python_api() -> anyhow::Result<PathBuf> {
    let venv = crate::corpus::venv(&root())?;
    crate::corpus::install_package(&root(), &venv, true, &[])?;
    Ok(venv.join("bin/python"))
}

/// `wyvern.Client.download` of the test order (its one deliverable) into `dest`, from `python`.
fn python_download(python: &Path, label: &str, api: &str, dest: &str, env: &[(String, String)]) -> Tool {
    let script = format!(
        "import os, wyvern\nwyvern.Client(token='{TOKEN}', api_url='{api}').download('{TEST_ORDER}', to=os.path.expandvars('{dest}'))\n"
    );
    let mut env = env.to_vec();
    env.push(("SCRIPT".to_owned(), script));
    Tool::new(label, format!("{} -c \"$SCRIPT\"", python.display())).env(&env)
}

/// To local disk: wyvern (verifying; the CLI and the Python API) against curl, curl + unzip -t,
/// the Python loop, aria2c.
fn local(target: &Path, python: Option<&Path>, options: &Options, report: &mut String) -> anyhow::Result<()> {
    let sizes: Vec<u64> = if options.sweep { vec![64 << 20, 256 << 20, 1 << 30, 4 << 30] } else { vec![options.size] };
    let mut sweep = Vec::new();
    for &size in &sizes {
        let replica = Served::start(target, size, false)?;
        let mut tools = download_tools(target, &replica.api);
        if let Some(python) = python {
            tools.insert(1, python_download(python, "wyvern (Python API)", &replica.api, "$OUT", &[]));
        }
        if let Some(baseline) = &options.baseline {
            let token = [("WYVERN_TOKEN".to_owned(), TOKEN.to_owned())];
            tools.insert(1, wyvern(baseline, "wyvern (baseline)", &replica.api, "", "\"$OUT\"", &token));
        }
        let rows = compare(&tools, options.runs)?;
        if size == options.size || !options.sweep {
            writeln!(report, "### To local disk\n\n{}", table(replica.bytes, options.runs, &rows, "curl"))?;
            chart("bench-wall.svg", &rows, replica.bytes, "to local disk")?;
        }
        if let Some((_, wyvern)) = rows.iter().find(|(name, _)| name == "wyvern") {
            sweep.push((replica.bytes, median(wyvern, |s| s.wall), max_rss(wyvern)));
        }
    }
    if options.sweep {
        writeln!(
            report,
            "Size sweep (wyvern, verification on):\n\n| size | median wall | throughput | peak RSS |\n|---|---|---|---|"
        )?;
        for (size, wall, rss) in &sweep {
            writeln!(
                report,
                "| {} | {wall:.2} s | {:.0} MiB/s | {} MiB |",
                mib(*size),
                *size as f64 / wall / 1048576.0,
                rss >> 10
            )?;
        }
        writeln!(report)?;
    }
    Ok(())
}

/// Through the link proxy: parallel ranges against one stream.
fn link(target: &Path, options: &Options, report: &mut String) -> anyhow::Result<()> {
    let replica = Served::start(target, options.link_size, false)?;
    let link = Link::start(replica.addr()?, options.shape)?;
    let url = link.url();
    let auth = format!("Authorization: Bearer {TOKEN}");
    let deliverable = format!("{url}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/");
    let token = [("WYVERN_TOKEN".to_owned(), TOKEN.to_owned())];
    let mut tools: Vec<Tool> = ["", "--connections 8"]
        .into_iter()
        .map(|flags| wyvern(&target.join("wyvern"), "wyvern", &url, flags, "\"$OUT\"", &token))
        .collect();
    tools.push(Tool::new("curl", format!("curl -sSf -H '{auth}' -o \"$OUT/d.zip\" '{deliverable}'")));
    tools.extend(aria2c(&auth, &deliverable));
    let rows = compare(&tools, options.runs)?;
    let rate = options.shape.rate.map_or_else(|| "no cap".to_owned(), |r| format!("{} MB/s", r / 1_000_000));
    writeln!(
        report,
        "### Over a distant link ({} ms RTT, {rate} per connection)\n\n{}",
        options.shape.rtt.as_millis(),
        table(replica.bytes, options.runs, &rows, "curl")
    )?;
    let title = format!("over a {} ms, {rate} link", options.shape.rtt.as_millis());
    chart("bench-link.svg", &rows, replica.bytes, &title)?;
    Ok(())
}

/// `wyvern deliverable download` (the binary at `binary`) of the test deliverable from `api` into
/// `dest` with `flags`, named `label` followed by the flags.
fn wyvern(binary: &Path, label: &str, api: &str, flags: &str, dest: &str, env: &[(String, String)]) -> Tool {
    let command =
        format!("{} --api-url {api} deliverable download {TEST_DELIVERABLE} --to {dest} -q {flags}", binary.display());
    Tool::new(format!("{label} {flags}").trim_end(), command).env(env)
}

/// The download contenders, against the replica at `api`.
fn download_tools(target: &Path, api: &str) -> Vec<Tool> {
    let url = format!("{api}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let token = [("WYVERN_TOKEN".to_owned(), TOKEN.to_owned())];
    let curl = format!("curl -sSf -H '{auth}' -o \"$OUT/d.zip\" '{url}'");
    let mut tools = vec![
        wyvern(&target.join("wyvern"), "wyvern", api, "", "\"$OUT\"", &token),
        // The same transfer, hashed for the receipt but not verified.
        wyvern(&target.join("wyvern"), "wyvern", api, "--no-verify", "\"$OUT\"", &token),
        Tool::new("curl", curl.clone()),
        // curl's file made durable, as wyvern's is before it takes its name.
        Tool::new("curl + fsync", format!("{curl} && sync \"$OUT/d.zip\"")),
    ];
    if have("unzip") {
        tools.push(Tool::new("curl + unzip -t", format!("{curl} && unzip -tq \"$OUT/d.zip\" >/dev/null")));
    } else {
        eprintln!("note: unzip is not installed (apt-get install unzip): curl + unzip -t is skipped");
    }
    if Command::new("python3").args(["-c", "import requests"]).status().is_ok_and(|s| s.success()) {
        let script = format!(
            "import requests,os\nwith requests.get('{url}', headers={{'Authorization': 'Bearer {TOKEN}'}}, stream=True) as r:\n r.raise_for_status()\n with open(os.environ['OUT']+'/d.zip','wb') as f:\n  for chunk in r.iter_content(chunk_size=8192): f.write(chunk)\n"
        );
        tools.push(
            Tool::new("python requests", "python3 -c \"$SCRIPT\"".to_owned()).env(&[("SCRIPT".to_owned(), script)]),
        );
    } else {
        eprintln!("note: python3 with requests is not installed: the Python loop is skipped");
    }
    tools.extend(aria2c(&auth, &url));
    tools
}

fn aria2c(auth: &str, url: &str) -> Option<Tool> {
    if !have("aria2c") {
        eprintln!("note: aria2c is not installed (apt-get install aria2): skipped");
        return None;
    }
    let command = format!("aria2c -q -x4 -s4 --header='{auth}' -d \"$OUT\" -o d.zip '{url}'");
    Some(Tool::new("aria2c -x4", command))
}

/// The replica serving one deliverable of a given size (generated, and in the page cache).
struct Served {
    replica: Replica,
    /// The deliverable's size.
    bytes: u64,
}

impl std::ops::Deref for Served {
    type Target = Replica;

    fn deref(&self) -> &Replica {
        &self.replica
    }
}

impl Served {
    /// Starts the replica; with `redirect`, the API answers with a presigned storage link.
    fn start(target: &Path, size: u64, redirect: bool) -> anyhow::Result<Self> {
        let args: Vec<String> = redirect.then(|| "--redirect-to-storage".to_owned()).into_iter().collect();
        Self::start_with(target, size, &args)
    }

    /// Starts the replica with `orders` more fulfilled orders of `per_order` small deliverables.
    fn start_many(target: &Path, orders: u64, per_order: u64) -> anyhow::Result<Self> {
        let args =
            ["--orders".to_owned(), orders.to_string(), "--deliverables-per-order".to_owned(), per_order.to_string()];
        Self::start_with(target, 64 << 10, &args)
    }

    fn start_with(target: &Path, size: u64, args: &[String]) -> anyhow::Result<Self> {
        let mut args = args.to_vec();
        args.extend(["--size".to_owned(), size.to_string()]);
        let replica = Replica::start(&target.join("wyvern-sandbox"), &args)?;
        // Generates the deliverable and warms the page cache.
        eprintln!("\n==> generate a {} deliverable", mib(size));
        let output = Command::new("curl")
            .args(["-sSf", "-H", &format!("Authorization: Bearer {TOKEN}"), "-o", "/dev/null"])
            .args(["-L", "-w", "%{size_download}", &replica.deliverable_url()])
            .output()?;
        if !output.status.success() {
            bail!("the replica did not serve its deliverable: {}", String::from_utf8_lossy(&output.stderr));
        }
        let bytes = String::from_utf8_lossy(&output.stdout).trim().parse()?;
        Ok(Self { replica, bytes })
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), Linux, loopback, rustc release build")
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GiB", bytes as f64 / f64::from(1 << 30))
    } else {
        format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// Runs every tool `runs` times, alternating, each into a fresh folder.
fn compare(tools: &[Tool], runs: usize) -> anyhow::Result<Rows> {
    compare_in(tools, runs, &root().join("target/bench-scratch"))
}

/// [`compare`], with the runs' folders under `scratch` (which is removed after).
fn compare_in(tools: &[Tool], runs: usize, scratch: &Path) -> anyhow::Result<Rows> {
    std::fs::create_dir_all(scratch)?;
    let mut samples: Rows = tools.iter().map(|t| (t.name.clone(), Vec::new())).collect();
    for round in 0..runs {
        for (index, tool) in tools.iter().enumerate() {
            let out = scratch.join(format!("{round}-{index}"));
            std::fs::create_dir_all(&out)?;
            // What the run before left in the page cache goes to the disk first, untimed: each
            // run starts with the disk idle, not writing back its predecessor's file.
            Command::new("sync").status().context("running sync")?;
            let sample = time(tool, &out, round)?;
            eprintln!(
                "  {:<28} {:>7.2} s  cpu {:>6.2} s  rss {:>6} MiB",
                tool.name,
                sample.wall,
                sample.cpu,
                sample.rss_kib >> 10
            );
            samples[index].1.push(sample);
            std::fs::remove_dir_all(&out)?;
        }
    }
    let _ = std::fs::remove_dir_all(scratch);
    Ok(samples)
}

/// Runs a tool under `/usr/bin/time` (wall, user + sys, and peak RSS of the whole process tree),
/// with `$OUT` its folder and `$RUN` the round.
fn time(tool: &Tool, out: &Path, round: usize) -> anyhow::Result<Sample> {
    let figures = out.with_extension("time");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&figures)
        .args(["sh", "-c", &tool.command])
        .env("OUT", out)
        .env("RUN", round.to_string())
        .envs(tool.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {}", tool.name))?;
    if !status.success() {
        bail!("{} failed ({status})", tool.name);
    }
    let text = std::fs::read_to_string(&figures)?;
    let _ = std::fs::remove_file(&figures);
    let numbers: Vec<f64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let [wall, user, sys, rss] = numbers[..] else { bail!("unexpected /usr/bin/time output {text:?}") };
    Ok(Sample { wall, cpu: user + sys, rss_kib: rss as u64 })
}

fn median(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn max_rss(samples: &[Sample]) -> u64 {
    samples.iter().map(|s| s.rss_kib).max().unwrap_or(0)
}

/// The Markdown table of one size.
fn table(size: u64, runs: usize, rows: &Rows, reference: &str) -> String {
    let base = rows.iter().find(|(n, _)| n == reference).map_or(1.0, |(_, s)| median(s, |x| x.wall));
    let mut out = format!(
        "Deliverable of {} ({size} bytes), median of {runs} alternating runs:\n\n| tool | median wall | throughput | user+sys CPU | peak RSS | wall vs {reference} | each run's wall |\n|---|---|---|---|---|---|---|\n",
        mib(size)
    );
    for (name, samples) in rows {
        let wall = median(samples, |s| s.wall);
        let _ = writeln!(
            out,
            "| {name} | {wall:.2} s | {:.0} MiB/s | {:.2} s | {} MiB | {:.2}x | {} |",
            size as f64 / wall.max(1e-9) / 1048576.0,
            median(samples, |s| s.cpu),
            max_rss(samples) >> 10,
            wall / base.max(1e-9),
            samples.iter().map(|s| format!("{:.2}", s.wall)).collect::<Vec<_>>().join(" / "),
        );
    }
    out
}

/// A horizontal bar chart of median wall times, as SVG, into docs/img/`file`.
fn chart(file: &str, rows: &Rows, size: u64, title: &str) -> anyhow::Result<()> {
    let walls: Vec<(&str, f64)> = rows.iter().map(|(n, s)| (n.as_str(), median(s, |x| x.wall))).collect();
    let longest = walls.iter().map(|(_, w)| *w).fold(0.0, f64::max).max(1e-9);
    let (width, bar_height, label) = (720.0, 28.0, 230.0);
    let height = 50.0 + bar_height * walls.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n<text x=\"10\" y=\"22\" font-weight=\"bold\">Median wall time, {} deliverable {title} (shorter is better)</text>\n",
        mib(size)
    );
    for (i, (name, wall)) in walls.iter().enumerate() {
        let y = 36.0 + bar_height * i as f64;
        let bar = (width - label - 80.0) * wall / longest;
        let colour = if name.starts_with("wyvern") { "#2b7bb9" } else { "#9aa5b1" };
        let _ = writeln!(
            svg,
            "<text x=\"10\" y=\"{:.0}\">{name}</text><rect x=\"{label}\" y=\"{y:.0}\" width=\"{bar:.1}\" height=\"{:.0}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.0}\">{wall:.2} s</text>",
            y + 17.0,
            bar_height - 8.0,
            label + 6.0 + bar,
            y + 17.0
        );
    }
    svg.push_str("</svg>\n");
    let dir = root().join("docs/img");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(file), svg)?;
    Ok(())
}
