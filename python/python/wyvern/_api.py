"""The documented API: :class:`Client`, :class:`Order`, :class:`Result`, :func:`inspect` and
:func:`verify`, on top of the native engine (``wyvern._native``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _native
from ._native import VerificationError
from ._progress import log, observer

PathOrUrl = Union[str, "os.PathLike[str]"]

__all__ = ["Client", "Order", "Result", "inspect", "verify"]


@dataclass(frozen=True)
class Order:
    """An order, as the API describes it."""

    id: str
    """The order id."""
    status: Optional[str]
    """``pending``, ``accepted``, ``completed``, ``rejected``, ``cancelled``... (``None`` when
    the API gave none)."""
    reason_code: Optional[str]
    """Why it has that status: ``fulfilled`` and ``partially_fulfilled`` mean deliverables."""
    product_id: Optional[str]
    """The product ordered."""
    datetime: Optional[str]
    """The acquisition window."""
    deliverables: List[str] = field(default_factory=list)
    """The ids of its deliverables (empty until it is fulfilled)."""

    @classmethod
    def _from_json(cls, text: str) -> "Order":
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Result:
    """A deliverable at its destination: fetched in this call, or already there."""

    order_id: Optional[str]
    """Its order."""
    deliverable_id: str
    """The deliverable."""
    destination: str
    """Where it is: the zip (``.../<order_id>/<deliverable_id>.zip``), or with ``extract`` (or
    ``include``/``exclude``) the folder of its members."""
    status: str
    """``"downloaded"`` (in this call) or ``"skipped"`` (there already, as its receipt says)."""
    bytes: int
    """The zip's size (of chosen members, ``include``/``exclude``: the bytes fetched for them)."""
    sha256: Optional[str]
    """The zip's SHA-256, lowercase hex. Of a skipped one: its receipt's, when it was read
    (``None`` when the skip was decided from a listing of the destination alone: the receipt
    beside the zip holds it). ``None`` for chosen members fetched alone (each was verified
    against its CRC-32 and STAC checksum instead)."""
    verified: Optional[bool]
    """Whether the zip was verified while it streamed (of a skipped one, as ``sha256``)."""
    warnings: Tuple[str, ...] = ()
    """What verification could not check, or checked only weakly."""
    from_receipt: bool = False
    """Of a skipped one: ``sha256`` and ``verified`` are its receipt's, not a new reading."""
    _line: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _from_dict(cls, value: Dict[str, Any]) -> "Result":
        return cls(**{**value, "warnings": tuple(value.get("warnings", ())), "_line": dict(value)})

    def to_dict(self) -> Dict[str, Any]:
        """The result as ``wyvern sync --json`` prints its line: the same keys and values (both
        are the engine's one serialisation of the event)."""
        return dict(self._line)


def _dispatch(on_result: Optional[Callable[[Result], None]]) -> Callable[[str], None]:
    """The engine's events (JSON lines) to ``on_result`` (deliverables that ended well) and to
    the ``wyvern`` logger (the rest)."""

    def dispatch(text: str) -> None:
        event = json.loads(text)
        if "round" in event:
            if event.get("error"):
                log.warning("round %s failed: %s; next round in %.0f s", event["round"], event["error"], event["next_in_s"])
            else:
                log.info("round %s done; next round in %.0f s", event["round"], event["next_in_s"])
        elif "hook_failed" in event:
            log.warning("the hook of %s failed: %s", event["hook_failed"], event["error"])
        elif event.get("status") == "failed":
            log.warning("%s failed: %s", event.get("deliverable_id") or event.get("order_id"), event.get("error"))
        elif event.get("status") == "not_ready":
            log.info("order %s is not ready", event.get("order_id"))
        elif on_result is not None:
            on_result(Result._from_dict(event))

    return dispatch


def _some(values: Union[str, Iterable[str], None]) -> List[str]:
    """One value or several, as a list: a string is one value (a glob, an order id), not its
    characters."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(value) for value in values]


def _results(answer: Tuple[str, List[BaseException], List[str]]) -> List[Result]:
    """The results of a transfer; raises the first failure, with every result and failure
    attached (``error.results``, ``error.errors``)."""
    text, errors, not_ready = answer
    results = [Result._from_dict(value) for value in json.loads(text)]
    for order_id in not_ready:
        log.info("order %s is not ready: skipped", order_id)
    if errors:
        first = errors[0]
        first.results = results  # type: ignore[attr-defined]
        first.errors = errors  # type: ignore[attr-defined]
        raise first
    return results


class Client:
    """A client of Wyvern's tasking API.

    Args:
        token: The bearer token (fixed: it does not renew). When ``None``: the file named by
            ``$WYVERN_TOKEN_FILE`` (read again when the API refuses its token), else
            ``$WYVERN_TOKEN``, else a login with ``$WYVERN_USERNAME`` and ``$WYVERN_PASSWORD``
            (or the first line of the file ``$WYVERN_PASSWORD_FILE``), else the tokens
            ``wyvern auth login`` stored for this API. Logins and stored tokens renew themselves
            before they expire and when the API refuses them.
        api_url: The API's base URL. When ``None``: ``$WYVERN_API_URL``, else the sandbox API
            with ``sandbox=True``, else https://api.wyvern.space.
        sandbox: Use Wyvern's sandbox API.
        retries: Retries of a failed request or stalled download before giving up (default 5).
        connections: Ranged requests in flight per deliverable on a slow link (default 6, at most 64).
        ca_cert: A PEM file of private certificate authorities to trust beside the system's
            (default ``$WYVERN_CA_CERT``).
        allow_http: Accept a plain ``http://`` API on a host other than loopback (sends the token
            in clear).

    Raises:
        AuthError: No token was given or found.
    """

    def __init__(
        self,
        token: Optional[str] = None,
        api_url: Optional[str] = None,
        sandbox: bool = False,
        *,
        retries: Optional[int] = None,
        connections: Optional[int] = None,
        ca_cert: Optional[PathOrUrl] = None,
        allow_http: bool = False,
    ) -> None:
        url = api_url or os.environ.get("WYVERN_API_URL") or (
            _native.SANDBOX_API_URL if sandbox else _native.PRODUCTION_API_URL
        )
        token_file = os.environ.get("WYVERN_TOKEN_FILE") if token is None else None
        password_file = os.environ.get("WYVERN_PASSWORD_FILE") if token is None else None
        ca_cert = ca_cert if ca_cert is not None else os.environ.get("WYVERN_CA_CERT")
        self._native = _native.Client(
            url,
            token=token,
            token_file=token_file,
            password_file=password_file,
            retries=retries,
            connections=connections,
            ca_cert=os.fspath(ca_cert) if ca_cert is not None else None,
            allow_http=allow_http,
        )

    def __repr__(self) -> str:
        return f"wyvern.Client(api_url={self.api_url!r})"

    @property
    def api_url(self) -> str:
        """The API's base URL."""
        return self._native.api_url

    def order(self, order_id: str) -> Order:
        """The order ``order_id``: its status, reason and deliverables.

        Raises:
            NotFoundError: No such order on this API.
            AuthError: The token was refused.
        """
        return Order._from_json(self._native.order(order_id))

    def inspect(self, deliverable: str) -> Dict[str, Any]:
        """What a deliverable still at the API holds (members, STAC items, GeoTIFF headers), read
        with a few ranged requests, without downloading it: the object ``wyvern deliverable
        inspect --json`` prints (``["bytes_read"]`` says how much it cost). ``deliverable`` is an
        id or its URL on the API.

        Raises:
            NotFoundError: No such deliverable on this API.
        """
        return json.loads(self._native.inspect(deliverable))

    def report(self, order_ids: Union[str, Iterable[str], None] = None, output: PathOrUrl = "report.html") -> Dict[str, Any]:
        """Writes the HTML page :func:`wyvern.report` makes (thumbnails, a footprint map, dates,
        cloud cover, bands, what a full download costs) of the deliverables of ``order_ids``
        (every order the account lists when ``None``) as they are at the API, downloading none:
        each is read with a few ranged requests (``wyvern order report``). Orders not ready are
        left out, with a warning on the ``wyvern`` logger. Returns ``deliverables`` (how many it
        shows) and ``thumbnails`` (how many with a picture).

        Raises:
            NotReadyError: No order given is ready.
            NotFoundError: An order is not on this API.
        """
        ids = None if order_ids is None else _some(order_ids)
        return json.loads(self._native.report(ids, os.fspath(output), observer=observer(False)))

    def orders(self) -> List[Order]:
        """The account's orders (every page of the listing), as ``wyvern order list`` shows them:
        to find an order's id.

        Raises:
            AuthError: The token was refused.
        """
        return [Order._from_json(order) for order in self._native.orders()]

    def download(
        self,
        order_id: str,
        to: PathOrUrl = ".",
        extract: bool = False,
        verify: bool = True,
        *,
        if_exists: str = "skip",
        progress: bool = False,
        include: Union[str, Iterable[str], None] = None,
        exclude: Union[str, Iterable[str], None] = None,
    ) -> List[Result]:
        """Fetches every deliverable of a fulfilled order to ``to``/<order_id>/<deliverable_id>.zip,
        as ``wyvern order download`` does.

        Each zip streams straight to its destination, is verified on the way (CRC-32s, STAC
        sizes and checksums, GeoTIFF headers) and appears under its name only when whole, with
        a receipt beside it; one already there with a matching receipt is skipped.

        Args:
            order_id: The order.
            to: A folder, or a bucket URL: ``s3://bucket/prefix``, ``gs://...``, ``az://...``
                (credentials from the usual environment variables).
            extract: Write each zip's members to a folder named after it instead of the zip.
            verify: Verify while downloading (extraction always does).
            if_exists: ``"skip"`` (when the receipt matches), ``"overwrite"`` or ``"fail"``.
            progress: Show a progress bar per deliverable (when tqdm is installed).
            include: Fetch only the members these globs match (``["*.json", "*_thumbnail.png"]``),
                with ranged requests, each verified, laid out as ``extract`` lays them out; a
                glob without ``/`` matches a member's name in any folder, ``**`` crosses folders.
            exclude: Leave out the members these globs match (overrides ``include``).

        Returns:
            A :class:`Result` per deliverable.

        Raises:
            NotReadyError: The order is not fulfilled.
            VerificationError: A zip is not whole and consistent (nothing of it was kept).
            WyvernError: Anything else; ``error.results`` holds the deliverables that made it.
        """
        return _results(
            self._native.transfer(
                [order_id],
                os.fspath(to),
                extract=extract,
                verify=verify,
                if_exists=if_exists,
                concurrency=1,
                shard=None,
                strict=True,
                observer=observer(progress),
                include=_some(include),
                exclude=_some(exclude),
            )
        )

    def sync(
        self,
        order_ids: Optional[Iterable[str]] = None,
        to: PathOrUrl = ".",
        all: bool = False,
        concurrency: int = 4,
        shard: Optional[str] = None,
        *,
        extract: bool = False,
        verify: bool = True,
        if_exists: str = "skip",
        progress: bool = False,
        on_result: Optional[Callable[[Result], None]] = None,
        include: Union[str, Iterable[str], None] = None,
        exclude: Union[str, Iterable[str], None] = None,
    ) -> List[Result]:
        """Brings ``to`` up to date with the deliverables of fulfilled orders, as ``wyvern sync``
        does: what is there (as its receipt says) is skipped, orders not ready yet are skipped
        (logged at INFO), the rest is fetched ``concurrency`` at a time.

        Args:
            order_ids: The orders; with ``all=True``, every order the account can list.
            to: A folder or a bucket URL (see :meth:`download`).
            all: Sync every order the account can list.
            concurrency: Deliverables (and orders) in flight at once.
            shard: ``"K/N"``: only the deliverables of shard K of N, for N machines sharing one
                sync.
            extract, verify, if_exists, progress, include, exclude: As for :meth:`download`.
            on_result: Called with each :class:`Result` as its deliverable finishes (before the
                call returns); an exception it raises stops the sync.

        Returns:
            A :class:`Result` per deliverable.

        Raises:
            WyvernError: (or a subclass) The first failure, after every other deliverable was
                tried; ``error.results`` holds those that made it, ``error.errors`` every failure.
        """
        if all == (order_ids is not None):
            raise ValueError("give order_ids, or all=True (not both)")
        return self._sync(
            order_ids,
            to,
            progress=progress,
            on_result=on_result,
            extract=extract,
            verify=verify,
            if_exists=if_exists,
            concurrency=concurrency,
            shard=shard,
            include=_some(include),
            exclude=_some(exclude),
        )

    def watch(
        self,
        order_ids: Optional[Iterable[str]] = None,
        to: PathOrUrl = ".",
        *,
        interval: float = 300.0,
        concurrency: int = 4,
        shard: Optional[str] = None,
        extract: bool = False,
        verify: bool = True,
        on_result: Optional[Callable[[Result], None]] = None,
    ) -> None:
        """Keeps ``to`` in step with the account (or with ``order_ids``), as ``wyvern sync
        --watch`` does: a round every ``interval`` seconds, each fetching what is new; orders
        fulfilled later arrive in a later round. Runs until interrupted (Ctrl-C raises
        ``KeyboardInterrupt``, transfers in flight are discarded, nothing is half-written).

        Rounds that fail as a whole (the API down) and deliverables that fail are logged on the
        ``wyvern`` logger (WARNING) and tried again in a later round; they never end the watch.
        Credentials the API refuses (and that could not renew) do: ``AuthError`` is raised.

        Args:
            order_ids: The orders to watch; ``None`` for every order the account can list.
            to: A folder or a bucket URL (see :meth:`download`).
            interval: Seconds between rounds.
            concurrency, shard, extract, verify: As for :meth:`sync`.
            on_result: Called with each :class:`Result` as its deliverable finishes: a delivery
                (``status == "downloaded"``), or one there already; an exception it raises
                stops the watch. Transfers wait while it runs: keep it short.
        """
        self._sync(
            order_ids,
            to,
            progress=False,
            on_result=on_result,
            extract=extract,
            verify=verify,
            concurrency=concurrency,
            shard=shard,
            watch=float(interval),
        )

    def _sync(
        self,
        order_ids: Optional[Iterable[str]],
        to: PathOrUrl,
        *,
        progress: bool,
        on_result: Optional[Callable[[Result], None]],
        **settings: Any,
    ) -> List[Result]:
        """The engine's sync (or watch) of ``order_ids`` (``None``: the account) into ``to``."""
        ids = None if order_ids is None else _some(order_ids)
        native = self._native.transfer(
            ids, os.fspath(to), strict=False, observer=observer(progress), on_event=_dispatch(on_result), **settings
        )
        return _results(native)

    def wait(self, order_id: str, timeout: Optional[float] = None, *, interval: float = 30.0) -> Order:
        """Waits until the order is completed and fulfilled, polling every ``interval`` seconds.

        Returns:
            The fulfilled :class:`Order`.

        Raises:
            NotReadyError: The order will not be fulfilled, or ``timeout`` seconds passed.
        """
        return Order._from_json(self._native.wait(order_id, timeout=timeout, interval=interval))


def inspect(path_or_url: PathOrUrl) -> Dict[str, Any]:
    """What a deliverable zip holds (members, STAC items, GeoTIFF headers), read from its
    directory and headers only (a few ranged reads of an object in a bucket): the object
    ``wyvern inspect --json`` prints. Problems seen in the headers are listed in
    ``["problems"]``; :func:`verify` reads every byte.
    """
    return json.loads(_native.inspect(os.fspath(path_or_url)))


def verify(path_or_url: PathOrUrl, *, progress: bool = False) -> Dict[str, Any]:
    """Reads a deliverable zip whole and checks it (CRC-32s, STAC sizes and checksums, GeoTIFF
    headers): the object ``wyvern verify --json`` prints.

    Raises:
        VerificationError: The zip is not whole and consistent; ``error.inspection`` holds the
            object when the zip could be read to its end (else ``None``).
    """
    try:
        return json.loads(_native.verify(os.fspath(path_or_url), observer=observer(progress)))
    except VerificationError as error:
        text = getattr(error, "inspection", None)
        error.inspection = json.loads(text) if isinstance(text, str) else None  # type: ignore[attr-defined]
        raise


def catalog(destination: PathOrUrl, band_assets: bool = False) -> Dict[str, Any]:
    """Writes or refreshes the STAC catalog of everything at ``destination`` (a folder or a
    bucket URL a sync wrote to): ``catalog.json`` at its root, a catalog per order and an item per
    deliverable, hrefs relative (``wyvern catalog``; see docs/catalog.md). Items already up to
    date are not read. Returns what it did: ``root``, ``items_written``, ``items_kept``,
    ``catalogs_written``, ``left_out`` (deliverables it could not describe, with why) and
    ``warnings`` (what items left out of their deliverable's STAC item, or why one is not
    verified: ``deliverable`` and ``reason`` each).
    Open the result with ``pystac.Catalog.from_file(result["root"])``.

    ``band_assets=True`` also gives each band of an extracted multi-band GeoTIFF an asset of its
    own (``"<asset>.b<n>"``, a GDAL VRT of that band), for tools that take an asset to be one
    band: ``stackstac.stack([item.make_asset_hrefs_absolute()], assets=[...], snap_bounds=False)``.
    """
    return json.loads(_native.catalog(os.fspath(destination), band_assets))


def report(destination: PathOrUrl, output: PathOrUrl = "report.html") -> Dict[str, Any]:
    """Writes one self-contained HTML page of everything at ``destination`` to ``output``
    (``wyvern report``): thumbnails, a footprint map, facts, verdicts and checksums. Returns
    ``deliverables`` (how many it shows) and ``thumbnails`` (how many with a picture).
    """
    return json.loads(_native.report(os.fspath(destination), os.fspath(output)))

