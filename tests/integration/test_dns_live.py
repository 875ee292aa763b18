"""Cluster DNS from inside pods, with dig and getent, for every record kind of
the kubernetes/dns specification; and how fast it follows changes."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import in_pod

from k8snet.api.service import Service, ServicePort
from k8snet.cluster import apply
from k8snet.load import manifests

SHOP = str(Path(__file__).resolve().parents[2] / "examples" / "three-tier")
DIG = "dig +time=2 +tries=2"


@pytest.fixture(scope="module")
def shop(cluster):
    mset = manifests.load_paths([SHOP])
    apply.apply(cluster, mset, out=lambda _: None)
    yield cluster
    apply.delete(cluster, mset, out=lambda _: None)


def dig(cluster, args: str, pod: str = "client") -> list[str]:
    res = in_pod(cluster, pod, f"{DIG} +short {args}")
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def dig_within(cluster, args: str, expected: list[str], within: float = 1.0) -> list[str]:
    """dig until the answer is ``expected`` or ``within`` seconds have passed
    (the server reloads its snapshot within one second of a change)."""
    deadline = time.monotonic() + within
    while True:
        got = sorted(dig(cluster, args))
        if got == sorted(expected) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def ip_of(cluster, svc: str) -> str:
    return cluster.services.services[svc].cluster_ip


def db_pods(cluster) -> dict[str, str]:
    return {s.pod.name: s.ip for s in cluster.pods.values()
            if s.owner == "StatefulSet/db" and not s.terminating}


def test_kube_dns_service_and_pod_resolver(shop):
    svc = shop.services.services["kube-system/kube-dns"]
    assert svc.cluster_ip == "10.96.0.10"
    assert sorted((p.port, p.protocol) for p in svc.ports) == [(53, "TCP"), (53, "UDP")]
    conf = in_pod(shop, "client", "cat /etc/resolv.conf").stdout
    assert conf.splitlines() == ["search default.svc.cluster.local svc.cluster.local "
                                 "cluster.local", "nameserver 10.96.0.10", "options ndots:5"]


def test_service_a_record(shop):
    assert dig(shop, "web.default.svc.cluster.local") == [ip_of(shop, "default/web")]
    assert dig(shop, "FRONTEND.Shop.svc.Cluster.Local") == [ip_of(shop, "shop/frontend")]


def test_a_record_over_tcp(shop):
    assert dig(shop, "+tcp web.default.svc.cluster.local") == [ip_of(shop, "default/web")]


def test_short_names_through_the_search_path(shop):
    web = ip_of(shop, "default/web")
    assert dig(shop, "+search web") == [web]
    assert in_pod(shop, "client", "getent hosts web").stdout.split()[:2] == [
        web, "web.default.svc.cluster.local"]
    assert in_pod(shop, "client", "getent hosts frontend.shop").stdout.split()[0] == \
        ip_of(shop, "shop/frontend")
    served = in_pod(shop, "client", "curl -s --max-time 3 http://web/hostname").stdout
    assert served in {"web-1", "web-2", "web-3"}


def test_headless_service_has_one_a_per_ready_endpoint(shop):
    pods = db_pods(shop)
    assert len(pods) == 2
    assert sorted(dig(shop, "db.shop.svc.cluster.local")) == sorted(pods.values())
    assert dig(shop, "db-0.db.shop.svc.cluster.local") == [pods["db-0"]]
    assert dig(shop, "db-1.db.shop.svc.cluster.local") == [pods["db-1"]]


def test_srv_records_for_named_ports(shop):
    assert dig(shop, "SRV _http._tcp.web.default.svc.cluster.local") == [
        "0", "100", "80", "web.default.svc.cluster.local."]
    answers = dig(shop, "SRV _postgres._tcp.db.shop.svc.cluster.local")
    records = sorted(tuple(answers[i:i + 4]) for i in range(0, len(answers), 4))
    assert [r[2:] for r in records] == [("5432", "db-0.db.shop.svc.cluster.local."),
                                        ("5432", "db-1.db.shop.svc.cluster.local.")]


def test_external_name_is_a_cname_resolved_through_ext_dns(shop):
    assert dig(shop, "payments.shop.svc.cluster.local") == ["db.example.com.", "203.0.113.10"]
    assert in_pod(shop, "client", "getent hosts payments.shop").stdout.split()[0] == \
        "203.0.113.10"


def test_other_names_are_forwarded_to_the_internet_dns(shop):
    assert dig(shop, "www.example.com") == ["203.0.113.10"]
    res = in_pod(shop, "client", f"{DIG} nosuch.example.com")
    assert "status: NXDOMAIN" in res.stdout


def test_ptr_records(shop):
    web = ip_of(shop, "default/web")
    assert dig(shop, f"-x {web}") == ["web.default.svc.cluster.local."]
    assert dig(shop, f"-x {db_pods(shop)['db-0']}") == ["db-0.db.shop.svc.cluster.local."]


def test_pod_a_records(shop):
    status = shop.find_pod("web-1")
    name = status.ip.replace(".", "-") + ".default.pod.cluster.local"
    assert dig(shop, name) == [status.ip]


def test_unknown_names_are_nxdomain(shop):
    for name in ("nosuch.default.svc.cluster.local", "web.nosuchns.svc.cluster.local",
                 "db-7.db.shop.svc.cluster.local"):
        res = in_pod(shop, "client", f"{DIG} {name}")
        assert "status: NXDOMAIN" in res.stdout, name
    assert in_pod(shop, "client", "getent hosts nosuch").returncode == 2


def test_a_new_service_resolves_within_a_second(shop):
    name = "fresh.default.svc.cluster.local"
    assert dig(shop, name) == []
    shop.services.add([Service("fresh", ports=(ServicePort(80, 80),),
                               selector=(("app", "web"),))])
    t0 = time.monotonic()
    try:
        answer: list[str] = []
        while time.monotonic() - t0 < 3 and not answer:
            answer = dig(shop, f"+time=1 {name}")
        elapsed = time.monotonic() - t0
        assert answer == [ip_of(shop, "default/fresh")]
        assert elapsed < 1.0, f"visible after {elapsed:.2f}s"
    finally:
        shop.services.delete("fresh")


def test_scaling_and_rollout_update_the_headless_records(shop):
    wl = shop.workloads
    headless = "db.shop.svc.cluster.local"
    wl.scale("StatefulSet", "db", 3, "shop", out=lambda _: None)
    try:
        pods = db_pods(shop)
        assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
        assert dig(shop, "db-2.db.shop.svc.cluster.local") == [pods["db-2"]]
        old = dict(pods)
        wl.rollout_restart("StatefulSet", "db", "shop", out=lambda _: None)
        pods = db_pods(shop)
        assert set(pods) == {"db-0", "db-1", "db-2"}
        # Replaced pods get new IPs (host-local IPAM goes round the pool) ...
        assert not set(pods.values()) & set(old.values())
        assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
        assert dig(shop, "db-0.db.shop.svc.cluster.local") == [pods["db-0"]]
    finally:
        wl.scale("StatefulSet", "db", 2, "shop", out=lambda _: None)
    pods = db_pods(shop)
    assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
    res = in_pod(shop, "client", f"{DIG} db-2.db.shop.svc.cluster.local")
    assert "status: NXDOMAIN" in res.stdout


def test_ingress_from_a_manifest_routes_ext_to_the_shop(shop):
    from k8snet.addons import ingress
    lb = shop.services.services[f"{ingress.INGRESS_NAMESPACE}/{ingress.INGRESS_SERVICE}"]
    frontends = {s.pod.name for s in shop.pods.values() if s.owner == "Deployment/frontend"}
    got = shop.net["ext"].cmd(f"curl -s --max-time 3 -H 'Host: shop.example' "
                              f"http://{lb.load_balancer_ip}/hostname").strip()
    assert got in frontends
    # The topology's own ingress (a.example) still routes beside it.
    other = shop.net["ext"].cmd(f"curl -s --max-time 3 -H 'Host: a.example' "
                                f"http://{lb.load_balancer_ip}/hostname").strip()
    assert other in {"web-1", "web-2", "web-3"}


def test_a_daemonset_follows_new_nodes(shop):
    before = {s.node for s in shop.pods.values() if s.owner == "DaemonSet/node-agent"}
    assert before == {"node1", "node2", "node3"}
    node = shop.add_node()
    agents = {s.node for s in shop.pods.values() if s.owner == "DaemonSet/node-agent"}
    assert agents == before | {node.name}
