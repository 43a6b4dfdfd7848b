//! `cargo xtask bench`: wyvern side by side with the tools people use today, on one machine, in
//! one run, against the replica on loopback. Figures go to docs/benchmarks.md and docs/img/.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use wyvern_sandbox::{TEST_DELIVERABLE, TEST_TOKEN};

use crate::{cargo, root, run};

/// Each tool's samples, in the order the tools ran.
type Rows = Vec<(&'static str, Vec<Sample>)>;

/// One measured run: wall seconds, user+sys seconds, peak RSS in KiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
}

/// A contender: a name, the shell command that fetches the deliverable into `$OUT`, and any
/// environment it needs.
struct Tool {
    name: &'static str,
    command: String,
    env: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub struct Options {
    pub size: u64,
    pub runs: usize,
    pub sweep: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { size: 1 << 30, runs: 3, sweep: false };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--size" => options.size = parse_size(args.next().context("--size takes a size like 256M or 1G")?)?,
                "--runs" => options.runs = args.next().context("--runs takes a number")?.parse()?,
                "--sweep" => options.sweep = true,
                other => bail!("unknown bench option {other:?} (options: --size SIZE, --runs N, --sweep)"),
            }
        }
        Ok(options)
    }
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().with_context(|| format!("bad size {text:?}"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" | "KIB" => 10,
        "M" | "MIB" => 20,
        "G" | "GIB" => 30,
        other => bail!("bad size unit {other:?}"),
    };
    Ok(number << shift)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn bench(options: &Options) -> anyhow::Result<()> {
    if !have("/usr/bin/time") {
        bail!("the bench measures with /usr/bin/time (Debian package `time`)");
    }
    run(
        "build release binaries",
        cargo().args(["build", "--release", "--quiet", "-p", "wyvern-cli", "-p", "wyvern-sandbox"]),
    )?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from).join("release");
    let mut report = String::new();
    let machine = machine();
    writeln!(report, "Machine: {machine}\n")?;
    let sizes: Vec<u64> = if options.sweep { vec![64 << 20, 256 << 20, 1 << 30, 4 << 30] } else { vec![options.size] };
    let mut sweep_rows = Vec::new();
    for &size in &sizes {
        let (bytes, rows) = measure(&target, size, options.runs)?;
        if size == options.size || !options.sweep {
            writeln!(report, "{}", table(bytes, options.runs, &rows))?;
            chart(&rows, bytes)?;
        }
        if let Some((_, wyvern)) = rows.iter().find(|(name, _)| *name == "wyvern") {
            sweep_rows.push((bytes, median(wyvern, |s| s.wall), max_rss(wyvern)));
        }
    }
    if options.sweep {
        writeln!(
            report,
            "Size sweep (wyvern, verification on):\n\n| size | median wall | throughput | peak RSS |\n|---|---|---|---|"
        )?;
        for (size, wall, rss) in &sweep_rows {
            writeln!(
                report,
                "| {} | {wall:.2} s | {:.0} MiB/s | {} MiB |",
                mib(*size),
                *size as f64 / wall / 1048576.0,
                rss >> 10
            )?;
        }
    }
    println!("{report}");
    std::fs::write(root().join("target/bench-report.md"), &report)?;
    eprintln!("report written to target/bench-report.md; chart to docs/img/bench-wall.svg");
    Ok(())
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

/// Runs every tool `runs` times, alternating, against a replica serving a deliverable of `size`.
fn measure(target: &Path, size: u64, runs: usize) -> anyhow::Result<(u64, Rows)> {
    let mut sandbox = Command::new(target.join("wyvern-sandbox"))
        .args(["--size", &size.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the replica")?;
    let api = {
        use std::io::BufRead;
        let stdout = sandbox.stdout.take().context("replica stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        line.trim().to_owned()
    };
    let result = (|| {
        let url = format!("{api}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/");
        let auth = format!("Authorization: Bearer {TEST_TOKEN}");
        let scratch = root().join("target/bench-scratch");
        std::fs::create_dir_all(&scratch)?;
        // Generates the deliverable and warms the page cache.
        run(
            &format!("generate a {} deliverable", mib(size)),
            Command::new("curl").args(["-sSf", "-H", &auth, "-o", "/dev/null", &url]),
        )?;
        let wyvern = target.join("wyvern");
        let mut tools = vec![
            Tool {
                name: "wyvern",
                command: format!(
                    "{} --api-url {api} deliverable download {TEST_DELIVERABLE} --to \"$OUT\" -q",
                    wyvern.display()
                ),
                env: vec![("WYVERN_TOKEN", TEST_TOKEN.to_owned())],
            },
            Tool { name: "curl", command: format!("curl -sSf -H '{auth}' -o \"$OUT/d.zip\" '{url}'"), env: Vec::new() },
            Tool {
                name: "curl + unzip -t",
                command: format!(
                    "curl -sSf -H '{auth}' -o \"$OUT/d.zip\" '{url}' && unzip -tq \"$OUT/d.zip\" >/dev/null"
                ),
                env: Vec::new(),
            },
        ];
        if Command::new("python3").args(["-c", "import requests"]).status().is_ok_and(|s| s.success()) {
            let script = format!(
                "import requests,os\nwith requests.get('{url}', headers={{'Authorization': 'Bearer {TEST_TOKEN}'}}, stream=True) as r:\n r.raise_for_status()\n with open(os.environ['OUT']+'/d.zip','wb') as f:\n  for chunk in r.iter_content(chunk_size=8192): f.write(chunk)\n"
            );
            tools.push(Tool {
                name: "python requests",
                command: "python3 -c \"$SCRIPT\"".to_owned(),
                env: vec![("SCRIPT", script)],
            });
        } else {
            eprintln!("note: python3 with requests is not installed: the Python loop is skipped");
        }
        if have("aria2c") {
            tools.push(Tool {
                name: "aria2c -x4",
                command: format!("aria2c -q -x4 -s4 --header='{auth}' -d \"$OUT\" -o d.zip '{url}'"),
                env: Vec::new(),
            });
        } else {
            eprintln!("note: aria2c is not installed (apt-get install aria2): skipped");
        }
        let mut samples: Rows = tools.iter().map(|t| (t.name, Vec::new())).collect();
        let mut bytes = 0;
        for round in 0..runs {
            for (index, tool) in tools.iter().enumerate() {
                let out = scratch.join(format!("{round}-{index}"));
                std::fs::create_dir_all(&out)?;
                let sample = time(tool, &out)?;
                eprintln!(
                    "  {:<16} {:>7.2} s  cpu {:>6.2} s  rss {:>6} MiB",
                    tool.name,
                    sample.wall,
                    sample.cpu,
                    sample.rss_kib >> 10
                );
                samples[index].1.push(sample);
                bytes = zip_size(&out).unwrap_or(bytes);
                std::fs::remove_dir_all(&out)?;
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        Ok((bytes, samples))
    })();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    result
}

/// Runs a tool under `/usr/bin/time` (wall, user + sys, and peak RSS of the whole process tree).
fn time(tool: &Tool, out: &Path) -> anyhow::Result<Sample> {
    let figures = out.with_extension("time");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&figures)
        .args(["sh", "-c", &tool.command])
        .env("OUT", out)
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

/// The size of the zip a tool left in `out` (at any depth).
fn zip_size(out: &Path) -> Option<u64> {
    std::fs::read_dir(out).ok()?.flatten().find_map(|entry| {
        let path = entry.path();
        if path.is_dir() {
            zip_size(&path)
        } else {
            path.extension().is_some_and(|e| e == "zip").then(|| entry.metadata().map(|m| m.len()).ok()).flatten()
        }
    })
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
fn table(size: u64, runs: usize, rows: &[(&'static str, Vec<Sample>)]) -> String {
    let curl = rows.iter().find(|(n, _)| *n == "curl").map_or(1.0, |(_, s)| median(s, |x| x.wall));
    let mut out = format!(
        "Deliverable of {} ({size} bytes), median of {runs} alternating runs:\n\n| tool | median wall | throughput | user+sys CPU | peak RSS | wall vs curl |\n|---|---|---|---|---|---|\n",
        mib(size)
    );
    for (name, samples) in rows {
        let wall = median(samples, |s| s.wall);
        let _ = writeln!(
            out,
            "| {name} | {wall:.2} s | {:.0} MiB/s | {:.2} s | {} MiB | {:.2}x |",
            size as f64 / wall.max(1e-9) / 1048576.0,
            median(samples, |s| s.cpu),
            max_rss(samples) >> 10,
            wall / curl.max(1e-9),
        );
    }
    out
}

/// A horizontal bar chart of median wall times, as SVG.
fn chart(rows: &[(&'static str, Vec<Sample>)], size: u64) -> anyhow::Result<()> {
    let walls: Vec<(&str, f64)> = rows.iter().map(|(n, s)| (*n, median(s, |x| x.wall))).collect();
    let longest = walls.iter().map(|(_, w)| *w).fold(0.0, f64::max).max(1e-9);
    let (width, bar_height) = (640.0, 28.0);
    let height = 50.0 + bar_height * walls.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n<text x=\"10\" y=\"22\" font-weight=\"bold\">Median wall time, {} deliverable (shorter is better)</text>\n",
        mib(size)
    );
    for (i, (name, wall)) in walls.iter().enumerate() {
        let y = 36.0 + bar_height * i as f64;
        let bar = (width - 260.0) * wall / longest;
        let colour = if *name == "wyvern" { "#2b7bb9" } else { "#9aa5b1" };
        let _ = writeln!(
            svg,
            "<text x=\"10\" y=\"{:.0}\">{name}</text><rect x=\"150\" y=\"{y:.0}\" width=\"{bar:.1}\" height=\"{:.0}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.0}\">{wall:.2} s</text>",
            y + 17.0,
            bar_height - 8.0,
            156.0 + bar,
            y + 17.0
        );
    }
    svg.push_str("</svg>\n");
    let dir = root().join("docs/img");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("bench-wall.svg"), svg)?;
    Ok(())
}
