"""Pods on the node's network (``hostNetwork: true``), pods' DNS settings
(dnsPolicy, dnsConfig) and their hostname, on the live cluster."""
from __future__ import annotations

import subprocess

from conftest import apply_yaml, in_pod, is_ready, sh, wait_for

from k8snet import naming

TWIN = """
apiVersion: v1
kind: Pod
metadata: {name: hostnet-twin}
spec:
  nodeName: node2
  hostNetwork: true
  containers: [{name: web, image: agnhost, ports: [{containerPort: 18080}]}]
"""

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: hostnet, labels: {app: hostnet}}
spec:
  nodeName: node2
  hostNetwork: true
  containers: [{name: web, image: agnhost, ports: [{containerPort: 18080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: hostnet}
spec:
  selector: {app: hostnet}
  ports: [{port: 80, targetPort: 18080}]
---
apiVersion: v1
kind: Pod
metadata: {name: customdns}
spec:
  nodeName: node1
  dnsPolicy: "None"
  dnsConfig:
    nameservers: [203.0.113.53]
    searches: [example.com]
    options: [{name: ndots, value: "1"}]
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: named}
spec:
  nodeName: node1
  hostname: myhost
  subdomain: sub
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
"""


def _exec(cluster, pod: str, command: list[str]) -> str:
    rt = cluster.pods.runtime(cluster.store.get("Pod", "default", pod))
    c = next(iter(rt.containers.values()))
    return subprocess.run([*c.proc.wrapper, *command], capture_output=True, text=True,
                          timeout=10, env=dict(c.proc.env or {})).stdout


def test_host_network_dns_config_and_hostname(cluster):
    apply_yaml(cluster, PODS)
    node_ip = next(n.ip for n in cluster.spec.nodes if n.name == "node2")
    try:
        pod = wait_for(lambda: (p := cluster.store.find("Pod", "default", "hostnet"))
                       and is_ready(p) and p, 30, "hostnet Ready")
        # hostNetwork: the node's namespace and IP; no namespace or veth of its own
        assert pod["status"]["podIP"] == pod["status"]["hostIP"] == node_ip
        rt = cluster.pods.runtime(pod)
        assert rt.netns == naming.node_netns(cluster.spec.name, "node2") and rt.veth == ""
        assert "18080" in sh(f"ip netns exec {rt.netns} ss -Hltn 'sport = :18080'").stdout
        assert _exec(cluster, "hostnet", ["hostname"]).strip() == "node2"
        assert _exec(cluster, "hostnet", ["cat", "/etc/hostname"]) == "node2\n"
        assert _exec(cluster, "hostnet", ["cat", "/etc/resolv.conf"]) == (
            "nameserver 203.0.113.53\n")             # ClusterFirst falls back to Default
        # reached at the node's IP directly and through its Service (EndpointSlice: node IP)
        for url in (f"http://{node_ip}:18080/hostname", "http://hostnet/hostname"):
            reply = in_pod(cluster, "web-1", f"curl -sS --max-time 3 --retry 3 "
                           f"--retry-connrefused --retry-delay 0 {url}", timeout=20)
            assert reply.stdout == "hostnet", (url, reply.stderr, sh(
                f"ip netns exec {rt.netns} ss -Hltnp 'sport = :18080'").stdout)
        # a second pod bound to the same node for the same host port: rejected, never run
        apply_yaml(cluster, TWIN)
        twin = wait_for(lambda: (p := cluster.store.find("Pod", "default", "hostnet-twin"))
                        and (p.get("status") or {}).get("phase") == "Failed" and p, 30,
                        "hostnet-twin rejected")
        assert twin["status"]["reason"] == "NodePorts"
        # dnsPolicy None + dnsConfig, and spec.hostname as the container's hostname
        wait_for(lambda: all(is_ready(cluster.store.get("Pod", "default", n))
                             for n in ("customdns", "named")), 30, "pods Ready")
        assert _exec(cluster, "customdns", ["cat", "/etc/resolv.conf"]) == (
            "search example.com\nnameserver 203.0.113.53\noptions ndots:1\n")
        assert _exec(cluster, "named", ["hostname"]).strip() == "myhost"
        assert _exec(cluster, "named", ["cat", "/etc/hostname"]) == "myhost\n"
        # /tmp is the container's: one exec's file is there for the next (kubectl cp)
        _exec(cluster, "named", ["sh", "-c", "echo kept > /tmp/f"])
        assert _exec(cluster, "named", ["cat", "/tmp/f"]) == "kept\n"
        assert _exec(cluster, "named", ["hostname", "-f"]).strip() == \
            "myhost.sub.default.svc.cluster.local"
        # deleting the hostNetwork pod leaves the node's namespace and uplink alone
        cluster.store.delete("Pod", "default", "hostnet")
        wait_for(lambda: cluster.store.find("Pod", "default", "hostnet") is None, 30,
                 "hostnet removed")
        assert "eth0" in sh(f"ip -n {rt.netns} -o link show eth0").stdout
        assert "18080" not in sh(f"ip netns exec {rt.netns} ss -Hltn").stdout
    finally:
        for name in ("hostnet", "hostnet-twin", "customdns", "named"):
            if cluster.store.find("Pod", "default", name):
                cluster.store.delete("Pod", "default", name)
        if cluster.store.find("Service", "default", "hostnet"):
            cluster.store.delete("Service", "default", "hostnet")
        for name in ("hostnet", "hostnet-twin", "customdns", "named"):
            wait_for(lambda n=name: cluster.store.find("Pod", "default", n) is None, 30,
                     f"{name} removed")


HOSTPORT = """
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  nodeName: node2
  containers:
  - name: web
    image: agnhost
    ports: [{containerPort: 8080, hostPort: 8088}]
"""


def test_a_host_port_reaches_the_pod_from_everywhere_and_goes_with_it(cluster):
    """The CNI portmap plugin's job: node2's address on hostPort 8088 leads to
    the pod's 8080, from another node's pod, a pod on the same node, the node
    itself, the pod itself (hairpin) and ext; deleting the pod removes it."""
    apply_yaml(cluster, HOSTPORT)
    node_ip = next(n.ip for n in cluster.spec.nodes if n.name == "node2")
    node_ns = naming.node_netns(cluster.spec.name, "node2")
    url = f"http://{node_ip}:8088/hostname"
    curl = "curl -s --max-time 5 --retry 5 --retry-connrefused --retry-delay 0"
    try:
        wait_for(lambda: (p := cluster.store.find("Pod", "default", "hp")) and is_ready(p),
                 30, "hp Ready")
        for pod in ("web-1", "web-2", "hp"):
            assert in_pod(cluster, pod, f"{curl} {url}").stdout == "hp", pod
        assert sh(f"ip netns exec {node_ns} {curl} {url}").stdout == "hp"
        # the node's localhost too, as portmap's snat does (route_localnet, masquerade)
        local = sh(f"ip netns exec {node_ns} {curl} http://127.0.0.1:8088/hostname")
        assert local.stdout == "hp", local
        ext = cluster.net["ext"]
        assert ext.cmd(f"{curl} {url}").strip() == "hp"
    finally:
        cluster.store.delete("Pod", "default", "hp")
        wait_for(lambda: cluster.store.find("Pod", "default", "hp") is None, 30, "hp removed")
    wait_for(lambda: "k8snet-hostport" not in sh(f"ip netns exec {node_ns} nft list tables")
             .stdout, 10, "the host port table removed")
