"""Services with real traffic, in both proxy modes: kproxy, SNAT, LB, UDP."""
from __future__ import annotations

import collections
import json
import subprocess
import time

import pytest
from conftest import in_pod, sh

from k8snet.api.model import Container, ContainerPort, Pod
from k8snet.api.service import Service, ServicePort
from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile

EXT_IP = "203.0.113.10"


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def svc_cluster(request):
    with Cluster(topofile.load("single"), proxy_mode=request.param) as c:
        yield c


def ext(cluster, cmd: str, timeout: float = 60):
    return sh(f"ip netns exec k8snet-{cluster.spec.name}-ext {cmd}", timeout)


def hits(cluster, pod: str, url: str, count: int) -> collections.Counter:
    loop = (f"sh -c 'for i in $(seq {count}); do curl -s --max-time 2 {url} "
            f"|| printf FAIL; echo; done'")
    return collections.Counter(in_pod(cluster, pod, loop, timeout=120).stdout.split())


def vip(cluster, name: str) -> str:
    return cluster.services.find(name).cluster_ip


def test_cluster_ip_spreads_over_all_backends(svc_cluster):
    counts = hits(svc_cluster, "client", f"http://{vip(svc_cluster, 'web')}/hostname", 300)
    assert set(counts) == {"web-1", "web-2", "web-3"}, counts
    assert all(n >= 45 for n in counts.values()), counts


def test_client_ip_affinity_sticks_to_one_backend(svc_cluster):
    (svc,) = svc_cluster.services.add([Service(
        "sticky", selector=(("app", "web"),), ports=(ServicePort(80, 8080),),
        session_affinity="ClientIP", affinity_timeout=600)])
    try:
        counts = hits(svc_cluster, "client", f"http://{svc.cluster_ip}/hostname", 300)
        assert len(counts) == 1 and sum(counts.values()) == 300, counts
        assert "FAIL" not in counts
    finally:
        svc_cluster.services.delete("sticky")


def test_hairpin_pod_reaches_itself_through_its_service(svc_cluster):
    (svc,) = svc_cluster.services.add([Service(
        "solo", selector=(("app", "sidecar-demo"),), ports=(ServicePort(80, 8080),))])
    try:
        out = in_pod(svc_cluster, "app-sidecar",
                     f"curl -s --max-time 3 http://{svc.cluster_ip}/hostname")
        assert out.stdout == "app-sidecar"
    finally:
        svc_cluster.services.delete("solo")


def test_pod_to_pod_keeps_pod_ips(svc_cluster):
    web2 = svc_cluster.find_pod("web-2")
    out = in_pod(svc_cluster, "web-1", f"curl -s --max-time 3 http://{web2.ip}:8080/clientip")
    assert out.stdout.split(":")[0] == svc_cluster.find_pod("web-1").ip


def test_node_port_answers_ext_on_every_node(svc_cluster):
    for node in svc_cluster.nodes.values():
        out = ext(svc_cluster, f"curl -s --max-time 3 http://{node.ip}:30080/hostname")
        assert out.stdout in {"web-1", "web-2", "web-3"}, (node.name, out)


def test_cluster_policy_masquerades_local_policy_keeps_client_ip(svc_cluster):
    node1 = svc_cluster.nodes["node1"].ip
    out = ext(svc_cluster, f"curl -s --max-time 3 http://{node1}:30080/clientip")
    assert out.stdout and out.stdout.split(":")[0] != EXT_IP
    (svc,) = svc_cluster.services.add([Service(
        "web-local", type="NodePort", selector=(("app", "web"),),
        ports=(ServicePort(80, 8080, node_port=30081),), external_traffic_policy="Local")])
    try:
        for node in svc_cluster.nodes.values():
            out = ext(svc_cluster, f"curl -s --max-time 3 http://{node.ip}:30081/clientip")
            assert out.stdout.split(":")[0] == EXT_IP, (node.name, out.stdout)
    finally:
        svc_cluster.services.delete("web-local")


def test_local_policy_serves_only_on_nodes_with_an_endpoint(svc_cluster):
    svc_cluster.services.add([Service(
        "only2", type="LoadBalancer", selector=(("app", "iperf"),),
        ports=(ServicePort(5201, 5201, node_port=30082),), external_traffic_policy="Local")])
    try:
        # iperf-server runs on node2 only.
        connect = "timeout 2 bash -c '</dev/tcp/{}/30082' && echo rc=0"
        on2 = ext(svc_cluster, connect.format("172.18.0.12"))
        on1 = ext(svc_cluster, connect.format("172.18.0.11"))
        assert "rc=0" in on2.stdout
        assert "rc=0" not in on1.stdout
        lb_ip = svc_cluster.services.find("only2").load_balancer_ip
        flows = sh("ovs-ofctl -O OpenFlow13 dump-flows tor1").stdout
        flow = next(line for line in flows.splitlines() if f"nw_dst={lb_ip}" in line)
        group_id = flow.split("group:")[1].split(",")[0].strip()
        groups = sh("ovs-ofctl -O OpenFlow13 dump-groups tor1").stdout
        group = next(line for line in groups.splitlines() if f"group_id={group_id}," in line)
        # ECMP only to node2, the one node with an endpoint.
        assert "02:00:00:00:00:02" in group and group.count("bucket=") == 1, group
    finally:
        svc_cluster.services.delete("only2")


def test_load_balancer_ip_reachable_from_ext(svc_cluster):
    lb_ip = svc_cluster.services.find("web-lb").load_balancer_ip
    assert lb_ip.startswith("198.51.100.")
    counts = collections.Counter(
        ext(svc_cluster, f"curl -s --max-time 3 http://{lb_ip}/hostname").stdout
        for _ in range(12))
    assert set(counts) <= {"web-1", "web-2", "web-3"} and counts, counts


def test_service_without_endpoints_rejects(svc_cluster):
    (svc,) = svc_cluster.services.add([Service(
        "nobody", selector=(("app", "nothing"),), ports=(ServicePort(80, 8080),))])
    try:
        t0 = time.monotonic()
        out = in_pod(svc_cluster, "client", f"curl -s --max-time 5 http://{svc.cluster_ip}/")
        assert out.returncode == 7, out  # connection refused: an ICMP reject, not a timeout
        assert time.monotonic() - t0 < 3
    finally:
        svc_cluster.services.delete("nobody")


def test_deleted_backend_gets_no_traffic_and_nothing_fails(svc_cluster):
    extra = Pod("web-x", labels=(("app", "web"),), node_name="node2",
                containers=(Container("web", ports=(ContainerPort(8080, name="http"),)),))
    svc_cluster.add_pod(extra)
    url = f"http://{vip(svc_cluster, 'web')}/hostname"
    before = hits(svc_cluster, "client", url, 120)
    assert "web-x" in before, before
    svc_cluster.delete_pod("web-x")
    after = hits(svc_cluster, "client", url, 200)
    assert "web-x" not in after and "FAIL" not in after, after


UDP_CLIENT = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
s.settimeout(0.05)
out, end = [], time.time() + float(sys.argv[3])
while time.time() < end:
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
    try:
        data, _ = s.recvfrom(2048)
        out.append((time.time(), data.decode().split(":")[0]))
    except socket.timeout:
        pass
    time.sleep(0.03)
print(json.dumps(out))
"""


def test_udp_stream_follows_a_replaced_backend_within_a_second(svc_cluster):
    def udp_pod(name):
        return Pod(name, labels=(("app", "dns-like"),), node_name="node2",
                   containers=(Container("u", ports=(ContainerPort(5353, "UDP"),)),))
    svc_cluster.add_pod(udp_pod("udp-a"))
    (svc,) = svc_cluster.services.add([Service(
        "udp", selector=(("app", "dns-like"),), ports=(ServicePort(53, 5353, "UDP"),))])
    client = svc_cluster.find_pod("client")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", client.netns, "python3", "-c", UDP_CLIENT,
         svc.cluster_ip, "53", "6"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        svc_cluster.delete_pod("udp-a")
        svc_cluster.add_pod(udp_pod("udp-b"))
        synced = time.time()
        replies = json.loads(proc.communicate(timeout=30)[0])
    finally:
        proc.kill()
        svc_cluster.services.delete("udp")
        svc_cluster.delete_pod("udp-b")
    assert any(who == "udp-a" for _, who in replies), "stream never reached the first backend"
    first_b = min((t for t, who in replies if who == "udp-b"), default=None)
    assert first_b is not None, "traffic never reached the new backend"
    assert first_b - synced < 1.0


def test_ingress_routes_by_host_and_path(svc_cluster):
    lb_ip = svc_cluster.services.find("ingress-nginx/ingress-nginx-controller").load_balancer_ip

    def get(host: str, path: str) -> str:
        for _ in range(20):  # nginx may still be starting
            out = ext(svc_cluster, f"curl -s --max-time 2 -H 'Host: {host}' "
                      f"http://{lb_ip}{path}").stdout
            if out:
                return out
            time.sleep(0.2)
        return ""

    assert get("a.example", "/hostname") in {"web-1", "web-2", "web-3"}
    assert get("b.example", "/hostname") == "app-sidecar"           # Exact path
    assert ":" in get("b.example", "/clientip")                      # Prefix / -> web
    assert get("unknown.example", "/hostname") == "app-sidecar"     # default backend


def test_kproxy_show_prints_the_applied_rules_with_comments(svc_cluster):
    import sys
    out = subprocess.run([sys.executable, "-m", "kproxy.main", "show", "--node", "node2"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"# mode: {svc_cluster.services.mode}" in out.stdout
    assert "default/web:http" in out.stdout  # rule comments name the service port
    assert svc_cluster.services.find("web").cluster_ip in out.stdout
