"""A command's output into the CLI's, each command's on lines of its own.

A command whose output does not end its last line (``curl -s .../hostname``
prints ``web-1``, a jsonpath prints no newline) runs into whatever comes
next.  At a terminal that is the prompt, as in any shell.  When the CLI's
output is not a terminal (a ``--script`` run, a pipe, a file) it is the next
command's output, so there the child writes into a pipe that ``Pump``
copies to the CLI's output as it comes, and the missing newline is added
once the command is done.  The child sees no terminal either way, so
nothing it does changes.

A command may leave a process of its own running that still holds the pipe
(``web-1 python3 -m http.server &``): its output goes on being copied, as a
shell's background job's does, and the command counts as done once it has
exited and its output has been quiet for ``QUIET`` seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import BinaryIO

CHUNK = 65536
QUIET = 0.5          # seconds of silence after the command exits: its output is over


def piped() -> bool:
    """True when the CLI's output is not a terminal (a script, a pipe, a file)."""
    try:
        return not os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):   # a replaced stdout: no fd
        return False


def popen(argv: list[str], **kw) -> tuple[subprocess.Popen, Pump | None]:
    """``subprocess.Popen(argv, **kw)``, its stdout (when not given) through a
    ``Pump`` if the CLI's output is not a terminal; ``finish(pump)`` after."""
    pump_it = kw.get("stdout") is None and piped()
    if pump_it:
        kw["stdout"] = subprocess.PIPE
    proc = subprocess.Popen(argv, **kw)
    return proc, Pump(proc.stdout) if pump_it else None


def finish(pump: Pump | None) -> None:
    """``pump.finish()``, if there is one."""
    if pump is not None:
        pump.finish()


class Pump:
    """``Pump(pipe)`` copies ``pipe`` (a child's stdout) to the CLI's stdout
    in a thread of its own, to the pipe's end; ``finish()``, once the child
    has exited, waits for the end (or for quiet) and ends the last line."""

    def __init__(self, pipe: BinaryIO) -> None:
        self.pipe = pipe
        self.last = b"\n"
        self.writing = False
        self.seen = time.monotonic()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._copy, name="cli-output", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        out, fd = sys.stdout.buffer, self.pipe.fileno()
        try:
            while chunk := os.read(fd, CHUNK):
                self.writing = True
                out.write(chunk)
                out.flush()
                self.last, self.writing, self.seen = chunk[-1:], False, time.monotonic()
        except OSError:
            pass
        finally:
            self.writing = False
            self.ended.set()
            self.pipe.close()

    def finish(self, quiet: float = QUIET) -> None:
        """The child has exited: wait until its output ends, or has been
        quiet for ``quiet`` seconds (a process it left behind holds the pipe),
        never while a chunk is still being written (a slow reader), then end
        the last line."""
        while not self.ended.wait(0.05):
            if not self.writing and time.monotonic() - self.seen > quiet:
                break
        if self.last != b"\n":
            sys.stdout.buffer.write(b"\n")
            sys.stdout.flush()
            self.last = b"\n"
