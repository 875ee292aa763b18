"""What a node's kernel recorded about the probe: conntrack entries and routes.

Parsers are pure (the text of ``conntrack -L`` and ``ip -o route get``);
``conntrack_entries`` and ``route_get`` run the tools in a namespace.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Tuple4:
    src: str
    dst: str
    sport: int
    dport: int

    def __str__(self) -> str:
        return f"{self.src}:{self.sport} -> {self.dst}:{self.dport}"


@dataclass(frozen=True)
class ConntrackEntry:
    """One conntrack entry: the original direction and the expected reply.

    A DNAT shows as a reply source other than the original destination; a
    SNAT as a reply destination other than the original source."""

    node: str
    protocol: str
    state: str
    original: Tuple4
    reply: Tuple4

    @property
    def dnat(self) -> tuple[str, int] | None:
        if (self.reply.src, self.reply.sport) != (self.original.dst, self.original.dport):
            return self.reply.src, self.reply.sport
        return None

    @property
    def snat(self) -> tuple[str, int] | None:
        if (self.reply.dst, self.reply.dport) != (self.original.src, self.original.sport):
            return self.reply.dst, self.reply.dport
        return None

    def __str__(self) -> str:
        return f"{self.protocol.lower()} {self.state} {self.original}, reply {self.reply}".replace(
            "  ", " ")


_KV = re.compile(r"(src|dst|sport|dport)=(\S+)")


def parse_conntrack(node: str, text: str) -> list[ConntrackEntry]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or not words[1].isdigit():
            continue
        pairs = _KV.findall(line)
        if len(pairs) < 8:
            continue
        first = dict(pairs[:4])
        second = dict(pairs[4:8])
        state = words[3] if words[3].isupper() and "=" not in words[3] else ""
        out.append(ConntrackEntry(
            node, words[0].upper(), state,
            Tuple4(first["src"], first["dst"], int(first["sport"]), int(first["dport"])),
            Tuple4(second["src"], second["dst"], int(second["sport"]), int(second["dport"]))))
    return out


def probe_entries(entries: list[ConntrackEntry], source_ip: str, dst: str = "",
                  dport: int = 0) -> list[ConntrackEntry]:
    """The entries of the probe sent from ``source_ip`` to ``dst``:``dport``,
    among those with its source port: another connection may hold the same
    port at the same time (a kubelet probe from the node, an earlier trace
    from the same source still in TIME_WAIT).  Kept: the entries of the
    connection to ``dst``, and on later nodes those to where they were
    DNATed.  A source whose packets leave with another address (a node
    choosing the pods' gateway) keeps every entry; so does a destination
    no entry names."""
    ours = [e for e in entries if e.original.src == source_ip] or entries
    first = [e for e in ours if (e.original.dst, e.original.dport) == (dst, dport)]
    if not dst or not first:
        return ours
    onward = {(e.reply.src, e.reply.sport) for e in first}
    return [e for e in ours
            if e in first or (e.original.dst, e.original.dport) in onward]


def conntrack_entries(node: str, netns: str, protocol: str, sport: int) -> list[ConntrackEntry]:
    res = subprocess.run(["ip", "netns", "exec", netns, "conntrack", "-L", "-p",
                          protocol.lower(), "--orig-port-src", str(sport)],
                         capture_output=True, text=True)
    return parse_conntrack(node, res.stdout)


@dataclass(frozen=True)
class Route:
    destination: str
    dev: str
    via: str = ""
    src: str = ""
    local: bool = False

    def __str__(self) -> str:
        if self.local:
            return f"local {self.destination} dev {self.dev}"
        return f"{self.destination}" + (f" via {self.via}" if self.via else "") + \
            f" dev {self.dev}" + (f" src {self.src}" if self.src else "")


def parse_route(text: str) -> Route | None:
    """``ip -o route get`` output: ``10.244.2.2 via 172.18.0.1 dev eth0 src ...``."""
    words = text.replace("\\", " ").split()
    if not words:
        return None
    local = words[0] == "local"
    if local:
        words = words[1:]
    fields = {words[i]: words[i + 1] for i in range(1, len(words) - 1)
              if words[i] in ("via", "dev", "src")}
    if "dev" not in fields:
        return None
    return Route(words[0], fields["dev"], fields.get("via", ""), fields.get("src", ""), local)


def route_get(netns: str, destination: str) -> Route | None:
    res = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "route", "get",
                          destination], capture_output=True, text=True)
    return parse_route(res.stdout) if res.returncode == 0 else None


def link_mac(netns: str, dev: str) -> str:
    res = subprocess.run(["ip", "netns", "exec", netns, "cat",
                          f"/sys/class/net/{dev}/address"], capture_output=True, text=True)
    return res.stdout.strip()


def neighbour_mac(netns: str, ip: str, dev: str) -> str:
    res = subprocess.run(["ip", "netns", "exec", netns, "ip", "neigh", "show", ip, "dev", dev],
                         capture_output=True, text=True)
    words = res.stdout.split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else ""
