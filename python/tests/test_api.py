"""The documented API against the replica: every method, every exception, its messages and
hints, and the S3 emulator."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import wyvern
from conftest import dangling_s3_uploads, files

SANDBOX = wyvern.sandbox


def test_order_describes_the_order(client: wyvern.Client) -> None:
    order = client.order(SANDBOX.ORDER)
    assert order.id == SANDBOX.ORDER
    assert (order.status, order.reason_code) == ("completed", "fulfilled")
    assert order.deliverables == [SANDBOX.DELIVERABLE]
    assert order.product_id and order.datetime
    partial = client.order(SANDBOX.PARTIAL_ORDER)
    assert partial.reason_code == "partially_fulfilled"
    assert sorted(partial.deliverables) == sorted(SANDBOX.PARTIAL_DELIVERABLES)


def test_inspect_reads_a_deliverable_at_the_api_as_the_zip_reads(client: wyvern.Client, dest: Path) -> None:
    remote = client.inspect(SANDBOX.DELIVERABLE)
    assert remote["bytes_read"] < remote["bytes"]
    client.download(SANDBOX.ORDER, to=dest)
    local = wyvern.inspect(dest / SANDBOX.ORDER / f"{SANDBOX.DELIVERABLE}.zip")
    for key in ("entries", "items", "rasters", "problems", "bytes"):
        assert remote[key] == local[key], key
    with pytest.raises(wyvern.NotFoundError):
        client.inspect("00000000-0000-0000-0000-00000000dead")


def test_orders_lists_the_account_as_order_list_does(client: wyvern.Client) -> None:
    listed = {order.id: order for order in client.orders()}
    assert listed[SANDBOX.ORDER] == client.order(SANDBOX.ORDER)
    assert (listed[SANDBOX.REJECTED_ORDER].status, listed[SANDBOX.REJECTED_ORDER].reason_code) == (
        "rejected",
        "invalid_geometry",
    )
    assert listed[SANDBOX.PENDING_ORDER].deliverables == []


def test_download_writes_verified_zips_with_receipts_and_skips_them_after(client: wyvern.Client, dest: Path) -> None:
    results = client.download(SANDBOX.PARTIAL_ORDER, to=dest)
    assert sorted(r.deliverable_id for r in results) == sorted(SANDBOX.PARTIAL_DELIVERABLES)
    for result in results:
        assert (result.status, result.verified, result.order_id) == ("downloaded", True, SANDBOX.PARTIAL_ORDER)
        path = Path(result.destination)
        assert path == dest / SANDBOX.PARTIAL_ORDER / f"{result.deliverable_id}.zip"
        assert path.stat().st_size == result.bytes
        receipt = json.loads(path.with_name(f"{result.deliverable_id}.receipt.json").read_text())
        assert (receipt["sha256"], receipt["bytes"]) == (result.sha256, result.bytes)
    again = client.download(SANDBOX.PARTIAL_ORDER, to=str(dest))
    assert [r.status for r in again] == ["skipped", "skipped"]
    # Decided from a listing of the folder and, on a local disk (whose file times any program can
    # set), the receipts: a skip carries the receipt's SHA-256.
    assert {(r.deliverable_id, r.bytes) for r in again} == {(r.deliverable_id, r.bytes) for r in results}
    assert {r.sha256 for r in again} == {r.sha256 for r in results}


def test_download_extracts_members(client: wyvern.Client, dest: Path) -> None:
    (result,) = client.download(SANDBOX.ORDER, to=dest, extract=True)
    folder = Path(result.destination)
    assert folder == dest / SANDBOX.ORDER / SANDBOX.DELIVERABLE
    names = [p.name for p in folder.rglob("*") if p.is_file()]
    assert any(name.endswith((".tif", ".tiff")) for name in names), names
    assert any(name.endswith(".json") for name in names), names


def test_download_fetches_only_the_chosen_members(client: wyvern.Client, dest: Path) -> None:
    (result,) = client.download(SANDBOX.ORDER, to=dest, include=["*.json"], exclude=["catalog.json"])
    assert (result.status, result.verified, result.sha256) == ("downloaded", True, None)
    folder = dest / SANDBOX.ORDER / SANDBOX.DELIVERABLE
    landed = sorted(p.name for p in folder.rglob("*") if p.is_file())
    inspection = client.inspect(SANDBOX.DELIVERABLE)
    items = [e["name"] for e in inspection["entries"] if e["name"].endswith(".json") and "catalog" not in e["name"]]
    assert landed == sorted(Path(name).name for name in items) and len(landed) == 1
    (again,) = client.download(SANDBOX.ORDER, to=dest, include="*.json", exclude=["catalog.json", "catalog.json"])
    assert again.status == "skipped", "one glob is a glob, not its characters; the same choice is skipped"
    with pytest.raises(wyvern.WyvernError, match="not a glob"):
        client.download(SANDBOX.ORDER, to=dest, include=["[a"])


def test_report_of_orders_at_the_api_downloads_nothing(
    client: wyvern.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = tmp_path / "orders.html"
    assert client.report(SANDBOX.ORDER, output=page) == {"deliverables": 1, "thumbnails": 1}
    html = page.read_text()
    assert f'id="d-{SANDBOX.DELIVERABLE}"' in html and "<dt>Full download</dt>" in html
    with caplog.at_level("WARNING", logger="wyvern"):
        every = client.report(output=page)
    assert every["deliverables"] >= 1 and "left out of the report" in caplog.text
    with pytest.raises(wyvern.NotReadyError):
        client.report([SANDBOX.PENDING_ORDER], output=tmp_path / "none.html")
    assert not (tmp_path / "none.html").exists()


def test_sync_skips_orders_not_ready_and_shards_partition_the_deliverables(
    client: wyvern.Client, dest: Path, tmp_path: Path
) -> None:
    orders = [SANDBOX.ORDER, SANDBOX.PARTIAL_ORDER, SANDBOX.PENDING_ORDER]
    results = client.sync(orders, to=dest, concurrency=2)
    assert sorted(r.deliverable_id for r in results) == sorted([SANDBOX.DELIVERABLE, *SANDBOX.PARTIAL_DELIVERABLES])
    assert all(r.status == "downloaded" for r in results)
    assert all(r.status == "skipped" for r in client.sync(all=True, to=dest))
    shards = [client.sync(orders, to=tmp_path / f"shard{k}", shard=f"{k}/2") for k in range(2)]
    ids = [r.deliverable_id for shard in shards for r in shard]
    assert sorted(ids) == sorted(r.deliverable_id for r in results), "each deliverable in exactly one shard"
    with pytest.raises(ValueError):
        client.sync(to=dest)


def test_wait_returns_the_fulfilled_order_and_gives_up_on_others(client: wyvern.Client) -> None:
    assert client.wait(SANDBOX.ORDER, timeout=5).id == SANDBOX.ORDER
    with pytest.raises(wyvern.NotReadyError) as waited:
        client.wait(SANDBOX.PENDING_ORDER, timeout=1, interval=0.2)
    assert str(waited.value).startswith("gave up waiting after 1s: order"), waited.value
    assert waited.value.retryable and waited.value.kind == "not_ready"
    with pytest.raises(wyvern.NotReadyError, match="will not be fulfilled"):
        client.wait(SANDBOX.REJECTED_ORDER)


def test_not_ready_unknown_and_refused_raise_their_exceptions(client: wyvern.Client, api_url: str, dest: Path) -> None:
    with pytest.raises(wyvern.NotReadyError) as not_ready:
        client.download(SANDBOX.PENDING_ORDER, to=dest)
    assert "is not ready for download" in str(not_ready.value)
    assert not_ready.value.hint == f'`Client.wait("{SANDBOX.PENDING_ORDER}")` waits until the order is fulfilled'
    with pytest.raises(wyvern.NotReadyError, match=r"was rejected \(invalid_geometry\): it will not be fulfilled") as rejected:
        client.download(SANDBOX.REJECTED_ORDER, to=dest)
    assert "wait" not in (rejected.value.hint or ""), rejected.value.hint
    assert not_ready.value.__notes__ == [f"hint: {not_ready.value.hint}"]
    with pytest.raises(wyvern.NotFoundError) as unknown:
        client.order("00000000-0000-0000-0000-00000000dead")
    assert not unknown.value.retryable
    with pytest.raises(wyvern.AuthError) as refused:
        wyvern.Client(token="not-the-token", api_url=api_url).order(SANDBOX.ORDER)
    assert "HTTP 401" in str(refused.value) and "not-the-token" not in str(refused.value)
    with pytest.raises(wyvern.WyvernError, match="invalid order id") as invalid:
        client.order("../orders")
    assert invalid.value.kind == "invalid"
    assert files(dest) == []
    for cls in (wyvern.NotReadyError, wyvern.AuthError, wyvern.NotFoundError, wyvern.VerificationError):
        assert issubclass(cls, wyvern.WyvernError)


def test_no_token_is_an_auth_error(api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WYVERN_TOKEN", "WYVERN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WYVERN_CONFIG_DIR", str(tmp_path / "config"))
    with pytest.raises(wyvern.AuthError, match="no API token configured") as missing:
        wyvern.Client(api_url=api_url)
    assert "WYVERN_TOKEN" in missing.value.hint
    monkeypatch.setenv("WYVERN_TOKEN", SANDBOX.TOKEN)
    assert wyvern.Client(api_url=api_url).order(SANDBOX.ORDER).id == SANDBOX.ORDER
    token_file = tmp_path / "token"
    token_file.write_text(SANDBOX.TOKEN + "\n")
    monkeypatch.setenv("WYVERN_TOKEN", "not-the-token")
    monkeypatch.setenv("WYVERN_TOKEN_FILE", str(token_file))
    assert wyvern.Client(api_url=api_url).order(SANDBOX.ORDER).id == SANDBOX.ORDER


def test_a_corrupt_deliverable_raises_a_verification_error_and_leaves_nothing(dest: Path) -> None:
    with wyvern.sandbox.serve(faults={SANDBOX.DELIVERABLE: "corrupt"}) as url:
        client = wyvern.Client(token=SANDBOX.TOKEN, api_url=url)
        with pytest.raises(wyvern.VerificationError) as corrupt:
            client.download(SANDBOX.ORDER, to=dest)
    assert "CRC-32 mismatch" in str(corrupt.value)
    assert corrupt.value.hint.startswith("nothing was kept")
    assert corrupt.value.results == []
    assert files(dest) == []


def test_a_failure_in_a_sync_keeps_the_others(dest: Path) -> None:
    (broken, whole) = SANDBOX.PARTIAL_DELIVERABLES
    with wyvern.sandbox.serve(faults={broken: "corrupt"}) as url:
        client = wyvern.Client(token=SANDBOX.TOKEN, api_url=url)
        with pytest.raises(wyvern.VerificationError) as failed:
            client.sync([SANDBOX.PARTIAL_ORDER], to=dest)
    assert [r.deliverable_id for r in failed.value.results] == [whole]
    assert len(failed.value.errors) == 1
    assert files(dest) == sorted(
        [f"{SANDBOX.PARTIAL_ORDER}/{whole}.receipt.json", f"{SANDBOX.PARTIAL_ORDER}/{whole}.zip"]
    )


def test_inspect_and_verify_return_the_cli_json(client: wyvern.Client, dest: Path) -> None:
    (result,) = client.download(SANDBOX.ORDER, to=dest)
    inspection = wyvern.inspect(result.destination)
    assert inspection["problems"] == [] and inspection["bytes_read"] < inspection["bytes"]
    verified = wyvern.verify(Path(result.destination))
    assert verified["verified"] and verified["bytes_read"] == verified["bytes"]
    assert [e["name"] for e in verified["entries"]] == [e["name"] for e in inspection["entries"]]
    binary = os.environ.get("WYVERN_CARGO_BINARY")
    if binary:
        for command, value in (("inspect", inspection), ("verify", verified)):
            cli = subprocess.run([binary, "--json", command, result.destination], capture_output=True, check=True)
            assert json.loads(cli.stdout) == value, command


def test_results_are_the_cli_json_lines(client: wyvern.Client, api_url: str, tmp_path: Path) -> None:
    """One serialisation: a Result's to_dict() and `wyvern sync --json`'s line for the same
    deliverable carry the same keys and values (the destination aside: two folders)."""
    binary = os.environ.get("WYVERN_CARGO_BINARY")
    if not binary:
        pytest.skip("WYVERN_CARGO_BINARY is not set (cargo xtask test sets it)")
    orders = [SANDBOX.PARTIAL_ORDER, SANDBOX.PENDING_ORDER]
    env = {**os.environ, "WYVERN_API_URL": api_url, "WYVERN_TOKEN": SANDBOX.TOKEN}
    for attempt in ("downloaded", "skipped"):
        results = client.sync(orders, to=tmp_path / "python")
        cli = subprocess.run(
            [binary, "--json", "sync", *orders, "--to", str(tmp_path / "cli")], capture_output=True, env=env, check=True
        )
        lines = [json.loads(line) for line in cli.stdout.splitlines()]
        delivered = {line["deliverable_id"]: line for line in lines if line.get("status") == attempt}
        assert sorted(delivered) == sorted(SANDBOX.PARTIAL_DELIVERABLES), lines
        for result in results:
            line = delivered[result.deliverable_id]
            mine = result.to_dict()
            assert mine["destination"] == str(tmp_path / "python" / SANDBOX.PARTIAL_ORDER / f"{result.deliverable_id}.zip")
            assert mine["status"] == attempt
            del mine["destination"], line["destination"]
            assert mine == line
        summary = next(line["summary"] for line in lines if "summary" in line)
        assert (summary[attempt], summary["not_ready"], summary["failed"]) == (2, 1, 0), summary


def test_an_unwritable_destination_raises_with_the_results(client: wyvern.Client, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(wyvern.WyvernError) as failed:
        client.sync([SANDBOX.ORDER, SANDBOX.PENDING_ORDER], to=blocker)
    assert failed.value.kind == "destination", failed.value
    assert (failed.value.results, len(failed.value.errors)) == ([], 1)


def test_verify_raises_on_a_damaged_zip(client: wyvern.Client, dest: Path, tmp_path: Path) -> None:
    (result,) = client.download(SANDBOX.ORDER, to=dest)
    data = bytearray(Path(result.destination).read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(wyvern.VerificationError) as failed:
        wyvern.verify(damaged)
    assert failed.value.hint.startswith("the zip is damaged")
    assert wyvern.inspect(damaged)["entries"], "inspect reads the headers, which are whole"
    with pytest.raises(wyvern.WyvernError):
        wyvern.inspect(tmp_path / "missing.zip")


def test_download_into_a_bucket(client: wyvern.Client, bucket: str) -> None:
    (result,) = client.download(SANDBOX.ORDER, to=bucket)
    assert result.destination == f"{bucket}/{SANDBOX.ORDER}/{SANDBOX.DELIVERABLE}.zip"
    remote = wyvern.verify(result.destination)
    assert remote["verified"] and remote["bytes"] == result.bytes
    (again,) = client.sync([SANDBOX.ORDER], to=bucket)
    assert again.status == "skipped"


def test_a_corrupt_deliverable_leaves_no_object_and_no_multipart_upload(bucket: str) -> None:
    with wyvern.sandbox.serve(deliverable_size=24 << 20, faults={SANDBOX.DELIVERABLE: "corrupt"}) as url:
        client = wyvern.Client(token=SANDBOX.TOKEN, api_url=url)
        with pytest.raises(wyvern.VerificationError):
            client.download(SANDBOX.ORDER, to=bucket)
    with pytest.raises(wyvern.WyvernError):
        wyvern.inspect(f"{bucket}/{SANDBOX.ORDER}/{SANDBOX.DELIVERABLE}.zip")
    assert dangling_s3_uploads() == []


def test_progress_bars_show_when_asked_and_nothing_otherwise(
    client: wyvern.Client, dest: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    client.download(SANDBOX.ORDER, to=dest)
    quiet = capfd.readouterr()
    assert quiet.out == "" and quiet.err == ""
    client.download(SANDBOX.PARTIAL_ORDER, to=dest, progress=True)
    shown = capfd.readouterr().err
    assert "100%" in shown and "B/s" in shown, shown


def test_the_api_is_documented() -> None:
    assert "Fetches every deliverable" in wyvern.Client.download.__doc__
    for name in wyvern.__all__:
        assert getattr(wyvern, name).__doc__ or name == "__version__", name
    package = Path(wyvern.__file__).parent
    assert (package / "py.typed").exists() and (package / "_native.pyi").exists()
    with pytest.raises(wyvern.WyvernError, match="unknown fault"):
        with wyvern.sandbox.serve(faults={SANDBOX.DELIVERABLE: "gremlins"}):
            pass


def test_catalog_and_report_of_a_synced_folder(client: wyvern.Client, dest: Path) -> None:
    import pystac

    results = client.sync([SANDBOX.ORDER, SANDBOX.PARTIAL_ORDER], to=dest)
    done = wyvern.catalog(dest)
    assert done["root"] == f"{dest}/catalog.json"
    assert (done["items_written"], done["left_out"]) == (len(results), [])
    items = list(pystac.Catalog.from_file(done["root"]).get_items(recursive=True))
    assert sorted(i.properties["wyvern:deliverable_id"] for i in items) == sorted(r.deliverable_id for r in results)
    assert wyvern.catalog(str(dest))["items_written"] == 0, "nothing new: nothing read or written"
    page = dest.parent / "report.html"
    shown = wyvern.report(dest, page)
    assert shown == {"deliverables": len(results), "thumbnails": len(results)}
    html = page.read_text()
    assert all(f'id="d-{r.deliverable_id}"' in html for r in results)



def test_sync_calls_back_as_each_deliverable_ends(client: wyvern.Client, dest: Path) -> None:
    seen = []

    def on_result(result: wyvern.Result) -> None:
        # The callback may call the package itself.
        assert client.order(result.order_id).id == result.order_id
        seen.append(result)

    results = client.sync([wyvern.sandbox.PARTIAL_ORDER], to=dest, on_result=on_result)
    assert sorted(seen, key=lambda r: r.deliverable_id) == sorted(results, key=lambda r: r.deliverable_id)
    assert {r.status for r in seen} == {"downloaded"}


class _Enough(Exception):
    pass


def test_watch_runs_rounds_fetching_only_what_is_new_until_the_callback_stops_it(
    client: wyvern.Client, dest: Path
) -> None:
    seen = []

    def on_result(result: wyvern.Result) -> None:
        seen.append(result)
        if len(seen) == 6:
            raise _Enough()

    with pytest.raises(_Enough):
        client.watch(to=dest, interval=0.2, on_result=on_result)
    first, second = seen[:3], seen[3:]
    assert {r.status for r in first} == {"downloaded"}, first
    assert {r.status for r in second} == {"skipped"}, second
    assert {r.deliverable_id for r in first} == {r.deliverable_id for r in second}
    assert [f for f in files(dest) if not f.endswith((".zip", ".receipt.json"))] == []
