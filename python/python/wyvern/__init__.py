"""Wyvern imagery deliverables to disk or straight into buckets, verified in the same pass.

The `wyvern` command line's engine, in Python::

    import wyvern

    client = wyvern.Client()                       # token: $WYVERN_TOKEN, else `wyvern auth login`
    order = client.order(order_id)                 # status, reason, deliverable ids
    results = client.download(order_id, to="imagery/")   # or "s3://bucket/prefix"
    wyvern.inspect(results[0].destination)         # what the zip holds, from its headers
    wyvern.catalog("imagery/")                     # a STAC catalog of the folder (pystac, rasterio)
    wyvern.report("imagery/", "report.html")       # one page to look at

Every call blocks until done, with the GIL released; Ctrl-C raises ``KeyboardInterrupt`` and
leaves nothing half-written. Failures raise :class:`WyvernError` or one of its subclasses
(:class:`NotReadyError`, :class:`AuthError`, :class:`NotFoundError`,
:class:`VerificationError`), whose ``hint`` says what to do. :mod:`wyvern.sandbox` serves a
local replica of the API for offline tests.
"""

from . import sandbox
from ._api import Client, Order, Result, catalog, inspect, report, verify
from ._native import (
    AuthError,
    NotFoundError,
    NotReadyError,
    VerificationError,
    WyvernError,
    __version__,
)

__all__ = [
    "AuthError",
    "Client",
    "NotFoundError",
    "NotReadyError",
    "Order",
    "Result",
    "VerificationError",
    "WyvernError",
    "__version__",
    "catalog",
    "inspect",
    "report",
    "sandbox",
    "verify",
]
