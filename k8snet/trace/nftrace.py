"""nftables tracing of one probe connection in the nodes' namespaces.

A temporary table ``ip k8snet-trace`` in each node sets ``meta nftrace`` on
the probe's packets (matched by the probe's unique source port, both
directions) at priority -400, before conntrack and DNAT; ``nft monitor
trace`` then reports every rule those packets meet in every table (kproxy's,
the netpol agent's).  The parser is pure; ``Tracing`` runs the monitors.

Output lines look like (nft(8), "TRACING")::

    trace id 28277fb9 ip kproxy nat-prerouting packet: iif "veth1" ip saddr ...
    trace id 28277fb9 ip kproxy services rule ip daddr . meta l4proto ... (verdict goto ...)
    trace id 28277fb9 ip kproxy nat-prerouting policy accept
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass

from k8snet.node.nftables import NftSession

TABLE = "k8snet-trace"
PRIORITY = -400          # before conntrack (-200) and DNAT (-100)
OWN_TABLES = (TABLE,)

_LINE = re.compile(r"^trace id (?P<id>\S+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) "
                   r"(?P<kind>packet:|rule|policy|verdict) ?(?P<rest>.*)$")
_VERDICT = re.compile(r"\(verdict (?P<verdict>[^)]*)\)\s*$")
_COMMENT = re.compile(r'comment "(?P<comment>[^"]*)"')
_FIELD = re.compile(r'(?P<key>iif|oif|ip saddr|ip daddr|tcp sport|tcp dport|udp sport|'
                    r'udp dport) "?(?P<value>[^" ]+)"?')


@dataclass(frozen=True)
class TraceEvent:
    """One line of ``nft monitor trace`` in node ``node``."""

    node: str
    trace_id: str
    table: str
    chain: str
    kind: str            # "packet", "rule", "policy", "verdict" (end of a chain)
    text: str            # the rule, or the packet's fields
    verdict: str = ""
    comment: str = ""

    def field(self, key: str) -> str:
        """A packet field (``iif``, ``ip daddr``, ``tcp dport``, ...) or ""."""
        for m in _FIELD.finditer(self.text):
            if m.group("key") == key:
                return m.group("value")
        return ""


def parse(node: str, text: str) -> list[TraceEvent]:
    """The events of ``nft monitor trace`` output, in order; other lines skipped."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        rest = m.group("rest")
        verdict = ""
        v = _VERDICT.search(rest)
        if v:
            verdict = v.group("verdict")
            rest = rest[:v.start()].rstrip()
        kind = m.group("kind").rstrip(":")
        if kind in ("policy", "verdict"):
            # "policy accept meta mark == 0x00004000": nft prints a packet's
            # mark after a chain's policy or implicit return verdict
            verdict, _, mark = rest.strip().partition(" meta mark == ")
            rest = f"meta mark == {mark}" if mark else ""
        c = _COMMENT.search(rest)
        out.append(TraceEvent(node, m.group("id"), m.group("table"), m.group("chain"), kind,
                              rest, verdict, c.group("comment") if c else ""))
    return out


def setup_text(protocol: str, sport: int) -> str:
    """The trace table: mark the probe's packets (both directions)."""
    proto = protocol.lower()
    lines = [f"add table ip {TABLE}", f"delete table ip {TABLE}", f"add table ip {TABLE}"]
    for chain, hook in (("pre", "prerouting"), ("out", "output")):
        lines.append(f"add chain ip {TABLE} {chain} {{ type filter hook {hook} priority "
                     f"{PRIORITY}; }}")
        for direction in ("sport", "dport"):
            lines.append(f"add rule ip {TABLE} {chain} meta l4proto {proto} th {direction} "
                         f"{sport} meta nftrace set 1")
    return "\n".join(lines) + "\n"


class Tracing:
    """Trace tables and monitors in ``netns_by_node`` while a probe runs.

    Use as a context manager; ``events`` holds what the monitors reported
    once it exits.  Everything it adds is removed on exit."""

    def __init__(self, netns_by_node: dict[str, str], protocol: str, sport: int) -> None:
        self.netns = netns_by_node
        self.protocol, self.sport = protocol, sport
        self.events: list[TraceEvent] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._lines: dict[str, list[str]] = {}
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> Tracing:
        for node, ns in self.netns.items():
            session = NftSession(ns)
            try:
                session.run(setup_text(self.protocol, self.sport))
            finally:
                session.close()
            proc = subprocess.Popen(["ip", "netns", "exec", ns, "stdbuf", "-oL", "nft",
                                     "monitor", "trace"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            self._procs[node] = proc
            self._lines[node] = []
            reader = threading.Thread(target=self._read, args=(node, proc), daemon=True)
            reader.start()
            self._readers.append(reader)
        time.sleep(0.15)            # the monitors subscribe to the trace events
        return self

    def _read(self, node: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self._lines[node].append(line)

    def __exit__(self, *exc) -> None:
        time.sleep(0.1)             # the last events of the reply
        for proc in self._procs.values():
            proc.terminate()
        for proc in self._procs.values():
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
        for reader in self._readers:
            reader.join(timeout=1)
        for ns in self.netns.values():
            session = NftSession(ns)
            try:
                session.run(f"add table ip {TABLE}\ndelete table ip {TABLE}\n")
            finally:
                session.close()
        for node in self.netns:
            self.events += [e for e in parse(node, "".join(self._lines[node]))
                            if e.table not in OWN_TABLES]
