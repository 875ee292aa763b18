"""Pod placement: ``nodeName`` if given, else the least-loaded node.

Ties go to the lowest node index, so placement is deterministic and tests
can predict it.
"""
from __future__ import annotations

from k8snet.model import Node, Pod


def pick_node(pod: Pod, nodes: tuple[Node, ...], load: dict[str, int]) -> Node:
    if pod.node_name:
        for node in nodes:
            if node.name == pod.node_name:
                return node
        raise KeyError(pod.node_name)
    return min(nodes, key=lambda n: (load.get(n.name, 0), n.index))
