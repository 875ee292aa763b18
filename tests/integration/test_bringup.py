"""Bring-up of the default cluster: reachability, no NAT, localhost, flows."""
from __future__ import annotations

import re
import subprocess

from conftest import in_pod, pod_ip, pod_obj, sh, wait_for

from k8snet.cli.shell import ping_pods


def test_pod_matrix_has_no_loss(cluster):
    lines = []
    dropped = ping_pods(cluster, out=lines.append)
    assert dropped == 0, "".join(lines)
    pods = len([p for p in cluster.store.list("Pod") if p["status"].get("podIP")])
    assert pods == 8      # the demo's six and the system's kube-dns and ingress-nginx
    nodes = len(cluster.network.nodes)
    # pod pairs, pod -> ext, node -> own pods, node pairs (Mininet's pingall)
    sent = pods * (pods - 1) + pods + pods + nodes * (nodes - 1)
    assert nodes >= 2 and any(line.startswith("node1 -> ") and " node2 " in f"{line} "
                              for line in lines)
    assert lines[-1].startswith(f"*** Results: 0% dropped ({sent}/{sent} received)")


def test_destination_pod_sees_source_pod_ip(cluster):
    src, dst = pod_obj(cluster, "web-1"), pod_obj(cluster, "web-2")
    assert src["spec"]["nodeName"] != dst["spec"]["nodeName"]
    src_ip, dst_ip = src["status"]["podIP"], dst["status"]["podIP"]
    dump = subprocess.Popen(
        ["ip", "netns", "exec", cluster.pods.runtime(dst).netns, "tcpdump", "-n", "-l",
         "-c", "1", "-i", "eth0", "icmp and icmp[icmptype] == icmp-echo"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # Ping until tcpdump (which needs a moment to start) has seen one.
        wait_for(lambda: in_pod(cluster, "web-1", f"ping -c1 -W1 {dst_ip}")
                 and dump.poll() is not None, 15, "tcpdump to capture an echo request")
        out, _ = dump.communicate(timeout=5)
    finally:
        dump.kill()
    assert f"{src_ip} > {dst_ip}" in out


def test_containers_share_localhost_only_within_their_pod(cluster):
    sidecar = pod_ip(cluster, "app-sidecar")
    inside = in_pod(cluster, "app-sidecar",
                    "curl -s -o /dev/null -w %{http_code} --max-time 3 "
                    "http://127.0.0.1:9000/")
    assert inside.stdout == "200"
    from_other_pod = in_pod(cluster, "client",
                            "curl -s --max-time 3 http://127.0.0.1:9000/")
    assert from_other_pod.returncode != 0
    via_pod_ip = in_pod(cluster, "client",
                        f"curl -s --max-time 3 http://{sidecar}:9000/")
    assert via_pod_ip.returncode != 0
    # The sidecar's own netexec container is reachable from outside the pod.
    served = in_pod(cluster, "client",
                    f"curl -s --max-time 3 http://{sidecar}:8080/hostname")
    assert served.stdout == "app-sidecar"


def test_flows_are_proactive(cluster):
    flows = sh("ovs-ofctl -O OpenFlow13 dump-flows tor1").stdout
    for node in cluster.network.nodes.values():
        assert f"nw_dst={node.pod_cidr}" in flows
        assert f"nw_dst={node.ip}" in flows
    assert "nw_dst=203.0.113.0/24" in flows
    assert "CONTROLLER" not in flows, "no flow may punt packets to the controller"


def test_egress_to_ext_is_snatted_to_the_node_ip(cluster):
    node = pod_obj(cluster, "client")["spec"]["nodeName"]
    out = in_pod(cluster, "client", "curl -s --max-time 3 http://203.0.113.10/clientip")
    assert out.stdout.split(":")[0] == cluster.network.nodes[node].ip


def test_ttl_shows_one_routed_hop_across_nodes(cluster):
    out = in_pod(cluster, "web-1", f"ping -c1 -W1 {pod_ip(cluster, 'web-2')}")
    ttl = int(re.search(r"ttl=(\d+)", out.stdout).group(1))
    # pod -> node1 (forward) -> fabric gateway (dec) -> node2 (forward) -> pod
    assert ttl == 61
