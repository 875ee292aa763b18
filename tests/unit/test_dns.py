"""Tests for the cluster DNS: k8snet.addons.dnszone (pure) and k8snet.addons.dns (wire, server).

The server tests listen on 127.0.0.1 with ephemeral ports, in a thread with
its own event loop, and always stop it.  The command-line tests run
``python -m k8snet.addons.dns`` and stop it by its PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, DNSRecord

from k8snet.addons.dns import DnsServer, Resolver, ZoneSource
from k8snet.addons.dnszone import (
    NOERROR,
    NXDOMAIN,
    SERVFAIL,
    FileZone,
    Record,
    Zone,
    default_ext_zone,
    parse_hostport,
)
from k8snet.perf import dnsbench

ROOT = Path(__file__).resolve().parents[2]
Z = "cluster.local"


def svc(name: str, cluster_ip: str = "", *, namespace: str = "default",
        kind: str = "ClusterIP", ports: list[dict] | None = None,
        endpoints: list[dict] | None = None, external_name: str = "") -> dict:
    return {"name": name, "namespace": namespace, "type": kind, "cluster_ip": cluster_ip,
            "external_name": external_name, "ports": ports or [], "endpoints": endpoints or []}


def port(name: str, number: int, protocol: str = "TCP") -> dict:
    return {"name": name, "protocol": protocol, "port": number}


def endpoint(ip: str, hostname: str = "", ready: bool = True,
             ports: list[dict] | None = None) -> dict:
    return {"ip": ip, "hostname": hostname, "ready": ready, "ports": ports or []}


SNAPSHOT: dict[str, Any] = {
    "domain": Z,
    "services": [
        svc("kubernetes", "10.96.0.1", ports=[port("https", 443)]),
        svc("web", "10.96.0.16", ports=[port("http", 80), port("", 8080)]),
        svc("web-np", "10.96.0.17", kind="NodePort", ports=[port("http", 80)]),
        svc("web-lb", "10.96.0.18", kind="LoadBalancer"),
        svc("kube-dns", "10.96.0.10", namespace="kube-system",
            ports=[port("dns", 53, "UDP"), port("dns-tcp", 53)]),
        svc("db", "None", ports=[port("pg", 5432)], endpoints=[
            endpoint("10.244.1.5", "db-0", ports=[port("pg", 5433)]),
            endpoint("10.244.2.5", "", ports=[port("pg", 5433)]),
            endpoint("10.244.3.5", "db-2", ready=False, ports=[port("pg", 5433)]),
        ]),
        svc("idle", "None", ports=[port("http", 80)],
            endpoints=[endpoint("10.244.3.9", "idle-0", ready=False)]),
        svc("db-ext", kind="ExternalName", external_name="db.example.com"),
        svc("alias", kind="ExternalName", external_name=f"web.default.svc.{Z}"),
        svc("pending", ""),
    ],
    "pods": [{"ip": "10.244.1.5", "namespace": "default"},
             {"ip": "10.244.2.7", "namespace": "team-a"}],
}


@pytest.fixture(scope="module")
def zone() -> Zone:
    return Zone(SNAPSHOT)


def values(answer: Any, kind: str | None = None) -> list[str]:
    return sorted(r.value for r in answer.answer if kind is None or r.type == kind)


# ---------------------------------------------------------------------------
# The cluster zone (pure)
# ---------------------------------------------------------------------------

def test_cluster_ip_a_record(zone: Zone) -> None:
    answer = zone.resolve(f"web.default.svc.{Z}", "A")
    assert answer.rcode == NOERROR
    assert answer.answer == [Record(f"web.default.svc.{Z}", "A", 5, "10.96.0.16")]
    assert answer.authority == [] and answer.chase is None


@pytest.mark.parametrize("name", ["web-np", "web-lb"])
def test_nodeport_and_loadbalancer_have_cluster_ip_records(zone: Zone, name: str) -> None:
    answer = zone.resolve(f"{name}.default.svc.{Z}", 1)
    assert answer.rcode == NOERROR and len(answer.answer) == 1
    assert answer.answer[0].value.startswith("10.96.0.1")


@pytest.mark.parametrize("spelling", ["WEB.Default.SVC.Cluster.Local.", f"web.default.svc.{Z}.",
                                      f"wEb.DEFAULT.svc.{Z}"])
def test_names_are_case_insensitive(zone: Zone, spelling: str) -> None:
    assert values(zone.resolve(spelling, "a")) == ["10.96.0.16"]


def test_numeric_and_named_qtypes_agree(zone: Zone) -> None:
    assert zone.resolve(f"web.default.svc.{Z}", 1) == zone.resolve(f"web.default.svc.{Z}", "A")


def test_search_path_names_are_not_ours(zone: Zone) -> None:
    """The stub resolver appends the search domains; the server must not guess."""
    for name in ("web", "web.default", "web.default.svc", "example.com", "local"):
        assert zone.resolve(name, "A") is None
    assert zone.resolve(f"web.default.svc.{Z}", "A") is not None


def test_headless_service_one_a_per_ready_endpoint(zone: Zone) -> None:
    answer = zone.resolve(f"db.default.svc.{Z}", "A")
    assert answer.rcode == NOERROR
    assert values(answer) == ["10.244.1.5", "10.244.2.5"]  # 10.244.3.5 is not ready


def test_headless_endpoint_hostname_records(zone: Zone) -> None:
    assert values(zone.resolve(f"db-0.db.default.svc.{Z}", "A")) == ["10.244.1.5"]
    # Without a hostname, the endpoint is named by its dashed IP.
    assert values(zone.resolve(f"10-244-2-5.db.default.svc.{Z}", "A")) == ["10.244.2.5"]
    # A not-ready endpoint has no name at all.
    missing = zone.resolve(f"db-2.db.default.svc.{Z}", "A")
    assert missing.rcode == NXDOMAIN and missing.answer == []


def test_headless_without_ready_endpoints_is_nxdomain(zone: Zone) -> None:
    for name in (f"idle.default.svc.{Z}", f"idle-0.idle.default.svc.{Z}",
                 f"_http._tcp.idle.default.svc.{Z}"):
        answer = zone.resolve(name, "A" if not name.startswith("_") else "SRV")
        assert answer.rcode == NXDOMAIN, name
        assert [r.type for r in answer.authority] == ["SOA"]


def test_srv_for_cluster_ip_service(zone: Zone) -> None:
    answer = zone.resolve(f"_http._tcp.web.default.svc.{Z}", "SRV")
    assert answer.rcode == NOERROR
    [srv] = answer.answer
    assert (srv.type, srv.value, srv.port) == ("SRV", f"web.default.svc.{Z}", 80)
    # The spec allows the target's A record in Additional.
    assert [(r.name, r.value) for r in answer.additional] == [
        (f"web.default.svc.{Z}", "10.96.0.16")]


def test_srv_protocols_and_unnamed_ports(zone: Zone) -> None:
    udp = zone.resolve(f"_dns._udp.kube-dns.kube-system.svc.{Z}", "SRV")
    assert [(r.port, r.value) for r in udp.answer] == [(53, f"kube-dns.kube-system.svc.{Z}")]
    assert zone.resolve(f"_dns._tcp.kube-dns.kube-system.svc.{Z}", "SRV").rcode == NXDOMAIN
    # The unnamed port 8080 of web has no SRV record; unknown names are NXDOMAIN.
    assert zone.resolve(f"_8080._tcp.web.default.svc.{Z}", "SRV").rcode == NXDOMAIN
    assert zone.resolve(f"_https._tcp.web.default.svc.{Z}", "SRV").rcode == NXDOMAIN


def test_srv_for_headless_service_targets_each_ready_endpoint(zone: Zone) -> None:
    answer = zone.resolve(f"_pg._tcp.db.default.svc.{Z}", "SRV")
    assert sorted((r.value, r.port) for r in answer.answer) == [
        (f"10-244-2-5.db.default.svc.{Z}", 5433),      # endpoint port, not service port
        (f"db-0.db.default.svc.{Z}", 5433),
    ]
    assert sorted(r.value for r in answer.additional) == ["10.244.1.5", "10.244.2.5"]


def test_external_name_is_a_cname_to_chase(zone: Zone) -> None:
    answer = zone.resolve(f"db-ext.default.svc.{Z}", "A")
    assert answer.rcode == NOERROR
    assert [(r.type, r.value) for r in answer.answer] == [("CNAME", "db.example.com")]
    assert answer.chase == "db.example.com"
    # Asking for the CNAME itself needs no chasing.
    only = zone.resolve(f"db-ext.default.svc.{Z}", "CNAME")
    assert [r.type for r in only.answer] == ["CNAME"] and only.chase is None


def test_external_name_inside_the_zone_is_followed_locally(zone: Zone) -> None:
    answer = zone.resolve(f"alias.default.svc.{Z}", "A")
    assert [(r.type, r.value) for r in answer.answer] == [
        ("CNAME", f"web.default.svc.{Z}"), ("A", "10.96.0.16")]
    assert answer.chase is None


def test_ptr_records(zone: Zone) -> None:
    assert values(zone.resolve("16.0.96.10.in-addr.arpa", "PTR")) == [f"web.default.svc.{Z}"]
    assert values(zone.resolve("5.1.244.10.in-addr.arpa.", "PTR")) == [
        f"db-0.db.default.svc.{Z}"]
    assert values(zone.resolve("5.2.244.10.in-addr.arpa", "PTR")) == [
        f"10-244-2-5.db.default.svc.{Z}"]


def test_a_cluster_ip_services_ready_endpoints_have_names_and_ptr_as_in_coredns() -> None:
    """CoreDNS's kubernetes plugin answers an endpoint of any Service (not only
    a headless one) by name and by PTR: dig -x on a pod behind web."""
    zone = Zone({"domain": Z, "services": [
        svc("web", "10.96.0.16", ports=[port("http", 80)],
            endpoints=[endpoint("10.244.1.3", ""), endpoint("10.244.2.3", "", ready=False)])]})
    assert values(zone.resolve("3.1.244.10.in-addr.arpa", "PTR")) == [
        f"10-244-1-3.web.default.svc.{Z}"]
    assert values(zone.resolve(f"10-244-1-3.web.default.svc.{Z}", "A")) == ["10.244.1.3"]
    assert values(zone.resolve(f"web.default.svc.{Z}", "A")) == ["10.96.0.16"]  # still the VIP
    assert zone.resolve("3.2.244.10.in-addr.arpa", "PTR") is None        # not ready


def test_unknown_reverse_names_are_forwarded(zone: Zone) -> None:
    assert zone.resolve("5.3.244.10.in-addr.arpa", "PTR") is None   # not ready
    assert zone.resolve("10.113.0.203.in-addr.arpa", "PTR") is None
    assert zone.resolve("96.10.in-addr.arpa", "PTR") is None


def test_pod_records_insecure_by_default(zone: Zone) -> None:
    assert values(zone.resolve(f"10-244-1-5.default.pod.{Z}", "A")) == ["10.244.1.5"]
    # Spec 2.6: any address in any namespace, like CoreDNS "pods insecure".
    assert values(zone.resolve(f"1-2-3-4.other.pod.{Z}", "A")) == ["1.2.3.4"]
    assert zone.resolve(f"1-2-3-4.other.pod.{Z}", "AAAA").rcode == NOERROR
    assert zone.resolve(f"1-2-3.other.pod.{Z}", "A").rcode == NXDOMAIN
    assert zone.resolve(f"1-2-3-400.other.pod.{Z}", "A").rcode == NXDOMAIN
    assert zone.resolve(f"x.1-2-3-4.other.pod.{Z}", "A").rcode == NXDOMAIN


def test_pod_records_verified() -> None:
    verified = Zone(SNAPSHOT, pods="verified")
    assert values(verified.resolve(f"10-244-2-7.team-a.pod.{Z}", "A")) == ["10.244.2.7"]
    assert verified.resolve(f"10-244-2-7.default.pod.{Z}", "A").rcode == NXDOMAIN
    assert verified.resolve(f"1-2-3-4.default.pod.{Z}", "A").rcode == NXDOMAIN
    with pytest.raises(ValueError, match="pods"):
        Zone(SNAPSHOT, pods="sometimes")


def test_dns_version_txt(zone: Zone) -> None:
    answer = zone.resolve(f"dns-version.{Z}", "TXT")
    assert [(r.type, r.value) for r in answer.answer] == [("TXT", "1.1.0")]


def test_nxdomain_has_soa_in_authority(zone: Zone) -> None:
    answer = zone.resolve(f"nope.default.svc.{Z}", "A")
    assert answer.rcode == NXDOMAIN and answer.answer == []
    [soa] = answer.authority
    assert soa.type == "SOA" and soa.name == Z and soa.ttl == 5
    # A service whose ClusterIP is not allocated yet has no records either.
    assert zone.resolve(f"pending.default.svc.{Z}", "A").rcode == NXDOMAIN


def test_nodata_for_existing_names_without_the_type(zone: Zone) -> None:
    for name, kind in [(f"web.default.svc.{Z}", "AAAA"), (f"web.default.svc.{Z}", "TXT"),
                       (f"default.svc.{Z}", "A"), (f"svc.{Z}", "A"), (f"pod.{Z}", "A"),
                       (f"kube-system.svc.{Z}", "SRV"), (Z, "A")]:
        answer = zone.resolve(name, kind)
        assert (answer.rcode, answer.answer) == (NOERROR, []), (name, kind)
        assert [r.type for r in answer.authority] == ["SOA"]


def test_soa_and_any(zone: Zone) -> None:
    assert [r.type for r in zone.resolve(Z, "SOA").answer] == ["SOA"]
    assert [r.type for r in zone.resolve(f"web.default.svc.{Z}", "ANY").answer] == ["A"]


def test_custom_domain_and_ipv6() -> None:
    zone = Zone({"domain": "Lab.Example.", "services": [svc("v6", "fd00::10")]})
    answer = zone.resolve("v6.default.svc.lab.example", "AAAA")
    assert values(answer) == ["fd00::10"]
    assert zone.resolve("v6.default.svc.lab.example", "A").rcode == NOERROR
    assert zone.resolve(f"v6.default.svc.{Z}", "AAAA") is None
    ptr = zone.resolve("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
                       "PTR")
    assert values(ptr) == ["v6.default.svc.lab.example"]


def test_snapshot_upstream() -> None:
    assert Zone({"upstream": "203.0.113.53:5353"}).upstream == ("203.0.113.53", 5353)
    assert Zone({"upstream": "203.0.113.53"}).upstream == ("203.0.113.53", 53)
    assert Zone({}).upstream is None
    with pytest.raises(ValueError):
        Zone({"upstream": "dns.example.com:53"})


def test_bad_snapshots_say_where() -> None:
    with pytest.raises(ValueError, match=r"services\[0\]: missing field 'namespace'"):
        Zone({"services": [{"name": "x"}]})
    with pytest.raises(ValueError, match=r"services\[0\].*invalid IP"):
        Zone({"services": [svc("x", "10.96.0.300")]})
    with pytest.raises(ValueError, match="unknown type"):
        Zone({"services": [svc("x", "10.96.0.5", kind="Headless")]})
    with pytest.raises(ValueError, match="ExternalName without"):
        Zone({"services": [svc("x", kind="ExternalName")]})
    with pytest.raises(ValueError, match=r"pods\[0\]"):
        Zone({"pods": [{"ip": "10.244.1.2"}]})
    with pytest.raises(ValueError, match="pods: expected a list"):
        Zone({"pods": 5})
    with pytest.raises(ValueError, match="services: expected a list"):
        Zone({"services": {"name": "x"}})
    with pytest.raises(ValueError, match="JSON object"):
        Zone([])  # type: ignore[arg-type]


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_hostport("[::1]:53") == ("::1", 53)
    assert parse_hostport("::1") == ("::1", 53)
    for bad in ("127.0.0.1:0", "127.0.0.1:x", "host:53", "[::1", "1.2.3.4:70000"):
        with pytest.raises(ValueError):
            parse_hostport(bad)


# ---------------------------------------------------------------------------
# Zone files (pure)
# ---------------------------------------------------------------------------

def test_default_ext_zone() -> None:
    import yaml

    zone = FileZone(yaml.safe_load(default_ext_zone("203.0.113.10")))
    for name in ("example.com", "www.example.com", "DB.Example.Com."):
        assert values(zone.resolve(name, "A")) == ["203.0.113.10"], name
    assert values(zone.resolve("10.113.0.203.in-addr.arpa", "PTR")) == ["example.com"]
    missing = zone.resolve("nope.example.com", "A")
    assert missing.rcode == NXDOMAIN
    assert [(r.type, r.name) for r in missing.authority] == [("SOA", "example.com")]
    assert zone.resolve("www.example.com", "AAAA").rcode == NOERROR
    assert zone.resolve("example.org", "A") is None           # outside: REFUSED
    assert zone.resolve(f"web.default.svc.{Z}", "A") is None
    with pytest.raises(ValueError):
        default_ext_zone("not-an-ip")


def test_zone_file_names_types_and_cnames() -> None:
    zone = FileZone({"zones": [{"origin": "corp.test", "ttl": 60, "records": [
        {"name": "@", "type": "A", "value": "192.0.2.1"},
        {"name": "v6", "type": "AAAA", "value": "2001:db8::1"},
        {"name": "api.corp.test", "type": "A", "value": "192.0.2.2"},
        {"name": "abs.corp.test.", "type": "TXT", "value": "hi"},
        {"name": "docs", "type": "CNAME", "value": "api.corp.test."},
        {"name": "out", "type": "CNAME", "value": "www.example.com"},
        {"name": "api", "type": "A", "value": "192.0.2.3", "ttl": 7},
    ]}]})
    assert values(zone.resolve("corp.test", "A")) == ["192.0.2.1"]
    assert values(zone.resolve("v6.corp.test", "AAAA")) == ["2001:db8::1"]
    assert values(zone.resolve("api.corp.test", "A")) == ["192.0.2.2", "192.0.2.3"]
    assert {r.ttl for r in zone.resolve("api.corp.test", "A").answer} == {60, 7}
    assert values(zone.resolve("abs.corp.test", "TXT")) == ["hi"]
    docs = zone.resolve("docs.corp.test", "A")
    assert [r.type for r in docs.answer] == ["CNAME", "A", "A"]
    out = zone.resolve("out.corp.test", "A")
    assert [r.type for r in out.answer] == ["CNAME"] and out.chase is None
    # A single zone may sit at the top level.
    single = FileZone({"origin": "x.test", "records": [{"name": "a", "type": "A",
                                                        "value": "192.0.2.9"}]})
    assert values(single.resolve("a.x.test", "A")) == ["192.0.2.9"]


@pytest.mark.parametrize("records, message", [
    ([{"name": "a", "type": "MX", "value": "x"}], "not supported"),
    ([{"name": "a", "type": "A", "value": "2001:db8::1"}], "not an A address"),
    ([{"name": "a.other.test.", "type": "A", "value": "192.0.2.1"}], "not in"),
    ([{"name": "a", "type": "CNAME", "value": "b.z.test"},
      {"name": "a", "type": "A", "value": "192.0.2.1"}], "CNAME cannot"),
    ([{"name": "a", "type": "A"}], "missing field 'value'"),
])
def test_zone_file_errors(records: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FileZone({"zones": [{"origin": "z.test", "records": records}]})


def test_zone_file_loading(tmp_path: Path) -> None:
    path = tmp_path / "zone.yaml"
    path.write_text(default_ext_zone("198.51.100.7"))
    assert values(FileZone.from_file(str(path)).resolve("db.example.com", "A")) == [
        "198.51.100.7"]
    path.write_text("zones: [unclosed")
    with pytest.raises(ValueError, match="YAML"):
        FileZone.from_file(str(path))


# ---------------------------------------------------------------------------
# Wire format and the reply cache (no sockets)
# ---------------------------------------------------------------------------

def query(name: str, qtype: str = "A", *, qid: int = 4660, rd: bool = True,
          edns: EDNS0 | None = None, qclass: str = "IN") -> bytes:
    record = DNSRecord.question(name, qtype, qclass)
    record.header.id = qid
    record.header.rd = int(rd)
    if edns is not None:
        record.add_ar(edns)
    return bytes(record.pack())


def parsed(data: Any) -> DNSRecord:
    assert isinstance(data, bytes), data
    return DNSRecord.parse(data)


def test_reply_fields(zone: Zone) -> None:
    reply = parsed(Resolver(zone).respond(query(f"web.default.svc.{Z}")))
    header = reply.header
    assert (header.id, header.qr, header.aa, header.rd, header.ra, header.rcode) == (
        4660, 1, 1, 1, 1, NOERROR)
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.16"]
    assert reply.rr[0].ttl == 5


def test_cache_hit_splices_id_flags_and_spelling(zone: Zone, monkeypatch) -> None:
    resolver = Resolver(zone)
    first = resolver.respond(query(f"web.default.svc.{Z}", qid=1))
    assert isinstance(first, bytes)

    def no_parsing(data: bytes) -> None:
        raise AssertionError("a cache hit must not parse")

    monkeypatch.setattr(DNSRecord, "parse", staticmethod(no_parsing))
    hit = resolver.respond(query(f"WEB.Default.svc.{Z}", qid=2, rd=False))
    monkeypatch.undo()
    reply = DNSRecord.parse(hit)
    assert reply.header.id == 2 and reply.header.rd == 0 and reply.header.qr == 1
    assert str(reply.q.qname) == f"WEB.Default.svc.{Z}."
    assert str(reply.rr[0].rname) == f"WEB.Default.svc.{Z}."   # owner follows the question
    assert hit[12:] != first[12:] and hit[12:].lower() == first[12:].lower()
    # A different type is a different entry, not a false hit.
    aaaa = parsed(resolver.respond(query(f"web.default.svc.{Z}", "AAAA")))
    assert aaaa.rr == [] and aaaa.auth[0].rtype == QTYPE.SOA


def test_cached_and_uncached_replies_are_identical(zone: Zone) -> None:
    cached, uncached = Resolver(zone), Resolver(zone, cache=False)
    names = [(f"web.default.svc.{Z}", "A"), (f"_pg._tcp.db.default.svc.{Z}", "SRV"),
             (f"Nope.default.svc.{Z}", "A"), ("16.0.96.10.in-addr.arpa", "PTR"),
             (f"default.svc.{Z}", "A")]
    for name, kind in names:
        for edns in (None, EDNS0(udp_len=4096), EDNS0(udp_len=1232, flags="do")):
            for attempt in range(2):
                packet = query(name, kind, qid=attempt, edns=edns)
                assert cached.respond(packet) == uncached.respond(packet), (name, kind, edns)
    assert len(cached._udp_cache) == len(names) * 3


def test_cd_bit_is_echoed(zone: Zone) -> None:
    resolver = Resolver(zone)
    for _ in range(2):  # miss, then hit
        packet = bytearray(query(f"web.default.svc.{Z}"))
        packet[3] |= 0x10
        assert DNSRecord.parse(resolver.respond(bytes(packet))).header.cd == 1
    assert DNSRecord.parse(resolver.respond(query(f"web.default.svc.{Z}"))).header.cd == 0


def test_new_zone_drops_the_cache(zone: Zone) -> None:
    resolver = Resolver(zone)
    resolver.respond(query(f"web.default.svc.{Z}"))
    changed = json.loads(json.dumps(SNAPSHOT))
    changed["services"][1]["cluster_ip"] = "10.96.0.99"
    resolver.set_zone(Zone(changed))
    reply = parsed(resolver.respond(query(f"web.default.svc.{Z}")))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.99"]


def test_edns_reply_and_badvers(zone: Zone) -> None:
    resolver = Resolver(zone)
    reply = parsed(resolver.respond(query(f"web.default.svc.{Z}",
                                          edns=EDNS0(udp_len=4096, flags="do"))))
    [opt] = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    assert opt.rclass == 1232 and opt.ttl & 0x8000  # our size; DO copied
    bad = parsed(resolver.respond(query(f"web.default.svc.{Z}", edns=EDNS0(version=1))))
    [opt] = [rr for rr in bad.ar if rr.rtype == QTYPE.OPT]
    assert (opt.ttl >> 24) == 1 and bad.rr == []   # extended rcode 16 = BADVERS


def test_large_answers_truncate_over_udp_only() -> None:
    many = [endpoint(f"10.244.{i // 200}.{i % 200 + 1}") for i in range(60)]
    zone = Zone({"services": [svc("big", "None", endpoints=many)]})
    resolver = Resolver(zone)
    name = f"big.default.svc.{Z}"
    udp = parsed(resolver.respond(query(name)))
    assert udp.header.tc == 1 and udp.rr == []
    edns = parsed(resolver.respond(query(name, edns=EDNS0(udp_len=4096))))
    assert edns.header.tc == 0 and len(edns.rr) == 60      # fits in our 1232 bytes
    tcp = parsed(resolver.respond(query(name), tcp=True))
    assert tcp.header.tc == 0 and len(tcp.rr) == 60
    assert parsed(resolver.respond(query(name))).header.tc == 1  # cached per transport


def test_malformed_and_unusual_queries(zone: Zone) -> None:
    resolver = Resolver(zone)
    garbage = parsed(resolver.respond(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab"))
    assert garbage.header.id == 0x1234 and garbage.header.rcode == 1   # FORMERR
    assert resolver.respond(b"\x00\x01") is None                        # not even a header
    response = bytearray(query(f"web.default.svc.{Z}"))
    response[2] |= 0x80
    assert resolver.respond(bytes(response)) is None                    # never answer replies
    notify = bytearray(query(f"web.default.svc.{Z}"))
    notify[2] |= 4 << 3
    assert parsed(resolver.respond(bytes(notify))).header.rcode == 4    # NOTIMP
    chaos = parsed(resolver.respond(query("version.bind", "TXT", qclass="CH")))
    assert chaos.header.rcode == 5                                      # REFUSED
    two = DNSRecord.question(f"web.default.svc.{Z}")
    two.add_question(*DNSRecord.question(f"db.default.svc.{Z}").questions)
    assert parsed(resolver.respond(bytes(two.pack()))).header.rcode == 1


def test_zone_file_refuses_other_names() -> None:
    resolver = Resolver(FileZone({"zones": [{"origin": "example.com", "records": [
        {"name": "www", "type": "A", "value": "203.0.113.10"}]}]}))
    for _ in range(2):                                   # the second from the cache
        reply = parsed(resolver.respond(query("www.google.com")))
        assert reply.header.rcode == 5 and reply.header.aa == 0 and reply.header.ra == 0
    ok = parsed(resolver.respond(query("www.example.com")))
    assert ok.header.aa == 1 and ok.header.ra == 0 and str(ok.rr[0].rdata) == "203.0.113.10"


def test_ext_zone_says_other_names_do_not_exist() -> None:
    """ext's resolver stands for the Internet: a name it has not is NXDOMAIN,
    not authoritative, as a recursive resolver answers."""
    import yaml

    resolver = Resolver(FileZone(yaml.safe_load(default_ext_zone("203.0.113.10"))))
    for _ in range(2):
        reply = parsed(resolver.respond(query("www.google.com")))
        assert reply.header.rcode == NXDOMAIN and reply.header.aa == 0 and not reply.rr
        assert reply.header.ra == 1           # no "recursion not available" in nslookup
    assert parsed(resolver.respond(query("www.example.com"))).header.aa == 1


def test_zone_file_outside_must_be_known() -> None:
    with pytest.raises(ValueError, match="outside: Unsupported value: 'drop'"):
        FileZone({"outside": "drop", "zones": []})
    assert FileZone({"zones": []}).outside_rcode == 5


def test_no_upstream_means_servfail(zone: Zone) -> None:
    async def ask() -> bytes:
        pending = Resolver(zone).respond(query("www.example.com"))
        assert asyncio.iscoroutine(pending)
        return await pending

    reply = DNSRecord.parse(asyncio.run(ask()))
    assert reply.header.rcode == SERVFAIL and reply.header.id == 4660
    assert str(reply.q.qname) == "www.example.com."


# ---------------------------------------------------------------------------
# The server on 127.0.0.1
# ---------------------------------------------------------------------------

class ServerThread:
    """A DnsServer in its own thread and event loop, for one test."""

    def __init__(self, path: Path, *, zone_file: bool = False,
                 upstream: tuple[str, int] | None = None, timeout: float = 1.0) -> None:
        loader = FileZone.from_file if zone_file else Zone.from_file
        self.source = ZoneSource(str(path), loader)
        self.upstream = upstream
        self.timeout = timeout
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = DnsServer(self.source, "127.0.0.1", 0, self.upstream, timeout=self.timeout)
        await server.start()
        self.port = server.port
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(5), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
        assert not self._thread.is_alive(), "server did not stop"


def ask(port: int, name: str, qtype: str = "A", tcp: bool = False,
        timeout: float = 3.0) -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name, qtype).send(
        "127.0.0.1", port, tcp=tcp, timeout=timeout))


def rdata(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(SNAPSHOT))
    return path


@pytest.fixture
def ext_file(tmp_path: Path) -> Path:
    path = tmp_path / "ext.yaml"
    text = default_ext_zone("203.0.113.10")
    # A zone named like a search-path candidate proves such names are forwarded.
    text += ('  - origin: default\n    records:\n'
             '      - {name: web, type: A, value: "192.0.2.80"}\n')
    path.write_text(text)
    return path


def test_server_answers_udp_and_tcp(snapshot_file: Path) -> None:
    with ServerThread(snapshot_file) as server:
        for tcp in (False, True):
            for _ in range(2):  # miss, then cache hit
                reply = ask(server.port, f"Web.default.svc.{Z}", tcp=tcp)
                assert rdata(reply) == ["10.96.0.16"], tcp
                assert str(reply.q.qname) == f"Web.default.svc.{Z}."
            srv = ask(server.port, f"_pg._tcp.db.default.svc.{Z}", "SRV", tcp=tcp)
            assert sorted(rr.rdata.port for rr in srv.rr) == [5433, 5433]
            missing = ask(server.port, f"nope.default.svc.{Z}", tcp=tcp)
            assert missing.header.rcode == NXDOMAIN and missing.auth[0].rtype == QTYPE.SOA


def test_server_tcp_keeps_the_connection_for_several_queries(snapshot_file: Path) -> None:
    with ServerThread(snapshot_file) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=3) as conn:
            for i, name in enumerate([f"web.default.svc.{Z}", f"kubernetes.default.svc.{Z}"]):
                packet = query(name, qid=100 + i)
                conn.sendall(len(packet).to_bytes(2, "big") + packet)
            replies = []
            buffer = b""
            while len(replies) < 2:
                chunk = conn.recv(4096)
                assert chunk, "server closed the connection"
                buffer += chunk
                while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                    size = int.from_bytes(buffer[:2], "big")
                    replies.append(DNSRecord.parse(buffer[2:2 + size]))
                    buffer = buffer[2 + size:]
    assert [(r.header.id, rdata(r)) for r in replies] == [
        (100, ["10.96.0.16"]), (101, ["10.96.0.1"])]


def wait_for(predicate: Any, limit: float) -> float:
    """Seconds until predicate() is true; fails after ``limit``."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < limit, "not seen in time"
        time.sleep(0.02)
    return time.monotonic() - start


def test_server_reloads_the_snapshot_within_a_second(snapshot_file: Path) -> None:
    with ServerThread(snapshot_file) as server:
        name = f"web.default.svc.{Z}"
        assert rdata(ask(server.port, name)) == ["10.96.0.16"]
        changed = json.loads(json.dumps(SNAPSHOT))
        changed["services"][1]["cluster_ip"] = "10.96.0.77"
        staging = snapshot_file.with_suffix(".tmp")
        staging.write_text(json.dumps(changed))
        os.replace(staging, snapshot_file)               # how a producer should write
        took = wait_for(lambda: rdata(ask(server.port, name)) == ["10.96.0.77"], 1.0)
        assert took < 1.0
        # Rewritten in place (same inode): still noticed.
        changed["services"][1]["cluster_ip"] = "10.96.0.78"
        snapshot_file.write_text(json.dumps(changed))
        wait_for(lambda: rdata(ask(server.port, name)) == ["10.96.0.78"], 1.0)
        # A broken file keeps the previous zone.
        snapshot_file.write_text("{not json")
        time.sleep(0.5)
        assert rdata(ask(server.port, name)) == ["10.96.0.78"]
        # And a good file after it is picked up again.
        changed["services"][1]["cluster_ip"] = "10.96.0.79"
        snapshot_file.write_text(json.dumps(changed))
        wait_for(lambda: rdata(ask(server.port, name)) == ["10.96.0.79"], 1.0)


def test_server_looks_often_but_reloads_a_burst_of_writes_a_few_times(
        snapshot_file: Path) -> None:
    """The file is looked at every POLL_INTERVAL (a Service is answered
    before a pod created with it could start), and reloaded at most once per
    MIN_RELOAD_PERIOD however fast it is rewritten (a burst of 1,000 pods)."""
    from k8snet.addons import dns
    with ServerThread(snapshot_file) as server:
        looks, reloads = [], []
        real_poll = server.source.poll

        def counting_poll() -> bool:
            looks.append(time.monotonic())
            changed = real_poll()
            if changed:
                reloads.append(time.monotonic())
            return changed

        server.source.poll = counting_poll
        time.sleep(0.5)                                   # quiet
        assert len(looks) >= 0.5 / dns.POLL_INTERVAL / 2 and reloads == []
        changed = json.loads(json.dumps(SNAPSHOT))
        start = time.monotonic()
        while time.monotonic() - start < 1.0:             # a write every 5 ms for 1 s
            changed["services"][1]["cluster_ip"] = f"10.96.0.{int(time.monotonic() * 200) % 200}"
            snapshot_file.write_text(json.dumps(changed))
            time.sleep(0.005)
        time.sleep(0.3)
        assert 2 <= len(reloads) <= 1.0 / dns.MIN_RELOAD_PERIOD + 2
        gaps = [b - a for a, b in zip(reloads, reloads[1:], strict=False)]
        assert min(gaps) >= dns.MIN_RELOAD_PERIOD * 0.95
        final = changed["services"][1]["cluster_ip"]
        assert rdata(ask(server.port, f"web.default.svc.{Z}")) == [final]   # the last write


def test_server_forwards_and_chases_external_names(snapshot_file: Path,
                                                   ext_file: Path) -> None:
    with ServerThread(ext_file, zone_file=True) as ext, \
            ServerThread(snapshot_file, upstream=("127.0.0.1", ext.port)) as cluster:
        for tcp in (False, True):
            assert rdata(ask(cluster.port, "www.example.com", tcp=tcp)) == ["203.0.113.10"]
        # Search-path style names are not the cluster's: they reach the upstream.
        assert rdata(ask(cluster.port, "web.default")) == ["192.0.2.80"]
        # Reverse names the cluster does not know, too.
        assert rdata(ask(cluster.port, "10.113.0.203.in-addr.arpa", "PTR")) == ["example.com."]
        # The upstream's NXDOMAIN is relayed as it is, under its zones and
        # outside them (ext's zone file: outside: nxdomain).
        assert ask(cluster.port, "nope.example.com").header.rcode == NXDOMAIN
        assert ask(cluster.port, "example.org").header.rcode == NXDOMAIN
        # ExternalName: the CNAME, and the upstream's answer for its target.
        for tcp in (False, True):
            reply = ask(cluster.port, f"db-ext.default.svc.{Z}", tcp=tcp)
            assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [
                ("CNAME", "db.example.com."), ("A", "203.0.113.10")]
        # ext itself knows nothing of the cluster's names: they do not exist there.
        assert ask(ext.port, f"web.default.svc.{Z}").header.rcode == NXDOMAIN


def test_chased_external_names_are_cached_for_their_ttl(snapshot_file: Path,
                                                        ext_file: Path) -> None:
    ext: ServerThread | None = ServerThread(ext_file, zone_file=True).__enter__()
    try:
        with ServerThread(snapshot_file, upstream=("127.0.0.1", ext.port)) as cluster:
            first = ask(cluster.port, f"db-ext.default.svc.{Z}")
            assert rdata(first) == ["db.example.com.", "203.0.113.10"]
            ext.__exit__()
            ext = None
            # The upstream is gone; the answer stays for its TTL (5 s) ...
            assert rdata(ask(cluster.port, f"db-ext.default.svc.{Z}")) == rdata(first)
            # ... while other names, which are relayed, now fail.
            assert ask(cluster.port, "www.example.com").header.rcode == SERVFAIL
    finally:
        if ext is not None:
            ext.__exit__()


def test_server_servfail_when_upstream_is_dead(snapshot_file: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))   # bound, never answers: a timeout
    try:
        upstream = silent.getsockname()
        with ServerThread(snapshot_file, upstream=upstream, timeout=0.3) as server:
            start = time.monotonic()
            reply = ask(server.port, "www.example.com")
            assert reply.header.rcode == SERVFAIL
            assert time.monotonic() - start < 2.0
            assert ask(server.port, "www.example.com", tcp=True).header.rcode == SERVFAIL
            # ExternalName: without the upstream, the CNAME alone.
            chased = ask(server.port, f"db-ext.default.svc.{Z}")
            assert chased.header.rcode == NOERROR
            assert [QTYPE[rr.rtype] for rr in chased.rr] == ["CNAME"]
            # The cluster's own names do not depend on the upstream.
            assert rdata(ask(server.port, f"web.default.svc.{Z}")) == ["10.96.0.16"]
    finally:
        silent.close()
    # Nobody listening at all (ICMP port unreachable): SERVFAIL, quickly.
    with ServerThread(snapshot_file, upstream=upstream, timeout=0.3) as server:
        assert ask(server.port, "www.example.com").header.rcode == SERVFAIL


def test_dnsbench_against_the_server(snapshot_file: Path) -> None:
    with ServerThread(snapshot_file) as server:
        result = dnsbench.run("127.0.0.1", server.port,
                              [f"web.default.svc.{Z}", f"kubernetes.default.svc.{Z}"],
                              duration=1.0, concurrency=16)
    assert result["qps"] > 0 and result["answered"] > 0
    assert result["errors"] == 0 and result["answered"] == result["queries"]
    assert result["rcodes"] == {"NOERROR": result["answered"]}
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert 0.9 < result["duration_s"] < 2.0


# ---------------------------------------------------------------------------
# The command line (python -m k8snet.addons.dns), stopped by PID
# ---------------------------------------------------------------------------

def dns_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "k8snet.addons.dns", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 free for both UDP and TCP (the server binds both),
    never handed out twice in a run: two servers of one test once got the
    same port, or a UDP-free port that a TCP socket held."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@contextmanager
def running(*args: str) -> Iterator[subprocess.Popen]:
    proc = dns_cli(*args)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)


@pytest.mark.parametrize("args, message", [
    (["--snapshot", "/nonexistent/snapshot.json"], "cannot read /nonexistent/snapshot.json"),
    (["--zone-file", "/nonexistent/zone.yaml"], "cannot read"),
    (["--snapshot", "x.json", "--port", "99999"], "invalid port"),
    (["--snapshot", "x.json", "--bind", "localhost"], "invalid IP address"),
    (["--zone-file", "x.yaml", "--upstream", "127.0.0.1:53"], "only applies"),
    ([], "required"),
])
def test_cli_bad_arguments(args: list[str], message: str) -> None:
    with running(*args) as proc:
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3   # argparse adds its usage line


def test_cli_broken_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text('{"services": [{"name": "x"}]}')
    with running("--snapshot", str(path), "--bind", "127.0.0.1", "--port", "0") as proc:
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"dns: error: cannot load {path}: services[0]: missing field 'namespace'"]


def test_cli_port_in_use(snapshot_file: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        with running("--snapshot", str(snapshot_file), "--bind", "127.0.0.1",
                     "--port", port) as proc:
            _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert err.strip().splitlines() == [
        f"dns: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_cli_serves_until_sigterm(snapshot_file: Path, ext_file: Path) -> None:
    ext_port, cluster_port = free_port(), free_port()
    with running("--zone-file", str(ext_file), "--bind", "127.0.0.1",
                 "--port", str(ext_port)) as ext, \
            running("--snapshot", str(snapshot_file), "--bind", "127.0.0.1",
                    "--port", str(cluster_port),
                    "--upstream", f"127.0.0.1:{ext_port}") as cluster:
        for proc in (ext, cluster):
            line = proc.stdout.readline()
            assert line.startswith("dns: serving"), line
        assert rdata(ask(cluster_port, f"web.default.svc.{Z}")) == ["10.96.0.16"]
        assert rdata(ask(cluster_port, "db.example.com")) == ["203.0.113.10"]
        for proc in (cluster, ext):
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=5)
            assert proc.returncode == 0
            assert "Traceback" not in err
