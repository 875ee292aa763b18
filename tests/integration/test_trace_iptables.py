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
