//! Where log events go. At the default verbosity, warnings are one short line for people
//! (`warning: deliverable 2222…0005: HTTP 503, retrying in 0.3 s (2/5)`); with `-v` (or
//! `WYVERN_LOG`), tracing's full format. Either way they go through the progress display: printed
//! above the bars, which are drawn again below them, never between two halves of a bar.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::output::errln;

/// Sets up logging for a run: `quiet` keeps errors only, each `-v` shows more; `file`, when given,
/// gets every event of every level, in the full format.
pub(crate) fn init(quiet: bool, verbose: u8, file: Option<&std::path::Path>) -> std::io::Result<()> {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,wyvern_cli=info,wyvern_transfer=info,wyvern_core=info,wyvern_sinks=info,wyvern_unpack=info",
        (false, 2) => {
            "info,wyvern_cli=debug,wyvern_transfer=debug,wyvern_core=debug,wyvern_sinks=debug,wyvern_unpack=debug"
        }
        (false, _) => "trace",
    };
    let asked = tracing_subscriber::EnvFilter::try_from_env(wyvern_core::env::WYVERN_LOG).ok();
    let full = verbose > 0 || asked.is_some();
    let filter = asked.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let stderr = if full {
        let format = tracing_subscriber::fmt::layer()
            .with_writer(AboveBars)
            .with_ansi(crate::progress::colour())
            .with_target(verbose >= 2);
        format.with_filter(filter).boxed()
    } else {
        Short.with_filter(filter).boxed()
    };
    let file = match file {
        // At start-up, before the async runtime exists.
        #[allow(clippy::disallowed_methods)]
        Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        None => None,
    };
    let file = file.map(|file| {
        let format = tracing_subscriber::fmt::layer().with_writer(std::sync::Mutex::new(file)).with_ansi(false);
        format.with_filter(tracing_subscriber::EnvFilter::new("trace"))
    });
    // A second run in one process (the Python package's) keeps the first one's logging.
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
    Ok(())
}

/// The short form: `warning: <what it is about>: <what happened>[, retrying in <s> s (<n>/<max>)]`.
struct Short;

impl<S: Subscriber> Layer<S> for Short {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let kind = if level == Level::ERROR { "error" } else { "warning" };
        errln!("{kind}: {}", wyvern_core::printable(&fields.render()));
    }
}

/// The fields of an event the short form uses.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    reason: Option<String>,
    /// What is done about it (`retrying`, `resuming`).
    action: Option<String>,
    url: Option<String>,
    path: Option<String>,
    attempt: Option<u64>,
    max: Option<u64>,
    wait_ms: Option<u64>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, text.trim_matches('"'));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let value = value.to_owned();
        match field.name() {
            "message" => self.message = value,
            "reason" => self.reason = Some(value),
            "action" => self.action = Some(value),
            "url" => self.url = Some(value),
            "path" | "key" | "folder" => self.path = Some(value),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "attempt" => self.attempt = Some(value),
            "max" => self.max = Some(value),
            "wait_ms" => self.wait_ms = Some(value),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }
}

impl Fields {
    fn render(&self) -> String {
        let mut line = String::new();
        if let Some(subject) = self.url.as_deref().map(subject).or_else(|| self.path.clone()) {
            let _ = write!(line, "{subject}: ");
        }
        line.push_str(self.reason.as_deref().unwrap_or(&self.message));
        if let Some(wait) = self.wait_ms {
            let action = self.action.as_deref().unwrap_or("retrying");
            let _ = write!(line, ", {action} in {:.1} s", wait as f64 / 1000.0);
            if let (Some(attempt), Some(max)) = (self.attempt, self.max) {
                let _ = write!(line, " ({attempt}/{max})");
            }
        }
        line
    }
}

/// What a URL is about: `deliverable 2222…0005`, `order 0000…0010`, else its host.
fn subject(url: &str) -> String {
    let segments: Vec<&str> = url.split(['/', '?']).collect();
    for (kind, marker) in [("deliverable", "deliverables"), ("order", "orders")] {
        if let Some(id) = segments.iter().position(|s| *s == marker).and_then(|i| segments.get(i + 1))
            && !id.is_empty()
        {
            return format!("{kind} {}", short_id(id));
        }
    }
    url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or(url).to_owned()
}

/// A long id as its first and last four characters (`00000000-…-000000000005` is `0000…0005`).
fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 12 {
        return id.to_owned();
    }
    let (head, tail): (String, String) = (chars[..4].iter().collect(), chars[chars.len() - 4..].iter().collect());
    format!("{head}…{tail}")
}

/// tracing's full format, a line at a time above the bars.
#[derive(Debug, Clone, Copy)]
struct AboveBars;

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

/// One formatted event, printed when the formatter is done with it.
struct Line(Vec<u8>);

impl std::io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        crate::output::err_styled(text.trim_end_matches('\n'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_is_one_short_line_about_its_deliverable() {
        let fields = Fields {
            message: "retrying: server error HTTP 503 from https://api/1.0/tasking/deliverables/x/ after 2 attempts"
                .into(),
            reason: Some("HTTP 503".into()),
            url: Some("https://api.example/1.0/tasking/deliverables/22222222-0000-0000-0000-000000000005/".into()),
            attempt: Some(2),
            max: Some(5),
            wait_ms: Some(300),
            ..Fields::default()
        };
        assert_eq!(fields.render(), "deliverable 2222…0005: HTTP 503, retrying in 0.3 s (2/5)");
        let plain =
            Fields { message: "a symbolic link: ignored".into(), path: Some("dest/a.zip".into()), ..Fields::default() };
        assert_eq!(plain.render(), "dest/a.zip: a symbolic link: ignored");
        assert_eq!(subject("https://api.example/1.0/tasking/orders/abc/"), "order abc");
        assert_eq!(subject("http://127.0.0.1:9000/bucket/key"), "127.0.0.1:9000");
    }
}
