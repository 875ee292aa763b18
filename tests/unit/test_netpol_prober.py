"""The prober: real sockets on 127.0.0.1 in the root namespace."""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from k8snet.netpol import prober
from k8snet.netpol.prober import IPPROTO_SCTP, SCTP_UNSUPPORTED, InputError, probe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def tcp_port():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        yield srv.getsockname()[1]


def free_port(kind: int) -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def udp_echo():
    """A UDP server answering as netexec does: ``hostname`` -> the pod name."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(0.05)
    stop = threading.Event()
    seen: list[bytes] = []

    def serve():
        while not stop.is_set():
            try:
                data, addr = srv.recvfrom(2048)
            except TimeoutError:
                continue
            seen.append(data)
            srv.sendto(b"x-a" if data.strip() == b"hostname" else b"x-a: " + data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1], seen
    stop.set()
    thread.join()
    srv.close()


def target(tid, port, protocol="TCP", ip="127.0.0.1"):
    return {"id": tid, "ip": ip, "port": port, "protocol": protocol}


def sctp_available() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_SCTP).close()
    except OSError:
        return False
    return True


def test_tcp_listener_connects_and_closed_port_is_refused(tcp_port):
    out = probe([target("open", tcp_port), target("closed", free_port(socket.SOCK_STREAM))],
                timeout=2.0)
    assert list(out["results"]) == ["open", "closed"]
    assert out["results"]["open"]["connected"] is True
    assert out["results"]["open"]["error"] == ""
    assert out["results"]["closed"]["connected"] is False
    assert out["results"]["closed"]["error"] == "connection refused"
    assert out["results"]["closed"]["ms"] < 1000        # at once, not after the timeout
    assert "unsupported" not in out
    assert all(r["ms"] >= 0 for r in out["results"].values())


def test_udp_reply_connects(udp_echo):
    port, seen = udp_echo
    out = probe([target("u", port, "udp")], timeout=1.0)
    assert out["results"]["u"]["connected"] is True
    assert out["results"]["u"]["reply"] == "x-a"
    assert seen == [b"hostname\n"]


def test_udp_port_without_listener_is_refused():
    out = probe([target("u", free_port(socket.SOCK_DGRAM), "UDP")], timeout=2.0)
    assert out["results"]["u"]["connected"] is False
    assert out["results"]["u"]["error"] == "connection refused"
    assert out["results"]["u"]["ms"] < 1000


def test_udp_refusal_is_read_from_the_icmp_error_queue(monkeypatch):
    monkeypatch.setattr(prober, "describe_error", lambda exc: "from errno")
    port = free_port(socket.SOCK_DGRAM)
    out = probe([target("u", port, "UDP"), target("t", free_port(socket.SOCK_STREAM))], 1.0)
    assert out["results"]["u"]["error"] == "connection refused"     # ICMP port unreachable
    assert out["results"]["t"]["error"] == "from errno"             # a TCP reset is no ICMP


def test_udp_silence_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        out = probe([target("u", mute.getsockname()[1], "UDP")], timeout=0.2)
    assert out["results"]["u"]["connected"] is False
    assert out["results"]["u"]["error"] == "timed out"
    assert out["results"]["u"]["ms"] >= 150


def test_sctp_works_or_reports_unsupported(tcp_port):
    out = probe([target("s", free_port(socket.SOCK_STREAM), "SCTP"), target("t", tcp_port)],
                timeout=0.5)
    assert out["results"]["t"]["connected"] is True
    if sctp_available():
        assert out["results"]["s"]["connected"] is False
        assert "unsupported" not in out
    else:
        assert out["unsupported"] == ["SCTP"]
        assert out["results"]["s"] == {"connected": False, "error": SCTP_UNSUPPORTED,
                                       "ms": 0.0}


def test_targets_are_probed_concurrently():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        port = mute.getsockname()[1]
        start = time.monotonic()
        out = probe([target(f"u{i}", port, "UDP") for i in range(20)], timeout=0.3)
        elapsed = time.monotonic() - start
    assert len(out["results"]) == 20
    assert elapsed < 2.0


def test_icmp_words():
    assert prober.icmp_words(2, 3, 3) == "connection refused"
    for code in (9, 10, 13):                    # net/host prohibited, filtered
        assert prober.icmp_words(2, 3, code) == "administratively prohibited"
    assert prober.icmp_words(2, 3, 1) == "host unreachable"
    assert prober.icmp_words(3, 1, 1) == "administratively prohibited"
    assert prober.icmp_words(3, 1, 4) == "connection refused"
    assert prober.icmp_words(2, 11, 0) is None  # time exceeded: the errno says it
    assert prober.icmp_words(1, 3, 3) is None   # not from ICMP


def test_error_words():
    assert prober.describe_error(TimeoutError("timed out")) == "timed out"
    assert prober.describe_error(OSError(errno.EHOSTUNREACH, "x")) == "no route to host"
    assert prober.describe_error(OSError(errno.EACCES, "x")) == "administratively prohibited"
    assert prober.describe_error(OSError(errno.EPERM, "x")) == "administratively prohibited"
    assert prober.describe_error(OSError(errno.ENETUNREACH, "x")) == "network is unreachable"
    assert prober.describe_error(OSError(errno.EIO, "Input/output error")) == \
        "input/output error"


@pytest.mark.parametrize("targets, timeout, words", [
    ("x", 1.0, "targets must be a list"),
    ([target("a", 80)], 0, "timeout"),
    ([target("a", 80)], True, "timeout"),
    ([target("a", 0)], 1.0, "port"),
    ([target("a", "80")], 1.0, "port"),
    ([target("a", 80, "ICMP")], 1.0, "protocol"),
    ([target("a", 80, ip="10.0.0")], 1.0, "ip"),
    ([target("", 80)], 1.0, "id"),
    ([target("a", 80), target("a", 81)], 1.0, "given twice"),
    ([["a", 80]], 1.0, "targets[0]"),
])
def test_malformed_targets(targets, timeout, words):
    with pytest.raises(InputError, match=words.replace("[", r"\[")):
        probe(targets, timeout)


def run_module(stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "k8snet.netpol.prober"], input=stdin,
                          capture_output=True, text=True, cwd=REPO, timeout=30)


def test_module_end_to_end(tcp_port, udp_echo):
    udp, _ = udp_echo
    request = {"timeout": 1.0, "targets": [
        target("x/b 80/TCP", tcp_port), target("x/b 81/UDP", udp, "UDP"),
        target("x/c 80/TCP", free_port(socket.SOCK_STREAM))]}
    proc = run_module(json.dumps(request))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["results"]["x/b 80/TCP"]["connected"] is True
    assert out["results"]["x/b 81/UDP"]["connected"] is True
    assert out["results"]["x/c 80/TCP"]["error"] == "connection refused"


@pytest.mark.parametrize("stdin, words", [
    ("{not json", "not JSON"),
    ("[]", "JSON object"),
    ('{"timeout": 1}', "needs targets"),
    ('{"targets": [], "extra": 1}', "unknown keys"),
    ('{"targets": [{"id": "a", "ip": "1.2.3.4", "port": 99999}]}', "port"),
])
def test_module_bad_input_exits_2(stdin, words):
    proc = run_module(stdin)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("prober: error: ") and words in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_tcp_refused_by_icmp_is_a_reject_on_the_way(monkeypatch):
    """A pod's kernel refuses TCP with a reset; an ICMP port unreachable to TCP
    comes from something on the way (kproxy, a Service without endpoints)."""
    monkeypatch.setattr(prober, "_queued_icmp", lambda sock: prober.REFUSED)
    out = probe([target("t", free_port(socket.SOCK_STREAM)),
                 target("u", free_port(socket.SOCK_DGRAM), "UDP")], 1.0)
    assert out["results"]["t"]["error"] == prober.ICMP_REJECTED
    assert out["results"]["u"]["error"] == prober.REFUSED      # UDP: the pod's own answer
