//! The conformance suite against the built-in sinks: local disk always, and the storage
//! emulators `cargo xtask test` starts (S3: s3s-fs, Azure: Azurite, GCS client path: moto).

// Tests are not the async code the rule protects: files are read and written plainly.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;

use wyvern_sinks::{LocalSink, Registry, Sink, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance::run(Arc::new(LocalSink::new(dir.path()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_disk_through_a_file_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url::Url::from_directory_path(dir.path()).expect("file url");
    conformance::run(Registry::with_builtins().resolve(url.as_str()).expect("file sink")).await;
}

/// A destination from the environment `cargo xtask test` sets, or a skip note.
fn emulator(var: &str) -> Option<Arc<dyn Sink>> {
    match std::env::var(var) {
        Ok(url) => Some(Registry::with_builtins().resolve(&url).expect("emulator sink")),
        Err(_) => {
            eprintln!("skipped: {var} is not set (cargo xtask test starts the storage emulators and sets it)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_emulator() {
    if let Some(sink) = emulator("WYVERN_TEST_S3_URL") {
        conformance::run(sink).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_emulator() {
    if let Some(sink) = emulator("WYVERN_TEST_AZURE_URL") {
        conformance::run(sink).await;
    }
}

#[test]
fn unknown_schemes_are_refused_with_the_known_ones_named() {
    let error = Registry::with_builtins().resolve("ftp://host/path").expect_err("refused").to_string();
    assert!(error.contains("no sink for the scheme \"ftp\"") && error.contains("s3"), "{error}");
    let error = Registry::with_builtins().resolve("https://example.com/x").expect_err("refused").to_string();
    assert!(error.contains("not supported"), "{error}");
}

#[test]
fn urls_with_a_mistyped_separator_are_refused_and_corrected() {
    let registry = Registry::with_builtins();
    for (typo, meant) in [
        ("s3:/mybucket", "s3://mybucket"),
        ("s3//mybucket/x", "s3://mybucket/x"),
        ("gs:bucket", "gs://bucket"),
        ("GS:bucket", "GS://bucket"),
        ("file:/tmp/x", "file:///tmp/x"),
    ] {
        let error = registry.resolve(typo).expect_err(typo).to_string();
        assert!(error.contains(&format!("did you mean {meant}?")), "{typo}: {error}");
    }
    // Folders that only look alike stay folders: a folder named s3, a Windows drive, a colon later on.
    for path in ["s3/imagery", "C:/imagery", "c:imagery", "imagery/s3:x", "./s3:/x"] {
        assert!(registry.resolve(path).is_ok(), "{path}");
    }
}

#[test]
fn cloud_https_endpoints_resolve_to_their_store() {
    let registry = Registry::with_builtins();
    let s3 = registry.resolve("https://imagery.s3.us-west-2.amazonaws.com/wyvern").expect("S3 endpoint");
    assert_eq!(s3.location(), "https://imagery.s3.us-west-2.amazonaws.com/wyvern");
    registry.resolve("https://account.blob.core.windows.net/container/wyvern").expect("Azure endpoint");
}

/// moto's XML API stands in for GCS: this covers object_store's GCS client path (XML multipart,
/// ranged reads, listing, deletes, aborts) with S3's server semantics, not Google's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_client_path_against_an_xml_compatible_server() {
    if let Some(sink) = emulator("WYVERN_TEST_GCS_URL") {
        conformance::run(sink).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_failures_keep_their_kind() {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT") else {
        eprintln!("skipped: AWS_ENDPOINT is not set (cargo xtask test starts the S3 emulator and sets it)");
        return;
    };
    wyvern_sinks::tls::install();
    let store = |bucket: &str, secret: &str| {
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_endpoint(&endpoint)
            .with_bucket_name(bucket)
            .with_secret_access_key(secret)
            .with_retry(object_store::RetryConfig { max_retries: 0, ..Default::default() })
            .build()
            .expect("store");
        wyvern_sinks::ObjectStoreSink::new(Arc::new(store), "wyvern".into(), format!("s3://{bucket}/wyvern"))
    };
    let missing = wyvern_sinks::ObjectPath::parse("no/such/object.zip").expect("path");
    let error = store("test-bucket", "test").get_range(&missing, 0..10).await.expect_err("missing");
    assert!(matches!(error, wyvern_sinks::Error::NotFound { .. }), "{error:?}");
    let error = store("no-such-bucket", "test").check().await.expect_err("no bucket");
    assert!(matches!(error, wyvern_sinks::Error::NotFound { .. }), "{error:?}");
    // S3 answers a bad signature with 403, as it answers a refused permission.
    let error = store("test-bucket", "not-the-secret").check().await.expect_err("refused");
    assert!(matches!(error, wyvern_sinks::Error::PermissionDenied { .. }), "{error:?}");
}
