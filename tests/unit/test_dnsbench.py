"""Tests for k8snet.perf.dnsbench against tiny in-test UDP responders on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dnslib import DNSRecord

from k8snet.perf import dnsbench

ROOT = Path(__file__).resolve().parents[2]
NAME = "web.default.svc.cluster.local"


@contextmanager
def responder(make_reply: Callable[[bytes], bytes | None]) -> Iterator[int]:
    """A UDP socket answering each datagram with make_reply(query); its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = make_reply(data)
            if reply is not None:
                sock.sendto(reply, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def with_rcode(rcode: int) -> Callable[[bytes], bytes]:
    """Echo the query as a reply with ``rcode`` (the question is kept)."""
    return lambda data: data[:2] + bytes([0x80 | data[2], 0x80 | rcode]) + data[4:]


def test_encode_question_matches_dnslib() -> None:
    ours = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + dnsbench.encode_question(
        NAME + ".", 33)
    parsed = DNSRecord.parse(ours)
    assert str(parsed.q.qname) == NAME + "."
    assert (parsed.q.qtype, parsed.q.qclass) == (33, 1)
    for bad in ("", ".", "a..b", "x" * 64 + ".com", "é.com", ".".join(["abcdefgh"] * 40)):
        with pytest.raises(ValueError):
            dnsbench.encode_question(bad)


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert dnsbench.percentile(values, 0.5) == 50.0
    assert dnsbench.percentile(values, 0.99) == 99.0
    assert dnsbench.percentile([3.0], 0.99) == 3.0
    assert dnsbench.percentile([], 0.5) is None


def test_all_answered_by_a_good_server() -> None:
    with responder(with_rcode(0)) as port:
        result = dnsbench.run("127.0.0.1", port, [NAME, "kubernetes.default"], 0.5, 8)
    assert result["errors"] == 0 and result["answered"] == result["queries"] > 0
    assert result["qps"] > 0 and result["p50_ms"] is not None
    assert set(result) >= {"queries", "answered", "errors", "qps", "p50_ms", "p99_ms",
                           "duration_s"}


def test_nxdomain_is_an_answer_servfail_is_an_error() -> None:
    with responder(with_rcode(3)) as port:
        result = dnsbench.run("127.0.0.1", port, [NAME], 0.3, 4)
    assert result["errors"] == 0 and result["rcodes"] == {"NXDOMAIN": result["answered"]}
    with responder(with_rcode(2)) as port:
        result = dnsbench.run("127.0.0.1", port, [NAME], 0.3, 4)
    assert result["answered"] == 0 and result["errors"] == result["queries"] > 0
    assert result["bad_replies"] == result["queries"]


def test_replies_for_another_question_are_errors() -> None:
    def wrong(data: bytes) -> bytes:
        other = DNSRecord.question("other.example")
        other.header.id = int.from_bytes(data[:2], "big")
        reply = other.reply()
        return bytes(reply.pack())

    with responder(wrong) as port:
        result = dnsbench.run("127.0.0.1", port, [NAME], 0.3, 4)
    assert result["answered"] == 0 and result["bad_replies"] > 0


def test_silence_is_timeouts_and_the_run_stays_bounded() -> None:
    with responder(lambda data: None) as port:
        start = time.monotonic()
        result = dnsbench.run("127.0.0.1", port, [NAME], duration=0.5, concurrency=4,
                              timeout=0.2)
        took = time.monotonic() - start
    assert result["answered"] == 0 and result["p99_ms"] is None
    # Nothing is re-sent: each slot gets a new query only after a timeout.
    assert result["errors"] == result["timeouts"] == result["queries"]
    assert 4 <= result["queries"] <= 4 * (0.5 / 0.2 + 1)
    assert took < 0.5 + 0.2 + 0.3


def test_max_queries_caps_the_run() -> None:
    with responder(with_rcode(0)) as port:
        result = dnsbench.run("127.0.0.1", port, [NAME], 5.0, 4, max_queries=50)
    assert result["queries"] == 50 and result["answered"] == 50
    assert result["duration_s"] < 4


@pytest.mark.parametrize("kwargs, message", [
    ({"names": []}, "no names"),
    ({"duration": 0}, "duration"),
    ({"duration": 10_000}, "duration"),
    ({"concurrency": 0}, "concurrency"),
    ({"qtype": "BOGUS"}, "query type"),
])
def test_run_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"server": "127.0.0.1", "port": 9, "names": [NAME], "duration": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        dnsbench.run(**args)


def bench_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "k8snet.perf.dnsbench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=20)


def test_cli_json_and_summary() -> None:
    with responder(with_rcode(0)) as port:
        done = bench_cli("--server", "127.0.0.1", "--port", str(port), "--duration", "0.3",
                         "--names", f"{NAME},kubernetes.default", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["answered"] > 0 and result["errors"] == 0
        line = bench_cli("--server", "127.0.0.1", "--port", str(port), "--duration", "0.2",
                         "--names", NAME)
    assert line.returncode == 0
    assert line.stdout.startswith("dnsbench: ") and " qps, p50 " in line.stdout
    assert len(line.stdout.splitlines()) == 1


def test_cli_errors() -> None:
    bad = bench_cli("--server", "dns.example", "--names", NAME)
    assert bad.returncode == 2 and "must be an IP address" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = bench_cli("--server", "127.0.0.1", "--names", "a..b")
    assert bad.returncode == 2 and "invalid" in bad.stderr
    with responder(lambda data: None) as port:
        silent = bench_cli("--server", "127.0.0.1", "--port", str(port), "--duration", "0.2",
                           "--timeout", "0.1", "--names", NAME)
    assert silent.returncode == 1 and " 0 answered" in silent.stdout
