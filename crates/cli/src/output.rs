//! Lines on stdout (results) and stderr (notes, errors) that never panic, and never carry a
//! control character to the terminal.
//!
//! Every line goes through [`wyvern_core::printable_lines`]: whatever a server, an item, a zip or
//! a receipt said reaches the terminal escaped, even where a printer forgot to escape a field
//! (printers escape their fields with [`wyvern_core::printable`] too, which also escapes line
//! breaks). `--json` lines are escaped as JSON ([`json`]), so that they stay JSON.
//!
//! `println!` panics when its reader went away (`wyvern inspect x.zip | head`). Here a closed
//! stream ends that stream's output quietly and the work goes on: for `sync` the transfers are
//! the work, and their receipts and exit code still say how it went. Commands whose only work is
//! output (`inspect`, `completions`) simply have nothing more to say.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::MultiProgress;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// The one display of the process's progress bars. Every line written to the terminal while
/// they are shown goes through it: the bars are taken down, the line written, the bars drawn
/// again below it. (A line written past them would be taken for part of the bars, and erased or
/// left half-drawn when they are drawn again.)
pub(crate) fn display() -> &'static MultiProgress {
    static DISPLAY: OnceLock<MultiProgress> = OnceLock::new();
    DISPLAY.get_or_init(MultiProgress::new)
}

/// Runs `write` with the bars taken down, when `stream` is the terminal they are drawn on.
fn around_bars(stream: &impl IsTerminal, write: impl FnOnce()) {
    if stream.is_terminal() && std::io::stderr().is_terminal() {
        display().suspend(write);
    } else {
        write();
    }
}

/// A line on stdout, unless stdout was closed.
pub(crate) fn out(line: fmt::Arguments<'_>) {
    let line = line.to_string();
    let line = wyvern_core::printable_lines(&line);
    around_bars(&std::io::stdout(), || write_line(&mut std::io::stdout().lock(), &STDOUT_CLOSED, &line));
}

/// Bytes on stdout as they are, unless stdout was closed.
pub(crate) fn out_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    around_bars(&std::io::stdout(), || {
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(bytes).and_then(|()| stdout.flush()).is_err() {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    });
}

/// A line on stderr, unless stderr was closed.
pub(crate) fn err(line: fmt::Arguments<'_>) {
    let line = line.to_string();
    let line = wyvern_core::printable_lines(&line);
    around_bars(&std::io::stderr(), || write_line(&mut std::io::stderr().lock(), &STDERR_CLOSED, &line));
}

/// A line on stderr whose ESC characters are the program's own styling: tracing's coloured
/// format (which escapes ESC, BEL, DEL and C1 controls in the values it prints itself). Every
/// other unsafe character is escaped, line breaks too (an event is one line).
pub(crate) fn err_styled(lines: &str) {
    let safe: String = lines
        .chars()
        .map(|c| match c {
            '\x1b' => c.to_string(),
            c if wyvern_core::is_unsafe(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    around_bars(&std::io::stderr(), || write_line(&mut std::io::stderr().lock(), &STDERR_CLOSED, &safe));
}

/// One `--json` line on stdout: `value` serialised, with the characters JSON leaves raw (C1
/// controls, DEL, bidi controls) written as `\uXXXX` escapes.
pub(crate) fn json(value: &impl serde::Serialize) {
    // Serialising our own types cannot fail.
    let text = serde_json::to_string(value).unwrap_or_default();
    out(format_args!("{}", wyvern_core::printable_json(&text)));
}

fn write_line(stream: &mut impl Write, closed: &AtomicBool, line: &str) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if writeln!(stream, "{line}").and_then(|()| stream.flush()).is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// `println!` that stops quietly when stdout is closed.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::out(format_args!($($arg)*)) };
}

/// `eprintln!` that stops quietly when stderr is closed.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err(format_args!($($arg)*)) };
}

pub(crate) use {errln, outln};
