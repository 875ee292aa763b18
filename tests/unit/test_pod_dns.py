"""A pod's resolv.conf from dnsPolicy and dnsConfig (k8snet.node.pod_dns),
checked against the Pod DNS concept page's examples and dns.go's rules."""
from __future__ import annotations

from k8snet.node.pod_dns import DNSConfig, dns_type, pod_dns_config

HOST = DNSConfig(("203.0.113.53",))


def conf(spec: dict, namespace: str = "shop") -> str:
    return pod_dns_config(spec, namespace, "cluster.local", "10.96.0.10", HOST).resolv_conf()


def test_cluster_first_is_the_cluster_dns_with_the_search_path_and_ndots_5() -> None:
    assert conf({}) == conf({"dnsPolicy": "ClusterFirst"}) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n")


def test_host_network_falls_back_to_default_unless_cluster_first_with_host_net() -> None:
    assert dns_type({"hostNetwork": True}) == "host"
    assert conf({"hostNetwork": True}) == "nameserver 203.0.113.53\n"
    assert dns_type({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}) == "cluster"
    assert dns_type({"dnsPolicy": "ClusterFirstWithHostNet"}) == "cluster"
    assert conf({"dnsPolicy": "Default"}) == "nameserver 203.0.113.53\n"


def test_none_takes_the_dns_config_alone() -> None:
    """The concept page's example: dnsPolicy None with a dnsConfig."""
    spec = {"dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["192.0.2.1"], "searches": ["ns1.svc.cluster-domain.example",
                                                   "my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}
    assert conf(spec) == ("search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
                          "nameserver 192.0.2.1\noptions ndots:2 edns0\n")


def test_dns_config_is_appended_to_the_policys_own_without_repeats() -> None:
    spec = {"dnsConfig": {"nameservers": ["192.0.2.1", "10.96.0.10"],
                          "searches": ["example.com", "cluster.local"],
                          "options": [{"name": "ndots", "value": "1"}, {"name": "timeout",
                                                                       "value": "3"}]}}
    assert conf(spec) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local example.com\n"
        "nameserver 10.96.0.10\nnameserver 192.0.2.1\noptions ndots:1 timeout:3\n")
