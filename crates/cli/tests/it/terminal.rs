//! What a person sees: `sync` run on a pseudo-terminal (util-linux `script`), its output played
//! into a terminal emulator (`vt100`), and the screen asserted on: short warnings above the bars,
//! an overall line while it runs, no bar left half-drawn, the summary at the end.

use wyvern_sandbox::{Fault, OrderShape, Sandbox, TEST_DELIVERABLE};

use crate::{COLUMNS, World};

/// The whole screen, scrollback included, after `raw` was played into a terminal of
/// [`COLUMNS`] columns.
fn screen(raw: &[u8]) -> String {
    // Taller than anything printed, so that the screen holds the scrollback too.
    let mut terminal = vt100::Parser::new(2000, COLUMNS, 0);
    terminal.process(raw);
    let rows: Vec<String> = terminal.screen().rows(0, COLUMNS).map(|row| row.trim_end().to_owned()).collect();
    rows.join("\n").trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_a_terminal_shows_short_warnings_above_whole_bars_and_an_overall_line() {
    // Four orders: a 503 twice, a cut, a corrupt deliverable and a plain one, each slowed down
    // so that the bars are drawn for a while.
    let slow = Fault::Throttle { bytes_per_sec: 2 << 20 };
    let ids = [
        "22222222-0000-0000-0000-000000000002",
        "22222222-0000-0000-0000-000000000003",
        "22222222-0000-0000-0000-000000000004",
    ];
    let builder = ids.iter().enumerate().fold(Sandbox::builder().deliverable_size(1 << 20), |b, (i, id)| {
        b.order(
            &format!("22222222-0000-0000-0001-00000000000{i}"),
            "completed",
            Some("fulfilled"),
            OrderShape::Flat,
            &[id],
        )
        .fault(id, slow.clone())
    });
    let builder = builder
        .fault(TEST_DELIVERABLE, Fault::ServerError { times: 2, status: 503 })
        .fault(ids[0], Fault::CutAt { offset: 300_000, times: 1 })
        .fault(ids[1], Fault::CorruptByte { offset: 5_000 });
    let world = World::with(builder).await;
    let dest = world.dest();
    let Some(raw) = world.on_a_terminal(&["sync", "--all", "--to", dest.to_str().expect("utf-8")], &[]) else {
        return;
    };
    let text = String::from_utf8_lossy(&raw);
    let shown = screen(&raw);

    // The warnings, short, each on a line of its own, in the order they happened.
    let warnings: Vec<&str> = shown.lines().filter(|l| l.contains("warning:") || l.contains("WARN")).collect();
    for attempt in ["(1/3)", "(2/3)"] {
        let retry =
            |w: &&&str| w.starts_with("warning: deliverable 0000…0001: HTTP 503, retrying in ") && w.ends_with(attempt);
        assert!(warnings.iter().any(|w| retry(&w)), "no retry {attempt}:\n{shown}");
    }
    // A cut said as what it is, not as reqwest's "error decoding response body".
    let cut = "warning: deliverable 2222…0002: cut after 300000 bytes (";
    assert!(warnings.iter().any(|w| w.starts_with(cut)), "{shown}");
    assert!(!shown.contains("decoding"), "{shown}");
    for warning in &warnings {
        assert!(warning.starts_with("warning: "), "a warning not at the start of its line: {warning:?}\n{shown}");
        assert!(!warning.contains("WARN") && !warning.contains("http://"), "the full log format: {warning:?}");
        assert!(warning.chars().count() < usize::from(COLUMNS), "a warning wraps: {warning:?}");
    }
    // The overall line was drawn while it ran, and no bar is left on the screen.
    assert!(text.contains("/6 deliverables, "), "no overall line:\n{text}");
    assert!(!shown.contains("[=") && !shown.contains("deliverables, "), "a bar left behind:\n{shown}");
    // The results and the summary.
    // (The line is wider than the terminal: its rows are joined again.)
    let failed =
        format!("error: deliverable {} (order 22222222-0000-0000-0001-000000000001): verification failed", ids[1]);
    assert!(shown.replace('\n', "").contains(&failed), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("sync: 5 downloaded")), "{shown}");

    // With -v and more, tracing's own format (a time, the level, the fields), still whole lines above
    // the bars.
    let again = world.dir.path().join("again");
    let args = ["-vvv", "sync", "--all", "--to", again.to_str().expect("utf-8")];
    let Some(verbose) = world.on_a_terminal(&args, &[]) else { return };
    let shown = screen(&verbose);
    let logged: Vec<&str> = shown.lines().filter(|l| l.contains(" TRACE ") || l.contains(" DEBUG ")).collect();
    assert!(!logged.is_empty(), "{shown}");
    for line in logged {
        assert!(line.starts_with("20") && line.contains('T'), "a log line that does not start with its time: {line:?}");
    }
    assert!(!shown.contains("[="), "a bar left behind:\n{shown}");
}
