"""Integration fixtures: a real cluster (Mininet, OVS netdev, os-ken, netns).

These tests need root, Open vSwitch running and Mininet installed; ``make
test`` sets all of that up.  Without them the tests fail loudly rather than
skip, so a broken machine can never look green.
"""
from __future__ import annotations

import os
import subprocess

import pytest
from mininet.log import setLogLevel

from k8snet.cluster.cleanup import clean, our_bridges, our_etc_netns, our_netns
from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile


def sh(cmd: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                          timeout=timeout, check=check)


def in_pod(cluster: Cluster, pod: str, cmd: str, timeout: float = 30):
    return sh(f"ip netns exec {cluster.find_pod(pod).netns} {cmd}", timeout)


@pytest.fixture(scope="session", autouse=True)
def _root_and_clean():
    assert os.geteuid() == 0, "integration tests need root (run 'make test' as root)"
    setLogLevel("warning")
    clean(verbose=False)
    yield
    clean(verbose=False)


@pytest.fixture(scope="module")
def cluster():
    """The default ``single`` cluster: 3 nodes, 6 pods, gw and ext."""
    with Cluster(topofile.load("single")) as c:
        yield c
    assert not our_netns(), "cluster teardown left namespaces behind"
    assert not our_bridges(), "cluster teardown left OVS bridges behind"
    assert not our_etc_netns(), "cluster teardown left /etc/netns files behind"
