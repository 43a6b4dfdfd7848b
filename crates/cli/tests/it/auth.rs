use std::time::Duration;

use wyvern_sandbox::{
    Fault, PARTIAL_DELIVERABLES, PARTIAL_ORDER, Sandbox, TEST_DELIVERABLE, TEST_ORDER, TEST_PASSWORD, TEST_TOKEN,
    TEST_USERNAME, TokenShape,
};

use crate::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_a_private_token_that_later_commands_use() {
    let world = World::new().await.with_token("");
    let missing = world.run(&["order", "show", TEST_ORDER]).await;
    assert_eq!(missing.code, 5, "{missing:#?}");
    assert!(missing.stderr.contains("hint: set WYVERN_TOKEN"), "{}", missing.stderr);

    let wrong = world.run_with(&["auth", "login", "--username", TEST_USERNAME], &[], Some("wrong password\n")).await;
    assert_eq!(wrong.code, 5, "{wrong:#?}");

    let login =
        world.run_with(&["auth", "login", "--username", TEST_USERNAME], &[], Some(&format!("{TEST_PASSWORD}\n"))).await;
    assert_eq!(login.code, 0, "{login:#?}");
    assert!(!login.stderr.contains(TEST_PASSWORD) && !login.stderr.contains("sandbox-issued"), "{}", login.stderr);
    let cache = world.dir.path().join("config/credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).expect("cache").permissions().mode() & 0o777, 0o600);
    }
    let show = world.run(&["order", "show", TEST_ORDER]).await;
    assert_eq!(show.code, 0, "{show:#?}");

    let logout = world.run(&["auth", "logout"]).await;
    assert_eq!(logout.code, 0);
    assert_eq!(world.run(&["order", "show", TEST_ORDER]).await.code, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_is_read_trimmed_and_shared_files_warned_about() {
    let world = World::new().await.with_token("");
    let path = world.dir.path().join("token");
    std::fs::write(&path, format!("{}\n", wyvern_sandbox::TEST_TOKEN)).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let run = world.run(&["--token-file", path.to_str().expect("utf-8"), "order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    #[cfg(unix)]
    assert!(run.stderr.contains("readable by other users"), "{}", run.stderr);

    // A token file (or a password file) that is not there: no credentials, exit 5.
    let missing = world.dir.path().join("no-such-token");
    let missing = missing.to_str().expect("utf-8");
    let run = world.run(&["--token-file", missing, "order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stderr.contains(&format!("error: cannot read the token file {missing}")), "{}", run.stderr);
    assert!(run.stderr.contains("hint: check the path"), "{}", run.stderr);
    let run = world
        .run_with(&["--password-file", missing, "order", "show", TEST_ORDER], &[("WYVERN_USERNAME", "me")], None)
        .await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stderr.contains("cannot read the password file"), "{}", run.stderr);
}

/// Logs in through `wyvern auth login`, the password on stdin.
async fn log_in(world: &World) {
    let login =
        world.run_with(&["auth", "login", "--username", TEST_USERNAME], &[], Some(&format!("{TEST_PASSWORD}\n"))).await;
    assert_eq!(login.code, 0, "{login:#?}");
}

fn cached_token(world: &World) -> String {
    let cache = std::fs::read(world.dir.path().join("config/credentials.json")).expect("the login cache");
    let cache: serde_json::Value = serde_json::from_slice(&cache).expect("JSON");
    let entry = cache["apis"].as_object().and_then(|apis| apis.values().next()).expect("an entry");
    entry["token"].as_str().expect("a token").to_owned()
}

/// A replica whose access tokens live `seconds`, answering in `shape`, the first deliverable
/// of the partial order sent slowly (about 4 s) so that a run outlives a token.
async fn short_lived(shape: TokenShape, seconds: u64) -> World {
    let builder = Sandbox::builder()
        .token_shape(shape)
        .token_lifetimes(Duration::from_secs(seconds), Duration::from_secs(3600))
        .fault(PARTIAL_DELIVERABLES[0], Fault::Throttle { bytes_per_sec: 128 << 10 });
    World::with(builder).await.with_token("")
}

const ONE_AT_A_TIME: [&str; 4] = ["--concurrency", "1", "--connections", "1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_renew_before_they_expire_and_on_a_401_in_both_answer_shapes() {
    for shape in [TokenShape::OAuth, TokenShape::SimpleJwt] {
        let world = short_lived(shape, 2).await;
        log_in(&world).await;
        let first = cached_token(&world);
        tokio::time::sleep(Duration::from_millis(2500)).await;

        // The cached token expired: the run renews it first, and again as the slow
        // deliverable outlives the renewed one; each renewal is written back to the cache.
        let dest = world.dest();
        let args = [&["sync", PARTIAL_ORDER, "--to", dest.to_str().expect("utf-8")][..], &ONE_AT_A_TIME].concat();
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{shape:?}: {run:#?}");
        assert!(world.sandbox.tokens_issued() >= 3, "{shape:?}: {} tokens", world.sandbox.tokens_issued());
        let renewed = cached_token(&world);
        assert_ne!(renewed, first, "{shape:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let cache = world.dir.path().join("config/credentials.json");
            assert_eq!(std::fs::metadata(&cache).expect("cache").permissions().mode() & 0o777, 0o600);
        }

        // The API stops taking a token it said was good: a 401, one renewal, the request sent
        // again, and the next download uses the renewed token.
        world.sandbox.revoke_tokens(None);
        let issued = world.sandbox.tokens_issued();
        let again = world.dir.path().join("again");
        let args = ["deliverable", "download", PARTIAL_DELIVERABLES[1], TEST_DELIVERABLE, "--to"];
        let run = world.run(&[&args[..], &[again.to_str().expect("utf-8")]].concat()).await;
        assert_eq!(run.code, 0, "{shape:?}: {run:#?}");
        assert_eq!(world.sandbox.tokens_issued(), issued + 1, "{shape:?}: one renewal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_credentials_log_in_renew_by_logging_in_again_and_need_no_cache() {
    let world = short_lived(TokenShape::SimpleJwt, 60).await;
    let password_file = world.dir.path().join("password");
    std::fs::write(&password_file, format!("{TEST_PASSWORD}\n")).expect("write");
    let env = [("WYVERN_USERNAME", TEST_USERNAME), ("WYVERN_PASSWORD_FILE", password_file.to_str().expect("utf-8"))];
    let dest = world.dest();
    let args = [&["sync", PARTIAL_ORDER, "-vvv", "--to", dest.to_str().expect("utf-8")][..], &ONE_AT_A_TIME].concat();
    let mut child = world.spawn(&args, &env);
    drop(child.stdin.take());
    // While the slow deliverable streams, every token the replica issued stops working, the
    // refresh token too: the next request renews by logging in again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.sandbox.revoke_tokens(None);
    world.sandbox.revoke_refresh_tokens();
    let run = crate::finish(child).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("logging in again"), "{}", run.stderr);
    assert_eq!(world.sandbox.tokens_issued(), 2);
    assert!(!world.dir.path().join("config/credentials.json").exists(), "no cache written");

    let wrong = world
        .run_with(
            &["order", "show", PARTIAL_ORDER],
            &[("WYVERN_USERNAME", TEST_USERNAME), ("WYVERN_PASSWORD", "nope")],
            None,
        )
        .await;
    assert_eq!(wrong.code, 5, "{wrong:#?}");
    assert!(
        wrong.stderr.contains("getting a new API token failed") && wrong.stderr.contains("hint:"),
        "{}",
        wrong.stderr
    );
    let half = world.run_with(&["order", "show", PARTIAL_ORDER], &[("WYVERN_USERNAME", TEST_USERNAME)], None).await;
    assert_eq!(half.code, 5, "{half:#?}");
    assert!(half.stderr.contains("hint: set both WYVERN_USERNAME and WYVERN_PASSWORD"), "{}", half.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_token_refused_mid_run_keeps_what_finished_and_a_token_file_is_read_again() {
    let world = short_lived(TokenShape::OAuth, 60).await.with_token(TEST_TOKEN);
    let dest = world.dest();
    let args = [&["sync", PARTIAL_ORDER, "--to", dest.to_str().expect("utf-8")][..], &ONE_AT_A_TIME].concat();
    let mut child = world.spawn(&args, &[]);
    drop(child.stdin.take());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.sandbox.revoke_tokens(Some("rotated-token-1"));
    let run = crate::finish(child).await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stderr.contains("WYVERN_USERNAME with WYVERN_PASSWORD"), "{}", run.stderr);
    let order = dest.join(PARTIAL_ORDER);
    let mut kept: Vec<String> = std::fs::read_dir(&order)
        .expect("the order folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    let first = PARTIAL_DELIVERABLES[0];
    assert_eq!(kept, [format!("{first}.receipt.json"), format!("{first}.zip")], "nothing half-written");

    // A token file rotated in place (as Kubernetes does with a mounted secret) is read again
    // on the 401.
    let token_file = world.dir.path().join("token");
    std::fs::write(&token_file, "rotated-token-1\n").expect("write");
    let second = world.dir.path().join("second");
    let args = [
        &["--token-file", token_file.to_str().expect("utf-8"), "sync", PARTIAL_ORDER][..],
        &["--to", second.to_str().expect("utf-8")],
        &ONE_AT_A_TIME,
    ]
    .concat();
    // (The token file comes before $WYVERN_TOKEN, which this world also sets.)
    let mut child = world.spawn(&args, &[]);
    drop(child.stdin.take());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::write(&token_file, "rotated-token-2\n").expect("rotate");
    world.sandbox.revoke_tokens(Some("rotated-token-2"));
    let run = crate::finish(child).await;
    assert_eq!(run.code, 0, "{run:#?}");
}
