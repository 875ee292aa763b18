"""Names of the kernel objects k8snet makes, so cleanup can always find them.

Every network namespace starts with ``k8snet-``; a long pod name is cut and
given a short hash so the name stays unique and readable.
"""
from __future__ import annotations

import hashlib

PREFIX = "k8snet-"
MAX_NETNS = 60


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def pod_netns(cluster: str, namespace: str, pod: str) -> str:
    """``k8snet-CLUSTER-NS_POD``: ``_`` never occurs in a namespace or pod name,
    so two pods can never share a name, and none can clash with a node's."""
    name = f"{PREFIX}{cluster}-{namespace}_{pod}"
    if len(name) <= MAX_NETNS:
        return name
    return name[:MAX_NETNS - 9] + "-" + _digest(cluster, namespace, pod)[:8]


def node_netns(cluster: str, node: str) -> str:
    return f"{PREFIX}{cluster}-{node}"


def host_veth(cluster: str, namespace: str, pod: str) -> str:
    """The node end of a pod's veth: ``veth`` + 8 hex, within IFNAMSIZ."""
    return "veth" + _digest(cluster, namespace, pod)[:8]
