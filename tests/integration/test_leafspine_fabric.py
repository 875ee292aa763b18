"""The leafspine fabric live: switches joined by OVS patch ports, one datapath
pass from leaf to leaf, ``link A B down|up`` cutting and restoring a
switch-to-switch link, ECMP spreading LoadBalancer traffic over both spines,
and nothing left in OVS after teardown."""
from __future__ import annotations

import re

import pytest

from k8snet.cli.trace import trace_command
from k8snet.cluster import ovs_rx
from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile
from tests.integration.conftest import (
    EXAMPLES,
    _check_clean,
    apply_files,
    in_pod,
    pod_ip,
    settle,
    sh,
    wait_for,
)
from topologies.links import PatchIntf

SWITCHES = ("leaf1", "leaf2", "spine1", "spine2")


def patch_ports() -> set[str]:
    """Names of every OVS patch interface on the machine."""
    out = sh("ovs-vsctl --bare --columns=name find Interface type=patch").stdout
    return set(out.split())


@pytest.fixture(scope="module")
def fabric():
    with Cluster(topofile.load("leafspine")) as c:
        apply_files(c, EXAMPLES / "demo")
        settle(c)
        yield c
    _check_clean()
    left = {p for p in patch_ports() if p.startswith(SWITCHES)}
    assert not left, f"patch ports left in OVS: {sorted(left)}"


def ping(cluster, src: str, dst: str) -> bool:
    return in_pod(cluster, src, f"ping -c 2 -W 1 {pod_ip(cluster, dst)}").returncode == 0


def test_switch_links_are_patch_ports_with_no_kernel_link(fabric):
    patched = [i for sw in fabric.net.switches for i in sw.intfList()
               if isinstance(i, PatchIntf)]
    assert len(patched) == 8                       # 2 leaves x 2 spines, both ends
    assert {i.name for i in patched} <= patch_ports()
    for intf in patched:
        peer = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
        options = sh(f"ovs-vsctl get Interface {intf.name} options").stdout
        assert f'peer="{peer.name}"' in options or f"peer={peer.name}" in options, options
        assert sh(f"ip link show {intf.name}").returncode != 0, f"{intf.name} is a kernel link"


def test_the_switch_reads_every_node_port_with_a_4_mib_buffer(fabric):
    """ovs-vswitchd's packet socket on each node's veth port has k8snet's
    receive buffer (k8snet.cluster.ovs_rx), not the system's 208 KB."""
    veths = sorted(i.name for sw in fabric.net.switches for i in sw.intfList()
                   if i.link is not None and not isinstance(i, PatchIntf))
    assert len(veths) == 5                         # 4 nodes and the gateway router
    assert fabric.network.rx_buffers.ports == tuple(veths), fabric.network.rx_buffers
    sizes = ovs_rx.buffers(veths)
    assert sorted(sizes) == veths
    assert all(size >= ovs_rx.RX_BUFFER for per in sizes.values() for size in per), sizes


def test_one_trace_crosses_leaf_spine_leaf(fabric):
    lines: list[str] = []
    result = trace_command(fabric, ["client", "web-1:8080"], lines.append)
    text = "\n".join(lines)
    assert result.delivered, text
    # client is on node3 (leaf2), web-1 on node1 (leaf1): one pass, three bridges
    switches = re.findall(r"switch (\w+) \(in_port (\d+)\)", text)
    assert [s for s, _ in switches][0] == "leaf2" and [s for s, _ in switches][-1] == "leaf1"
    assert [s for s, _ in switches][1] in ("spine1", "spine2") and len(switches) == 3
    assert all(int(port) > 0 for _, port in switches)
    assert text.count("the same datapath pass goes on") == 2
    assert text.count("datapath actions:") == 1
    assert "-> node1" in text


def test_link_down_cuts_a_switch_link_and_up_restores_it(fabric):
    """What the CLI's ``link leaf2 spineN down|up`` does (Mininet's
    ``configLinkStatus``).  Each destination node's traffic takes one spine;
    cutting one of leaf2's uplinks cuts the pods behind it and only those."""
    net = fabric.net
    assert ping(fabric, "client", "web-1") and ping(fabric, "client", "web-2")
    try:
        net.configLinkStatus("leaf2", "spine1", "down")
        one_cut = (ping(fabric, "client", "web-1"), ping(fabric, "client", "web-2"))
        assert sorted(one_cut) == [False, True], one_cut    # one spine left: half the paths
        net.configLinkStatus("leaf2", "spine2", "down")
        assert not ping(fabric, "client", "web-1") and not ping(fabric, "client", "web-2")
        assert ping(fabric, "client", "web-3")             # same node's pods never leave it
        status = {str(link.intf1): link.status() for link in net.links}
        assert status["leaf2-eth1"] == "(DOWN DOWN)" and status["leaf2-eth2"] == "(DOWN DOWN)"
    finally:
        net.configLinkStatus("leaf2", "spine1", "up")
        net.configLinkStatus("leaf2", "spine2", "up")
    assert ping(fabric, "client", "web-1") and ping(fabric, "client", "web-2")


def _spine_packets(spine: str, mac: str) -> int:
    out = sh(f"ovs-ofctl -O OpenFlow13 dump-flows {spine} table=1,dl_dst={mac}").stdout
    return sum(int(n) for n in re.findall(r"n_packets=(\d+)", out))


def test_ecmp_spreads_load_balancer_traffic_over_both_spines(fabric):
    """ext -> web-lb (externalTrafficPolicy Cluster): the gateway's leaf
    spreads connections over all four nodes; node3 and node4 sit behind
    leaf2, each reached over its own spine."""
    lb = wait_for(lambda: next((i.get("ip") for i in ((fabric.store.find(
        "Service", "default", "web-lb") or {}).get("status") or {}).get(
        "loadBalancer", {}).get("ingress") or [] if i.get("ip")), ""), 10, "web-lb's IP")
    macs = {n: f"02:00:00:00:00:{fabric.network.nodes[n].index:02x}" for n in ("node3", "node4")}

    def counts() -> dict[str, int]:
        return {s: sum(_spine_packets(s, m) for m in macs.values()) for s in ("spine1", "spine2")}
    before = counts()
    ext_ns = f"k8snet-{fabric.spec.name}-ext"
    out = sh(f"ip netns exec {ext_ns} sh -c 'for i in $(seq 40); do "
             f"curl -s --max-time 2 http://{lb}/hostname || echo FAIL; echo; done'", 120).stdout
    answers = out.split()
    assert len(answers) == 40 and "FAIL" not in answers, answers
    after = counts()
    grew = {s: after[s] - before[s] for s in after}
    assert grew["spine1"] > 0 and grew["spine2"] > 0, grew


def test_traceroute_shows_the_fabric_as_one_routed_hop(fabric):
    """The fabric routes with dec_nw_ttl and answers a TTL run out with ICMP
    time exceeded from the fabric gateway (controllers.ttl_exceeded): across
    leaves, the pod's node, the fabric (one hop, whatever the spine), the
    destination's node, the pod."""
    cluster = fabric
    src, dst = "web-1", "web-3"
    nodes = {p["metadata"]["name"]: p["spec"]["nodeName"]
             for p in cluster.store.list("Pod", "default")}
    assert nodes[src] != nodes[dst]
    out = in_pod(cluster, src, f"traceroute -n -w 2 -q 1 {pod_ip(cluster, dst)}")
    assert out.returncode == 0, out.stderr
    hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
    gateway = cluster.spec.network.fabric_gateway
    dst_node_ip = next(n.ip for n in cluster.spec.nodes if n.name == nodes[dst])
    src_gateway = pod_ip(cluster, src).rsplit(".", 1)[0] + ".1"
    assert hops == [src_gateway, gateway, dst_node_ip, pod_ip(cluster, dst)], out.stdout
