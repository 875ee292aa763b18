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


def test_no_host_port_left_removes_the_table() -> None:
    assert render([]) == "add table ip k8snet-hostport\ndelete table ip k8snet-hostport\n"
