use serde_json::json;
use wyvern_sandbox::{OrderShape, REJECTED_ORDER, Sandbox, TEST_ORDER};

use crate::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_show_json_normalises_both_status_shapes() {
    let world = World::new().await;
    let api = world.sandbox.api_url().to_owned();
    let flat = world.run(&["order", "show", TEST_ORDER, "--json"]).await;
    assert_eq!(flat.code, 0, "{flat:#?}");
    assert_eq!(
        flat.json_lines(),
        [json!({
            "id": TEST_ORDER,
            "status": "completed",
            "reason_code": "fulfilled",
            "product_id": "f7311e41-b598-456f-8fe3-409372114e15",
            "datetime": "2025-06-01T00:00:00+00:00/2025-07-02T00:00:00+00:00",
            "deliverables": [{
                "id": "00000000-0000-0000-0000-000000000001",
                "href": format!("{api}/1.0/tasking/deliverables/00000000-0000-0000-0000-000000000001/")
            }]
        })]
    );
    let nested = world.run(&["order", "show", "00000000-0000-0000-0000-000000000010", "--json"]).await;
    let order = &nested.json_lines()[0];
    assert_eq!(order["status"], "completed");
    assert_eq!(order["reason_code"], "partially_fulfilled");
    assert_eq!(order["deliverables"].as_array().expect("array").len(), 2);

    let human = world.run(&["order", "show", TEST_ORDER]).await;
    assert!(
        human.stdout.contains("status        completed") && human.stdout.contains("deliverables  1"),
        "{}",
        human.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_wait_returns_at_once_for_completed_and_4_for_rejected_or_timeout() {
    let world = World::new().await;
    let done = world.run(&["order", "wait", TEST_ORDER, "--interval", "100ms"]).await;
    assert_eq!(done.code, 0, "{done:#?}");
    let rejected = world.run(&["order", "wait", "00000000-0000-0000-0000-000000000030", "--interval", "100ms"]).await;
    assert_eq!(rejected.code, 4, "{rejected:#?}");
    assert!(rejected.stderr.contains("rejected (invalid_geometry)"), "{}", rejected.stderr);
    let pending = world
        .run(&["order", "wait", "00000000-0000-0000-0000-000000000020", "--interval", "100ms", "--timeout", "300ms"])
        .await;
    assert_eq!(pending.code, 4, "{pending:#?}");
    assert!(pending.stderr.contains("gave up waiting"), "{}", pending.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_order_is_exit_4_and_writes_nothing() {
    let world = World::new().await;
    let run = world
        .run(&[
            "order",
            "download",
            "00000000-0000-0000-0000-000000000020",
            "--to",
            world.dest().to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(run.stderr.contains("not ready for download yet (status accepted, reason none)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: `wyvern order wait 00000000-0000-0000-0000-000000000020` waits until"),
        "{}",
        run.stderr
    );
    assert!(crate::files(&world.dest()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_order_is_called_rejected_with_no_hint_to_wait() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let download = world.run(&["order", "download", REJECTED_ORDER, "--to", dest]).await;
    assert_eq!(download.code, 4, "{download:#?}");
    assert!(
        download
            .stderr
            .contains(&format!("order {REJECTED_ORDER} was rejected (invalid_geometry): it will not be fulfilled")),
        "{}",
        download.stderr
    );
    assert!(download.stderr.contains("hint: it ended without imagery") && !download.stderr.contains("order wait"));
    let sync = world.run(&["sync", REJECTED_ORDER, "--to", dest]).await;
    assert_eq!(sync.code, 0, "a sync reports orders not ready and goes on: {sync:#?}");
    assert!(sync.stdout.contains(&format!("ended      order {REJECTED_ORDER} was rejected")), "{}", sync.stdout);
    assert!(!sync.stdout.contains("not ready  "), "{}", sync.stdout);
    assert!(crate::files(&world.dest()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_exit_5_and_unknown_ids_exit_6() {
    let world = World::new().await.with_token("not-the-token");
    let run = world.run(&["order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stderr.contains("HTTP 401") && run.stderr.contains("hint: check the token"), "{}", run.stderr);
    assert!(run.stderr.contains("belongs to this API (--api-url or WYVERN_API_URL)"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-token"));

    let world = World::new().await;
    let order = world.run(&["order", "show", "00000000-0000-0000-0000-00000000dead"]).await;
    assert_eq!(order.code, 6, "{order:#?}");
    // The hint speaks of the API given (--api-url), not of --sandbox.
    assert!(
        order.stderr.contains("hint: check the id, and that the API given (--api-url or WYVERN_API_URL)"),
        "{}",
        order.stderr
    );
    assert!(!order.stderr.contains("--sandbox"), "{}", order.stderr);
    let dest = world.dest();
    let deliverable =
        world.run(&["deliverable", "download", "no-such-deliverable", "--to", dest.to_str().expect("utf-8")]).await;
    assert_eq!(deliverable.code, 6, "{deliverable:#?}");
    assert!(crate::files(&dest).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_failures_exit_1_and_one_kind_keeps_its_code() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let both = world
        .run(&[
            "order",
            "download",
            "00000000-0000-0000-0000-000000000020",
            "00000000-0000-0000-0000-00000000dead",
            "--to",
            dest,
            "--json",
        ])
        .await;
    assert_eq!(both.code, 1, "not ready + not found is exit 1: {both:#?}");
    assert_eq!(both.json_lines().iter().filter(|l| l["status"] == "failed").count(), 2);
    let two_not_ready = world
        .run(&[
            "order",
            "download",
            "00000000-0000-0000-0000-000000000020",
            "00000000-0000-0000-0000-000000000030",
            "--to",
            dest,
        ])
        .await;
    assert_eq!(two_not_ready.code, 4, "{two_not_ready:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_deliverables_of_a_nested_status_order_all_arrive() {
    let sandbox = Sandbox::builder().order(
        "order-nested",
        "completed",
        Some("fulfilled"),
        OrderShape::Nested,
        &["d-a", "d-b", "d-c"],
    );
    let world = World::with(sandbox).await;
    let run = world
        .run(&["order", "download", "order-nested", "--to", world.dest().to_str().expect("utf-8"), "--json"])
        .await;
    assert_eq!(run.code, 0, "{run:#?}");
    let ids: Vec<_> = run.json_lines().iter().map(|l| l["deliverable_id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(ids, ["d-a", "d-b", "d-c"]);
    for id in ids {
        let got = std::fs::read(world.dest().join("order-nested").join(format!("{id}.zip"))).expect("downloaded");
        assert_eq!(got, world.served(&id).await, "{id} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_given_twice_is_fetched_once() {
    let world = World::new().await;
    let dest = world.dest();
    let to = dest.to_str().expect("utf-8");
    let partial = wyvern_sandbox::PARTIAL_ORDER;
    let run = world.run(&["order", "download", partial, partial, "--json", "--to", to]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.json_lines().len(), 2, "{run:#?}");
    let url = format!("{}/1.0/tasking/deliverables/{}/", world.sandbox.api_url(), wyvern_sandbox::TEST_DELIVERABLE);
    let args = ["deliverable", "download", wyvern_sandbox::TEST_DELIVERABLE, &url, "--json", "--to", to];
    let run = world.run(&args).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.json_lines().len(), 1, "{run:#?}");
    let run = world.run(&["sync", TEST_ORDER, TEST_ORDER, "--json", "--to", to]).await;
    let lines = run.json_lines();
    assert_eq!(lines.iter().filter(|l| l["deliverable_id"].is_string()).count(), 1, "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_list_follows_the_pages_and_shows_each_order_once() {
    // 120 orders beside the replica's own: three pages of 50 at least.
    let ids: Vec<String> = (0..120).map(|i| format!("33333333-0000-0000-0000-{i:012}")).collect();
    let builder = ids.iter().fold(Sandbox::builder(), |b, id| b.order(id, "accepted", None, OrderShape::Flat, &[]));
    let world = World::with(builder).await;
    let listed = world.run(&["order", "list", "--json"]).await;
    assert_eq!(listed.code, 0, "{listed:#?}");
    let json: Vec<String> = listed.json_lines().iter().map(|o| o["id"].as_str().expect("id").to_owned()).collect();
    assert!(ids.iter().all(|id| json.contains(id)) && json.contains(&TEST_ORDER.to_owned()), "{json:?}");
    assert_eq!(json.len(), json.iter().collect::<std::collections::HashSet<_>>().len(), "an order listed twice");
    let pages = world.sandbox.requests().iter().filter(|r| r.path == "/1.0/tasking/orders/").count();
    assert_eq!(pages, json.len().div_ceil(50), "one request a page");

    let shown = world.run(&["order", "list"]).await;
    assert_eq!(shown.code, 0, "{shown:#?}");
    assert_eq!(shown.stdout.lines().count(), json.len(), "{}", shown.stdout);
    let test_order = shown.stdout.lines().find(|l| l.starts_with(TEST_ORDER)).expect("the test order");
    let words: Vec<&str> = test_order.split_whitespace().collect();
    assert_eq!(&words[1..5], ["completed", "fulfilled", "1", "deliverable"], "{test_order}");
    let rejected = shown.stdout.lines().find(|l| l.starts_with(REJECTED_ORDER)).expect("the rejected order");
    let words: Vec<&str> = rejected.split_whitespace().collect();
    assert_eq!(&words[1..5], ["rejected", "invalid_geometry", "0", "deliverables"], "{rejected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v_tells_the_requests_and_decisions_and_vvv_adds_the_libraries() {
    let world = World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let quiet = world.run(&["order", "download", TEST_ORDER, "--to", dest]).await;
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""), "nothing on stderr by default: {quiet:#?}");

    let fresh = world.dir.path().join("fresh");
    let verbose = world.run(&["-v", "order", "download", TEST_ORDER, "--to", fresh.to_str().expect("utf-8")]).await;
    assert_eq!(verbose.code, 0, "{verbose:#?}");
    let log = &verbose.stderr;
    let api = world.sandbox.api_url().trim_end_matches('/');
    for said in [
        format!("GET {api}/1.0/tasking/orders/{TEST_ORDER}/: 200 in "),
        format!("GET {api}/1.0/tasking/deliverables/{}/: 200 in ", wyvern_sandbox::TEST_DELIVERABLE),
        format!("deliverable {}: fetching it to ", wyvern_sandbox::TEST_DELIVERABLE),
        " bytes delivered to ".to_owned(),
        ", verified".to_owned(),
    ] {
        assert!(log.contains(&said), "-v does not say {said:?}:\n{log}");
    }
    assert!(
        !log.contains("hyper") && !log.contains("DEBUG") && !log.contains("TRACE"),
        "library internals at -v:\n{log}"
    );
    let again = world.run(&["-v", "order", "download", TEST_ORDER, "--to", dest]).await;
    assert!(again.stderr.contains("is there, as its receipt says: skipped"), "{}", again.stderr);

    let all = world.dir.path().join("all");
    let internals = world.run(&["-vvv", "order", "download", TEST_ORDER, "--to", all.to_str().expect("utf-8")]).await;
    assert_eq!(internals.code, 0, "{internals:#?}");
    assert!(internals.stderr.contains("hyper"), "-vvv shows the HTTP library's own events:\n{}", internals.stderr);
}
