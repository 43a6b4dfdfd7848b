//! Hostile and broken servers: bodies that never end, trickles, versions that change under a
//! resumed download, parts sent for wholes, bodies without a length, malformed links, control
//! characters, encoded bodies; and the messages and values people get wrong.

use std::time::{Duration, Instant};

use serde_json::json;
use wyvern_sandbox::{Fault, OrderFault, Sandbox, TEST_DELIVERABLE, TEST_ORDER};

use crate::{World, files};

fn dest_arg(world: &World) -> String {
    world.dest().to_str().expect("utf-8").to_owned()
}

fn saved(world: &World) -> Vec<u8> {
    std::fs::read(world.dest().join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"))).expect("the zip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_never_end_are_cut_at_their_limit() {
    let world = World::with(
        Sandbox::builder()
            .order_fault(TEST_ORDER, OrderFault::Endless)
            .fault(TEST_DELIVERABLE, Fault::EndlessErrorBody),
    )
    .await;
    let started = Instant::now();
    let run = world.run(&["order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("an order from") && run.stderr.contains("is larger than 33554432 bytes"),
        "{}",
        run.stderr
    );
    let run = world.run(&["deliverable", "download", TEST_DELIVERABLE, "--to", &dest_arg(&world)]).await;
    assert_eq!(run.code, 5, "an endless 403 is read for its first bytes only: {run:#?}");
    assert!(started.elapsed() < Duration::from_secs(30), "both ended promptly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_is_cut_and_resumed_then_given_up_on() {
    // 200 bytes a second after the first 100 kB, once: cut after 1 s of reading, resumed at speed.
    let trickle = |times| Fault::Trickle { offset: 100_000, bytes_per_sec: 200, times };
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, trickle(1))).await;
    let args = ["order", "download", TEST_ORDER, "--to", &dest_arg(&world), "--speed-time", "1s"];
    let run = world.run(&args).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("slower than 1024 bytes/s"), "{}", run.stderr);
    assert_eq!(saved(&world), world.served(TEST_DELIVERABLE).await);

    // A trickle that never ends: given up on after the retries, with the reason.
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, trickle(100))).await;
    let started = Instant::now();
    let run = world
        .run(&["order", "download", TEST_ORDER, "--to", &dest_arg(&world), "--speed-time", "1s", "--retries", "2"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("slower than 1024 bytes/s"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!files(&world.dest()).iter().any(|f| f.ends_with(".zip")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_change_under_a_resume_starts_over_instead_of_mixing() {
    for verify in [true, false] {
        let world = World::with(
            Sandbox::builder()
                .fault(TEST_DELIVERABLE, Fault::CutAt { offset: 200_000, times: 1 })
                .fault(TEST_DELIVERABLE, Fault::NewVersionIgnoringIfRange { bodies: 1 }),
        )
        .await;
        let dest = dest_arg(&world);
        let mut args = vec!["order", "download", TEST_ORDER, "--to", dest.as_str()];
        if !verify {
            args.push("--no-verify");
        }
        let run = world.run(&args).await;
        assert_eq!(run.code, 0, "{run:#?}");
        assert!(run.stderr.contains("changed while it was downloaded"), "{}", run.stderr);
        assert_eq!(saved(&world), world.served(TEST_DELIVERABLE).await, "one version, whole");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_of_a_deliverable_is_never_taken_for_all_of_it() {
    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::PartialToPlainGet { from: 100 })).await;
    for extra in [None, Some("--no-verify")] {
        let dest = dest_arg(&world);
        let mut args = vec!["order", "download", TEST_ORDER, "--to", dest.as_str()];
        args.extend(extra);
        let run = world.run(&args).await;
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(run.stderr.contains("the server sent part of the deliverable (bytes 100 to"), "{}", run.stderr);
        assert!(!files(&world.dest()).iter().any(|f| f.ends_with(".zip")));
    }
}

/// A server that answers every request with a zip's first `send` bytes, no length, then closes
/// the connection (an HTTP/1.0-style body cut short).
async fn unframed_server(zip: Vec<u8>, send: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = zip[..send].to_vec();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_without_a_length_is_kept_only_when_verified_whole() {
    let world = World::new().await;
    let zip = world.served(TEST_DELIVERABLE).await;
    let cut = unframed_server(zip.clone(), zip.len() / 2).await;
    let dest = dest_arg(&world);
    let download = ["deliverable", "download", TEST_DELIVERABLE, "--to", dest.as_str()];
    let run =
        world.run_with(&[&["--api-url", cut.as_str()][..], &download, &["--no-verify"]].concat(), &[], None).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("without a length"), "{}", run.stderr);
    let run = world.run_with(&[&["--api-url", cut.as_str()][..], &download].concat(), &[], None).await;
    assert_eq!(run.code, 3, "verification finds the cut: {run:#?}");
    assert_eq!(files(&world.dest()), Vec::<String>::new());

    let whole = unframed_server(zip.clone(), zip.len()).await;
    let run = world.run_with(&[&["--api-url", whole.as_str()][..], &download].concat(), &[], None).await;
    assert_eq!(run.code, 0, "a whole unframed body, verified: {run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_links_are_skipped_by_name_and_an_order_without_usable_ones_fails() {
    let api = "http://placeholder";
    let base = |links: serde_json::Value| json!({ "id": TEST_ORDER, "status": "completed", "reason_code": "fulfilled", "links": links });
    let world = World::new().await;
    let good = format!("{}/1.0/tasking/deliverables/{TEST_DELIVERABLE}/", world.sandbox.api_url());
    let bad = json!([
        { "rel": "deliverable" },
        { "rel": "deliverable", "href": 42 },
        { "rel": "deliverable", "href": format!("{api}/1.0/tasking/deliverables/%2e%2e/") },
        "not even an object",
    ]);
    let mut mixed = bad.as_array().expect("array").clone();
    mixed.push(json!({ "rel": "deliverable", "href": good }));
    let world = World::with(Sandbox::builder().order_fault(TEST_ORDER, OrderFault::Raw(base(json!(mixed))))).await;
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest_arg(&world)]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for (index, reason) in [(0, "it has no href"), (1, "it has no href"), (2, "its path has a dot segment")] {
        assert!(
            run.stderr.contains(&format!("deliverable link {index} (")) && run.stderr.contains(reason),
            "{}",
            run.stderr
        );
    }
    assert_eq!(saved(&world), world.served(TEST_DELIVERABLE).await);
    assert!(!files(&world.dest()).iter().any(|f| f.contains("tasking")), "no id from a dot segment");

    let world = World::with(Sandbox::builder().order_fault(TEST_ORDER, OrderFault::Raw(base(bad)))).await;
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest_arg(&world), "--json"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("none of its 3 deliverable links can be used"), "{}", run.stderr);
    assert_eq!(run.json_lines()[0]["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_text_reaches_the_terminal_escaped() {
    let order = json!({
        "id": TEST_ORDER,
        "status": "completed\u{1b}]0;owned\u{7}",
        "reason_code": "fulfilled\r\u{1b}[2Kall good",
        "product_id": "\u{9b}31m",
        "links": [],
    });
    let world = World::with(Sandbox::builder().order_fault(TEST_ORDER, OrderFault::Raw(order))).await;
    let run = world.run(&["order", "show", TEST_ORDER]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    for raw in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
        assert!(!run.stdout.contains(raw) && !run.stderr.contains(raw), "{raw:?} printed raw: {run:#?}");
    }
    assert!(run.stdout.contains("completed\\u{1b}]0;owned\\u{7}"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_bodies_are_decoded_or_named() {
    let world = World::with(
        Sandbox::builder()
            .fault(TEST_DELIVERABLE, Fault::Encoded { encoding: "gzip" })
            .order_fault(TEST_ORDER, OrderFault::Gzip),
    )
    .await;
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest_arg(&world), "--json"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.json_lines()[0]["verified"], true);
    assert_eq!(saved(&world), world.served(TEST_DELIVERABLE).await, "decoded, byte-identical");

    let world = World::with(Sandbox::builder().fault(TEST_DELIVERABLE, Fault::Encoded { encoding: "zstd" })).await;
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest_arg(&world)]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("it came zstd-encoded (Content-Encoding: zstd)"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_people_get_wrong_are_refused_clearly() {
    let world = World::new().await;
    for (args, says) in [
        (vec!["--segment-size", "99999999999GiB"], "above 1TiB"),
        (vec!["--segment-size", "2GiB"], "larger than 1GiB"),
        (vec!["--read-timeout", "0s"], "longer than zero"),
        (vec!["--speed-time", "0s"], "longer than zero"),
    ] {
        let run = world.run(&[&args[..], &["order", "show", TEST_ORDER]].concat()).await;
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let run =
        world.run_with(&["order", "show", TEST_ORDER], &[("WYVERN_TOKEN", "first-line\nsecond-line")], None).await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stderr.contains("holds a line break") && run.stderr.contains("hint: "), "{}", run.stderr);

    // --json: a failure is a JSON line on stdout too.
    let run = world.run(&["order", "show", "11111111-1111-1111-1111-111111111111", "--json"]).await;
    assert_eq!(run.code, 6, "{run:#?}");
    let line = &run.json_lines()[0];
    assert_eq!((line["status"].as_str(), line["exit_code"].as_u64()), (Some("failed"), Some(6)), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_fit_what_happened() {
    let world = World::new().await;
    let dest = dest_arg(&world);
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    let zip = world.dest().join(format!("{TEST_ORDER}/{TEST_DELIVERABLE}.zip"));

    // A zip named on the command line that is damaged: the hint speaks of it, not of downloads.
    let mut bytes = std::fs::read(&zip).expect("zip");
    bytes.truncate(bytes.len() - 100);
    let cut = world.dir.path().join("cut.zip");
    std::fs::write(&cut, &bytes).expect("write");
    let run = world.run(&["verify", cut.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("if it came from Wyvern, download it again"), "{}", run.stderr);
    assert!(!run.stderr.contains("nothing was kept"), "{}", run.stderr);

    // A skipped deliverable's hash is its receipt's, and says so (a zip changed with its size and
    // dated back to its receipt's time is what a skip cannot notice: `verify DEST` does).
    let mut corrupted = std::fs::read(&zip).expect("zip");
    corrupted[1000] ^= 0xff;
    std::fs::write(&zip, &corrupted).expect("corrupt it, same size");
    let receipt = std::path::Path::new(&zip).with_extension("receipt.json");
    let dated = std::fs::metadata(&receipt).and_then(|m| m.modified()).expect("the receipt's time");
    std::fs::File::options().write(true).open(&zip).and_then(|f| f.set_modified(dated)).expect("dated back");
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest]).await;
    assert!(run.stdout.starts_with("skipped") && run.stdout.contains("per its receipt"), "{}", run.stdout);
    let run = world.run(&["order", "download", TEST_ORDER, "--to", &dest, "--json"]).await;
    assert_eq!(run.json_lines()[0]["from_receipt"], true);
}

/// An HTTPS server (Python's standard library) whose certificate a private CA signed (made by
/// openssl): an order, a deliverable that redirects to plain http, and 404 to any `HEAD`. Returns its URL and the
/// CA's certificate.
async fn tls_server(dir: &std::path::Path) -> (String, std::path::PathBuf, tokio::process::Child) {
    // A private CA, and the server's certificate signed by it.
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("ext");
    for step in [
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.pem",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out leaf.csr",
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile leaf.ext -out cert.pem",
    ] {
        let made =
            std::process::Command::new("sh").arg("-c").arg(step).current_dir(dir).output().expect("openssl runs");
        assert!(made.status.success(), "{step}: {}", String::from_utf8_lossy(&made.stderr));
    }
    let script = format!(
        r#"
import http.server, json, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_HEAD(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        if self.path.startswith("/1.0/tasking/orders/"):
            body = json.dumps({{"id": "{TEST_ORDER}", "status": "completed", "reason_code": "fulfilled", "links": []}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b""
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/objects/x.zip?sig=secret")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#
    );
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&cert)
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line).await.expect("port");
    (format!("https://127.0.0.1:{}", line.trim()), ca, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_insecure_redirects_say_what_to_do() {
    let world = World::new().await;
    let (url, cert, _server) = tls_server(world.dir.path()).await;
    let api = ["--api-url", url.as_str()];
    let run = world.run(&[&api[..], &["order", "show", TEST_ORDER]].concat()).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("the TLS certificate of") && run.stderr.contains("is not trusted"), "{}", run.stderr);
    assert!(run.stderr.contains("--ca-cert"), "the hint says how to trust a CA: {}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "a certificate error is not retried: {}", run.stderr);

    let trusted = [&api[..], &["--ca-cert", cert.to_str().expect("utf-8")]].concat();
    let run = world.run(&[&trusted[..], &["order", "show", TEST_ORDER]].concat()).await;
    assert_eq!(run.code, 0, "with the CA trusted: {run:#?}");

    let dest = dest_arg(&world);
    let run = world.run(&[&trusted[..], &["deliverable", "download", TEST_DELIVERABLE, "--to", &dest]].concat()).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("plain http: refused"), "{}", run.stderr);
    assert!(!run.stderr.contains("--allow-http") && !run.stderr.contains("secret"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_over_tls_handshake_with_the_same_provider() {
    // The object stores' HTTP client is built without a TLS provider of its own (rustls's ring
    // is installed for the process): a real handshake with a bucket endpoint over https.
    let world = World::new().await;
    let (url, ca, _server) = tls_server(world.dir.path()).await;
    let ca = ca.to_str().expect("utf-8").to_owned();
    let mut env = vec![
        ("AWS_ENDPOINT", url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ];
    let zip = "s3://test-bucket/x.zip";
    let untrusted = world.run_with(&["inspect", zip], &env, None).await;
    assert_eq!(untrusted.code, 1, "{untrusted:#?}");
    assert!(untrusted.stderr.to_lowercase().contains("certificate"), "{}", untrusted.stderr);
    // The test's CA trusted as the system's would be: the handshake succeeds, and the server
    // (no S3 server) answers.
    env.push(("SSL_CERT_FILE", ca.as_str()));
    let trusted = world.run_with(&["inspect", zip], &env, None).await;
    assert_eq!(trusted.code, 1, "{trusted:#?}");
    assert!(!trusted.stderr.to_lowercase().contains("certificate"), "{}", trusted.stderr);
    assert!(!trusted.stderr.contains("panicked"), "{}", trusted.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_rate_caps_every_transfer_together_without_tripping_the_low_speed_rule() {
    let world = World::with(Sandbox::builder().deliverable_size(1 << 20)).await;
    let order = "00000000-0000-0000-0000-000000000010";
    let mut bytes = 0;
    for id in wyvern_sandbox::PARTIAL_DELIVERABLES {
        bytes += world.sandbox.deliverable(id).await.expect("generated").len;
    }
    let rate = 512u64 << 10;
    let dest = dest_arg(&world);
    // Each transfer would run under --speed-limit if the cap's waits counted.
    let args = ["sync", order, "--concurrency", "2", "--connections", "4", "--segment-size", "128KiB"];
    let cap =
        ["--limit-rate", "512KiB", "--speed-limit", "400KiB", "--speed-time", "1s", "--retries", "0", "--to", &dest];
    let start = Instant::now();
    let run = world.run(&[&args[..], &cap].concat()).await;
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{run:#?}");
    let least = Duration::from_secs_f64(bytes as f64 / rate as f64) - Duration::from_millis(500);
    assert!(took >= least, "{bytes} bytes in {took:?} at {rate} bytes/s");
}
