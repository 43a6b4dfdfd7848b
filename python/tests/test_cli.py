"""The `wyvern` command pip installs is the Rust command line: it behaves as the cargo-built
binary (`$WYVERN_CARGO_BINARY`, set by `cargo xtask test`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import wyvern
from conftest import files

SANDBOX = wyvern.sandbox


def installed() -> str:
    path = shutil.which("wyvern", path=str(Path(sys.executable).parent))
    assert path, "pip install puts `wyvern` beside the interpreter"
    return path


def run(binary: str, args: list, api_url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WYVERN_API_URL": api_url, "WYVERN_TOKEN": SANDBOX.TOKEN, "NO_COLOR": "1"}
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_installed_command_is_the_cargo_built_one(api_url: str, tmp_path: Path) -> None:
    cargo_built = os.environ.get("WYVERN_CARGO_BINARY")
    if not cargo_built:
        pytest.skip("WYVERN_CARGO_BINARY is not set (cargo xtask test sets it)")
    cases = [
        ["--version"],
        ["order", "show", SANDBOX.ORDER, "--json"],
        ["order", "download", SANDBOX.ORDER, "--json", "--to", "out"],
        ["order", "download", SANDBOX.ORDER, "--json", "--to", "out"],
        ["order", "download", SANDBOX.PENDING_ORDER, "--to", "out"],
        ["order", "show", "00000000-0000-0000-0000-00000000dead"],
        ["sync", "--all", "--json", "--to", "out"],
        ["inspect", "--json", f"out/{SANDBOX.ORDER}/{SANDBOX.DELIVERABLE}.zip"],
        ["sync", "--concurrency", "0", "--to", "out"],
    ]
    for name, binary in (("pip", installed()), ("cargo", cargo_built)):
        (tmp_path / name).mkdir()
    for args in cases:
        pip, cargo = (run(binary, args, api_url, tmp_path / name) for name, binary in (("pip", installed()), ("cargo", cargo_built)))
        assert pip.returncode == cargo.returncode, (args, pip, cargo)
        if "--json" in args:
            # Concurrent transfers end in any order.
            lines = lambda text: sorted(text.splitlines())  # noqa: E731
            assert lines(pip.stdout) == lines(cargo.stdout), args
        else:
            assert pip.stdout == cargo.stdout, args
        assert pip.stderr == cargo.stderr, args
    assert files(tmp_path / "pip") == files(tmp_path / "cargo")


def test_ctrl_c_stops_the_installed_command_as_it_stops_the_binary(tmp_path: Path) -> None:
    with wyvern.sandbox.serve(deliverable_size=8 << 20, faults={SANDBOX.DELIVERABLE: "slow"}) as url:
        env = {**os.environ, "WYVERN_API_URL": url, "WYVERN_TOKEN": SANDBOX.TOKEN}
        dest = tmp_path / "out"
        child = subprocess.Popen(
            [installed(), "order", "download", SANDBOX.ORDER, "--to", str(dest)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130, stderr
    # The download in flight stays as its hidden partial file, for the same command to continue;
    # nothing is visible.
    assert "interrupted: 1 download in flight kept as hidden partial files" in stderr, stderr
    left = files(dest)
    assert len(left) == 1 and Path(left[0]).name.startswith(".") and left[0].endswith(".wyvern-part"), left


def test_metrics_are_served_while_a_watch_runs_and_sigterm_stops_it(api_url: str, tmp_path: Path) -> None:
    import socket
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "WYVERN_API_URL": api_url, "WYVERN_TOKEN": SANDBOX.TOKEN}
    args = ["sync", "--all", "--watch", "--interval", "300ms", "--metrics", f"127.0.0.1:{port}", "--to", "out"]
    child = subprocess.Popen([installed(), *args], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        samples: dict = {}
        deadline = time.monotonic() + 60
        while samples.get(("wyvern_polls_total", ())) is None or samples[("wyvern_polls_total", ())] < 2:
            assert time.monotonic() < deadline, samples
            time.sleep(0.2)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                continue
            samples = {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        assert samples[("wyvern_deliverables_total", (("status", "downloaded"),))] == 3
        assert samples[("wyvern_deliverables_total", (("status", "skipped"),))] >= 3
        assert samples[("wyvern_bytes_total", ())] > 0
        assert samples[("wyvern_transfers_in_flight", ())] == 0
        assert samples[("wyvern_last_success_timestamp_seconds", ())] > time.time() - 60
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status == 200
    finally:
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
