"""DNS zones as data: the cluster zone (Kubernetes DNS spec) and zone files.

Pure: no sockets, no wire format.  ``k8snet.addons.dns`` serves these over UDP and
TCP.  Both kinds answer ``resolve(qname, qtype)`` with an :class:`Answer`,
or None when the name is not theirs (the cluster zone forwards those, a
zone file refuses them).  Records, answers and name helpers live in
``k8snet.addons.dnsrecords``, the zone-file loader in ``k8snet.addons.dnsfile``;
their public names are re-exported here.

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
    <reversed IP>.in-addr.arpa       PTR     ClusterIPs and READY endpoints
    <host>.<svc>.<ns>.svc.<zone>     A/AAAA  a ClusterIP service's READY
                                             endpoint too (CoreDNS's kubernetes
                                             plugin answers these; the spec
                                             asks them of headless ones only)
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

A top-level ``outside: nxdomain`` answers names under none of the zones
NXDOMAIN (not authoritative), as a recursive resolver does for a name that
does not exist; the default ``outside: refused`` is an authoritative
server's answer.  The lab's ext writes ``nxdomain``: its zones are the
whole emulated Internet.

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
from collections.abc import Mapping
from typing import Any

from k8snet.addons.dnsfile import FILE_TTL, FILE_TYPES, FileZone, default_ext_zone
from k8snet.addons.dnsrecords import (
    FORMERR,
    MAX_CNAME_CHAIN,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    QTYPES,
    REFUSED,
    SERVFAIL,
    TYPE_NAMES,
    Answer,
    IPAddress,
    Record,
    _address_type,
    _describe,
    _ip,
    _items,
    _Records,
    _soa,
    dashed,
    normalize,
    parse_hostport,
    type_name,
    under,
)

__all__ = [
    "DEFAULT_DOMAIN", "FILE_TTL", "FILE_TYPES", "FORMERR", "MAX_CNAME_CHAIN", "NOERROR",
    "NOTIMP", "NXDOMAIN", "QTYPES", "REFUSED", "SCHEMA_VERSION", "SERVFAIL", "SERVICE_TYPES",
    "TTL", "TYPE_NAMES", "Answer", "FileZone", "IPAddress", "Record", "Zone", "dashed",
    "default_ext_zone", "normalize", "parse_hostport", "type_name", "under",
]

SCHEMA_VERSION = "1.1.0"
TTL = 5
DEFAULT_DOMAIN = "cluster.local"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


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
        for ep in svc.get("endpoints") or ():       # CoreDNS: endpoint names, not in the spec
            if ep.get("ready", True):
                ep_ip = _ip(ep["ip"], "endpoint ip")
                target = f"{normalize(str(ep.get('hostname') or '')) or dashed(str(ep_ip))}.{base}"
                self._add(Record(target, _address_type(ep_ip), TTL, str(ep_ip)))
                self._add(Record(ep_ip.reverse_pointer, "PTR", TTL, target))

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
