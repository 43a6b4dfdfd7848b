//! What the docs show works: the Kubernetes manifests validate against Kubernetes' own schema
//! (offline, with `kubernetes-validate`, which ships the schemas), and fail a shard at once on
//! exactly the exit codes that mean trying again cannot help.

use wyvern_cli::error::Exit;

/// The ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
        .collect()
}

#[test]
fn kubernetes_manifests_in_the_docs_are_valid_and_fail_only_permanent_exit_codes() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let sync = std::fs::read_to_string(docs.join("sync.md")).expect("docs/sync.md");
    let manifests = yaml_blocks(&sync);
    assert!(!manifests.is_empty(), "docs/sync.md shows a manifest");
    let permanent = [Exit::Verification, Exit::Auth, Exit::NotFound].map(|code| (code as u8).to_string()).join(", ");
    let sharded: Vec<&String> = manifests.iter().filter(|m| m.contains("completionMode: Indexed")).collect();
    assert!(!sharded.is_empty(), "docs/sync.md shows an Indexed Job");
    for manifest in &manifests {
        assert!(manifest.contains("restartPolicy: Never"), "no restart in place of a failed run:\n{manifest}");
    }
    for manifest in sharded {
        assert!(manifest.contains(&format!("values: [{permanent}]")), "FailIndex on {permanent}:\n{manifest}");
    }

    let unattended = std::fs::read_to_string(docs.join("unattended.md")).expect("docs/unattended.md");
    let services = yaml_blocks(&unattended);
    let deployment = services.iter().find(|m| m.contains("kind: Deployment")).expect("a Deployment");
    for needed in [
        "replicas: 1",
        "type: Recreate",
        "\"--watch\"",
        "\"--metrics\", \"0.0.0.0:9090\"",
        "path: /healthz",
        "secretKeyRef",
        "terminationGracePeriodSeconds: 90",
    ] {
        assert!(deployment.contains(needed), "the Deployment lacks {needed}:\n{deployment}");
    }
    let cron = services.iter().find(|m| m.contains("kind: CronJob")).expect("a CronJob");
    assert!(cron.contains("concurrencyPolicy: Forbid") && cron.contains("restartPolicy: Never"), "{cron}");

    validate(&[manifests, services].concat());
}

/// Validates `manifests` against Kubernetes 1.33's schema, offline.
fn validate(manifests: &[String]) {
    let Ok(python) = std::env::var("WYVERN_TEST_PYTHON") else {
        eprintln!("skipped: the schema check needs WYVERN_TEST_PYTHON (cargo xtask test sets it)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for (index, manifest) in manifests.iter().enumerate() {
        let path = dir.path().join(format!("manifest-{index}.yaml"));
        std::fs::write(&path, manifest).expect("write");
        let output = std::process::Command::new(&python)
            .args(["-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.33.0"])
            .arg(&path)
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            output.status.success(),
            "manifest {index} is not valid Kubernetes 1.33:\n{}{}\n{manifest}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The long options an `--help` lists, and the defaults it shows.
fn options_and_defaults(help: &str) -> (Vec<String>, Vec<String>) {
    let options = help
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix('-')
                .filter(|l| l.len() > 2 && l.as_bytes()[1] == b',')
                .map_or(line, |l| l[2..].trim_start());
            let name: String =
                line.strip_prefix("--")?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            (!name.is_empty() && name != "help" && name != "version").then(|| format!("--{name}"))
        })
        .collect();
    // Help text wraps: defaults are read from the text with its lines joined.
    let joined = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let defaults = joined
        .split("[default: ")
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(value, _)| value.to_owned()))
        .collect();
    (options, defaults)
}

/// The commands a `--help` lists under "Commands:".
fn subcommands(help: &str) -> Vec<String> {
    help.split("Commands:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|line| line.starts_with("  "))
                // A description wrapped onto the next line is indented further.
                .filter(|line| !line[2..].starts_with(' '))
                .filter_map(|line| line.split_whitespace().next())
                .filter(|name| *name != "help")
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reference_names_every_command_option_and_default_as_help_shows_them() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let text = ["cli.md", "sync.md"].map(|name| std::fs::read_to_string(docs.join(name)).expect("docs")).join("\n");
    let synopsis = text.split("```").nth(1).expect("cli.md opens with its synopsis").to_owned();
    let world = crate::World::new().await;
    let top = world.run(&["--help"]).await.stdout;
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    for name in subcommands(&top) {
        let nested = subcommands(&world.run(&[name.as_str(), "--help"]).await.stdout);
        if nested.is_empty() {
            commands.push(vec![name]);
        } else {
            commands.extend(nested.into_iter().map(|sub| vec![name.clone(), sub]));
        }
    }
    assert!(commands.len() >= 15, "{commands:?}");
    assert_man_pages(&world, &commands).await;
    for command in &commands {
        let words = command.join(" ");
        if !command.is_empty() {
            assert!(synopsis.contains(&format!("\n  {words}")), "the synopsis lacks `{words}`:\n{synopsis}");
        }
        let args: Vec<&str> = command.iter().map(String::as_str).chain(["--help"]).collect();
        let help = world.run(&args).await.stdout;
        let (options, defaults) = options_and_defaults(&help);
        for option in options {
            assert!(synopsis.contains(&option), "the synopsis lacks {option} (of `{words}`)");
        }
        for value in defaults {
            let written = [format!("default `{value}`"), format!("`{value}` (default)")];
            assert!(written.iter().any(|w| text.contains(w)), "the docs do not say `{words}`'s default as `{value}`");
        }
        // Commands that never talk to the API do not show its options.
        if ["inspect", "verify", "extract", "catalog", "report", "completions", "man"].contains(&words.as_str()) {
            for api in ["--retries", "--api-url", "--segment-size", "--token-file"] {
                assert!(!help.contains(api), "`{words} --help` shows {api}, which it does not use");
            }
        }
    }
}

/// `wyvern man` prints wyvern(1); `wyvern man DIR` writes it and a page per command, each
/// naming its command and describing its options.
async fn assert_man_pages(world: &crate::World, commands: &[Vec<String>]) {
    let page = world.run(&["man"]).await;
    assert_eq!(page.code, 0, "{page:#?}");
    assert!(page.stdout.contains(".TH wyvern 1") && page.stdout.contains("\\fB\\-\\-api\\-url\\fR"), "{page:#?}");
    let dir = world.dest().join("man/man1");
    let written = world.run(&["man", dir.to_str().expect("utf-8")]).await;
    assert_eq!(written.code, 0, "{written:#?}");
    for command in commands {
        let name = std::iter::once("wyvern").chain(command.iter().map(String::as_str)).collect::<Vec<_>>().join("-");
        let page = std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(page.contains(&format!(".TH {name} 1")) && page.contains(".SH OPTIONS"), "{name}.1:\n{page}");
    }
}

/// The JSON objects the docs show: each ```json block's objects (one per line or spread over
/// lines) and each inline `{...}` that parses. Fragments (a STAC asset shown on its own) are not
/// objects and are left out.
fn documented_json(markdown: &str) -> Vec<serde_json::Value> {
    let blocks = markdown.split("```json\n").skip(1).filter_map(|rest| rest.split_once("```").map(|(block, _)| block));
    let from_blocks = blocks.flat_map(|block| {
        serde_json::Deserializer::from_str(block)
            .into_iter::<serde_json::Value>()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let inline =
        markdown.split('`').filter(|span| span.starts_with("{\"")).filter_map(|span| serde_json::from_str(span).ok());
    from_blocks.chain(inline).filter(serde_json::Value::is_object).collect()
}

/// What kind of line an object is, to match a documented one with the tool's.
fn kind(object: &serde_json::Value) -> String {
    let has = |key: &str| object.get(key).is_some();
    for key in ["summary", "plan", "catalog", "report", "hook_failed", "exit_code", "action"] {
        if has(key) {
            return key.to_owned();
        }
    }
    match object.get("status").and_then(serde_json::Value::as_str) {
        Some(status) => status.to_owned(),
        None if has("completed_at") => "receipt".to_owned(),
        None if has("reason_code") => "order".to_owned(),
        None => "?".to_owned(),
    }
}

/// Where `documented` has a key `actual` lacks, or a value of another JSON type (null matches
/// anything: the docs show the null case): the first difference, as a path.
fn unlike(documented: &serde_json::Value, actual: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (documented, actual) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Object(doc), Value::Object(real)) => doc.iter().find_map(|(key, value)| match real.get(key) {
            None => Some(format!("{at}.{key} (not printed)")),
            Some(found) => unlike(value, found, &format!("{at}.{key}")),
        }),
        (Value::Array(doc), Value::Array(real)) => match (doc.first(), real.first()) {
            (Some(doc), Some(real)) => unlike(doc, real, &format!("{at}[0]")),
            _ => None,
        },
        _ if std::mem::discriminant(documented) == std::mem::discriminant(actual) => None,
        _ => Some(format!("{at} (a {documented} where the tool prints {actual})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_line_the_docs_show_is_one_the_tool_prints() {
    use wyvern_sandbox::{TEST_DELIVERABLE, TEST_ORDER};

    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let documented: Vec<serde_json::Value> = ["cli.md", "sync.md", "catalog.md", "unattended.md", "sinks.md"]
        .iter()
        .flat_map(|name| documented_json(&std::fs::read_to_string(docs.join(name)).expect("docs")))
        .collect();
    assert!(documented.len() >= 12, "{documented:#?}");

    // Everything the tool prints as JSON, from the commands the docs describe.
    let world = crate::World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let page = world.dir.path().join("report.html");
    let hooked = world.dir.path().join("hooked");
    let runs = [
        vec!["order", "show", TEST_ORDER],
        vec!["order", "list"],
        vec!["sync", "--all", "--to", dest],
        vec!["sync", "--all", "--to", dest],
        vec!["sync", "--all", "--to", dest, "--plan"],
        vec!["order", "show", "00000000-0000-0000-0000-00000000dead"],
        vec!["catalog", dest],
        vec!["report", dest, "-o", page.to_str().expect("utf-8")],
        vec!["order", "download", TEST_ORDER, "--to", hooked.to_str().expect("utf-8"), "--exec", "exit 3"],
    ];
    let mut printed: Vec<serde_json::Value> = Vec::new();
    for args in runs {
        let run = world.run(&[&args[..], &["--json"]].concat()).await;
        printed.extend(run.json_lines());
    }
    let receipt = world.dir.path().join(format!("dest/{TEST_ORDER}/{TEST_DELIVERABLE}.receipt.json"));
    printed.push(serde_json::from_slice(&std::fs::read(receipt).expect("a receipt")).expect("JSON"));

    for shown in &documented {
        let kind = kind(shown);
        if kind == "?" {
            // Not a line of the tool's (the API's own answers, shown where the docs explain them).
            continue;
        }
        let same: Vec<&serde_json::Value> = printed.iter().filter(|line| self::kind(line) == kind).collect();
        assert!(!same.is_empty(), "the docs show a `{kind}` line the tool never printed: {shown}");
        let differences: Vec<String> = same.iter().filter_map(|line| unlike(shown, line, "")).collect();
        assert!(
            differences.len() < same.len(),
            "the docs show {shown}\nbut the tool prints {}\n({})",
            same[0],
            differences.join("; ")
        );
    }
}

/// A line of human output reduced to its shape: its path (the second word of a result line) as
/// `PATH`, every run of digits (and the hex letters and dots among them) as `#`, single spaces.
fn shape(line: &str) -> String {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if matches!(words.first().map(String::as_str), Some("downloaded" | "skipped")) && words.len() > 1 {
        words[1] = "PATH".to_owned();
    }
    let text = words.join(" ");
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().any(|c| c.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() || c == '.' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_lines_the_docs_show_have_the_shape_the_tool_prints() {
    use wyvern_sandbox::TEST_ORDER;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let texts = ["README.md", "docs/cli.md", "docs/sync.md", "docs/catalog.md"]
        .map(|name| std::fs::read_to_string(root.join(name)).expect("docs"));
    // Lines of the docs' code blocks that are results: a download's, a skip's, an order's.
    let listed =
        |line: &str| line.len() > 38 && line.as_bytes()[36..38] == *b"  " && line[..36].matches('-').count() == 4;
    let documented: Vec<&str> = texts
        .iter()
        .flat_map(|text| text.split("```").skip(1).step_by(2))
        .flat_map(str::lines)
        .filter(|line| line.starts_with("downloaded ") || line.starts_with("skipped ") || listed(line))
        .collect();
    assert!(documented.len() >= 5, "{documented:?}");

    let world = crate::World::new().await;
    let dest = world.dest();
    let dest = dest.to_str().expect("utf-8");
    let mut printed = String::new();
    for args in [
        vec!["order", "download", TEST_ORDER, "--to", dest],
        vec!["order", "download", TEST_ORDER, "--to", dest],
        vec!["order", "list"],
    ] {
        printed.push_str(&world.run(&args).await.stdout);
    }
    let shapes: Vec<String> = printed.lines().map(shape).collect();
    for line in documented {
        assert!(
            shapes.contains(&shape(line)),
            "the docs show\n  {line}\nshaped\n  {}\nbut the tool prints\n  {}",
            shape(line),
            shapes.join("\n  ")
        );
    }
}
