"""Ctrl-C and SIGTERM end a run cleanly: teardown finishes before the exit.

SIGTERM is turned into ``KeyboardInterrupt`` (in this process only: a forked
helper just exits), so both take the same ``finally`` path.  Inside
``shielded()`` a further signal is held until teardown is over, so a second
Ctrl-C cannot cut a teardown in half.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_OWNER = os.getpid()


def install() -> None:
    """SIGTERM behaves like Ctrl-C in the process that called this."""
    global _OWNER
    _OWNER = os.getpid()

    def on_term(*_) -> None:
        if os.getpid() != _OWNER:
            os._exit(0)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while inside; raise ``KeyboardInterrupt`` after, if one came."""
    pending: list[int] = []

    def hold(signum, _frame) -> None:
        if os.getpid() != _OWNER:
            os._exit(0)
        pending.append(signum)
        print("\n*** tearing down, please wait", file=sys.stderr, flush=True)

    old = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if pending:
        raise KeyboardInterrupt
