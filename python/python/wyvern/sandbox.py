"""A local replica of Wyvern's tasking API, to test pipelines offline.

::

    import wyvern

    with wyvern.sandbox.serve() as api_url:
        client = wyvern.Client(token=wyvern.sandbox.TOKEN, api_url=api_url)
        client.download(wyvern.sandbox.ORDER, to="imagery/")

It serves the documented sandbox test order and deliverable (and the orders below) with
generated deliverables: a Cloud-Optimized GeoTIFF, masks, previews and a STAC item in a zip,
verified the way real ones are. ``faults`` makes deliverables misbehave.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, Optional

from . import _native

__all__ = [
    "DELIVERABLE",
    "ORDER",
    "PARTIAL_DELIVERABLES",
    "PARTIAL_ORDER",
    "PENDING_ORDER",
    "REJECTED_ORDER",
    "TOKEN",
    "serve",
]

TOKEN: str = _native.SANDBOX_TOKEN
"""The bearer token the replica accepts."""
ORDER: str = _native.SANDBOX_ORDER
"""The documented sandbox test order: completed, fulfilled, one deliverable."""
DELIVERABLE: str = _native.SANDBOX_DELIVERABLE
"""Its deliverable."""
PARTIAL_ORDER: str = _native.SANDBOX_PARTIAL_ORDER
"""A completed, partially fulfilled order with two deliverables."""
PARTIAL_DELIVERABLES: tuple = tuple(_native.SANDBOX_PARTIAL_DELIVERABLES)
"""Its deliverables."""
PENDING_ORDER: str = _native.SANDBOX_PENDING_ORDER
"""An order accepted and not fulfilled yet (``NotReadyError``)."""
REJECTED_ORDER: str = _native.SANDBOX_REJECTED_ORDER
"""A rejected order: it will never be fulfilled."""


@contextmanager
def serve(*, deliverable_size: Optional[int] = None, faults: Optional[Dict[str, str]] = None) -> Iterator[str]:
    """Serves the replica on a free loopback port for the ``with`` block; yields its base URL.

    Args:
        deliverable_size: The approximate size of each generated deliverable, in bytes
            (default 512 KiB).
        faults: Deliverable id to fault: ``"corrupt"`` (a flipped byte: ``VerificationError``),
            ``"cut"`` (the connection drops half-way once: resumed), ``"slow"`` (256 KiB/s),
            ``"rate_limited"`` (two 429s first: retried), ``"unavailable"`` (always 503).
    """
    sandbox = _native.Sandbox(deliverable_size=deliverable_size, faults=faults)
    try:
        yield sandbox.api_url
    finally:
        sandbox.close()
