"""trace with kproxy in iptables mode: the KPROXY chains the packet walks."""
from __future__ import annotations

import re

import pytest

from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile
from tests.integration.conftest import EXAMPLES, apply_files, settle
from tests.integration.test_trace import answered_by, run


@pytest.fixture(scope="module")
def ipt_cluster():
    with Cluster(topofile.load("single"), proxy_mode="iptables") as c:
        apply_files(c, EXAMPLES / "demo")
        settle(c)
        yield c


def test_pod_to_service_walks_the_kproxy_chains(ipt_cluster):
    result, text = run(ipt_cluster, "client", "web")
    assert result.delivered, text
    assert "nat KPROXY-SERVICES:" in text and "KPROXY-SVC-" in text
    dnat = re.search(r"nat KPROXY-SEP-\w+: .*dnat to ([\d.]+):8080", text)
    assert dnat, text
    pod = ipt_cluster.store.list("Pod", where=lambda p: (p.get("status") or {})
                                 .get("podIP") == dnat.group(1))[0]
    assert pod["metadata"]["name"] == answered_by(result)


# The mode-independent hops of the other paths, in iptables mode too.
from tests.integration import test_trace as nft_mode  # noqa: E402


@pytest.mark.parametrize("check", [
    nft_mode.test_pod_to_pod_across_nodes_shows_the_fabric_flows,
    nft_mode.test_pod_to_pod_same_node_is_routed_by_the_node,
    nft_mode.test_pod_to_internet_is_masqueraded_to_the_node,
    nft_mode.test_container_to_container_stays_in_the_pod,
    nft_mode.test_network_policy_deny_is_named,
    nft_mode.test_ext_through_ingress_to_the_backend,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_path_in_iptables_mode(ipt_cluster, check):
    check(ipt_cluster)
