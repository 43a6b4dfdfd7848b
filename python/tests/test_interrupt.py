"""Ctrl-C during a call: KeyboardInterrupt within a second, and nothing half-written (uploads
aborted), on disk and in a bucket."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import wyvern
from conftest import dangling_s3_uploads, files

SANDBOX = wyvern.sandbox


def interrupted_download(to: str) -> float:
    """Downloads a slow deliverable to `to`, sends SIGINT (what Ctrl-C does) to this process
    after a second, and returns how long the KeyboardInterrupt took to come."""
    sent = []

    def ctrl_c() -> None:
        time.sleep(1.0)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    # Python's own Ctrl-C handler, as at a terminal: a process started in the background by a
    # shell without job control (as CI runners may start it) inherits SIGINT ignored, and Python
    # then installs none.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # 8 MiB at 256 KiB/s: half a minute, unless interrupted.
        with wyvern.sandbox.serve(deliverable_size=8 << 20, faults={SANDBOX.DELIVERABLE: "slow"}) as url:
            client = wyvern.Client(token=SANDBOX.TOKEN, api_url=url)
            threading.Thread(target=ctrl_c, daemon=True).start()
            with pytest.raises(KeyboardInterrupt):
                client.download(SANDBOX.ORDER, to=to)
            return time.monotonic() - sent[0]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_interrupts_a_download_to_disk_and_leaves_nothing(dest: Path) -> None:
    took = interrupted_download(str(dest))
    assert took < 1.0, f"KeyboardInterrupt came {took:.2f} s after Ctrl-C"
    assert files(dest) == [], "no partial or temporary file"


def test_ctrl_c_interrupts_an_upload_and_aborts_it(bucket: str) -> None:
    took = interrupted_download(bucket)
    assert took < 1.0, f"KeyboardInterrupt came {took:.2f} s after Ctrl-C"
    with pytest.raises(wyvern.WyvernError):
        wyvern.inspect(f"{bucket}/{SANDBOX.ORDER}/{SANDBOX.DELIVERABLE}.zip")
    assert dangling_s3_uploads() == [], "the multipart upload was aborted"
