"""Fixtures: the sandbox replica served from Python, a client of it, a scratch folder, and the
S3 emulator `cargo xtask test` starts (tests that need it say so when it is absent)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import wyvern


@pytest.fixture
def api_url() -> Iterator[str]:
    with wyvern.sandbox.serve() as url:
        yield url


@pytest.fixture
def client(api_url: str) -> wyvern.Client:
    return wyvern.Client(token=wyvern.sandbox.TOKEN, api_url=api_url)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "dest"


@pytest.fixture
def bucket() -> str:
    """A fresh prefix in the S3 emulator."""
    base = os.environ.get("WYVERN_TEST_S3_URL")
    if not base:
        pytest.skip("no S3 emulator (cargo xtask test starts one)")
    return f"{base}/{uuid.uuid4().hex}"


def files(root: Path) -> list:
    """Every file under `root`, temporary ones included, relative."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def dangling_s3_uploads() -> list:
    """Multipart uploads the S3 emulator still holds."""
    root = os.environ.get("WYVERN_TEST_S3_DATA_DIR")
    if not root:
        return []
    return sorted(name for name in os.listdir(root) if name.startswith(".upload"))
