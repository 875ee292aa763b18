"""Cluster DNS from inside pods, with dig and getent, for every record kind of
the kubernetes/dns specification; and how fast it follows changes."""
from __future__ import annotations

import subprocess
import time

import pytest
from conftest import (
    EXAMPLES,
    apply_files,
    apply_yaml,
    docs_of,
    in_pod,
    is_ready,
    kubectl,
    pod_ip,
    pods_with,
    remove,
    settle,
    wait_for,
)

DIG = "dig +time=2 +tries=2"


@pytest.fixture(scope="module")
def shop(cluster):
    apply_files(cluster, EXAMPLES / "three-tier")
    settle(cluster)
    # The DNS server follows the store within a second: wait for the last records.
    for name in ("db-1.db.shop.svc.cluster.local", "frontend.shop.svc.cluster.local"):
        wait_for(lambda n=name: dig(cluster, n), 10, f"{name} to resolve")
    yield cluster


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


def ip_of(cluster, key: str) -> str:
    ns, name = key.split("/")
    return cluster.store.get("Service", ns, name)["spec"]["clusterIP"]


def db_pods(cluster) -> dict[str, str]:
    """The StatefulSet db's ready, not terminating pods: name -> IP."""
    return {p["metadata"]["name"]: p["status"]["podIP"]
            for p in pods_with(cluster, "shop", {"app": "db"})
            if is_ready(p) and not p["metadata"].get("deletionTimestamp")}


def db_slice_ips(cluster) -> set[str]:
    """Ready addresses in the EndpointSlices of the headless Service db."""
    return {a for sl in cluster.store.list("EndpointSlice", "shop")
            if sl["metadata"].get("labels", {}).get("kubernetes.io/service-name") == "db"
            for ep in sl.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready")
            for a in ep.get("addresses") or []}


def db_settled(cluster, names: set[str], old_ips: set[str] = frozenset()) -> dict[str, str]:
    """Wait until db has exactly ``names`` ready (none with an IP of
    ``old_ips``) and its EndpointSlices say so; return name -> IP."""
    def done():
        pods = db_pods(cluster)
        terminating = [p for p in pods_with(cluster, "shop", {"app": "db"})
                       if p["metadata"].get("deletionTimestamp")]
        if set(pods) != names or terminating or set(pods.values()) & old_ips:
            return None
        return pods if db_slice_ips(cluster) == set(pods.values()) else None
    return wait_for(done, 60, f"db pods {sorted(names)} ready and in the EndpointSlices")


def test_kube_dns_service_and_pod_resolver(shop):
    svc = shop.store.get("Service", "kube-system", "kube-dns")
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert sorted((p["port"], p["protocol"]) for p in svc["spec"]["ports"]) == \
        [(53, "TCP"), (53, "UDP")]
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


def test_ext_resolves_through_its_own_dns_never_the_machines(shop):
    """ext's resolver is the emulated Internet's DNS: in its shell (the CLI's
    ``ext CMD``) and under ``ip netns exec`` (the trace); the machine's own
    /etc/resolv.conf is untouched."""
    machine = open("/etc/resolv.conf").read()
    ext = shop.net["ext"]
    assert ext.cmd("cat /etc/resolv.conf").split("\n")[1].strip() == "nameserver 203.0.113.53"
    assert ext.cmd("getent hosts www.example.com").split()[:1] == ["203.0.113.10"]
    netns = f"k8snet-{shop.spec.name}-ext"
    res = subprocess.run(["ip", "netns", "exec", netns, "getent", "hosts", "www.example.com"],
                         capture_output=True, text=True, timeout=10)
    assert res.stdout.split()[:1] == ["203.0.113.10"], res.stdout + res.stderr
    assert open("/etc/resolv.conf").read() == machine


def test_ptr_records(shop):
    web = ip_of(shop, "default/web")
    assert dig(shop, f"-x {web}") == ["web.default.svc.cluster.local."]
    assert dig(shop, f"-x {db_pods(shop)['db-0']}") == ["db-0.db.shop.svc.cluster.local."]


def test_pod_a_records(shop):
    ip = pod_ip(shop, "web-1")
    name = ip.replace(".", "-") + ".default.pod.cluster.local"
    assert dig(shop, name) == [ip]


def test_unknown_names_are_nxdomain(shop):
    for name in ("nosuch.default.svc.cluster.local", "web.nosuchns.svc.cluster.local",
                 "db-7.db.shop.svc.cluster.local"):
        res = in_pod(shop, "client", f"{DIG} {name}")
        assert "status: NXDOMAIN" in res.stdout, name
    assert in_pod(shop, "client", "getent hosts nosuch").returncode == 2


def test_a_new_service_resolves_within_a_second(shop):
    name = "fresh.default.svc.cluster.local"
    assert dig(shop, name) == []
    fresh = """
        apiVersion: v1
        kind: Service
        metadata: {name: fresh}
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: 80}]
        """
    apply_yaml(shop, fresh)
    t0 = time.monotonic()
    try:
        answer: list[str] = []
        while time.monotonic() - t0 < 3 and not answer:
            answer = dig(shop, f"+time=1 {name}")
        elapsed = time.monotonic() - t0
        assert answer == [ip_of(shop, "default/fresh")]
        assert elapsed < 1.0, f"visible after {elapsed:.2f}s"
    finally:
        remove(shop, docs_of(fresh))


def _scale(cluster, replicas: int) -> None:
    assert kubectl(cluster, "scale", "sts", "db", f"--replicas={replicas}", "-n", "shop") \
        == ["statefulset.apps/db scaled"]


def test_scaling_and_rollout_update_the_headless_records(shop):
    headless = "db.shop.svc.cluster.local"
    _scale(shop, 3)
    try:
        pods = db_settled(shop, {"db-0", "db-1", "db-2"})
        assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
        assert dig(shop, "db-2.db.shop.svc.cluster.local") == [pods["db-2"]]
        old = dict(pods)
        assert kubectl(shop, "rollout", "restart", "statefulset/db", "-n", "shop") == \
            ["statefulset.apps/db restarted"]
        # Replaced pods get new IPs (host-local IPAM goes round the pool) ...
        pods = db_settled(shop, {"db-0", "db-1", "db-2"}, set(old.values()))
        assert not set(pods.values()) & set(old.values())
        # ... and the records follow within a second of the EndpointSlices.
        assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
        assert dig(shop, "db-0.db.shop.svc.cluster.local") == [pods["db-0"]]
    finally:
        _scale(shop, 2)
    pods = db_settled(shop, {"db-0", "db-1"})
    assert dig_within(shop, headless, list(pods.values())) == sorted(pods.values())
    res = in_pod(shop, "client", f"{DIG} db-2.db.shop.svc.cluster.local")
    assert "status: NXDOMAIN" in res.stdout


def test_ingress_from_a_manifest_routes_ext_to_the_shop(shop):
    svc = shop.store.get("Service", "ingress-nginx", "ingress-nginx-controller")
    lb = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    frontends = {p["metadata"]["name"] for p in pods_with(shop, "shop", {"app": "frontend"})}
    assert len(frontends) == 3

    def get(host: str) -> str:
        return shop.net["ext"].cmd(f"curl -s --max-time 3 -H 'Host: {host}' "
                                   f"http://{lb}/hostname").strip()
    assert wait_for(lambda: get("shop.example") in frontends, 15, "nginx routing shop.example")
    # The demo's own ingress (a.example) still routes beside it.
    assert get("a.example") in {"web-1", "web-2", "web-3"}


def test_a_daemonset_follows_new_nodes(shop):
    def agents() -> dict[str, dict]:
        return {p["spec"].get("nodeName"): p
                for p in pods_with(shop, "shop", {"app": "node-agent"})}
    before = set(agents())
    assert before == {"node1", "node2", "node3"}
    node = shop.add_node()
    wait_for(lambda: set(agents()) == before | {node.name} and is_ready(agents()[node.name]),
             30, f"a ready node-agent pod on {node.name}")
    assert agents()[node.name]["status"]["podIP"].startswith("10.244.4.")
