//! Ctrl-C (SIGINT) and SIGTERM during downloads and syncs: a local download keeps its partial
//! file on Ctrl-C, other uploads in flight are aborted and their temporary files removed,
//! finished deliverables kept, and a re-run picks up where it stopped.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use wyvern_sandbox::{Fault, Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files, finish};

pub(crate) fn signal(child: &tokio::process::Child, signal: Signal) {
    let pid = child.id().expect("running");
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), signal).expect("signal sent");
}

/// Waits until `ready` holds (checked every 50 ms, for at most 20 s).
async fn until(mut ready: impl FnMut() -> bool) {
    for _ in 0..400 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting");
}

/// A replica whose test deliverable trickles (2 MiB at 512 KiB/s).
fn slow() -> wyvern_sandbox::SandboxBuilder {
    Sandbox::builder()
        .deliverable_size_of(TEST_DELIVERABLE, 2 << 20)
        .fault(TEST_DELIVERABLE, Fault::Throttle { bytes_per_sec: 512 << 10 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_local_download_keeps_the_partial_file_and_the_same_command_continues() {
    let world = World::with(slow()).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let child = world.spawn(&["order", "download", TEST_ORDER, "--to", dest_arg], &[]);
    let folder = dest.join(TEST_ORDER);
    until(|| partial_in(&folder).is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 300 << 10))).await;
    signal(&child, Signal::SIGINT);
    let run = finish(child).await;
    assert_eq!(run.code, 130, "{run:#?}");
    assert!(run.stderr.contains("interrupted: 1 download in flight kept as hidden partial files"), "{}", run.stderr);
    let partial = partial_in(&folder).expect("the partial file is kept");
    let kept = std::fs::metadata(&partial).expect("partial").len();
    assert!(kept > 0 && !files(&dest).iter().any(|f| f.ends_with(".zip")), "nothing visible but the hidden partial");

    let again = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--json"]).await;
    assert_eq!(again.code, 0, "{again:#?}");
    let zip = std::fs::read(folder.join(format!("{TEST_DELIVERABLE}.zip"))).expect("zip");
    assert_eq!(zip, world.served(TEST_DELIVERABLE).await, "byte-identical");
    let last = world.deliverable_requests(TEST_DELIVERABLE).pop().expect("a request").range;
    assert_eq!(last, Some(format!("bytes={kept}-")), "continued from the partial file's last byte");
    assert_eq!(files(&dest).len(), 2, "zip and receipt: {:?}", files(&dest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_an_extraction_leaves_no_temporary_file() {
    let world = World::with(slow()).await;
    let dest = world.dest();
    let child =
        world.spawn(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--extract"], &[]);
    until(|| files(&dest).iter().any(|f| f.ends_with(".wyvern-part"))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, Signal::SIGINT);
    let run = finish(child).await;
    assert_eq!(run.code, 130, "{run:#?}");
    assert!(run.stderr.contains("interrupted: transfers in flight were discarded"), "{}", run.stderr);
    assert_eq!(files(&dest), Vec::<String>::new(), "no member, no temporary file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_upload_to_s3_aborts_it() {
    let Ok(base) = std::env::var("WYVERN_TEST_S3_URL") else {
        eprintln!("skipped: WYVERN_TEST_S3_URL is not set (cargo xtask test starts the emulators)");
        return;
    };
    let url = format!("{base}/{}", uuid::Uuid::new_v4().simple());
    let world = World::with(slow()).await;
    let child = world.spawn(&["order", "download", TEST_ORDER, "--to", &url], &[]);
    until(|| world.sandbox.bytes_sent(TEST_DELIVERABLE) > 256 << 10).await;
    signal(&child, Signal::SIGTERM);
    let run = finish(child).await;
    assert_eq!(run.code, 143, "{run:#?}");
    let sink = wyvern_sinks::Registry::with_builtins().resolve(&url).expect("sink");
    assert_eq!(sink.list(None).await.expect("list"), Vec::new(), "nothing visible in the bucket");
    let data = std::env::var("WYVERN_TEST_S3_DATA_DIR").expect("s3s-fs root");
    let uploads: Vec<_> = std::fs::read_dir(data)
        .expect("root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload"))
        .collect();
    assert_eq!(uploads, Vec::<String>::new(), "the multipart upload was aborted before exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sync_keeps_finished_deliverables_and_a_rerun_finishes() {
    let world = World::with(slow()).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    // Order 10's two deliverables come first and are quick; the test order's is slow.
    let args = ["sync", "--to", dest_arg, "--concurrency", "1", "00000000-0000-0000-0000-000000000010", TEST_ORDER];
    let child = world.spawn(&args, &[]);
    until(|| files(&dest).iter().filter(|f| f.ends_with(".receipt.json")).count() == 2).await;
    until(|| world.sandbox.bytes_sent(TEST_DELIVERABLE) > 128 << 10).await;
    signal(&child, Signal::SIGTERM);
    let run = finish(child).await;
    assert_eq!(run.code, 143, "{run:#?}");
    let kept = files(&dest);
    assert_eq!(kept.iter().filter(|f| f.ends_with(".zip")).count(), 2, "{kept:?}");
    assert!(!kept.iter().any(|f| f.ends_with(".wyvern-part") || f.contains(TEST_DELIVERABLE)), "{kept:?}");

    let again = world.run(&[&args[..], &["--json"]].concat()).await;
    assert_eq!(again.code, 0, "{again:#?}");
    let summary = &again.json_lines().last().expect("summary")["summary"].clone();
    assert_eq!((summary["downloaded"].as_u64(), summary["skipped"].as_u64()), (Some(1), Some(2)), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_the_next_run_continues_the_partial_file_after_checking_it() {
    let world = World::with(slow()).await;
    let dest = world.dest();
    let dest_arg = dest.to_str().expect("utf-8");
    let child = world.spawn(&["order", "download", TEST_ORDER, "--to", dest_arg], &[]);
    let folder = dest.join(TEST_ORDER);
    let partial_file = || partial_in(&folder);
    until(|| partial_file().is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 600 << 10))).await;
    let partial = partial_file().expect("the partial file");
    signal(&child, Signal::SIGKILL);
    let killed = child.wait_with_output().await.expect("reaped");
    assert_eq!(killed.status.code(), None, "killed by the signal");
    let kept = std::fs::metadata(&partial).expect("a killed run leaves its partial file").len();
    assert!(!files(&dest).iter().any(|f| f.ends_with(".zip")), "a partial file is never taken for a finished one");

    let len = world.sandbox.deliverable(TEST_DELIVERABLE).await.expect("generated").len;
    let before = world.sandbox.bytes_sent(TEST_DELIVERABLE);
    let again = world.run(&["order", "download", TEST_ORDER, "--to", dest_arg, "--json"]).await;
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(again.json_lines()[0]["verified"], true);
    let zip = std::fs::read(dest.join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"))).expect("zip");
    assert_eq!(zip, world.served(TEST_DELIVERABLE).await, "byte-identical");
    let last = world.deliverable_requests(TEST_DELIVERABLE).pop().expect("a request").range;
    assert_eq!(last, Some(format!("bytes={kept}-")), "continued from the partial file's last byte");
    assert_eq!(world.sandbox.bytes_sent(TEST_DELIVERABLE) - before, len - kept, "only the missing bytes were sent");
    assert!(!files(&dest).iter().any(|f| f.ends_with(".wyvern-part")));
}

/// The temporary file of the test deliverable in `folder`, if any
/// (`.<deliverable>.zip.<random>.wyvern-part`).
fn partial_in(folder: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(folder).ok()?.flatten().map(|e| e.path()).find(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.starts_with(&format!(".{TEST_DELIVERABLE}.zip.")) && name.ends_with(".wyvern-part")
    })
}

/// A partial file as a killed run leaves it: the sink's temporary name, mode 0600.
fn plant_partial(folder: &std::path::Path, bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(folder).expect("mkdir");
    let path = folder.join(format!(".{TEST_DELIVERABLE}.zip.{}.wyvern-part", "0123456789abcdef".repeat(2)));
    std::fs::write(&path, bytes).expect("partial");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_partial_file_is_thrown_away_and_the_download_starts_over_in_the_same_run() {
    let world = World::new().await;
    let dest = world.dest();
    let folder = dest.join(TEST_ORDER);
    let served = world.served(TEST_DELIVERABLE).await;
    // A flipped byte, and (as after a power cut) a zeroed tail.
    for damage in [0usize, 1] {
        let mut partial = served[..served.len() / 2].to_vec();
        match damage {
            0 => {
                let middle = partial.len() / 2;
                partial[middle] ^= 0xff;
            }
            _ => {
                let len = partial.len();
                partial[len - 50_000..].fill(0);
            }
        }
        let planted = plant_partial(&folder, &partial);
        let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8"), "--json"]).await;
        assert_eq!(run.code, 0, "the bad partial is thrown away and the download starts over: {run:#?}");
        assert!(run.stderr.contains("failed its re-check"), "{}", run.stderr);
        assert!(!planted.exists(), "the bad partial is gone");
        let zip = std::fs::read(folder.join(format!("{TEST_DELIVERABLE}.zip"))).expect("zip");
        assert_eq!(zip, served, "byte-identical");
        std::fs::remove_dir_all(&dest).expect("clean");
    }
}
