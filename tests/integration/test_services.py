"""Services with real traffic, in both proxy modes: kproxy, SNAT, LB, externalIPs, UDP."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time

import pytest
from conftest import (
    EXAMPLES,
    CurlLoop,
    apply_files,
    apply_yaml,
    docs_of,
    in_node,
    in_pod,
    is_ready,
    pod_ip,
    remove,
    settle,
    sh,
    wait_for,
    wait_programmed,
)

from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile

EXT_IP = "203.0.113.10"


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def svc_cluster(request):
    with Cluster(topofile.load("single"), proxy_mode=request.param) as c:
        apply_files(c, EXAMPLES / "demo")
        settle(c)
        yield c


def ext(cluster, cmd: str, timeout: float = 60):
    return sh(f"ip netns exec k8snet-{cluster.spec.name}-ext {cmd}", timeout)


def hits(cluster, pod: str, url: str, count: int) -> collections.Counter:
    loop = (f"sh -c 'for i in $(seq {count}); do curl -s --max-time 2 {url} "
            f"|| printf FAIL; echo; done'")
    return collections.Counter(in_pod(cluster, pod, loop, timeout=120).stdout.split())


def service(cluster, name: str, namespace: str = "default") -> dict:
    return cluster.store.get("Service", namespace, name)


def vip(cluster, name: str, namespace: str = "default") -> str:
    return service(cluster, name, namespace)["spec"]["clusterIP"]


def lb_ip(cluster, name: str, namespace: str = "default") -> str:
    """The Service's EXTERNAL-IP, once the LoadBalancer controller gave it one."""
    def ip():
        ingress = ((service(cluster, name, namespace).get("status") or {})
                   .get("loadBalancer") or {}).get("ingress") or []
        return ingress[0].get("ip") if ingress else ""
    return wait_for(ip, 10, f"a LoadBalancer IP for {namespace}/{name}")


def ready_endpoints(cluster, name: str, namespace: str = "default") -> dict[str, str]:
    """Pod name -> address of the Service's ready endpoints (its EndpointSlices)."""
    out = {}
    for sl in cluster.store.list("EndpointSlice", namespace):
        if sl["metadata"].get("labels", {}).get("kubernetes.io/service-name") != name:
            continue
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready"):
                out[ep["targetRef"]["name"]] = ep["addresses"][0]
    return out


def create_service(cluster, text: str) -> tuple[str, list]:
    """Apply a Service; wait until every node's rules have its ClusterIP and
    its ready endpoints.  Returns (ClusterIP, docs for ``remove``)."""
    docs = docs_of(text)
    apply_yaml(cluster, text)
    name = docs[0].name
    ip = vip(cluster, name)
    wait_programmed(cluster, ip)
    selector = service(cluster, name)["spec"].get("selector") or {}
    want = {p["metadata"]["name"] for p in cluster.store.list("Pod", "default")
            if is_ready(p) and selector
            and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())}
    wait_for(lambda: set(ready_endpoints(cluster, name)) == want, 10,
             f"endpoints of {name}: {want}")
    wait_programmed(cluster, *ready_endpoints(cluster, name).values())
    return ip, docs


def test_cluster_ip_spreads_over_all_backends(svc_cluster):
    counts = hits(svc_cluster, "client", f"http://{vip(svc_cluster, 'web')}/hostname", 300)
    assert set(counts) == {"web-1", "web-2", "web-3"}, counts
    assert all(n >= 45 for n in counts.values()), counts


def test_client_ip_affinity_sticks_to_one_backend(svc_cluster):
    ip, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: sticky}
        spec:
          selector: {app: web}
          ports: [{port: 80, targetPort: 8080}]
          sessionAffinity: ClientIP
          sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
        """)
    try:
        counts = hits(svc_cluster, "client", f"http://{ip}/hostname", 300)
        assert len(counts) == 1 and sum(counts.values()) == 300, counts
        assert "FAIL" not in counts
    finally:
        remove(svc_cluster, docs)


def test_hairpin_pod_reaches_itself_through_its_service(svc_cluster):
    ip, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: solo}
        spec:
          selector: {app: sidecar-demo}
          ports: [{port: 80, targetPort: 8080}]
        """)
    try:
        out = in_pod(svc_cluster, "app-sidecar", f"curl -s --max-time 3 http://{ip}/hostname")
        assert out.stdout == "app-sidecar"
    finally:
        remove(svc_cluster, docs)


def test_pod_to_pod_keeps_pod_ips(svc_cluster):
    web2 = pod_ip(svc_cluster, "web-2")
    out = in_pod(svc_cluster, "web-1", f"curl -s --max-time 3 http://{web2}:8080/clientip")
    assert out.stdout.split(":")[0] == pod_ip(svc_cluster, "web-1")


def test_node_port_answers_ext_on_every_node(svc_cluster):
    assert service(svc_cluster, "web-lb")["spec"]["ports"][0]["nodePort"] == 30080
    for node in svc_cluster.network.nodes.values():
        out = ext(svc_cluster, f"curl -s --max-time 3 http://{node.ip}:30080/hostname")
        assert out.stdout in {"web-1", "web-2", "web-3"}, (node.name, out)


def test_cluster_policy_masquerades_local_policy_keeps_client_ip(svc_cluster):
    node1 = svc_cluster.network.nodes["node1"].ip
    out = ext(svc_cluster, f"curl -s --max-time 3 http://{node1}:30080/clientip")
    assert out.stdout and out.stdout.split(":")[0] != EXT_IP
    _, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: web-local}
        spec:
          type: NodePort
          selector: {app: web}
          externalTrafficPolicy: Local
          ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
        """)
    try:
        wait_programmed(svc_cluster, "30081")
        for node in svc_cluster.network.nodes.values():
            out = ext(svc_cluster, f"curl -s --max-time 3 http://{node.ip}:30081/clientip")
            assert out.stdout.split(":")[0] == EXT_IP, (node.name, out.stdout)
    finally:
        remove(svc_cluster, docs)


def _lb_group(lb: str) -> str:
    """The OpenFlow group tor1 spreads ``lb`` over ("" while there is none)."""
    flows = sh("ovs-ofctl -O OpenFlow13 dump-flows tor1").stdout
    flow = next((line for line in flows.splitlines()
                 if f"nw_dst={lb}" in line and "group:" in line), None)
    if flow is None:
        return ""
    group_id = flow.split("group:")[1].split(",")[0].strip()
    groups = sh("ovs-ofctl -O OpenFlow13 dump-groups tor1").stdout
    return next((line for line in groups.splitlines() if f"group_id={group_id}," in line), "")


def test_local_policy_serves_only_on_nodes_with_an_endpoint(svc_cluster):
    _, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: only2}
        spec:
          type: LoadBalancer
          selector: {app: iperf}
          externalTrafficPolicy: Local
          ports: [{port: 5201, targetPort: 5201, nodePort: 30082}]
        """)
    try:
        wait_programmed(svc_cluster, "30082")
        # iperf-server runs on node2 only.
        connect = "timeout 2 bash -c '</dev/tcp/{}/30082' && echo rc=0"
        on2 = ext(svc_cluster, connect.format(svc_cluster.network.nodes["node2"].ip))
        on1 = ext(svc_cluster, connect.format(svc_cluster.network.nodes["node1"].ip))
        assert "rc=0" in on2.stdout
        assert "rc=0" not in on1.stdout
        lb = lb_ip(svc_cluster, "only2")
        # ECMP only to node2, the one node with an endpoint.
        group = wait_for(lambda: _lb_group(lb), 10, f"a fabric group for {lb}")
        assert "02:00:00:00:00:02" in group and group.count("bucket=") == 1, group
    finally:
        remove(svc_cluster, docs)


def test_load_balancer_ip_reachable_from_ext(svc_cluster):
    lb = lb_ip(svc_cluster, "web-lb")
    assert lb.startswith("198.51.100.")
    counts = collections.Counter(
        ext(svc_cluster, f"curl -s --max-time 3 http://{lb}/hostname").stdout
        for _ in range(12))
    assert set(counts) <= {"web-1", "web-2", "web-3"} and counts, counts


def test_external_ip_that_is_a_node_ip_answers_pods_the_node_and_ext(svc_cluster):
    """``spec.externalIPs`` (kube-proxy's "external IP" rules, through the
    Service's external chain): node2's own IP on port 8123 reaches the demo
    web pods from a pod on another node, from node2 itself and from ext (the
    fabric routes a node's IP to that node; other external IPs are not routed)."""
    node2 = svc_cluster.network.nodes["node2"].ip
    _, docs = create_service(svc_cluster, f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: web-eip}}
        spec:
          selector: {{app: web}}
          externalIPs: [{node2}]
          ports: [{{port: 8123, targetPort: 8080}}]
        """)
    try:
        wait_programmed(svc_cluster, "8123")
        url = f"http://{node2}:8123/hostname"
        backends = {"web-1", "web-2", "web-3"}
        pod = next(p["metadata"]["name"] for p in svc_cluster.store.list("Pod", "default")
                   if is_ready(p) and p["spec"].get("nodeName") not in (None, "node2")
                   and p["metadata"]["name"] in ("client", "web-1", "web-3"))
        assert set(hits(svc_cluster, pod, url, 6)) <= backends, pod
        out = in_node(svc_cluster, "node2", f"curl -s --max-time 3 {url}")
        assert out.stdout in backends, out
        out = ext(svc_cluster, f"curl -s --max-time 3 {url}")
        assert out.stdout in backends, out
    finally:
        remove(svc_cluster, docs)


def test_service_without_endpoints_rejects(svc_cluster):
    ip, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: nobody}
        spec:
          selector: {app: nothing}
          ports: [{port: 80, targetPort: 8080}]
        """)
    try:
        t0 = time.monotonic()
        out = in_pod(svc_cluster, "client", f"curl -s --max-time 5 http://{ip}/")
        assert out.returncode == 7, out  # connection refused: an ICMP reject, not a timeout
        assert time.monotonic() - t0 < 3
    finally:
        remove(svc_cluster, docs)


def test_undeclared_cluster_ip_port_is_refused_in_nftables_mode(svc_cluster):
    """kube-proxy's nftables mode rejects a ClusterIP's other ports at once
    ("Reject traffic to invalid ports of ClusterIPs", chain cluster-ips-check)
    and drops unallocated service IPs; its iptables mode has no such rule:
    the packet leaves by the default route and the client times out."""
    ip = vip(svc_cluster, "web")                 # serves 80 only
    curl = "curl -sS -o /dev/null -w '%{time_total}' --max-time 2"
    assert in_pod(svc_cluster, "client", f"curl -s --max-time 3 http://{ip}/hostname"
                  ).stdout in {"web-1", "web-2", "web-3"}   # the declared port still works
    node = next(iter(svc_cluster.network.nodes))
    for out in (in_pod(svc_cluster, "client", f"{curl} http://{ip}:9999/"),
                in_node(svc_cluster, node, f"{curl} http://{ip}:9999/")):
        if svc_cluster.proxy_mode == "nftables":
            assert out.returncode == 7, out              # connection refused: ICMP reject
            assert float(out.stdout) < 1, out.stdout     # at once, not a timeout
        else:
            assert out.returncode == 28, out             # unchanged: a timeout
    if svc_cluster.proxy_mode == "nftables":
        gone = in_pod(svc_cluster, "client", "curl -s --max-time 1 http://10.111.255.254/")
        assert gone.returncode == 28, gone               # unallocated: dropped


def test_deleted_backend_gets_no_traffic_and_nothing_fails(svc_cluster):
    extra = """
        apiVersion: v1
        kind: Pod
        metadata: {name: web-x, labels: {app: web}}
        spec:
          nodeName: node2
          containers: [{name: web, image: agnhost, ports: [{containerPort: 8080, name: http}]}]
        """
    apply_yaml(svc_cluster, extra)
    web_x = wait_for(lambda: ready_endpoints(svc_cluster, "web").get("web-x"), 30,
                     "web-x among the ready endpoints of web")
    wait_programmed(svc_cluster, web_x)
    url = f"http://{vip(svc_cluster, 'web')}/hostname"
    before = hits(svc_cluster, "client", url, 120)
    assert "web-x" in before, before
    # Requests keep flowing while the pod is deleted (gracefully: out of the
    # endpoints first, then stopped): none of them may fail.
    loop = CurlLoop(svc_cluster, "client", url)
    try:
        loop.more(10, "requests before the deletion")
        svc_cluster.store.delete("Pod", "default", "web-x")
        wait_for(lambda: svc_cluster.store.find("Pod", "default", "web-x") is None, 30,
                 "web-x removed by its kubelet")
        loop.more(10, "requests after the deletion")
    finally:
        during = loop.stop()
    assert not [r for r in during if r.startswith("FAIL")], collections.Counter(during)
    after = hits(svc_cluster, "client", url, 200)
    assert "web-x" not in after and "FAIL" not in after, after


UDP_CLIENT = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
s.settimeout(0.05)
end = time.time() + float(sys.argv[3])
while time.time() < end:
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
    try:
        data, _ = s.recvfrom(2048)
        print(time.time(), data.decode().split(":")[0], flush=True)
    except socket.timeout:
        pass
    time.sleep(0.03)
"""


class UdpStream:
    """One UDP flow (fixed source port) to ``ip:port`` from a pod; the
    (time, answering pod) of each reply, read as they come."""

    def __init__(self, cluster, pod: str, ip: str, port: int, seconds: float) -> None:
        netns = cluster.pods.runtime(cluster.pods.find(pod)).netns
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c",
                                      UDP_CLIENT, ip, str(port), str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        self.replies: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            t, who = line.split()
            self.replies.append((float(t), who))

    def first(self, who: str) -> float | None:
        return next((t for t, w in list(self.replies) if w == who), None)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)


def udp_pod(name: str) -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}, labels: {{app: dns-like}}}}
        spec:
          nodeName: node2
          containers:
          - name: u
            image: agnhost
            ports: [{{containerPort: 5353, protocol: UDP}}]
        """


def test_udp_stream_follows_a_replaced_backend_within_a_second(svc_cluster):
    apply_yaml(svc_cluster, udp_pod("udp-a"))
    ip, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: udp}
        spec:
          selector: {app: dns-like}
          ports: [{port: 53, targetPort: 5353, protocol: UDP}]
        """)
    assert set(ready_endpoints(svc_cluster, "udp")) == {"udp-a"}
    stream = UdpStream(svc_cluster, "client", ip, 53, 30)
    try:
        wait_for(lambda: stream.first("udp-a"), 10, "the stream answered by udp-a")
        svc_cluster.store.delete("Pod", "default", "udp-a")
        apply_yaml(svc_cluster, udp_pod("udp-b"))
        wait_for(lambda: "udp-b" in ready_endpoints(svc_cluster, "udp"), 30,
                 "udp-b a ready endpoint of udp")
        synced = time.time()
        # The same flow (same source port) must reach udp-b: its stale
        # conntrack entry, DNATed to udp-a, was flushed.
        first_b = wait_for(lambda: stream.first("udp-b"), 10, "a reply from udp-b")
    finally:
        stream.stop()
        remove(svc_cluster, docs + docs_of(udp_pod("udp-b")))
    assert first_b - synced < 1.0, f"udp-b answered {first_b - synced:.2f}s after it was ready"


def test_ingress_routes_by_host_and_path(svc_cluster):
    lb = lb_ip(svc_cluster, "ingress-nginx-controller", "ingress-nginx")

    def get(host: str, path: str) -> str:
        return ext(svc_cluster, f"curl -s --max-time 2 -H 'Host: {host}' "
                   f"http://{lb}{path}").stdout

    # nginx may still be loading the demo's Ingress.
    wait_for(lambda: get("b.example", "/hostname") == "app-sidecar", 15, "nginx configured")
    assert get("a.example", "/hostname") in {"web-1", "web-2", "web-3"}
    assert get("b.example", "/hostname") == "app-sidecar"           # Exact path
    assert ":" in get("b.example", "/clientip")                      # Prefix / -> web
    # The demo Ingress's defaultBackend serves only its own hosts (as in
    # ingress-nginx); an Ingress with no rules is the catch-all for the rest.
    assert "404 Not Found" in get("unknown.example", "/hostname")
    catch_all = """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: catch-all}
        spec:
          defaultBackend: {service: {name: sidecar, port: {number: 80}}}
        """
    apply_yaml(svc_cluster, catch_all)
    try:
        wait_for(lambda: get("unknown.example", "/hostname") == "app-sidecar", 15,
                 "the catch-all default backend")
        assert get("a.example", "/hostname") in {"web-1", "web-2", "web-3"}
    finally:
        remove(svc_cluster, docs_of(catch_all))


def test_kproxy_show_prints_the_applied_rules_with_comments(svc_cluster):
    out = subprocess.run([sys.executable, "-m", "kproxy.main", "show", "--node", "node2"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"# mode: {svc_cluster.proxy_mode}" in out.stdout
    assert "default/web:http" in out.stdout  # rule comments name the service port
    assert vip(svc_cluster, "web") in out.stdout


def _health(answer: str) -> tuple[str, dict[str, str], dict]:
    """``curl -s -i``'s output (read as text: CRLF already LF): status line,
    headers (lower-cased names), JSON body."""
    head, _, body = answer.replace("\r\n", "\n").partition("\n\n")
    status, *lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return status, headers, json.loads(body) if body else {}


def test_health_check_node_port_answers_with_the_nodes_local_endpoints(svc_cluster):
    """kube-proxy's service health server (pkg/proxy/healthcheck/service_health.go):
    on spec.healthCheckNodePort, in each node's namespace, 200 where the
    Service has a local ready endpoint, 503 elsewhere; closed with the Service."""
    _, docs = create_service(svc_cluster, """
        apiVersion: v1
        kind: Service
        metadata: {name: hc2}
        spec:
          type: LoadBalancer
          selector: {app: iperf}
          externalTrafficPolicy: Local
          ports: [{port: 5201, targetPort: 5201}]
        """)
    port = service(svc_cluster, "hc2")["spec"]["healthCheckNodePort"]
    nodes = svc_cluster.network.nodes

    def url(node: str) -> str:
        return f"http://{nodes[node].ip}:{port}/healthz"

    try:
        # iperf-server runs on node2 only; ext asks node2, node3 asks node1.
        def ok_on2() -> str:
            out = ext(svc_cluster, f"curl -s -i --max-time 3 {url('node2')}").stdout
            return out if out.startswith("HTTP/1.1 200") else ""

        on2 = wait_for(ok_on2, 15, f"node2 answering 200 on {port}")
        status, headers, body = _health(on2)
        assert status.split()[1] == "200", on2
        assert body == {"service": {"namespace": "default", "name": "hc2"},
                        "localEndpoints": 1, "serviceProxyHealthy": True}
        assert headers["content-type"] == "application/json"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-load-balancing-endpoint-weight"] == "1"
        on1 = in_node(svc_cluster, "node3",
                      f"curl -s -i --max-time 3 {url('node1')}").stdout
        status, headers, body = _health(on1)
        assert status.split()[1] == "503", on1
        assert body["localEndpoints"] == 0 and headers["x-load-balancing-endpoint-weight"] == "0"
        # Listening in the nodes' namespaces, never in the machine's own.
        assert f":{port}" in in_node(svc_cluster, "node2", f"ss -Hltn sport = :{port}").stdout
        assert sh(f"ss -Hltn sport = :{port}").stdout.strip() == ""
    finally:
        remove(svc_cluster, docs)
    refused = f"curl -s --max-time 3 {url('node2')}; echo rc=$?"
    wait_for(lambda: "rc=7" in ext(svc_cluster, refused).stdout, 15,
             f"port {port} closed on node2")
    assert in_node(svc_cluster, "node2", f"ss -Hltn sport = :{port}").stdout.strip() == ""
