//! A closed stdout (`wyvern ... | head`) ends the output quietly: no panic, no backtrace, the
//! work goes on, and the exit code is the work's.

use wyvern_sandbox::{TEST_DELIVERABLE, TEST_ORDER};

use crate::{Run, World, files, finish};

/// Runs `wyvern ARGS` with its stdout closed before it writes anything (as when `head` has
/// exited).
async fn with_stdout_closed(world: &World, args: &[&str]) -> Run {
    let mut child = world.spawn(args, &[]);
    drop(child.stdout.take());
    drop(child.stdin.take());
    finish(child).await
}

fn assert_quiet(run: &Run) {
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("Broken pipe"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_inspect_into_a_closed_pipe_end_quietly() {
    let world = World::new().await;
    let run = with_stdout_closed(&world, &["completions", "zsh"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_quiet(&run);

    let dest = world.dest();
    let download = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(download.code, 0, "{download:#?}");
    let zip = dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"));
    for command in ["inspect", "verify"] {
        let run = with_stdout_closed(&world, &[command, zip.to_str().expect("utf-8")]).await;
        assert_eq!(run.code, 0, "{command}: {run:#?}");
        assert_quiet(&run);
    }
    let run = with_stdout_closed(&world, &["order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_quiet(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_into_a_closed_pipe_still_fetches_everything() {
    let world = World::new().await;
    let dest = world.dest();
    let order = "00000000-0000-0000-0000-000000000010";
    let run =
        with_stdout_closed(&world, &["sync", TEST_ORDER, order, "--to", dest.to_str().expect("utf-8"), "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_quiet(&run);
    let zips = files(&dest).into_iter().filter(|f| f.ends_with(".zip")).count();
    assert_eq!(zips, 3, "every deliverable arrived: {:?}", files(&dest));
}
