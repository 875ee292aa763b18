"""The CLI's fault commands: ``controller stop|start|status``, ``loss NODE
PERCENT``, ``mtu NODE BYTES`` (k8snet.cluster.faults does the work)."""
from __future__ import annotations

from collections.abc import Callable

from k8snet.cluster import faults
from k8snet.errors import K8snetError

Out = Callable[[str], None]


def _node(cluster, name: str) -> str:
    if name not in cluster.network.nodes:
        raise K8snetError(f"no node named '{name}' (nodes: "
                          f"{', '.join(sorted(cluster.network.nodes))})")
    return name


def controller_command(cluster, words: list[str], out: Out) -> None:
    action = words[0] if words else "status"
    running = faults.controller_running(cluster.network)
    if action == "stop":
        if not running:
            raise K8snetError("controller: already stopped")
        if cluster.supervisor is not None:
            cluster.supervisor.pause("fabric-controller")
        cluster.network.stop_controller(kill=True)
        out("*** controller killed: the switches keep their flows (fail-secure); "
            "changes wait until 'controller start'\n")
    elif action == "start":
        if running:
            raise K8snetError("controller: already running")
        cluster.network.start_controller()
        if cluster.supervisor is not None:
            cluster.supervisor.resume("fabric-controller")
        out("*** controller started with the fabric as it is now\n")
    elif action == "status":
        out(f"controller: {'running' if running else 'stopped'}\n")
    else:
        raise K8snetError("usage: controller stop|start|status")


def loss_command(cluster, words: list[str], out: Out) -> None:
    if len(words) != 2:
        raise K8snetError("usage: loss NODE PERCENT   (loss NODE 0 removes it)")
    node, percent = _node(cluster, words[0]), faults.parse_percent(words[1])
    faults.set_loss(cluster.spec.name, node, percent)
    out(f"*** {node}: {percent}% of packets through eth0 dropped at random\n" if percent
        else f"*** {node}: no loss\n")


def mtu_command(cluster, words: list[str], out: Out) -> None:
    if len(words) != 2:
        raise K8snetError(f"usage: mtu NODE BYTES   (mtu NODE {faults.DEFAULT_MTU} restores)")
    node, mtu = _node(cluster, words[0]), faults.parse_mtu(words[1])
    port = faults.set_mtu(cluster.network, node, mtu)
    out(f"*** {port} (the switch port facing {node}) now takes frames up to {mtu} bytes; "
        f"{node} still sends 1500\n" if mtu != faults.DEFAULT_MTU
        else f"*** {port}: MTU {mtu} again\n")
