"""Shared helpers for the netexec tests: a real server subprocess and clients.

All traffic stays on 127.0.0.1, every socket has a timeout and every
subprocess is killed (by its own Popen handle) in a finally block, so a
broken server fails the tests instead of hanging them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
POD = "test-pod-1"
HOST = "127.0.0.1"
TIMEOUT = 5.0


class Server(NamedTuple):
    proc: subprocess.Popen[bytes]
    tcp_port: int
    udp_port: int
    line: bytes                 # the "serving" line


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "k8snet.node.netexec", *args],
        cwd=REPO, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(*args: str, prelude: str = "") -> subprocess.CompletedProcess[bytes]:
    """Run netexec to completion; ``prelude`` is Python run before main()."""
    if prelude:
        argv = [sys.executable, "-c",
                f"import sys\n{prelude}\nfrom k8snet.node.netexec import main\n"
                "sys.exit(main())", *args]
    else:
        argv = [sys.executable, "-m", "k8snet.node.netexec", *args]
    return subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=20, check=False)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wait_ready(proc: subprocess.Popen[bytes]) -> bytes:
    """Wait for the 'serving' line that netexec prints once bound."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else b""
    if b"serving" not in line:
        stop(proc)
        assert proc.stderr is not None
        pytest.fail(f"netexec did not start: stdout={line!r} "
                    f"stderr={proc.stderr.read()!r}")
    return line


def start_server(*extra: str) -> Server:
    """netexec on a free TCP and a free UDP port, plus ``extra`` arguments."""
    tcp_port = free_port(socket.SOCK_STREAM)
    udp_port = free_port(socket.SOCK_DGRAM)
    proc = spawn("--pod", POD, "--bind", HOST,
                 "--port", f"{tcp_port}/TCP", "--port", f"{udp_port}/udp", *extra)
    try:
        line = wait_ready(proc)
    except BaseException:
        stop(proc)
        close_pipes(proc)
        raise
    return Server(proc, tcp_port, udp_port, line)


@contextlib.contextmanager
def running(*extra: str) -> Iterator[Server]:
    """start_server() as a context manager that always stops the process."""
    srv = start_server(*extra)
    try:
        yield srv
    finally:
        stop(srv.proc)
        close_pipes(srv.proc)


def connect(port: int) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=TIMEOUT)


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    local: str


def http_raw(port: int, request: bytes) -> Reply:
    """Send raw request bytes, read until the server closes."""
    with connect(port) as sock:
        ip, local_port = sock.getsockname()
        local = f"{ip}:{local_port}"
        sock.sendall(request)
        data = recv_all(sock)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {data!r}"
    lines = head.decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status), headers, body, local)


def get(port: int, target: str, method: str = "GET",
        headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """One request with Host (and ``headers``); checks the framing headers."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    reply = http_raw(port, f"{method} {target} HTTP/1.1\r\n"
                       f"Host: {HOST}\r\n{extra}\r\n".encode())
    assert reply.headers["connection"] == "close"
    if method != "HEAD" and reply.status not in (204, 304):
        assert reply.headers["content-type"].endswith("charset=utf-8")
        assert int(reply.headers["content-length"]) == len(reply.body)
    return reply


def udp(port: int, payload: bytes, timeout: float = TIMEOUT) -> tuple[bytes, str]:
    """Send one datagram and return (reply, our IP:PORT); raises TimeoutError."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind((HOST, 0))
        sock.sendto(payload, (HOST, port))
        data, sender = sock.recvfrom(65535)
        ip, local_port = sock.getsockname()
        local = f"{ip}:{local_port}"
    assert sender == (HOST, port)
    return data, local


def assert_quiet(proc: subprocess.Popen[bytes]) -> None:
    """Nothing was written to the server's stderr so far."""
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 0.2)
    assert not ready, proc.stderr.read1(4096)  # type: ignore[attr-defined]
