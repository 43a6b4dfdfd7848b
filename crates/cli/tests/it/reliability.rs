//! The fault matrix of docs/reliability.md: each row against the real binary, on local disk and
//! on S3 (and the other buckets when their emulators run).

use wyvern_sandbox::{Fault, Sandbox, SandboxBuilder, TEST_DELIVERABLE, TEST_ORDER};
use wyvern_sinks::{ObjectPath, Registry};

use crate::{World, files};

/// Destinations to run a scenario against: a local folder, and every bucket set up.
fn destinations(world: &World) -> Vec<(&'static str, String)> {
    let mut found = vec![("local", world.dest().to_str().expect("utf-8").to_owned())];
    for (name, var) in [("s3", "WYVERN_TEST_S3_URL"), ("azure", "WYVERN_TEST_AZURE_URL")] {
        if let Ok(base) = std::env::var(var) {
            found.push((name, format!("{base}/{}", uuid::Uuid::new_v4().simple())));
        }
    }
    found
}

/// The zip the test order's download left at `dest`, if any.
async fn zip_at(dest: &str) -> Option<Vec<u8>> {
    let sink = Registry::with_builtins().resolve(dest).expect("sink");
    let path = ObjectPath::parse(&format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip")).expect("path");
    sink.get_small(&path, 64 << 20).await.expect("read").map(|b| b.to_vec())
}

/// Everything at `dest` (files or objects, hidden temporaries included for local disk).
async fn leftovers(dest: &str) -> Vec<String> {
    if !dest.contains("://") {
        return files(std::path::Path::new(dest));
    }
    let sink = Registry::with_builtins().resolve(dest).expect("sink");
    sink.list(None).await.expect("list").into_iter().map(|o| o.path.to_string()).collect()
}

/// Runs the test order's download against each destination, each with a fresh replica made by
/// `replica` (counted faults start over), and hands the outcome to `check`.
async fn scenario(
    replica: impl Fn() -> SandboxBuilder,
    extra: &[&str],
    check: impl Fn(&str, &crate::Run, &World, Option<Vec<u8>>, Vec<String>),
) {
    let count = destinations(&World::new().await).len();
    for index in 0..count {
        let world = World::with(replica()).await;
        let (name, dest) = destinations(&world).swap_remove(index);
        let mut args = vec!["order", "download", TEST_ORDER, "--to", dest.as_str()];
        args.extend_from_slice(extra);
        let run = world.run(&args).await;
        check(name, &run, &world, zip_at(&dest).await, leftovers(&dest).await);
    }
}

async fn served_len() -> u64 {
    let probe = World::new().await;
    probe.sandbox.deliverable(TEST_DELIVERABLE).await.expect("generated").len
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_at_the_start_middle_and_end_resume_with_little_sent_twice() {
    let len = served_len().await;
    for offset in [100, len / 2, len - 100] {
        let replica = || Sandbox::builder().fault(TEST_DELIVERABLE, Fault::CutAt { offset, times: 1 });
        scenario(replica, &[], |dest, run, world, zip, _| {
            assert_eq!(run.code, 0, "cut at {offset}, {dest}: {run:#?}");
            assert_eq!(zip.map(|z| z.len() as u64), Some(len), "{dest}");
            assert!(run.stderr.contains("resuming"), "{dest}: {}", run.stderr);
            // The body is sent once, plus at most what was in flight when the connection was cut.
            let twice = world.sandbox.bytes_sent(TEST_DELIVERABLE) - len;
            assert!(twice <= 256 << 10, "cut at {offset}, {dest}: {twice} bytes sent twice");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ignoring_ranges_restarts_cleanly_everywhere() {
    let len = served_len().await;
    let replica = || {
        Sandbox::builder()
            .fault(TEST_DELIVERABLE, Fault::IgnoreRange)
            .fault(TEST_DELIVERABLE, Fault::CutAt { offset: len / 3, times: 1 })
    };
    scenario(replica, &[], |dest, run, _, zip, _| {
        assert_eq!(run.code, 0, "{dest}: {run:#?}");
        assert_eq!(zip.map(|z| z.len() as u64), Some(len), "{dest}: never appended garbage");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_is_cut_by_the_read_timeout_and_resumed() {
    let len = served_len().await;
    let builder = Sandbox::builder().fault(TEST_DELIVERABLE, Fault::Stall { offset: len / 2, times: 1 });
    let world = World::with(builder).await;
    let run = world
        .run(&["order", "download", TEST_ORDER, "--to", world.dest().to_str().expect("utf-8"), "--read-timeout", "1s"])
        .await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    let ranges: Vec<_> = world.deliverable_requests(TEST_DELIVERABLE).into_iter().map(|r| r.range.is_some()).collect();
    // One plain request, then ranged ones only: continued, never started over. (A loaded
    // machine can stall a resumed body past the timeout too: it is resumed again.)
    assert!(ranges.len() >= 2 && !ranges[0] && ranges[1..].iter().all(|&ranged| ranged), "{ranges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_presigned_link_is_resolved_again_and_continues_from_the_last_byte() {
    let len = served_len().await;
    let replica = || {
        Sandbox::builder()
            .fault(TEST_DELIVERABLE, Fault::RedirectToStorage)
            .fault(TEST_DELIVERABLE, Fault::ExpiringLinks)
            .fault(TEST_DELIVERABLE, Fault::CutAt { offset: len / 2, times: 1 })
    };
    scenario(replica, &[], |dest, run, world, zip, _| {
        assert_eq!(run.code, 0, "{dest}: {run:#?}");
        assert_eq!(zip.map(|z| z.len() as u64), Some(len), "{dest}");
        let seen: Vec<_> =
            world.deliverable_requests(TEST_DELIVERABLE).into_iter().map(|r| (r.host, r.range.is_some())).collect();
        let fresh_link_from_last_byte = [("api", false), ("storage", false), ("api", true), ("storage", true)];
        assert_eq!(seen, fresh_link_from_last_byte, "{dest}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_bodies_leave_nothing_anywhere() {
    for fault in [Fault::HtmlPage, Fault::ShortBody { missing: 10 }, Fault::CorruptByte { offset: 100_000 }] {
        let expected = if matches!(fault, Fault::CorruptByte { .. }) { 3 } else { 1 };
        let replica = || Sandbox::builder().fault(TEST_DELIVERABLE, fault.clone());
        scenario(replica, &["--retries", "1"], |dest, run, _, zip, left| {
            assert_eq!(run.code, expected, "{fault:?} {dest}: {run:#?}");
            assert_eq!(zip, None, "{fault:?} {dest}");
            assert_eq!(left, Vec::<String>::new(), "{fault:?} {dest}: something was left");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_api_urls_are_refused_off_loopback() {
    let world = World::new().await;
    let run =
        world.run_with(&["order", "show", TEST_ORDER], &[("WYVERN_API_URL", "http://api.example.com")], None).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("plain http sends the token in clear text") && run.stderr.contains("--allow-http"),
        "{}",
        run.stderr
    );
}

/// Deliverable requests the replica saw: a destination problem must be found before any.
fn deliverable_requests(world: &World) -> usize {
    world.sandbox.requests().iter().filter(|r| r.path.contains("/deliverables/")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_denied_is_found_before_any_download() {
    // Root ignores permissions: run the binary as nobody, into a folder only root may write.
    let world = World::new().await.with_runner(&["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    let dest = world.dir.path().join("root-only");
    std::fs::create_dir(&dest).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(world.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let run = world.run(&["order", "download", TEST_ORDER, "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("cannot be written to") && run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: check that the folder or bucket exists"), "{}", run.stderr);
    assert_eq!(deliverable_requests(&world), 0);
    assert_eq!(files(&dest), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_fails_cleanly() {
    let world = World::with(Sandbox::builder().deliverable_size(3 << 20)).await;
    let mount = world.dir.path().join("small-disk");
    std::fs::create_dir(&mount).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a 1 MiB tmpfs needs root (the fault is tested where it can be set up)");
        return;
    }
    let run = world.run(&["order", "download", TEST_ORDER, "--to", mount.to_str().expect("utf-8")]).await;
    let left = files(&mount);
    let _ = std::process::Command::new("umount").arg(&mount).status();
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    assert_eq!(left, Vec::<String>::new(), "nothing half-written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_and_refused_credentials_are_found_before_any_download() {
    if std::env::var("WYVERN_TEST_S3_URL").is_err() || std::env::var("WYVERN_TEST_AZURE_URL").is_err() {
        eprintln!("skipped: the storage emulators are not set up (cargo xtask test starts them)");
        return;
    }
    let world = World::new().await;
    // s3s-fs makes buckets on demand, so a missing container is checked on Azurite (real S3
    // answers NoSuchBucket the same way).
    let missing = world.run(&["order", "download", TEST_ORDER, "--to", "az://no-such-container/x"]).await;
    assert_eq!(missing.code, 1, "{missing:#?}");
    assert!(missing.stderr.contains("cannot be written to") && missing.stderr.contains("hint:"), "{}", missing.stderr);
    let url = std::env::var("WYVERN_TEST_S3_URL").expect("set");
    let refused = world
        .run_with(&["order", "download", TEST_ORDER, "--to", &url], &[("AWS_SECRET_ACCESS_KEY", "wrong")], None)
        .await;
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert!(refused.stderr.contains("cannot be written to"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("wrong"), "the secret key is not shown: {}", refused.stderr);
    assert_eq!(deliverable_requests(&world), 0);
}
