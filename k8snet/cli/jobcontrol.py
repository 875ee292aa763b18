"""Lending the terminal to a command and taking it back, as a job-control shell does.

A command that ``sh`` runs at the interactive prompt gets a process group of
its own and is made the terminal's foreground group for as long as it runs:
it has a controlling terminal (``sudo`` and ``ssh`` can prompt, ``bash -i``
has job control), and the terminal's Ctrl-C reaches its group, not the CLI.
When it ends, the CLI's group is made the foreground again and the
terminal's settings are put back (a full-screen program may leave it raw).
Without a terminal of its own in the foreground (``--script``, stdin piped,
the CLI run in the background) a command gets a session of its own instead.

Sources: POSIX.1-2017 XBD 11.1.4 (terminal access control), tcsetpgrp(3),
credentials(7); bash's ``give_terminal_to`` (jobs.c) is the shape.
"""
from __future__ import annotations

import os
import signal
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def _foreground(fd: int) -> bool:
    """``fd`` is a terminal whose foreground process group is ours."""
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


class Terminal:
    """``Terminal(stream)``, for the CLI's input ``stream``: ``popen_kwargs()``
    for the command's ``subprocess.Popen``, ``lend(pgid)`` once it runs,
    ``take_back()`` when it has ended (always: ``finally``).  ``lent``
    says whether the terminal is in play at all."""

    def __init__(self, stream: IO | None) -> None:
        try:
            self.fd = stream.fileno() if stream is not None else -1
        except (OSError, ValueError, AttributeError):   # a StringIO, a closed file
            self.fd = -1
        self.lent = self.fd >= 0 and _foreground(self.fd)
        self.settings = termios.tcgetattr(self.fd) if self.lent else None

    def popen_kwargs(self) -> dict:
        """``process_group=0`` (its own group in the CLI's session, the
        terminal its controlling one) when the terminal is lent, else
        ``start_new_session=True``."""
        return {"process_group": 0} if self.lent else {"start_new_session": True}

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Around the Popen: SIGTSTP ignored, and so inherited ignored by the
        command.  A Ctrl-Z would otherwise stop it while the CLI waits for it
        to end, with the terminal still its: nothing could then be typed."""
        if not self.lent:
            yield
            return
        before = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGTSTP, before)

    def lend(self, pgid: int) -> None:
        """Make ``pgid`` the terminal's foreground group and continue it: a
        read of the terminal before this stopped it (SIGTTIN)."""
        if not self.lent:
            return
        try:
            os.tcsetpgrp(self.fd, pgid)
            os.killpg(pgid, signal.SIGCONT)
        except (OSError, ProcessLookupError):   # it has already ended
            pass

    def take_back(self) -> None:
        """The CLI's group in the foreground again (SIGTTOU blocked: the CLI
        is in the background until then), the terminal's settings restored."""
        if not self.lent:
            return
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
        try:
            os.tcsetpgrp(self.fd, os.getpgrp())
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.settings)
        except (OSError, termios.error):          # the terminal went away (hang-up)
            pass
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
