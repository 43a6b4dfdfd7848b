//! Lines on stdout (results) and stderr (notes, errors) that never panic.
//!
//! `println!` panics when its reader went away (`wyvern inspect x.zip | head`). Here a closed
//! stream ends that stream's output quietly and the work goes on: for `sync` the transfers are
//! the work, and their receipts and exit code still say how it went. Commands whose only work is
//! output (`inspect`, `completions`) simply have nothing more to say.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// A line on stdout, unless stdout was closed.
pub fn out(line: fmt::Arguments<'_>) {
    write_line(&mut std::io::stdout().lock(), &STDOUT_CLOSED, line);
}

/// Bytes on stdout as they are, unless stdout was closed.
pub fn out_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(bytes).and_then(|()| stdout.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// A line on stderr, unless stderr was closed.
pub fn err(line: fmt::Arguments<'_>) {
    write_line(&mut std::io::stderr().lock(), &STDERR_CLOSED, line);
}

fn write_line(stream: &mut impl Write, closed: &AtomicBool, line: fmt::Arguments<'_>) {
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
