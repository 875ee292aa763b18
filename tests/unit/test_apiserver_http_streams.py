"""The pod streams with the real kubectl: ``exec -it`` with a shell on a
terminal (the resize channel included), ``attach`` and ``port-forward``
(SPDY tunnelled in a WebSocket), against a store served on 127.0.0.1.

"Inside the pod" is here: the ExecSource gives no namespace to enter, so
commands and the port-forward relay run in the test's own namespace.
"""
from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import termios
import threading
import time
import zlib
from pathlib import Path

import pytest

import k8snet.apiserver.http.spdy as spdy
from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store

VENV = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
FOUND = [str(VENV)] if VENV.exists() else []
if shutil.which("kubectl") and Path(shutil.which("kubectl")).resolve() != VENV.resolve():
    FOUND.append(shutil.which("kubectl"))
KUBECTLS = FOUND or [pytest.param("kubectl", marks=pytest.mark.skip("no kubectl installed"))]


class Exec:
    """Commands run here, with a container-like environment."""

    def target(self, namespace, name, container):
        return [], {"PATH": os.environ["PATH"], "HOME": "/", "PS1": "$ "}


class GrowingLog:
    """A container log the test appends to."""

    def __init__(self) -> None:
        self.text = "before attach\n"

    def logs(self, namespace, name, container, previous, tail):
        return self.text


@pytest.fixture(params=KUBECTLS)
def lab(request, tmp_path):
    """(run, popen, store, log): kubectl against a served store with pod p."""
    by, default = strategies("10.96.0.0/12")
    store = Store(by, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                  "spec": {"containers": [{"name": "c", "image": "x"}]},
                  "status": {"phase": "Running",
                             "containerStatuses": [{"name": "c", "state": {"running": {}}}]}})
    log = GrowingLog()
    with serve(store, logs=log, execs=Exec()) as server:
        env = dict(os.environ, KUBECONFIG=str(server.write_kubeconfig(tmp_path / "kc")),
                   KUBECACHEDIR=str(tmp_path / "cache"))

        def run(*args, **kw):
            return subprocess.run([request.param, *args], env=env, capture_output=True,
                                  text=True, timeout=30, **kw)

        def popen(*args, **kw):
            return subprocess.Popen([request.param, *args], env=env, **kw)
        yield run, popen, store, log


def _read_until(fd: int, needle: bytes, timeout: float = 15.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while needle not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


def test_exec_it_gives_a_shell_on_a_terminal(lab):
    _, popen, _, _ = lab
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = popen("exec", "-it", "p", "--", "sh", stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        os.write(master, b"tty; stty size; echo $((6 * 7))-done\n")
        out = _read_until(master, b"42-done\r\n")
        assert b"42-done\r\n" in out, out
        assert b"33 101" in out, out               # the size went over the resize channel
        assert b"/dev/pts/" in out, out            # the shell has a terminal of its own
        os.write(master, b"exit 3\n")
        assert proc.wait(timeout=15) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_exec_it_delivers_a_nul_typed_on_the_terminal(lab):
    """A NUL kubectl reads from its terminal is stdin like any other byte: it
    reaches the command, and the command's terminal echoes it as ``^@`` (as a
    kubelet's runtime does; wsstream drops only empty messages).  This is where
    the stray ``^@`` of ``script -qec '... kubectl exec -it ...' </dev/null``
    comes from: script writes VEOF to kubectl's terminal when its own stdin
    ends, and once kubectl turns the terminal raw that pending EOF reads as a
    NUL byte.  The server must not drop it."""
    _, popen, _, _ = lab
    master, slave = pty.openpty()
    proc = popen("exec", "-it", "p", "--", "sh", "-c", "head -c 2 | od -An -tx1",
                 stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        deadline = time.monotonic() + 15
        while termios.tcgetattr(master)[3] & termios.ICANON:    # until kubectl is raw
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.write(master, b"\x00")                    # a frame of its own: [0, 0]
        out = _read_until(master, b"^@")             # the command's terminal echoes it
        os.write(master, b"\n")
        out += _read_until(master, b"00 0a")
        assert b"00 0a" in out, out                # the NUL and the newline, in order
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_attach_streams_what_the_container_prints_from_now_on(lab):
    _, popen, store, log = lab
    proc = popen("attach", "p", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        log.text += "after attach 1\nafter attach 2\n"
        time.sleep(0.8)

        def ended(o: dict) -> None:
            o["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}
        store.mutate("Pod", "default", "p", ended)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "after attach 1\nafter attach 2\n"


def test_attach_says_stdin_is_not_delivered(lab):
    _, popen, store, _ = lab
    proc = popen("attach", "-i", "p", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        store.delete("Pod", "default", "p", grace_seconds=0)
        out, err = proc.communicate("typed\n", timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "the lab's containers run without standard input" in err
    assert "typed" not in out


def _echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve_one(conn: socket.socket) -> None:
        data = b""
        while not data.endswith(b"\n") and (chunk := conn.recv(100)):
            data += chunk
        conn.sendall(b"echo:" + data)
        conn.close()

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_forward_carries_connections_and_reports_refusals(lab):
    _, popen, _, _ = lab
    echo = _echo_server()
    remote, local, closed = echo.getsockname()[1], _free_port(), _free_port()
    proc = popen("port-forward", "pod/p", f"{local}:{remote}", f"{closed}:{_free_port()}",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local} ")
        for i in range(3):                      # one pair of streams per connection
            with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
                conn.sendall(f"hello {i}\n".encode())
                got = b""
                while chunk := conn.recv(100):
                    got += chunk
            assert got == f"echo:hello {i}\n".encode()
        with socket.create_connection(("127.0.0.1", closed), timeout=10) as conn:
            conn.sendall(b"x\n")
            assert conn.recv(100) == b""
        _, err = proc.communicate(timeout=15)   # kubectl ends on a forwarding error
    finally:
        if proc.poll() is None:
            proc.kill()
        echo.close()
    assert "failed to connect to localhost" in err and "Connection refused" in err, err


def test_spdy_dictionary_and_header_blocks():
    # The dictionary of the specification: its Adler-32 is what clients check.
    assert len(spdy.DICTIONARY) == 1423 and zlib.adler32(spdy.DICTIONARY) == 3821447106
    client, server = spdy.Codec(), spdy.Codec()
    frames = []
    for i in (1, 3):
        frames += server.feed(client.syn_stream(i, {"streamType": "data", "port": "80",
                                                    "requestID": str(i)}))
    assert [(f.type, f.stream, f.headers) for f in frames] == [
        (spdy.SYN_STREAM, 1, {"streamtype": "data", "port": "80", "requestid": "1"}),
        (spdy.SYN_STREAM, 3, {"streamtype": "data", "port": "80", "requestid": "3"})]
    wire = spdy.data(3, b"abc", fin=True) + spdy.ping(7)
    got = server.feed(wire[:5]) + server.feed(wire[5:])     # frames span messages
    assert [(g.control, g.stream, g.payload, g.fin) for g in got[:1]] == \
        [(False, 3, b"abc", True)]
    assert got[1].type == spdy.PING and got[1].payload == struct.pack(">I", 7)
    reply = client.feed(server.syn_reply(1))
    assert reply[0].type == spdy.SYN_REPLY and reply[0].stream == 1 and reply[0].headers == {}


def test_spdy_refuses_what_it_cannot_read():
    with pytest.raises(spdy.ProtocolError, match="version 2"):
        spdy.Codec().feed(b"\x80\x02\x00\x01\x00\x00\x00\x00")
    with pytest.raises(spdy.ProtocolError, match="header block"):
        spdy.Codec().feed(spdy.control(spdy.SYN_REPLY, b"\x00\x00\x00\x01garbage"))


def _ends(o: dict) -> None:
    o["status"]["phase"] = "Succeeded"
    o["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 0}}


@pytest.mark.parametrize("stdin", [["-i"], []], ids=["attach-i", "attach"])
def test_attach_with_stdin_at_eof_gets_the_output_up_to_the_exit(lab, stdin):
    """``kubectl attach -i`` with stdin at EOF (``< /dev/null``, CI): kubectl
    half-closes stdin at once (v5: ``[255, 0]``) and the output still flows;
    what the container writes just before it exits, between two looks at
    its log, is sent too."""
    _, popen, store, log = lab
    proc = popen("attach", *stdin, "p", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        log.text += "while attached\n"
        time.sleep(0.8)
        log.text += "last words\n"
        store.mutate("Pod", "default", "p", _ends)      # with no look in between
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "while attached\nlast words\n"


def _play_kubelet(store: Store, log: GrowingLog, name: str) -> threading.Thread:
    """Run pod ``name`` once kubectl has made it: Running and Ready, a line
    after 2 s, then the command's last line and its exit at once."""
    def play() -> None:
        deadline = time.monotonic() + 20
        while store.find("Pod", "default", name) is None and time.monotonic() < deadline:
            time.sleep(0.05)

        def running(o: dict) -> None:
            o["status"] = {"phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": name, "ready": True,
                                                  "state": {"running": {}}}]}
        store.mutate("Pod", "default", name, running)
        time.sleep(2.0)
        log.text += "out6\n"
        store.mutate("Pod", "default", name, _ends)
    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("rm", [[], ["--rm"]], ids=["run-i", "run-rm-i"])
def test_run_i_with_stdin_at_eof_prints_the_command_output(lab, rm):
    """The new-user trial's ``kubectl run dbg6 --restart=Never -i -- sh -c
    'sleep 3; echo out6'`` from a script run ``< /dev/null``: ``out6`` is
    printed (and with ``--rm`` before the pod is deleted)."""
    run, _, store, log = lab
    log.text = ""
    kubelet = _play_kubelet(store, log, "dbg6")
    done = run("run", "dbg6", "--image=busybox", "--restart=Never", "-i", *rm, "--",
               "sh", "-c", "sleep 3; echo out6", stdin=subprocess.DEVNULL)
    kubelet.join(5)
    assert done.returncode == 0, done.stderr
    assert "out6" in done.stdout, (done.stdout, done.stderr)
    assert (store.find("Pod", "default", "dbg6") is None) == bool(rm)


@pytest.mark.parametrize("command", ["cat; echo out", "sleep 1; echo out"])
def test_exec_i_with_stdin_at_eof_prints_the_command_output(lab, command):
    """``kubectl exec -i`` with stdin at EOF: the command's stdin ends (the
    v5 close of stdin), its output arrives and its exit ends the session."""
    run, _, _, _ = lab
    done = run("exec", "-i", "p", "--", "sh", "-c", command, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out\n"
