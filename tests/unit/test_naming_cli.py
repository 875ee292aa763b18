"""Tests for naming, the ping summary and cli.substitute (all pure)."""

from __future__ import annotations

import re

import pytest

from k8snet import naming
from k8snet.cli.reach import ProbeResult, format_line, summary
from k8snet.cli.shell import substitute

IFNAMSIZ_MAX = 15  # 16 bytes including the trailing NUL


# --- naming ----------------------------------------------------------------------


def test_pod_netns_short_name_is_readable() -> None:
    assert naming.pod_netns("single", "default", "web-1") == "k8snet-single-default_web-1"


def test_node_netns() -> None:
    assert naming.node_netns("single", "node1") == "k8snet-single-node1"


@pytest.mark.parametrize("pod", ["a", "web-1", "x" * 40, "y" * 253])
def test_pod_netns_prefix_and_length(pod: str) -> None:
    name = naming.pod_netns("leafspine", "default", pod)
    assert name.startswith("k8snet-")
    assert len(name) <= naming.MAX_NETNS == 60


def test_long_pod_name_is_cut_with_hash() -> None:
    pod = "a-very-long-pod-name-that-does-not-fit-in-a-netns-name-at-all"
    name = naming.pod_netns("single", "default", pod)
    assert len(name) == 60
    assert name.startswith("k8snet-single-default_a-very-long")
    assert re.fullmatch(r".*-[0-9a-f]{8}", name)


def test_long_pod_names_with_common_prefix_stay_unique() -> None:
    base = "p" * 80
    names = {naming.pod_netns("single", "default", base + suffix)
             for suffix in ("a", "b", "c", "-1", "-2")}
    assert len(names) == 5
    assert all(len(n) <= 60 for n in names)


def test_long_pod_names_in_different_namespaces_stay_unique() -> None:
    pod = "q" * 80
    assert (naming.pod_netns("single", "default", pod)
            != naming.pod_netns("single", "other", pod))


def test_pod_netns_is_deterministic() -> None:
    pod = "z" * 100
    assert naming.pod_netns("c", "ns", pod) == naming.pod_netns("c", "ns", pod)


def test_boundary_length_is_not_hashed() -> None:
    prefix = len("k8snet-c-ns_")
    pod = "p" * (60 - prefix)
    assert naming.pod_netns("c", "ns", pod) == f"k8snet-c-ns_{pod}"
    longer = naming.pod_netns("c", "ns", pod + "p")
    assert len(longer) == 60
    assert longer != f"k8snet-c-ns_{pod}p"[:60]


def test_host_veth_fits_ifnamsiz_and_differs_per_pod() -> None:
    names = [naming.host_veth("single", ns, pod)
             for ns in ("default", "other")
             for pod in ("web-1", "web-2", "x" * 200)]
    assert all(len(n) <= IFNAMSIZ_MAX for n in names)
    assert all(re.fullmatch(r"veth[0-9a-f]{8}", n) for n in names)
    assert len(set(names)) == len(names)


def test_host_veth_differs_per_cluster() -> None:
    assert naming.host_veth("a", "default", "web") != naming.host_veth("b", "default", "web")


def test_pod_netns_unique_across_hyphen_splits() -> None:
    assert naming.pod_netns("x", "a-b", "c") != naming.pod_netns("x", "a", "b-c")


# --- reach -----------------------------------------------------------------------


def test_summary_counts_drops() -> None:
    results = [ProbeResult("a", {"b": True, "c": False}),
               ProbeResult("b", {"a": True, "c": True})]
    assert summary(results) == (25.0, 3, 4)


def test_summary_all_reached_and_empty() -> None:
    assert summary([ProbeResult("a", {"b": True})]) == (0.0, 1, 1)
    assert summary([]) == (0.0, 0, 0)
    assert summary([ProbeResult("a", {})]) == (0.0, 0, 0)


def test_summary_all_dropped() -> None:
    assert summary([ProbeResult("a", {"b": False, "c": False})]) == (100.0, 0, 2)


def test_format_line_mininet_style() -> None:
    result = ProbeResult("web-1", {"web-2": True, "web-3": False, "ext": True})
    assert format_line(result) == "web-1 -> web-2 X ext"


def test_format_line_all_unreachable() -> None:
    assert format_line(ProbeResult("a", {"b": False, "c": False})) == "a -> X X"


# --- cli.substitute --------------------------------------------------------------


def test_substitute_replaces_whole_names() -> None:
    names = {"web-1": "10.244.1.2", "node1": "172.18.0.11"}
    assert substitute(["ping", "-c1", "web-1"], names) == ["ping", "-c1", "10.244.1.2"]
    assert substitute(["node1"], names) == ["172.18.0.11"]


def test_substitute_never_replaces_part_of_a_longer_name() -> None:
    names = {"web-1": "10.244.1.2", "node1": "172.18.0.11"}
    words = ["web-10", "xnode1", "node10", "my-web-1", "web-1x", "web-1-canary"]
    assert substitute(words, names) == words


def test_substitute_inside_url_and_host_port() -> None:
    names = {"web-1": "10.244.1.2", "web-10": "10.244.1.9"}
    assert substitute(["curl", "http://web-1:8080/", "web-10:80", "web-1:8080"], names) == [
        "curl", "http://10.244.1.2:8080/", "10.244.1.9:80", "10.244.1.2:8080"]


def test_substitute_without_names_is_identity() -> None:
    words = ["ping", "-c1", "web-1"]
    assert substitute(words, {}) == words


def test_name_map_has_mininets_hosts_unless_the_namespace_names_them() -> None:
    """``client traceroute ext`` works as a Mininet host command would; a
    Service called ext in the pod's namespace is left to its resolver."""
    from types import SimpleNamespace

    from control_helpers import api_store

    from k8snet.cli.shell import K8sCLI
    from k8snet.cluster.pods import Pods

    store = api_store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext",
                  "namespace": "shop"}, "spec": {"ports": [{"port": 80}]}})
    cluster = SimpleNamespace(
        store=store, pods=Pods(store, {}),
        network=SimpleNamespace(nodes={"node1": SimpleNamespace(name="node1",
                                                                ip="172.18.0.11")}),
        spec=SimpleNamespace(network=SimpleNamespace(gateway_router="172.18.0.2",
                                                     ext_ip="203.0.113.10")))
    shell = SimpleNamespace(cluster=cluster)
    names = K8sCLI.name_map(shell, "default")
    assert (names["ext"], names["gw"], names["node1"]) == (
        "203.0.113.10", "172.18.0.2", "172.18.0.11")
    assert "ext" not in K8sCLI.name_map(shell, "shop")
