//! The bench's S3 leg: wyvern, its Python API, rclone and plain uploads into the S3 emulator,
//! and a remote inspection's bytes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::*;

/// Into the S3 emulator: wyvern streaming the download into a multipart upload, against
/// `rclone copyurl`, and the upload alone (`rclone copyto` of a local copy); then a remote
/// inspection of the uploaded zip, counting the bytes it reads.
pub(super) fn s3(target: &Path, python: Option<&Path>, options: &Options, report: &mut String) -> anyhow::Result<()> {
    let replica = Served::start(target, options.size, true)?;
    let emulators = Emulators::start(&root())?;
    let env = |key: &str| emulators.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let endpoint = env("AWS_ENDPOINT");
    let binary = target.join("wyvern");
    let mut wyvern_env = emulators.env.clone();
    wyvern_env.push(("WYVERN_TOKEN".to_owned(), TOKEN.to_owned()));
    let mut tools = vec![wyvern(
        &target.join("wyvern"),
        "wyvern to S3",
        &replica.api,
        "",
        "s3://test-bucket/bench/$RUN",
        &wyvern_env,
    )];
    if let Some(python) = python {
        let dest = "s3://test-bucket/py/$RUN";
        tools.push(python_download(python, "wyvern to S3 (Python API)", &replica.api, dest, &emulators.env));
    }
    // Other tools get the presigned storage link (no token needed), as a user would paste it,
    // and the upload-only references a local copy of the zip.
    let link = replica.presigned_link()?;
    let local_copy = root().join("target/bench-upload.zip");
    run(
        "a local copy for the upload-only references",
        Command::new("curl").args(["-sSf", "-o"]).arg(&local_copy).arg(&link),
    )?;
    let copy = local_copy.display();
    tools.push(Tool::new(
        "upload only (curl, one PUT)",
        format!(
            "curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user test:test -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
             -o /dev/null -T '{copy}' {endpoint}/test-bucket/put/$RUN.zip"
        ),
    ));
    if have("rclone") {
        // AWS_CA_BUNDLE (set on some machines for a proxy) makes rclone's S3 client fail on http.
        let rclone = format!(
            "env -u AWS_CA_BUNDLE rclone --s3-provider Other --s3-endpoint {endpoint} --s3-access-key-id test \
             --s3-secret-access-key test --s3-region us-east-1 --s3-chunk-size 8M --s3-upload-concurrency 4"
        );
        tools.push(Tool::new("rclone copyurl", format!("{rclone} copyurl '{link}' :s3:test-bucket/rclone/$RUN.zip")));
        tools.push(Tool::new(
            "upload only (rclone copyto)",
            format!("{rclone} copyto --s3-disable-checksum '{copy}' :s3:test-bucket/upload/$RUN.zip"),
        ));
    } else {
        eprintln!("note: rclone is not installed (apt-get install rclone): rclone copyurl and copyto are skipped");
    }
    let rows = compare(&tools, options.runs);
    let _ = std::fs::remove_file(&local_copy);
    let rows = rows?;
    let reference = if have("rclone") { "rclone copyurl" } else { "wyvern to S3" };
    writeln!(
        report,
        "### Into the S3 emulator (s3s-fs on loopback)\n\n{}",
        table(replica.bytes, options.runs, &rows, reference)
    )?;
    remote_inspect(&binary, replica.bytes, &emulators, report)
}

/// Remote inspection of the zip the S3 leg wrote, through a counting proxy in front of the
/// emulator: the bytes it reads.
fn remote_inspect(binary: &Path, bytes: u64, emulators: &Emulators, report: &mut String) -> anyhow::Result<()> {
    let endpoint = emulators.env.iter().find(|(k, _)| k == "AWS_ENDPOINT").map(|(_, v)| v.clone()).unwrap_or_default();
    let endpoint_addr = endpoint.trim_start_matches("http://").parse()?;
    let counter = Link::start(endpoint_addr, Shape { rtt: Duration::ZERO, rate: None })?;
    let mut inspect_env = emulators.env.clone();
    inspect_env.retain(|(k, _)| k != "AWS_ENDPOINT");
    inspect_env.push(("AWS_ENDPOINT".to_owned(), counter.url()));
    let inspect = Tool::new(
        "wyvern inspect (remote)",
        format!("{} inspect s3://test-bucket/bench/0/{TEST_DELIVERABLE}.zip", binary.display()),
    )
    .env(&inspect_env);
    let out = root().join("target/bench-scratch/inspect");
    std::fs::create_dir_all(&out)?;
    let sample = time(&inspect, &out, 0)?;
    let read = counter.bytes_from_server();
    writeln!(
        report,
        "Remote `wyvern inspect` of the {} zip in the bucket: {} bytes read from the emulator ({:.3}% of the zip, \
         responses and headers included), {:.2} s.\n",
        mib(bytes),
        read,
        read as f64 * 100.0 / bytes as f64,
        sample.wall
    )?;
    Ok(())
}
