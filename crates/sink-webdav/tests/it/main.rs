//! The WebDAV sink against a real WebDAV server (WsgiDAV, started by `cargo xtask test`).

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use wyvern_sinks::{Registry, conformance};

/// The sink on the WebDAV server `cargo xtask test` starts; `None` (the test skipped) without it.
fn wsgidav() -> Option<Arc<dyn wyvern_sinks::Sink>> {
    let Ok(url) = std::env::var("WYVERN_TEST_WEBDAV_URL") else {
        eprintln!("skipped: WYVERN_TEST_WEBDAV_URL is not set (cargo xtask test starts a WebDAV server and sets it)");
        return None;
    };
    let mut registry = Registry::default();
    wyvern_sink_webdav::register(&mut registry);
    Some(registry.resolve(&url).expect("webdav sink"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_against_wsgidav() {
    let Some(sink) = wsgidav() else { return };
    conformance::run(sink).await;
}

/// Writers starting at once in a folder that does not exist yet all create it; WsgiDAV answers
/// some of those simultaneous MKCOLs with a 500 (a quarter of them, eight at a time), which must
/// not fail the upload of a folder that is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_creating_the_same_folder_at_once_all_succeed() {
    let Some(sink) = wsgidav() else { return };
    let run = uuid::Uuid::new_v4().simple().to_string();
    for round in 0..10 {
        let writers = (0..8).map(|writer| {
            let sink = sink.clone();
            let path = wyvern_sinks::ObjectPath::parse(&format!("race-{run}/{round}/{writer}.bin")).expect("path");
            async move {
                let mut upload = sink.start_upload(&path, Some(1)).await?;
                upload.write(bytes::Bytes::from_static(b"x")).await?;
                upload.finish().await?;
                sink.delete(&path).await
            }
        });
        for outcome in futures::future::join_all(writers).await {
            outcome.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
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
