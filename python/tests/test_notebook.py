"""Where notebooks call from: inside a running asyncio event loop (Jupyter runs cells in one),
from worker threads at once, and then into rasterio and pystac, as docs/python.md walks through."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

import pytest

import wyvern

SANDBOX = wyvern.sandbox


def test_a_call_inside_a_running_event_loop_on_another_thread(client: wyvern.Client, dest: Path) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def cell() -> list:
        # A notebook cell: synchronous calls while the loop runs.
        assert asyncio.get_running_loop() is loop
        return client.download(SANDBOX.ORDER, to=dest)

    try:
        results = asyncio.run_coroutine_threadsafe(cell(), loop).result(timeout=60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert [r.status for r in results] == ["downloaded"]


def test_a_call_inside_a_running_event_loop_on_the_main_thread(client: wyvern.Client, dest: Path) -> None:
    async def cell() -> list:
        return client.download(SANDBOX.PARTIAL_ORDER, to=dest)

    assert len(asyncio.run(cell())) == 2


def test_calls_from_many_threads_at_once(client: wyvern.Client, tmp_path: Path) -> None:
    orders = [SANDBOX.ORDER, SANDBOX.PARTIAL_ORDER] * 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(client.download, order, tmp_path / f"dest{i}") for i, order in enumerate(orders)]
        counts = [len(f.result(timeout=120)) for f in futures]
    assert counts == [1, 2] * 3
    # The GIL is released while they run: this thread was free all along.
    assert threading.active_count() >= 1


def test_the_walk_through_opens_the_imagery(client: wyvern.Client, dest: Path) -> None:
    rasterio = pytest.importorskip("rasterio")
    pystac = pytest.importorskip("pystac")
    (result,) = client.download(SANDBOX.ORDER, to=dest, extract=True)
    folder = Path(result.destination)
    (cog,) = [p for p in sorted(folder.rglob("*.tif*")) if "mask" not in p.name.lower()][:1]
    with rasterio.open(cog) as dataset:
        assert dataset.count >= 1 and dataset.width > 0
        assert dataset.read(1, window=((0, 16), (0, 16))).shape == (16, 16)
    (item_path,) = [p for p in sorted(folder.rglob("*.json")) if p.name != "catalog.json"][:1]
    item = pystac.Item.from_file(str(item_path))
    assert item.id and item.assets
