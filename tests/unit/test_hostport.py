"""Host ports as nftables rules (k8snet.node.hostport): which pods' ports
map, and the table that maps them."""
from __future__ import annotations

from k8snet.node.hostport import HostPortMapping, mappings, render


def pod(name, ports, ip="10.244.2.5", phase="Running", **spec):
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": "node2", "containers": [{"name": "c", "ports": ports}], **spec},
            "status": {"phase": phase, "podIP": ip}}


def test_only_running_pod_network_pods_with_a_host_port_map() -> None:
    pods = [pod("web", [{"containerPort": 80, "hostPort": 8088},
                        {"containerPort": 81}]),                       # no hostPort
            pod("dns", [{"containerPort": 53, "hostPort": 53, "protocol": "UDP",
                         "hostIP": "172.18.0.12"}], ip="10.244.2.6"),
            pod("hostnet", [{"containerPort": 9000, "hostPort": 9000}], hostNetwork=True),
            pod("done", [{"containerPort": 80, "hostPort": 8089}], phase="Succeeded"),
            pod("pending", [{"containerPort": 80, "hostPort": 8090}], ip=None)]
    assert mappings(pods) == [
        HostPortMapping("TCP", 8088, "0.0.0.0", "10.244.2.5", 80, "default/web"),
        HostPortMapping("UDP", 53, "172.18.0.12", "10.244.2.6", 53, "default/dns")]


def test_the_table_dnats_local_addresses_first_and_masquerades_hairpin() -> None:
    text = render(mappings([pod("web", [{"containerPort": 80, "hostPort": 8088}]),
                            pod("dns", [{"containerPort": 53, "hostPort": 53,
                                         "protocol": "UDP", "hostIP": "172.18.0.12"}],
                                ip="10.244.2.6")]))
    assert text.startswith("add table ip k8snet-hostport\ndelete table ip k8snet-hostport\n")
    assert "type nat hook prerouting priority -101;" in text   # before kproxy's dstnat
    assert "type nat hook output priority -101;" in text
    assert text.count("fib daddr type local jump hostports") == 2
    assert ('tcp dport 8088 dnat to 10.244.2.5:80 comment "default/web hostPort 8088/TCP"'
            in text)
    assert "ip daddr 172.18.0.12 udp dport 53 dnat to 10.244.2.6:53" in text
    assert "ip saddr 10.244.2.5 ip daddr 10.244.2.5 masquerade" in text
    assert "ip saddr 127.0.0.0/8 ct status dnat masquerade" in text     # node localhost


def test_no_host_port_left_removes_the_table() -> None:
    assert render([]) == "add table ip k8snet-hostport\ndelete table ip k8snet-hostport\n"


class _FakeNft:
    """Records the transactions the agent would run (no kernel here)."""

    runs: list[str] = []

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def run(self, text: str) -> str:
        _FakeNft.runs.append(text)
        return ""

    def close(self) -> None:
        pass


def test_the_agent_sees_only_its_nodes_host_port_pods_and_renders_on_change(monkeypatch):
    from k8snet.apiserver.store import Event, Store
    from k8snet.node import hostport_agent
    monkeypatch.setattr(hostport_agent, "NftSession", _FakeNft)
    _FakeNft.runs = []
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    agent = hostport_agent.HostPortAgent(store, "node2", "k8snet-test-node2")
    agent.settle()
    assert _FakeNft.runs == [] and agent.nft is None       # nothing asked: no session

    def make(name, ports, node="node2"):
        body = pod(name, ports)
        body.update(apiVersion="v1", kind="Pod")
        body["spec"]["nodeName"] = node
        return store.create(body)

    plain = make("plain", [{"containerPort": 80}])
    other = make("other", [{"containerPort": 80, "hostPort": 8088}], node="node1")
    assert not agent.wants(Event("ADDED", "Pod", plain, 1))    # a thousand of these wake nothing
    assert not agent.wants(Event("ADDED", "Pod", other, 1))    # another node's
    make("web", [{"containerPort": 80, "hostPort": 8088}])
    agent.settle()
    assert len(_FakeNft.runs) == 1 and "tcp dport 8088 dnat to 10.244.2.5:80" in _FakeNft.runs[0]
    store.mutate("Pod", "default", "web", lambda o: o["metadata"].setdefault("labels", {}))
    agent.settle()
    assert len(_FakeNft.runs) == 1                          # same mappings: no transaction
    store.delete("Pod", "default", "web", grace_seconds=0)
    agent.settle()
    assert _FakeNft.runs[-1] == render([])                  # the table removed
