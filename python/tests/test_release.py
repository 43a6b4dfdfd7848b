"""What can be checked of the release machinery without GitHub or a container engine: the
workflows against GitHub's workflow schema (the copy check-jsonschema ships, offline), and the
Containerfile's stages, user and entrypoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_workflows_are_valid_github_workflows() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["ci.yml", "release.yml"]
    check = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    done = subprocess.run([*check, *map(str, workflows)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check can fail: a job whose runner is a number is refused.
    bad = ROOT / "target" / "tmp" / "bad-workflow.yml"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: 3\n    steps: []\n")
    assert subprocess.run([*check, str(bad)], capture_output=True).returncode != 0
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "bash .ci/run" in ci, "CI runs the README's test command"
    release = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "id-token: write" in release and "password" not in release, "PyPI by trusted publishing"


def test_the_containerfile_runs_wyvern_as_a_user_in_a_small_image() -> None:
    lines = [line.strip() for line in (ROOT / "Containerfile").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build"), stages
    assert "distroless/cc" in stages[1], "a runtime with glibc and CA certificates, no toolchain"
    final = lines[lines.index(stages[1]) :]
    assert "COPY --from=build /out/wyvern /usr/local/bin/wyvern" in final
    user = next(line for line in final if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("root", "0"), user
    entrypoint = next(line for line in final if line.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["wyvern"], "exec form"
    build = " ".join(lines[: lines.index(stages[1])])
    assert "cargo build --release --locked -p wyvern-cli" in build
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "target/" in ignored, "the build context leaves out target/"
    manifests = (ROOT / "docs" / "unattended.md").read_text()
    assert "your-registry/wyvern" in manifests and "Containerfile" in manifests
