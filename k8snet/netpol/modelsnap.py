"""The e2e model as a ``Snapshot``, for the oracle without a cluster.

Upstream's ``test/e2e/network/netpol/model.go``: namespaces x, y, z labelled
``ns=<name>`` (and ``kubernetes.io/metadata.name=<name>``, as the API server
sets); pods a, b, c labelled ``pod=<name>``, each serving ports 80 and 81 on
every protocol under the container port names ``serve-<port>-<protocol>``.

Addresses are fixed so that ipBlock cases can name them: the j-th pod in
matrix order (x/a, x/b, ... z/c) runs on ``nodes[j % len(nodes)]``, node k
(1-based) holding 10.244.k.0/24 as ``node_pod_cidrs`` lays it out, and gets
host address 10 + j there.  With the default two nodes::

    x/a 10.244.1.10  x/b 10.244.2.11  x/c 10.244.1.12
    y/a 10.244.2.13  y/b 10.244.1.14  y/c 10.244.2.15
    z/a 10.244.1.16  z/b 10.244.2.17  z/c 10.244.1.18
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from k8snet.api.defaults import NAMESPACE_NAME_LABEL, apply_defaults

from .cases import MODEL_NAMESPACES, MODEL_PODS, MODEL_PORTS
from .snapshot import PodInfo, PodPort, Snapshot

MODEL_PROTOCOLS = ("TCP", "UDP", "SCTP")


def model_ports(protocols: Iterable[str] = MODEL_PROTOCOLS) -> tuple[PodPort, ...]:
    """``serve-80-tcp``, ``serve-80-udp``, ... one container port per port and protocol."""
    return tuple(PodPort(f"serve-{port}-{proto.lower()}", port, proto)
                 for port in MODEL_PORTS for proto in protocols)


def model_namespace_labels(namespace: str) -> dict[str, str]:
    return {"ns": namespace, NAMESPACE_NAME_LABEL: namespace}


def model_ip(index: int, nodes: Sequence[str]) -> tuple[str, str]:
    """The node and IPv4 address of the ``index``-th pod in matrix order."""
    node = index % len(nodes)
    return nodes[node], f"10.244.{node + 1}.{10 + index}"


def model_snapshot(pod_labels: Mapping[str, Mapping[str, str]] | None = None,
                   namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                   policies: Iterable[Mapping] = (),
                   nodes: Sequence[str] = ("node1", "node2"),
                   protocols: Iterable[str] = MODEL_PROTOCOLS) -> Snapshot:
    """The 3 x 3 model with ``policies`` (defaulted as the API server stores them).

    ``pod_labels`` (``"x/a" -> labels``) and ``namespace_labels`` (``"x" ->
    labels``) replace a pod's or namespace's labels entirely."""
    if not nodes:
        raise ValueError("the model needs at least one node")
    pod_labels = pod_labels or {}
    namespace_labels = namespace_labels or {}
    unknown = sorted(set(pod_labels) - {f"{n}/{p}" for n in MODEL_NAMESPACES
                                         for p in MODEL_PODS})
    unknown += sorted(set(namespace_labels) - set(MODEL_NAMESPACES))
    if unknown:
        raise ValueError(f"not in the model: {unknown}")
    ports = model_ports(protocols)
    namespaces = {ns: dict(namespace_labels.get(ns, model_namespace_labels(ns)))
                  for ns in MODEL_NAMESPACES}
    pods = []
    for index, (ns, name) in enumerate((ns, p) for ns in MODEL_NAMESPACES for p in MODEL_PODS):
        node, ip = model_ip(index, nodes)
        labels = dict(pod_labels.get(f"{ns}/{name}", {"pod": name}))
        pods.append(PodInfo(ns, name, labels, ip, node, ports))
    return Snapshot(namespaces, tuple(pods), tuple(apply_defaults(dict(p)) for p in policies))
