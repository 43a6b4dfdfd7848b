//! Progress on stderr: bars on a terminal, a plain line every few seconds otherwise, nothing
//! with `--quiet`. A `sync` has an overall line above its deliverables' bars. Every other line
//! goes above the bars (see [`crate::output::display`]).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use wyvern_transfer::{Meter, Observer};

use crate::output::{display, errln};

const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Whether stderr shows bars: a terminal.
fn bars_shown() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stderr may be coloured: a terminal, `NO_COLOR` unset or empty, `CLICOLOR` not `0`
/// (`CLICOLOR_FORCE` set and not `0` forces colour).
pub(crate) fn colour() -> bool {
    use wyvern_core::env::{CLICOLOR, CLICOLOR_FORCE, NO_COLOR, var_os};
    let set = |name: &str| var_os(name).is_some_and(|v| !v.is_empty());
    let is = |name: &str, value: &str| var_os(name).is_some_and(|v| v == value);
    if set(CLICOLOR_FORCE) && !is(CLICOLOR_FORCE, "0") {
        return true;
    }
    !set(NO_COLOR) && !is(CLICOLOR, "0") && bars_shown()
}

#[derive(Debug)]
pub(crate) enum Progress {
    Bars { overall: Mutex<Option<Arc<Overall>>> },
    Lines,
    Off,
}

/// `sync`'s overall line: deliverables done of all, bytes, rate and time left.
#[derive(Debug)]
pub(crate) struct Overall {
    bar: ProgressBar,
    bytes: AtomicU64,
    started: Instant,
}

impl Overall {
    /// `bytes` more arrived (fewer, when a body starts over).
    fn add(&self, bytes: u64, fewer: bool) {
        if fewer {
            let _ = self.bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(bytes)));
        } else {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        self.show();
    }

    fn show(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let rate = bytes as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!("{} at {}/s", HumanBytes(bytes), HumanBytes(rate as u64)));
    }
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            Self::Off
        } else if bars_shown() {
            Self::Bars { overall: Mutex::new(None) }
        } else {
            Self::Lines
        }
    }

    /// Starts the overall line of `total` deliverables, above the bars (on a terminal).
    pub(crate) fn begin(&self, total: u64) {
        let Self::Bars { overall } = self else { return };
        let bar = display().insert(0, ProgressBar::new(total));
        let style = ProgressStyle::with_template("{prefix} [{bar:24}] {pos}/{len} deliverables, {msg}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("sync");
        let line = Overall { bar, bytes: AtomicU64::new(0), started: Instant::now() };
        line.show();
        *overall.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(line));
    }

    /// One more deliverable ended (whatever its outcome).
    pub(crate) fn one_done(&self) {
        if let Self::Bars { overall } = self
            && let Some(line) = &*overall.lock().unwrap_or_else(PoisonError::into_inner)
        {
            line.bar.inc(1);
            line.show();
        }
    }

    /// Ends the overall line (the summary follows on stdout).
    pub(crate) fn end(&self) {
        if let Self::Bars { overall } = self
            && let Some(line) = overall.lock().unwrap_or_else(PoisonError::into_inner).take()
        {
            line.bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        let (bar, overall) = match self {
            Self::Bars { overall } => {
                let bar = display().add(total.map_or_else(ProgressBar::new_spinner, ProgressBar::new));
                let style =
                    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(label.to_owned());
                (Some(bar), overall.lock().unwrap_or_else(PoisonError::into_inner).clone())
            }
            Self::Lines | Self::Off => (None, None),
        };
        Box::new(Bar {
            bar,
            overall,
            lines: matches!(self, Self::Lines),
            label: label.to_owned(),
            total,
            done: 0,
            last: Instant::now(),
        })
    }

    fn warn(&self, message: &str) {
        if !matches!(self, Self::Off) {
            errln!("warning: {}", wyvern_core::printable(message));
        }
    }
}

#[derive(Debug)]
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    /// The overall line, during a `sync`.
    overall: Option<Arc<Overall>>,
    lines: bool,
    label: String,
    total: Option<u64>,
    done: u64,
    last: Instant,
}

impl Meter for Bar {
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(overall) = &self.overall {
            overall.add(bytes, false);
        }
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        } else if self.lines && self.last.elapsed() >= LINE_INTERVAL {
            self.last = Instant::now();
            match self.total {
                Some(total) if total > 0 => errln!(
                    "{}: {} of {} ({}%)",
                    self.label,
                    HumanBytes(self.done),
                    HumanBytes(total),
                    self.done * 100 / total
                ),
                _ => errln!("{}: {}", self.label, HumanBytes(self.done)),
            }
        }
    }

    fn restart(&mut self, total: Option<u64>) {
        if let Some(overall) = &self.overall {
            overall.add(self.done, true);
        }
        self.done = 0;
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.reset();
            if let Some(total) = total {
                bar.set_length(total);
            }
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
