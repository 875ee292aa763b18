"""Records, answers and names shared by the DNS zones (``k8snet.addons.dnszone``).

Pure: no sockets, no wire format.  :class:`Record` and :class:`Answer` are
what zones answer with; the name helpers (``normalize``, ``under``,
``parse_hostport`` ...) and the resolver logic common to the cluster zone
and zone files (``_Records``: CNAME chains, NXDOMAIN vs. NODATA, SRV
additionals) live here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

MAX_CNAME_CHAIN = 8

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

# The record types we know by name (wire numbers from RFC 1035 and others).
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
          "AAAA": 28, "SRV": 33, "OPT": 41, "ANY": 255}
TYPE_NAMES = {number: name for name, number in QTYPES.items()}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Record(NamedTuple):
    """One resource record; ``value`` is an IP, a target name or text.

    Names are lower-case without the trailing dot.  ``priority``,
    ``weight`` and ``port`` are for SRV only; SOA keeps ``"MNAME RNAME"``
    in ``value`` and its serial in ``port``.
    """

    name: str
    type: str
    ttl: int
    value: str
    priority: int = 0
    weight: int = 0
    port: int = 0


class Answer(NamedTuple):
    """What to reply: the sections, plus a name still to resolve upstream.

    ``chase`` is set when the answer ends in a CNAME whose target is
    outside the zone; the server resolves it upstream and appends the
    result, as CoreDNS does for ExternalName services.
    """

    rcode: int
    answer: list[Record]
    authority: list[Record]
    additional: list[Record]
    chase: str | None = None


def normalize(name: str) -> str:
    """Lower-case, without the trailing dot (the root is ``""``)."""
    return name.rstrip(".").lower()


def dashed(ip: str) -> str:
    """``10.1.2.3`` -> ``10-1-2-3`` (IPv6: ``fd00::1`` -> ``fd00--1``)."""
    return ip.replace(".", "-").replace(":", "-")


def type_name(qtype: int | str) -> str:
    """``1`` or ``"a"`` -> ``"A"``; unknown numbers -> ``"TYPE<n>"``."""
    if isinstance(qtype, str):
        return qtype.upper()
    return TYPE_NAMES.get(qtype, f"TYPE{qtype}")


def under(name: str, domain: str) -> bool:
    """True if ``name`` is ``domain`` or below it (all names are below "")."""
    return not domain or name == domain or name.endswith("." + domain)


def parse_hostport(text: str, default_port: int = 53) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` -> (ip, port); ValueError if bad.

    Only literal IPs: the DNS server must never need DNS to find its upstream.
    """
    host, port = text, str(default_port)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid address {text!r}")
        port = rest[1:] or port
    elif text.count(":") == 1:
        host, port = text.split(":")
    ip = _ip(host, "address")
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"invalid port in {text!r}")
    return str(ip), int(port)


def _ip(text: Any, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise ValueError(f"{what}: invalid IP address {text!r}") from None


def _address_type(ip: IPAddress) -> str:
    return "A" if ip.version == 4 else "AAAA"


def _items(mapping: Mapping[str, Any], key: str) -> list[Any]:
    """``mapping[key]`` as a list (missing or null: empty); ValueError if not one."""
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key}: expected a list, not {type(value).__name__}")
    return value


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


def _soa(apex: str, serial: int, ttl: int) -> Record:
    # The SOA minimum is the negative-caching TTL (RFC 2308): keep it at the
    # record TTL so a name that appears is not hidden by a cached NXDOMAIN.
    return Record(apex, "SOA", ttl, f"ns.dns.{apex} hostmaster.{apex}", port=serial)


class _Records:
    """Records by owner name, the names that exist, and the resolver logic.

    Subclasses fill ``records`` and call ``_freeze``; they define which
    names they are authoritative for (``apex``) and may synthesize records
    (``_synthesize``).
    """

    def __init__(self) -> None:
        self.records: dict[str, list[Record]] = {}
        self.nodes: set[str] = set()
        self._seen: set[Record] = set()

    def _add(self, record: Record) -> None:
        if record not in self._seen:
            self._seen.add(record)
            self.records.setdefault(record.name, []).append(record)

    def _freeze(self, apexes: Iterable[str]) -> None:
        """Note every name that exists, empty non-terminals included."""
        apexes = list(apexes)
        for name in self.records:
            self.nodes.add(name)
            for apex in apexes:
                if under(name, apex):
                    labels = name.split(".")
                    for i in range(1, len(labels)):
                        parent = ".".join(labels[i:])
                        self.nodes.add(parent)
                        if parent == apex:
                            break

    def __len__(self) -> int:
        return sum(len(records) for records in self.records.values())

    def apex(self, name: str) -> str | None:
        """The zone apex a normalized name is under, None if not ours."""
        raise NotImplementedError

    def _synthesize(self, name: str) -> list[Record] | None:
        return None

    def _exists(self, name: str) -> bool:
        return name in self.nodes

    def _soa_for(self, name: str) -> list[Record]:
        return []

    def resolve(self, qname: str, qtype: int | str) -> Answer | None:
        """The answer to a question, or None if the name is not ours.

        CNAMEs are followed inside the zone (at most ``MAX_CNAME_CHAIN``);
        a target outside it is returned in ``chase``.
        """
        kind = type_name(qtype)
        name = normalize(qname)
        if self.apex(name) is None and name not in self.records:
            return None
        answer: list[Record] = []
        for _ in range(MAX_CNAME_CHAIN):
            records = self.records.get(name) or self._synthesize(name)
            if not records:
                rcode = NOERROR if self._exists(name) else NXDOMAIN
                return Answer(rcode, answer, self._soa_for(name), [])
            matched = records if kind == "ANY" else [r for r in records if r.type == kind]
            if matched:
                return Answer(NOERROR, answer + matched, [], self._additional(matched))
            cname = next((r for r in records if r.type == "CNAME"), None)
            if cname is None:
                return Answer(NOERROR, answer, self._soa_for(name), [])
            answer.append(cname)
            name = cname.value
            if self.apex(name) is None and name not in self.records:
                return Answer(NOERROR, answer, [], [], self._chase_target(name))
        return Answer(SERVFAIL, [], [], [])  # a CNAME loop

    def _chase_target(self, name: str) -> str | None:
        return name

    def _additional(self, records: list[Record]) -> list[Record]:
        """A/AAAA of SRV targets, which the spec allows in Additional."""
        extra: list[Record] = []
        for record in records:
            if record.type == "SRV":
                extra.extend(r for r in self.records.get(record.value, ())
                             if r.type in ("A", "AAAA") and r not in extra)
        return extra
