"""Host ports of a node's pods as nftables rules: the CNI portmap plugin's job.

A container port with a ``hostPort`` is reached at the node's address on
that port: traffic for one of the node's own addresses (or for ``hostIP``
only, when set) on that port and protocol is DNATed to the pod's IP and
container port, before kproxy's Service rules (as portmap's chain comes
first in PREROUTING), both arriving (prerouting) and from the node itself
(output).  A pod that reaches its own host port is masqueraded on the way
back in (hairpin), so its reply returns through the node and is un-NATed;
so is a connection from the node's localhost (``curl 127.0.0.1:HOSTPORT``
on the node), which the node may route to a pod because it sets
``route_localnet`` (topologies/nodes.py), as portmap with ``snat`` does.
A hostNetwork pod's ports are the node's own: nothing to map.  Pure.

    table ip k8snet-hostport
      chain prerouting   nat, prerouting, -101: fib daddr type local jump hostports
      chain output       nat, output, -101:     fib daddr type local jump hostports
      chain hostports    tcp dport 8080 dnat to 10.244.1.3:80 (comment: pod, port)
      chain postrouting  nat, postrouting, 99: ip saddr 10.244.1.3 ip daddr 10.244.1.3
                         masquerade (hairpin); ip saddr 127.0.0.0/8 ct status dnat
                         masquerade (localhost)

Sources: https://kubernetes.io/docs/concepts/configuration/overview/#services
(hostPort), the CNI plugins' portmap (plugins/meta/portmap: DNAT, hairpin SNAT).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TABLE = "k8snet-hostport"
WILDCARD = "0.0.0.0"
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
DSTNAT_FIRST = -101     # just before dstnat (-100), where kproxy's Service DNAT is
SRCNAT_FIRST = 99       # just before srcnat (100)


@dataclass(frozen=True, order=True)
class HostPortMapping:
    """``host_ip:host_port/protocol`` -> ``pod_ip:container_port`` of pod ``pod``."""

    protocol: str
    host_port: int
    host_ip: str
    pod_ip: str
    container_port: int
    pod: str            # namespace/name


def mappings(pods: Iterable[dict]) -> list[HostPortMapping]:
    """The host port mappings of running ``pods`` (with an IP; not hostNetwork)."""
    out = set()
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or spec.get("hostNetwork") is True or \
                status.get("phase") in ("Succeeded", "Failed"):
            continue
        name = f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"
        for container in spec.get("containers") or []:
            for port in container.get("ports") or []:
                host_port = port.get("hostPort")
                protocol = str(port.get("protocol") or "TCP")
                if isinstance(host_port, int) and host_port > 0 and protocol in PROTOCOLS:
                    out.add(HostPortMapping(protocol, host_port,
                                            str(port.get("hostIP") or WILDCARD), ip,
                                            int(port.get("containerPort") or host_port), name))
    return sorted(out)


def render(found: list[HostPortMapping]) -> str:
    """One nft transaction that makes the table hold exactly ``found``
    (an empty list: the table removed)."""
    head = f"add table ip {TABLE}\ndelete table ip {TABLE}\n"
    if not found:
        return head
    lines = [head + f"table ip {TABLE} {{", "  chain hostports {"]
    for m in found:
        match = "" if m.host_ip == WILDCARD else f"ip daddr {m.host_ip} "
        lines.append(f"    {match}{PROTOCOLS[m.protocol]} dport {m.host_port} dnat to "
                     f'{m.pod_ip}:{m.container_port} comment "{m.pod} hostPort '
                     f'{m.host_port}/{m.protocol}"')
    lines += ["  }"]
    for hook in ("prerouting", "output"):
        lines += [f"  chain {hook} {{",
                  f"    type nat hook {hook} priority {DSTNAT_FIRST}; policy accept;",
                  '    fib daddr type local jump hostports comment "host ports"', "  }"]
    lines += ["  chain postrouting {",
              f"    type nat hook postrouting priority {SRCNAT_FIRST}; policy accept;"]
    for ip in sorted({m.pod_ip for m in found}):
        lines.append(f'    ip saddr {ip} ip daddr {ip} masquerade comment "hairpin"')
    lines += ['    ip saddr 127.0.0.0/8 ct status dnat masquerade comment "from localhost"',
              "  }", "}"]
    return "\n".join(lines) + "\n"
