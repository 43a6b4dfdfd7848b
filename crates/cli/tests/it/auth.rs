use wyvern_sandbox::{TEST_ORDER, TEST_PASSWORD, TEST_USERNAME};

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
}
