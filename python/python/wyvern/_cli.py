"""The ``wyvern`` command that ``pip install`` puts on the PATH: the Rust command line itself,
run in this process."""

import signal
import sys

from . import _native


def main() -> None:
    """Runs ``wyvern`` with this process's arguments and exits with its code."""
    # The command line handles Ctrl-C and SIGTERM itself (transfers discarded, uploads aborted,
    # exit 130 or 143): Python's own handlers would only raise once it is over.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.exit(_native.cli(["wyvern", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
