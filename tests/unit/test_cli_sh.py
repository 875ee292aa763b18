"""The CLI's ``sh`` and how the CLI ends (k8snet.cli.shell, k8snet.main).

``sh CMD`` runs ``sh -c CMD`` as Mininet's does (its output shown, its exit
status its own), in a process group of its own written down in the run
directory, so ``make clean`` stops it, children and all, after a crash.
Ctrl-C stops the command only; SIGTERM stops it and ends the CLI, in a
script or at the prompt.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from k8snet import main as k8snet_main
from k8snet.cli import shell
from k8snet.cli.shell import K8sCLI, Terminated
from k8snet.cluster.cleanup import kill_pids, ours
from k8snet.cluster.rundir import RunDir, recorded

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_sigterm(monkeypatch):
    """Each test starts with no SIGTERM seen and gets its handlers back."""
    monkeypatch.setattr(shell, "_TERMINATED", threading.Event())
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def _rundir(path: Path) -> RunDir:
    rundir = object.__new__(RunDir)
    rundir.path = path
    return rundir


def _cli(tmp_path: Path) -> K8sCLI:
    cli = object.__new__(K8sCLI)          # no Mininet: the commands only
    cli.cluster = SimpleNamespace(rundir=_rundir(tmp_path))
    cli.mn = {}
    return cli


def _session(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(name))
    return found


def _recorded_pid(tmp_path: Path) -> int:
    lines = recorded(tmp_path, "pids")
    assert len(lines) == 1, lines
    return int(lines[0].split()[0])


def _after(seconds: float, sig: int) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def test_sh_shows_the_output_and_keeps_mininets_exit_status_behaviour(tmp_path, capfd) -> None:
    cli = _cli(tmp_path)
    assert not cli.onecmd("sh printf 'one\\ntwo'; echo err >&2; exit 3")   # the CLI goes on
    out, err = capfd.readouterr()
    assert out == "one\ntwo\n"             # a script's last line ended (streams)
    assert err == "err\n"
    assert not cli.onecmd("sh ls --help >/dev/null && echo own-help")   # not `help sh`
    assert capfd.readouterr().out == "own-help\n"


def test_sh_runs_in_a_session_of_its_own_written_down_with_its_start_time(tmp_path) -> None:
    cli = _cli(tmp_path)
    cli.onecmd(f"sh ps -o sid= -p $$ > {tmp_path / 'sid'}")
    pid = _recorded_pid(tmp_path)
    line = recorded(tmp_path, "pids")[0].split()
    assert len(line) == 2 and line[1].isdigit()          # PID STARTTIME: make clean's proof
    sid = int((tmp_path / "sid").read_text())
    assert sid == pid != os.getsid(0)


def test_make_clean_after_a_crash_stops_the_command_and_its_children(tmp_path) -> None:
    """The CLI is SIGKILLed during ``sh sleep 200``; what ``make clean`` does
    with the run directory (``ours`` + ``kill_pids``) leaves nothing."""
    program = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from types import SimpleNamespace
        from pathlib import Path
        from k8snet.cli.shell import K8sCLI
        from k8snet.cluster.rundir import RunDir
        rundir = object.__new__(RunDir)
        rundir.path = Path({str(tmp_path)!r})
        cli = object.__new__(K8sCLI)
        cli.cluster = SimpleNamespace(rundir=rundir)
        cli.mn = {{}}
        cli.onecmd("sh sleep 200")
    """)
    crashed = subprocess.Popen([sys.executable, "-c", program], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not recorded(tmp_path, "pids") and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = _recorded_pid(tmp_path)
        while len(_session(pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)                  # timeout, sh -c, sleep 200
        assert len(_session(pid)) == 3, _session(pid)
        crashed.send_signal(signal.SIGKILL)   # a crash: nothing of the CLI runs
        crashed.wait()
        assert len(_session(pid)) == 3        # left behind
        pids = [p for p in (ours(line) for line in recorded(tmp_path, "pids")) if p]
        assert pids == [pid]
        kill_pids(pids)
        deadline = time.monotonic() + 5
        while _session(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session(pid) == []            # sh -c and sleep 200 too, not only the leader
    finally:
        if crashed.poll() is None:
            crashed.kill()
            crashed.wait()
        for pid in (_session(_recorded_pid(tmp_path)) if recorded(tmp_path, "pids") else []):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_the_commands_group_and_the_cli_reads_on(tmp_path, monkeypatch) -> None:
    said = []
    monkeypatch.setattr(shell, "output", said.append)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli = _cli(tmp_path)
    _after(0.5, signal.SIGINT)
    t0 = time.monotonic()
    assert not cli.onecmd("sh sleep 30; echo not-reached")
    assert time.monotonic() - t0 < 5
    assert said == ["\nInterrupt\n"]
    assert _session(_recorded_pid(tmp_path)) == []
    assert not shell.terminated()


def test_sigterm_stops_the_command_and_ends_the_cli(tmp_path, capfd) -> None:
    signal.signal(signal.SIGTERM, shell.terminate)
    cli = _cli(tmp_path)
    _after(0.5, signal.SIGTERM)
    t0 = time.monotonic()
    with pytest.raises(Terminated):
        cli.onecmd("sh trap '' INT; sleep 30")      # even one that ignores Ctrl-C
    assert time.monotonic() - t0 < 8
    assert _session(_recorded_pid(tmp_path)) == []
    assert "Interrupt" not in "".join(capfd.readouterr())
    os.kill(os.getpid(), signal.SIGTERM)           # a second one is only noted
    assert shell.terminated()


def test_a_command_that_swallows_sigterms_interrupt_still_ends_the_cli(tmp_path) -> None:
    cli = _cli(tmp_path)

    def swallow(_line):                   # as Mininet's waitForNode does with Ctrl-C
        try:
            shell.terminate()
        except KeyboardInterrupt:
            pass

    cli.do_swallow = swallow
    with pytest.raises(Terminated):
        cli.onecmd("swallow")


def _real_cli(tmp_path: Path, **kwargs) -> K8sCLI:
    with open(os.devnull) as devnull:
        return K8sCLI({}, SimpleNamespace(rundir=_rundir(tmp_path)), stdin=devnull, **kwargs)


def test_sigterm_ends_a_script_at_its_current_line(tmp_path, capfd) -> None:
    signal.signal(signal.SIGTERM, shell.terminate)
    script = tmp_path / "script"
    script.write_text("sh echo first\nsh sleep 30\nsh echo never\n")
    _after(1.0, signal.SIGTERM)
    with pytest.raises(Terminated):
        _real_cli(tmp_path, script=str(script))
    out = "".join(capfd.readouterr())
    assert "first" in out and "never" not in out and "Interrupt" not in out


def test_ctrl_c_in_a_script_interrupts_only_its_line(tmp_path, capfd, monkeypatch) -> None:
    said = []
    monkeypatch.setattr(shell, "output", said.append)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    script = tmp_path / "script"
    script.write_text("sh sleep 30\nsh echo next-line\n")
    _after(0.5, signal.SIGINT)
    _real_cli(tmp_path, script=str(script))
    assert said == ["\nInterrupt\n"] and capfd.readouterr().out == "next-line\n"


def test_sigterm_at_the_prompt_ends_the_interactive_cli(tmp_path, monkeypatch) -> None:
    asked = []

    def prompt(_text=""):
        asked.append(_text)
        if len(asked) == 1:
            return "sh true"
        shell.terminate()                  # SIGTERM while waiting for a line

    monkeypatch.setattr("builtins.input", prompt)
    monkeypatch.setattr(K8sCLI, "initReadline", classmethod(lambda cls: None))
    with pytest.raises(Terminated):
        _real_cli(tmp_path)
    assert len(asked) == 2                 # Mininet's run() did not read on


def test_ctrl_c_at_the_prompt_keeps_the_interactive_cli(tmp_path, monkeypatch) -> None:
    asked = []

    def prompt(_text=""):
        asked.append(_text)
        if len(asked) == 1:
            raise KeyboardInterrupt
        raise EOFError                     # Ctrl-D

    monkeypatch.setattr("builtins.input", prompt)
    monkeypatch.setattr(K8sCLI, "initReadline", classmethod(lambda cls: None))
    _real_cli(tmp_path)
    assert len(asked) == 2


def test_mains_sigterm_handler(monkeypatch) -> None:
    k8snet_main._teardown_on_sigterm()
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        handler(signal.SIGTERM, None)
    handler(signal.SIGTERM, None)                  # the second: noted, not raised
    monkeypatch.setattr(shell, "_TERMINATED", threading.Event())
    k8snet_main._teardown_on_sigterm(during_teardown=True)
    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)   # the teardown goes on
    assert not shell.terminated()


def test_a_sigterm_during_bring_up_exits_143(monkeypatch, capsys) -> None:
    def run(_args):
        raise Terminated
    monkeypatch.setattr(k8snet_main, "_run", run)
    assert k8snet_main.main(["run"]) == 143
    assert "terminated; cluster torn down" in capsys.readouterr().err


def _at_a_terminal(tmp_path: Path, lines: list[str], keys: list[tuple[float, bytes]],
                   timeout: float = 20.0) -> None:
    """The CLI's ``sh`` at an interactive prompt: a child process leads a
    session on a new pseudo-terminal (its controlling one, its stdin), runs
    each of ``lines`` through the CLI, then writes ``done``; the test types
    ``keys`` (after their delay in seconds) at the terminal meanwhile."""
    import pty
    program = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from types import SimpleNamespace
        from pathlib import Path
        from k8snet.cli.shell import K8sCLI
        from k8snet.cluster.rundir import RunDir
        out = Path({str(tmp_path)!r})
        rundir = object.__new__(RunDir)
        rundir.path = out
        cli = object.__new__(K8sCLI)
        cli.cluster = SimpleNamespace(rundir=rundir)
        cli.mn = {{}}
        cli.stdin = sys.stdin
        for line in {lines!r}:
            cli.onecmd(line)
        (out / "cli").write_text(f"{{os.getpgrp()}} {{os.tcgetpgrp(0)}}")
        (out / "done").write_text("done")
    """)
    pid, master = pty.fork()
    if pid == 0:                                    # the child: a session on the pty
        try:
            os.execv(sys.executable, [sys.executable, "-c", program])
        finally:
            os._exit(127)
    try:
        start = time.monotonic()
        for delay, data in keys:
            time.sleep(max(0.0, start + delay - time.monotonic()))
            os.write(master, data)
        deadline = time.monotonic() + timeout
        while not (tmp_path / "done").exists() and time.monotonic() < deadline:
            try:
                os.read(master, 4096)                 # keep the terminal's output flowing
            except OSError:
                break
        assert (tmp_path / "done").exists(), "the CLI did not get through its lines"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(master)


def test_at_the_prompt_the_command_has_the_terminal_and_the_cli_gets_it_back(tmp_path) -> None:
    """A job-control shell's command: its own group, the terminal's foreground
    group while it runs (so it has a controlling terminal and can read it);
    the CLI's group in the foreground again afterwards."""
    out = tmp_path
    _at_a_terminal(tmp_path, [
        f"sh ps -o pgid= -o tpgid= -p $$ > {out / 'ps'}; read word; echo $word > {out / 'read'}",
        f"sh tty > {out / 'tty'}",
    ], keys=[(1.0, b"hello\n")])
    pgid, tpgid = (int(v) for v in (out / "ps").read_text().split())
    cli_pgrp, foreground = (int(v) for v in (out / "cli").read_text().split())
    assert pgid == tpgid != cli_pgrp           # the command's group held the terminal
    assert foreground == cli_pgrp              # ... and gave it back
    assert (out / "read").read_text() == "hello\n"
    assert (out / "tty").read_text().startswith("/dev/pts/")
    assert int(recorded(tmp_path, "pids")[0].split()[0]) == pgid   # make clean's handle


def test_at_the_prompt_ctrl_c_reaches_the_command_and_ctrl_z_stops_nothing(tmp_path) -> None:
    out = tmp_path
    t0 = time.monotonic()
    _at_a_terminal(tmp_path, [
        "sh sleep 30",                                        # Ctrl-C ends it
        f"sh sleep 1; echo after-ctrl-z > {out / 'z'}",       # Ctrl-Z does not stop it
    ], keys=[(1.5, b"\x03"), (2.5, b"\x1a")])
    assert time.monotonic() - t0 < 15
    assert (out / "z").read_text() == "after-ctrl-z\n"
    cli_pgrp, foreground = (int(v) for v in (out / "cli").read_text().split())
    assert foreground == cli_pgrp


def test_a_second_ctrl_c_during_the_grace_period_kills_at_once(tmp_path, monkeypatch) -> None:
    said = []
    monkeypatch.setattr(shell, "output", said.append)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cli = _cli(tmp_path)
    _after(0.5, signal.SIGINT)
    _after(1.0, signal.SIGINT)                       # within the 2 s grace
    t0 = time.monotonic()
    assert not cli.onecmd("sh trap '' INT TERM; sleep 30")   # deaf to the first
    assert time.monotonic() - t0 < 0.5 + shell.SH_GRACE      # not the whole grace
    assert _session(_recorded_pid(tmp_path)) == []          # killed, children and all
    assert said == ["\nInterrupt\n"]
