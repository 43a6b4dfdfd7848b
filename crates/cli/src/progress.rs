//! Progress on stderr: bars on a terminal, a plain line every few seconds otherwise, nothing
//! with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use wyvern_transfer::{Meter, Observer};

use crate::output::errln;

const LINE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum Progress {
    Bars(MultiProgress),
    Lines,
    Off,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        if quiet {
            Self::Off
        } else if std::io::stderr().is_terminal() {
            Self::Bars(MultiProgress::new())
        } else {
            Self::Lines
        }
    }
}

impl Observer for Progress {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        let bar = match self {
            Self::Bars(multi) => {
                let bar = multi.add(total.map_or_else(ProgressBar::new_spinner, ProgressBar::new));
                let style =
                    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(label.to_owned());
                Some(bar)
            }
            Self::Lines | Self::Off => None,
        };
        Box::new(Bar {
            bar,
            lines: matches!(self, Self::Lines),
            label: label.to_owned(),
            total,
            done: 0,
            last: Instant::now(),
        })
    }

    fn warn(&self, message: &str) {
        match self {
            Self::Bars(multi) => {
                // Above the bars, which are drawn again below it.
                let line = format!("warning: {}", wyvern_core::printable(message));
                if multi.println(&line).is_err() {
                    errln!("{line}");
                }
            }
            Self::Lines => errln!("warning: {}", wyvern_core::printable(message)),
            Self::Off => {}
        }
    }
}

#[derive(Debug)]
pub struct Bar {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
    total: Option<u64>,
    done: u64,
    last: Instant,
}

impl Meter for Bar {
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
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
