"""kproxy's IPVS mode with real traffic: ClusterIP, the IPVS table, hairpin,
NodePort from outside, a Service with no endpoint.

IPVS needs CONFIG_IP_VS (and kube-ipvs0 needs CONFIG_DUMMY).  Where the
kernel has no /proc/net/ip_vs every test here is skipped with that reason:
reported as not run, never counted as passed.
"""
from __future__ import annotations

import collections
import os

import pytest
from conftest import (
    EXAMPLES,
    apply_files,
    apply_yaml,
    docs_of,
    in_pod,
    remove,
    settle,
    sh,
    wait_programmed,
)

from k8snet import naming
from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile
from kproxy.ipvs_netlink import NetlinkIpvs

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/ip_vs"),
                                reason="this kernel has no IP_VS (CONFIG_IP_VS): not run")


@pytest.fixture(scope="module")
def ipvs_cluster():
    with Cluster(topofile.load("single"), proxy_mode="ipvs") as c:
        apply_files(c, EXAMPLES / "demo")
        settle(c)
        yield c


def vip(cluster: Cluster, name: str) -> str:
    return cluster.store.get("Service", "default", name)["spec"]["clusterIP"]


def hits(cluster: Cluster, pod: str, url: str, count: int) -> collections.Counter:
    loop = (f"sh -c 'for i in $(seq {count}); do curl -s --max-time 2 {url} "
            f"|| printf FAIL; echo; done'")
    return collections.Counter(in_pod(cluster, pod, loop, timeout=120).stdout.split())


def ready_endpoint_ips(cluster: Cluster, name: str) -> set[str]:
    return {ep["addresses"][0]
            for sl in cluster.store.list("EndpointSlice", "default")
            if sl["metadata"].get("labels", {}).get("kubernetes.io/service-name") == name
            for ep in sl.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready")}


def test_cluster_ip_round_robins_over_every_ready_endpoint(ipvs_cluster):
    counts = hits(ipvs_cluster, "client", f"http://{vip(ipvs_cluster, 'web')}/hostname", 90)
    assert set(counts) == {"web-1", "web-2", "web-3"}, counts
    assert all(n >= 20 for n in counts.values()), counts


def test_ipvs_holds_the_virtual_server_and_kube_ipvs0_the_cluster_ip(ipvs_cluster):
    ip = vip(ipvs_cluster, "web")
    with NetlinkIpvs(naming.node_netns(ipvs_cluster.spec.name, "node1")) as kernel:
        assert ip in kernel.addresses()
        vs = next(v for v in kernel.services() if (v.address, v.port) == (ip, 80))
        assert (vs.protocol, vs.scheduler, vs.timeout) == ("tcp", "rr", 0)
        real = kernel.destinations(vs)
    assert {r.address for r in real} == ready_endpoint_ips(ipvs_cluster, "web")
    assert {(r.forward, r.weight) for r in real} == {("masq", 1)}


def test_hairpin_pod_reaches_itself_through_its_service(ipvs_cluster):
    out = in_pod(ipvs_cluster, "app-sidecar",
                 f"curl -s --max-time 3 http://{vip(ipvs_cluster, 'sidecar')}/hostname")
    assert out.stdout == "app-sidecar"


def test_node_port_answers_ext_on_every_node(ipvs_cluster):
    for node in ipvs_cluster.network.nodes.values():
        out = sh(f"ip netns exec {naming.PREFIX}{ipvs_cluster.spec.name}-ext "
                 f"curl -s --max-time 3 http://{node.ip}:30080/hostname", 30)
        assert out.stdout in {"web-1", "web-2", "web-3"}, (node.name, out)


def test_service_without_endpoints_is_refused_at_once(ipvs_cluster):
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: nobody}
        spec:
          selector: {app: nobody}
          ports: [{port: 80, targetPort: 8080}]
        """
    apply_yaml(ipvs_cluster, text)
    try:
        ip = vip(ipvs_cluster, "nobody")
        wait_programmed(ipvs_cluster, ip)
        out = in_pod(ipvs_cluster, "client", f"curl -s --max-time 3 http://{ip}/")
        assert out.returncode == 7, out      # connection refused, not a timeout (28)
    finally:
        remove(ipvs_cluster, docs_of(text))
