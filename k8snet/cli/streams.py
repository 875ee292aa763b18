"""A command's output into the CLI's, each command's on lines of its own.

A command whose output does not end its last line (``curl -s .../hostname``
prints ``web-1``, a jsonpath prints no newline) runs into whatever comes
next.  At a terminal that is the prompt, as in any shell.  When the CLI's
output is not a terminal (a ``--script`` run, a pipe, a file) it is the next
command's output, so there the child writes into a pipe that ``Pump``
copies to the CLI's output as it comes, adding the missing newline at the
end.  The child sees no terminal either way, so nothing it does changes.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import BinaryIO

CHUNK = 65536


def piped() -> bool:
    """True when the CLI's output is not a terminal (a script, a pipe, a file)."""
    try:
        return not os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):   # a replaced stdout: no fd
        return False


class Pump:
    """``Pump(pipe)`` copies ``pipe`` (a child's stdout) to the CLI's stdout
    in a thread; ``finish()`` waits for the end and ends the last line."""

    def __init__(self, pipe: BinaryIO) -> None:
        self.pipe = pipe
        self.last = b"\n"
        self.thread = threading.Thread(target=self._copy, name="cli-output", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        out = sys.stdout.buffer
        while chunk := self.pipe.read1(CHUNK):
            out.write(chunk)
            out.flush()
            self.last = chunk[-1:]

    def finish(self, timeout: float = 5.0) -> None:
        self.thread.join(timeout)
        self.pipe.close()
        if self.last != b"\n":
            sys.stdout.buffer.write(b"\n")
            sys.stdout.flush()
