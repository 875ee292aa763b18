"""DNS zones as data: the cluster zone (Kubernetes DNS spec) and zone files.

Pure: no sockets, no wire format.  ``k8snet.addons.dns`` serves these over UDP and
TCP.  Both kinds answer ``resolve(qname, qtype)`` with an :class:`Answer`,
or None when the name is not theirs (the cluster zone forwards those, a
zone file refuses them).

The cluster zone follows https://github.com/kubernetes/dns/blob/master/docs/specification.md
(schema 1.1.0) and is built from the snapshot the orchestrator writes::

    {"domain": "cluster.local",
     "upstream": "203.0.113.53:53",                  # optional
     "services": [{"name": "web", "namespace": "default",
                   "type": "ClusterIP",      # NodePort, LoadBalancer, ExternalName
                   "cluster_ip": "10.96.0.16",        # "None": headless
                   "external_name": "",               # ExternalName only
                   "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
                   "endpoints": [{"ip": "10.244.1.5", "hostname": "",
                                  "ready": true,
                                  "ports": [{"name": "http", "protocol": "TCP",
                                             "port": 8080}]}]}],
     "pods": [{"ip": "10.244.1.5", "namespace": "default"}]}

Records (``<zone>`` is the domain; TTL 5 s so that changes show quickly)::

    <svc>.<ns>.svc.<zone>            A/AAAA  the ClusterIP, or every READY
                                             endpoint IP if headless
    <svc>.<ns>.svc.<zone>            CNAME   ExternalName target
    <host>.<svc>.<ns>.svc.<zone>     A/AAAA  headless READY endpoint; <host> is
                                             its hostname, else its IP dashed
    _<port>._<proto>.<svc>.<ns>.svc.<zone>
                                     SRV     named ports.  ClusterIP: target the
                                             service, service port.  Headless:
                                             one per READY endpoint, target its
                                             <host> name, endpoint port
    <reversed IP>.in-addr.arpa       PTR     ClusterIPs and headless READY
                                             endpoints
    <a>-<b>-<c>-<d>.<ns>.pod.<zone>  A       pods (see ``pods`` below)
    dns-version.<zone>               TXT     "1.1.0"
    <zone>                           SOA     in the authority section of
                                             negative answers

Names compare case-insensitively.  A name under the zone that does not
exist is NXDOMAIN; one that exists (also as an empty non-terminal such as
``default.svc.<zone>``) without the asked type is NOERROR with no answers
(NODATA).  A headless service without ready endpoints does not exist.
Search paths are the stub resolver's business: ``web.default`` is not
under the zone, so it is forwarded.  Reverse names we have no PTR for are
forwarded too.

Pod records: section 2.6 of the spec (deprecated but required) answers
``a-b-c-d.<ns>.pod.<zone>`` for any address, like CoreDNS ``pods insecure``;
that is the default.  ``pods="verified"`` answers only the snapshot's pods,
in their namespace, like CoreDNS ``pods verified``.

Zone files (``--zone-file``, the emulated Internet's DNS) are YAML (so also
JSON)::

    zones:
      - origin: example.com
        ttl: 300                   # optional, default 300
        records:
          - {name: "@", type: A, value: 203.0.113.10}      # @ is the origin
          - {name: www, type: A, value: 203.0.113.10}      # relative
          - {name: db.example.com, type: A, value: 203.0.113.10}  # absolute
          - {name: docs, type: CNAME, value: www.example.com}
          - {name: "@", type: TXT, value: "hello"}
      - origin: 113.0.203.in-addr.arpa
        records:
          - {name: "10", type: PTR, value: example.com}

A single zone may also be written at the top level (``origin`` and
``records`` without ``zones``).  Types: A, AAAA, CNAME, PTR, TXT.  A name
ending in ``.``, equal to the origin or ending in ``.<origin>`` is
absolute, any other is relative to the origin.  Values of CNAME and PTR
are always absolute (the trailing dot is optional).  Every zone gets an
SOA.  Names under a zone that are not listed are NXDOMAIN.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

SCHEMA_VERSION = "1.1.0"
TTL = 5
FILE_TTL = 300
DEFAULT_DOMAIN = "cluster.local"
MAX_CNAME_CHAIN = 8

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5

# The record types we know by name (wire numbers from RFC 1035 and others).
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
          "AAAA": 28, "SRV": 33, "OPT": 41, "ANY": 255}
TYPE_NAMES = {number: name for name, number in QTYPES.items()}
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
FILE_TYPES = ("A", "AAAA", "CNAME", "PTR", "TXT")

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


class Zone(_Records):
    """The cluster zone, built once from a snapshot dict."""

    forwards = True

    def __init__(self, snapshot: Mapping[str, Any] | None = None,
                 pods: str = "insecure") -> None:
        super().__init__()
        if pods not in ("insecure", "verified"):
            raise ValueError(f"pods: expected insecure or verified, not {pods!r}")
        snapshot = {} if snapshot is None else snapshot
        if not isinstance(snapshot, Mapping):
            raise ValueError("snapshot: expected a JSON object")
        self.pods = pods
        self.domain = normalize(str(snapshot.get("domain") or DEFAULT_DOMAIN))
        upstream = snapshot.get("upstream")
        self.upstream = parse_hostport(str(upstream)) if upstream else None
        self.serial = zlib.crc32(json.dumps(snapshot, sort_keys=True, default=str).encode())
        self.soa = _soa(self.domain, self.serial, TTL)
        self._pod_suffix = f".pod.{self.domain}"
        self._add(self.soa)
        self._add(Record(f"dns-version.{self.domain}", "TXT", TTL, SCHEMA_VERSION))
        for i, svc in enumerate(_items(snapshot, "services")):
            try:
                self._add_service(svc)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"services[{i}]: {_describe(exc)}") from None
        for i, pod in enumerate(_items(snapshot, "pods")):
            try:
                ip = _ip(pod["ip"], "ip")
                name = f"{dashed(str(ip))}.{normalize(pod['namespace'])}{self._pod_suffix}"
                self._add(Record(name, _address_type(ip), TTL, str(ip)))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"pods[{i}]: {_describe(exc)}") from None
        self._freeze([self.domain])
        # The schema's structural names exist even when nothing is below them.
        self.nodes.update((f"svc.{self.domain}", f"pod.{self.domain}"))

    @classmethod
    def from_file(cls, path: str, pods: str = "insecure") -> Zone:
        """Load a snapshot file; ValueError (or OSError) says why not."""
        with open(path, encoding="utf-8") as f:
            try:
                return cls(json.load(f), pods=pods)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"not valid JSON: {exc}") from None

    def apex(self, name: str) -> str | None:
        return self.domain if under(name, self.domain) else None

    def _soa_for(self, name: str) -> list[Record]:
        return [self.soa] if under(name, self.domain) else []

    def _pod_ip(self, name: str) -> str | None:
        """The IP a ``a-b-c-d.<ns>.pod.<zone>`` name stands for, if any."""
        if not name.endswith(self._pod_suffix):
            return None
        labels = name[: -len(self._pod_suffix)].split(".")
        if len(labels) != 2 or not labels[1]:
            return None
        text = labels[0]
        candidate = text.replace("-", ".") if text.count("-") == 3 else text.replace("-", ":")
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return None

    def _synthesize(self, name: str) -> list[Record] | None:
        if self.pods != "insecure":
            return None
        ip = self._pod_ip(name)
        if ip is None:
            return None
        return [Record(name, _address_type(ipaddress.ip_address(ip)), TTL, ip)]

    def _exists(self, name: str) -> bool:
        if name in self.nodes:
            return True
        # With insecure pods every <ns>.pod.<zone> has names below it.
        return (self.pods == "insecure" and name.endswith(self._pod_suffix)
                and name.count(".") == self._pod_suffix.count("."))

    def _add_service(self, svc: Mapping[str, Any]) -> None:
        base = f"{normalize(svc['name'])}.{normalize(svc['namespace'])}.svc.{self.domain}"
        kind = str(svc.get("type") or "ClusterIP")
        if kind not in SERVICE_TYPES:
            raise ValueError(f"{base}: unknown type {kind!r}")
        ports = [p for p in svc.get("ports") or () if p.get("name")]
        if kind == "ExternalName":
            target = normalize(str(svc.get("external_name") or ""))
            if not target:
                raise ValueError(f"{base}: ExternalName without external_name")
            self._add(Record(base, "CNAME", TTL, target))
            return
        cluster_ip = str(svc.get("cluster_ip") or "")
        if cluster_ip == "None":
            self._add_headless(base, svc, ports)
            return
        if not cluster_ip:
            return  # not allocated yet: nothing to answer
        ip = _ip(cluster_ip, "cluster_ip")
        self._add(Record(base, _address_type(ip), TTL, str(ip)))
        self._add(Record(ip.reverse_pointer, "PTR", TTL, base))
        for port in ports:
            self._add(Record(_srv_name(port, base), "SRV", TTL, base,
                             priority=0, weight=100, port=int(port["port"])))

    def _add_headless(self, base: str, svc: Mapping[str, Any],
                      ports: list[Mapping[str, Any]]) -> None:
        ready = [ep for ep in svc.get("endpoints") or () if ep.get("ready", True)]
        weight = max(1, 100 // len(ready)) if ready else 0
        for ep in ready:
            ip = _ip(ep["ip"], "endpoint ip")
            host = normalize(str(ep.get("hostname") or "")) or dashed(str(ip))
            target = f"{host}.{base}"
            kind = _address_type(ip)
            self._add(Record(base, kind, TTL, str(ip)))
            self._add(Record(target, kind, TTL, str(ip)))
            self._add(Record(ip.reverse_pointer, "PTR", TTL, target))
            ep_ports = {_port_key(p): int(p["port"]) for p in ep.get("ports") or ()}
            for port in ports:
                number = ep_ports.get(_port_key(port), int(port["port"]))
                self._add(Record(_srv_name(port, base), "SRV", TTL, target,
                                 priority=0, weight=weight, port=number))


def _port_key(port: Mapping[str, Any]) -> tuple[str, str]:
    return str(port.get("name") or "").lower(), str(port.get("protocol") or "TCP").upper()


def _srv_name(port: Mapping[str, Any], base: str) -> str:
    name, proto = _port_key(port)
    return f"_{name}._{proto.lower()}.{base}"


class FileZone(_Records):
    """Zones from a zone file, answered authoritatively, never forwarded."""

    forwards = False
    upstream: tuple[str, int] | None = None

    def __init__(self, data: Any = None) -> None:
        super().__init__()
        if data is None:
            data = {"zones": []}
        if not isinstance(data, Mapping):
            raise ValueError("zone file: expected a mapping with 'zones' or 'origin'")
        zones = data.get("zones") if "zones" in data else [data]
        if not isinstance(zones, list):
            raise ValueError("zone file: 'zones' must be a list")
        self.origins: list[str] = []
        self._soas: dict[str, Record] = {}
        serial = zlib.crc32(json.dumps(data, sort_keys=True, default=str).encode())
        for i, zone in enumerate(zones):
            try:
                self._add_zone(zone, serial)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"zones[{i}]: {_describe(exc)}") from None
        # The longest origin wins when zones nest (a delegated child).
        self.origins.sort(key=len, reverse=True)
        self._freeze(self.origins)

    @classmethod
    def from_file(cls, path: str) -> FileZone:
        """Load a zone file; ValueError (or OSError) says why not."""
        import yaml  # only the zone-file mode needs PyYAML

        with open(path, encoding="utf-8") as f:
            try:
                return cls(yaml.safe_load(f))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ValueError(f"not valid YAML: {exc}") from None

    def apex(self, name: str) -> str | None:
        return next((origin for origin in self.origins if under(name, origin)), None)

    def _soa_for(self, name: str) -> list[Record]:
        origin = self.apex(name)
        return [self._soas[origin]] if origin is not None else []

    def _chase_target(self, name: str) -> str | None:
        return None  # authoritative only: the client's resolver follows it

    def _add_zone(self, zone: Mapping[str, Any], serial: int) -> None:
        origin = normalize(str(zone["origin"]))
        if not origin:
            raise ValueError("origin must not be empty")
        if origin in self._soas:
            raise ValueError(f"zone {origin} listed twice")
        ttl = int(zone.get("ttl", FILE_TTL))
        self.origins.append(origin)
        self._soas[origin] = _soa(origin, serial, ttl)
        self._add(self._soas[origin])
        for j, entry in enumerate(_items(zone, "records")):
            try:
                self._add(self._file_record(origin, ttl, entry))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise ValueError(f"{origin} records[{j}]: {_describe(exc)}") from None
        for name, records in self.records.items():
            if under(name, origin) and len(records) > 1 and any(
                    r.type == "CNAME" for r in records):
                raise ValueError(f"{name}: a CNAME cannot have other records")

    @staticmethod
    def _file_record(origin: str, default_ttl: int, entry: Mapping[str, Any]) -> Record:
        raw = str(entry["name"])
        kind = str(entry["type"]).upper()
        if kind not in FILE_TYPES:
            raise ValueError(f"type {kind!r} not supported (use {', '.join(FILE_TYPES)})")
        if raw in ("@", ""):
            name = origin
        elif raw.endswith(".") or under(raw.lower(), origin):
            name = normalize(raw)
        else:
            name = f"{normalize(raw)}.{origin}"
        if not under(name, origin):
            raise ValueError(f"{raw!r} is not in {origin}")
        value = entry["value"]
        if kind in ("A", "AAAA"):
            ip = _ip(value, raw)
            if _address_type(ip) != kind:
                raise ValueError(f"{value!r} is not an {kind} address")
            text = str(ip)
        elif kind in ("CNAME", "PTR"):
            text = normalize(str(value))
            if not text:
                raise ValueError(f"{kind} needs a target name")
        else:
            text = str(value)
            if len(text.encode()) > 255:
                raise ValueError("TXT value longer than 255 bytes")
        return Record(name, kind, int(entry.get("ttl", default_ttl)), text)


def default_ext_zone(ext_ip: str) -> str:
    """The emulated Internet's zone file: example.com, www. and db. -> ext_ip.

    For an IPv4 address it also serves the reverse /24 so that a PTR
    lookup of ext (forwarded by the cluster DNS) has an answer.
    """
    ip = _ip(ext_ip, "ext_ip")
    kind = _address_type(ip)
    lines = [
        "# Zone file for python -m k8snet.addons.dns --zone-file (see k8snet/addons/dnszone.py).",
        "zones:",
        "  - origin: example.com",
        "    records:",
    ]
    lines += [f'      - {{name: "{name}", type: {kind}, value: "{ip}"}}'
              for name in ("@", "www", "db")]
    if ip.version == 4:
        reverse = ip.reverse_pointer.split(".", 1)
        lines += [
            f"  - origin: {reverse[1]}",
            "    records:",
            f'      - {{name: "{reverse[0]}", type: PTR, value: example.com}}',
        ]
    return "\n".join(lines) + "\n"
