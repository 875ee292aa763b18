"""The pod network plugin against the kernel, without a cluster: a node namespace,
pods wired by k8snet.node.cni.PodNetwork on routed veths (the CNI ptp
plugin's shape) in batched netlink round trips, and torn down by releasing
their namespace."""
from __future__ import annotations

import json
import subprocess

import pytest
from conftest import wait_for
from pyroute2 import IPRoute

from k8snet.errors import K8snetError
from k8snet.node import cni, netns

NODE = "k8snet-cnitest-node"
GATEWAY = "10.244.9.1"


def ip_json(*argv: str) -> list[dict]:
    out = subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def links(ns: str) -> dict[str, dict]:
    return {link["ifname"]: link for link in ip_json("-n", ns, "-d", "link", "show")}


def pod_ns(i: int) -> str:
    return f"k8snet-cnitest-default_p{i}"


@pytest.fixture
def node():
    for name in [NODE] + [pod_ns(i) for i in range(4)]:
        if netns.exists(name):
            netns.remove(name)
    netns.create(NODE)
    ipr: IPRoute = netns.iproute(NODE)
    try:
        ipr.link("set", index=1, state="up")
    finally:
        ipr.close()
    subprocess.run(["ip", "netns", "exec", NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                   check=True)
    net = cni.PodNetwork(NODE)
    yield net
    net.close()
    for i in range(4):
        netns.remove(pod_ns(i))
    netns.remove(NODE)


def routes(ns: str) -> list[dict]:
    return [{k: r[k] for k in ("dst", "gateway", "dev", "scope") if k in r}
            for r in ip_json("-n", ns, "-4", "route", "show")]


def test_a_pod_gets_eth0_its_ip_and_routes_through_its_node(node):
    node.add_pod(pod_ns(0), "vethcnitest0", "10.244.9.2", 24, GATEWAY)
    pod = links(pod_ns(0))
    assert set(pod) == {"lo", "eth0"}
    assert "UP" in pod["lo"]["flags"] and "UP" in pod["eth0"]["flags"]
    assert pod["eth0"]["mtu"] == 1500
    addrs = {a["ifname"]: a for a in ip_json("-n", pod_ns(0), "-4", "addr", "show")}
    [inet] = addrs["eth0"]["addr_info"]
    assert (inet["local"], inet["prefixlen"], inet.get("broadcast")) == ("10.244.9.2", 24, None)
    # no connected route: every packet, to the pod CIDR too, goes via the node
    assert routes(pod_ns(0)) == [
        {"dst": "default", "gateway": GATEWAY, "dev": "eth0"},
        {"dst": "10.244.9.0/24", "gateway": GATEWAY, "dev": "eth0"},
        {"dst": GATEWAY, "dev": "eth0", "scope": "link"}]
    veth = links(NODE)["vethcnitest0"]
    assert "master" not in veth and "UP" in veth["flags"]
    [gw] = [a for a in ip_json("-n", NODE, "-4", "addr", "show", "dev", "vethcnitest0")]
    assert [(i["local"], i["prefixlen"]) for i in gw["addr_info"]] == [(GATEWAY, 32)]
    assert {"dst": "10.244.9.2", "dev": "vethcnitest0", "scope": "link"} in routes(NODE)
    # the pair joins the two namespaces: the node end's peer is the pod's eth0
    assert veth["link_index"] == pod["eth0"]["ifindex"]
    sysctl = subprocess.run(["ip", "netns", "exec", pod_ns(0), "cat",
                             "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
                            capture_output=True, text=True, check=True)
    assert sysctl.stdout.strip() == "0"
    ping = subprocess.run(["ip", "netns", "exec", pod_ns(0), "ping", "-c1", "-W1", GATEWAY],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout


def test_pods_of_one_node_reach_each_other_routed_by_the_node(node):
    node.add_pod(pod_ns(0), "vethcnitest0", "10.244.9.2", 24, GATEWAY)
    node.add_pod(pod_ns(1), "vethcnitest1", "10.244.9.3", 24, GATEWAY)
    ping = subprocess.run(["ip", "netns", "exec", pod_ns(0), "ping", "-c1", "-W1", "10.244.9.3"],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout
    assert "ttl=63" in ping.stdout              # one routed hop: the node
    # both node ends hold the gateway; one pod's removal leaves the other's
    node.delete_pod(pod_ns(0))
    wait_for(lambda: "vethcnitest0" not in links(NODE), 2, "the first veth gone")
    ping = subprocess.run(["ip", "netns", "exec", pod_ns(1), "ping", "-c1", "-W1", GATEWAY],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout


def test_teardown_releases_the_namespace_and_the_veth_goes_with_it(node):
    node.add_pod(pod_ns(1), "vethcnitest1", "10.244.9.3", 24, GATEWAY)
    node.delete_pod(pod_ns(1))
    assert not netns.exists(pod_ns(1))
    wait_for(lambda: "vethcnitest1" not in links(NODE), 2, "the veth destroyed with the netns")
    node.delete_pod(pod_ns(1))                    # already gone: quiet


def test_the_same_pod_made_again_at_once_waits_for_its_old_veth(node):
    for _ in range(3):
        node.add_pod(pod_ns(2), "vethcnitest2", "10.244.9.4", 24, GATEWAY)
        node.delete_pod(pod_ns(2))
    node.add_pod(pod_ns(2), "vethcnitest2", "10.244.9.4", 24, GATEWAY)
    assert "vethcnitest2" in links(NODE) and netns.exists(pod_ns(2))


def test_an_address_freed_at_once_is_given_to_another_pod(node):
    """A pod deleted and another made at once with its address: the old
    route goes with the old namespace, which the kernel destroys a moment
    later; the new pod waits for it instead of failing."""
    for i in range(3):
        old, new = pod_ns(i % 2), pod_ns(i % 2 + 2)
        node.add_pod(old, f"vethcnitest{i}a", "10.244.9.8", 24, GATEWAY)
        node.delete_pod(old)
        node.add_pod(new, f"vethcnitest{i}b", "10.244.9.8", 24, GATEWAY)
        assert {"dst": "10.244.9.8", "dev": f"vethcnitest{i}b", "scope": "link"} in routes(NODE)
        node.delete_pod(new)
        wait_for(lambda: "10.244.9.8" not in {r["dst"] for r in routes(NODE)}, 2,
                 "the route gone with the namespace")


def test_failures_leave_nothing_behind(node):
    node.add_pod(pod_ns(3), "vethcnitest3", "10.244.9.5", 24, GATEWAY)
    before = sorted(links(NODE))
    with pytest.raises(K8snetError, match=f"network namespace {pod_ns(3)} already exists"):
        node.add_pod(pod_ns(3), "vethcnitest9", "10.244.9.9", 24, GATEWAY)
    # a veth name in use by a live pod: refused by the kernel, named, undone
    with pytest.raises(K8snetError, match="create veth vethcnitest3 .*File exists"):
        node.add_pod(pod_ns(0), "vethcnitest3", "10.244.9.6", 24, GATEWAY)
    assert not netns.exists(pod_ns(0))
    # an address the node already routes to another pod (a double allocation):
    # refused by the kernel after the veth was made; the pod and veth are undone
    with pytest.raises(K8snetError, match="add route 10.244.9.5/32 dev vethcnitest1: File exists"):
        node.add_pod(pod_ns(1), "vethcnitest1", "10.244.9.5", 24, GATEWAY)
    assert not netns.exists(pod_ns(1))
    wait_for(lambda: sorted(links(NODE)) == before, 2, "only the first pod's veth left")
    # the first pod still works
    ping = subprocess.run(["ip", "netns", "exec", pod_ns(3), "ping", "-c1", "-W1", GATEWAY],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout


def test_a_missing_node_namespace_is_said():
    net = cni.PodNetwork("k8snet-cnitest-nonode")
    if netns.exists(net.node_ns):
        netns.remove(net.node_ns)
    try:
        with pytest.raises(K8snetError, match="k8snet-cnitest-nonode of the node is gone"):
            net.add_pod(pod_ns(0), "vethcnitest0", "10.244.9.2", 24, GATEWAY)
        assert not netns.exists(pod_ns(0))
    finally:
        net.close()


def _unprivileged_port_start(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "cat",
                           "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("mount_api", [True, False], ids=["own-procfs", "no-mount-api"])
def test_pod_sysctls_reach_the_pod_only_with_or_without_the_mount_api(monkeypatch, mount_api):
    """The pod's sysctls are written through a procfs instance of its own, or
    through /proc where the kernel has no fsopen: the pod sees them, the host
    keeps its own value."""
    monkeypatch.setattr(netns, "_mount_api", True)       # restored after: it is remembered
    if mount_api:
        try:
            cni.syscalls.close_fd(cni.syscalls.detached_mount("proc"))
        except OSError as exc:
            pytest.skip(f"this kernel refuses a detached procfs: {exc}")

        def no_proc_write(path: str, data: bytes) -> None:
            raise AssertionError(f"{path} written through /proc")
        monkeypatch.setattr(cni.syscalls, "write_file", no_proc_write)
    else:
        def no_fsopen(fstype: str) -> int:
            raise OSError(38, f"fsopen {fstype}: Function not implemented")
        monkeypatch.setattr(cni.syscalls, "detached_mount", no_fsopen)
    host = open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read().strip()
    name = pod_ns(3)
    if netns.exists(name):
        netns.remove(name)
    try:
        netns.create(name, lambda: netns.write_sysctls(
            [("net/ipv4/ip_unprivileged_port_start", "7")]))
        assert _unprivileged_port_start(name) == "7"
    finally:
        netns.remove(name)
    assert open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read().strip() == host
    assert netns._mount_api is mount_api               # a refusal is not asked again
