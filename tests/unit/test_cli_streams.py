"""A command's output in a script ends its own line (k8snet.cli.streams)."""
from __future__ import annotations

import os
import subprocess

import pytest

from k8snet.cli import streams


@pytest.mark.parametrize(("written", "shown"), [
    (b"web-1", "web-1\n"), (b"web-1\n", "web-1\n"), (b"", ""),
    (b"a\nb", "a\nb\n"), (b"x" * 200000, "x" * 200000 + "\n")])
def test_the_last_line_is_ended_once(capsys, written, shown) -> None:
    proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pump = streams.Pump(proc.stdout)
    proc.stdin.write(written)
    proc.stdin.close()
    proc.wait()
    pump.finish()
    assert capsys.readouterr().out == shown


def test_a_terminal_is_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: True)
    assert not streams.piped()
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    assert streams.piped()
