"""Pod placement: ``nodeName`` if given, else the least-loaded node that
matches the pod's ``nodeSelector``.

Ties go to the lowest node index, so placement is deterministic and tests
can predict it.  Every node carries the well-known labels
``kubernetes.io/hostname`` and ``kubernetes.io/os`` as the kubelet sets them.
"""
from __future__ import annotations

from k8snet.api.model import Node, Pod
from k8snet.errors import K8snetError


def node_labels(node: Node) -> dict[str, str]:
    labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64"}
    labels.update(dict(node.labels))
    return labels


def matches(pod: Pod, node: Node) -> bool:
    labels = node_labels(node)
    return all(labels.get(k) == v for k, v in pod.node_selector)


def pick_node(pod: Pod, nodes: tuple[Node, ...], load: dict[str, int]) -> Node:
    """Raise KeyError for an unknown nodeName, K8snetError when no node fits."""
    if pod.node_name:
        for node in nodes:
            if node.name == pod.node_name:
                if not matches(pod, node):
                    raise K8snetError(f"pod {pod.key}: node {node.name} does not match "
                                      "the pod's nodeSelector")
                return node
        raise KeyError(pod.node_name)
    fitting = [n for n in nodes if matches(pod, n)]
    if not fitting:
        wanted = ",".join(f"{k}={v}" for k, v in pod.node_selector)
        raise K8snetError(f"pod {pod.key}: 0/{len(nodes)} nodes are available: "
                          f"{len(nodes)} node(s) didn't match Pod's node affinity/selector "
                          f"({wanted})")
    return min(fitting, key=lambda n: (load.get(n.name, 0), n.index))
