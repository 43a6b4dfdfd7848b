//! The WebDAV sink against a real WebDAV server (WsgiDAV, started by `cargo xtask test`).

use std::sync::Arc;

use wyvern_sinks::{Registry, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_wsgidav() {
    let Ok(url) = std::env::var("WYVERN_TEST_WEBDAV_URL") else {
        eprintln!("skipped: WYVERN_TEST_WEBDAV_URL is not set (cargo xtask test starts a WebDAV server and sets it)");
        return;
    };
    let mut registry = Registry::default();
    wyvern_sink_webdav::register(&mut registry);
    conformance::run(registry.resolve(&url).expect("webdav sink")).await;
}

#[test]
fn urls_map_to_http_and_credentials_stay_out_of_messages() {
    let sink = wyvern_sink_webdav::WebDavSink::from_url(&"webdav://user:secret@host:8080/a/b/".parse().expect("url"))
        .expect("sink");
    let location = wyvern_sinks::Sink::location(&sink);
    assert_eq!(location, "webdav://host:8080/a/b");
    assert!(!format!("{sink:?} {location}").contains("secret"), "credentials leaked");
    let mut registry = Registry::default();
    wyvern_sink_webdav::register(&mut registry);
    assert_eq!(registry.schemes(), ["webdav", "webdavs"]);
    let _: Arc<dyn wyvern_sinks::Sink> = registry.resolve("webdavs://host/x").expect("https sink");
}
