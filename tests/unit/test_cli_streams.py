"""A command's output in a script ends its own line (k8snet.cli.streams)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time

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


def test_a_process_left_behind_holding_the_pipe_does_not_hold_the_cli(capsys) -> None:
    proc = subprocess.Popen(["sh", "-c", "printf start; (sleep 3; echo late) & printf end"],
                            stdout=subprocess.PIPE)
    pump = streams.Pump(proc.stdout)
    proc.wait()
    t0 = time.monotonic()
    pump.finish(quiet=0.3)
    assert time.monotonic() - t0 < 2.0                     # not the background's 3 s
    assert capsys.readouterr().out == "startend\n"
    pump.ended.wait(10)                                    # its output still comes
    assert capsys.readouterr().out == "late\n"


def test_a_slow_reader_gets_everything(monkeypatch) -> None:
    class Slow(io.BytesIO):
        def write(self, data):
            time.sleep(0.4)                                # longer than quiet
            return super().write(data)

    class Out:
        buffer = Slow()

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Out())
    proc = subprocess.Popen(["sh", "-c", "printf abc"], stdout=subprocess.PIPE)
    pump = streams.Pump(proc.stdout)
    proc.wait()
    pump.finish(quiet=0.1)
    assert Out.buffer.getvalue() == b"abc\n"
