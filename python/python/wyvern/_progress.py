"""What the engine reports while it works: progress bars (tqdm, when asked for and installed)
and warnings (the ``wyvern`` logger)."""

from __future__ import annotations

import logging
from typing import Any, Optional

log = logging.getLogger("wyvern")


class Quiet:
    """No bars; warnings to the ``wyvern`` logger."""

    def start(self, label: str, total: Optional[int]) -> Any:
        return None

    def warn(self, message: str) -> None:
        log.warning("%s", message)


class Bars(Quiet):
    """A tqdm bar per transfer (``tqdm.auto``: widgets in notebooks, text in terminals)."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm

    def start(self, label: str, total: Optional[int]) -> Any:
        # The engine calls update(n), reset(total) and close(): tqdm's own methods.
        return self._tqdm(
            total=total,
            desc=label if len(label) <= 24 else "…" + label[-23:],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=True,
        )


def observer(progress: bool) -> Quiet:
    """Bars when ``progress`` is asked for and tqdm is installed; nothing otherwise."""
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return Quiet()
        return Bars(tqdm)
    return Quiet()
