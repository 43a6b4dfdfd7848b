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
