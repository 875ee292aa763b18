"""Load a cluster topology file (YAML) into a validated ``ClusterSpec``.

Every check runs here, before anything touches the kernel, so bad input gives
one clear line and leaves nothing behind.  Messages name the file and the
field path (``network.podCIDR``), and the line for YAML errors.  Values reach
Mininet's shell commands, so each is checked against a strict format and kept
in its canonical form (``k8snet.load.topofields``); sizes are bounded (at most
64 nodes, a 1 MiB file, YAML without alias bombs: ``k8snet.load.yamlsafe``).
"""
from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import yaml

from k8snet.api.model import (
    ClusterSpec,
    Fabric,
    LinkParams,
    NetworkPlan,
    Node,
)
from k8snet.errors import K8snetError
from k8snet.load import topofields as tf
from k8snet.load.topofields import MAX_NODES, TopologyError
from k8snet.load.yamlsafe import BoundedLoader, TooLarge, read_text
from k8snet.node.ipam import node_pod_cidrs

TOPO_DIR = Path(__file__).resolve().parents[2] / "topologies"
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED_HOSTS = {"gw", "ext"}
WORKLOAD_FIELDS = ("pods", "services", "ingresses")
MAX_TOPOLOGY_BYTES = 1024 * 1024
__all__ = ["MAX_NODES", "TOPO_DIR", "TopologyError", "builtin_topologies", "load", "parse",
           "resolve"]


def builtin_topologies() -> list[str]:
    return sorted(p.stem for p in TOPO_DIR.glob("*.yaml"))


def resolve(topo: str) -> tuple[Path, dict]:
    """Map ``NAME``, ``NAME,N`` or a path to (file, overrides)."""
    if topo.endswith((".yaml", ".yml")) or os.sep in topo:
        path = Path(topo)
        if not path.is_file():
            raise TopologyError(f"topology file {topo} not found")
        return path, {}
    name, _, count = topo.partition(",")
    path = TOPO_DIR / f"{name}.yaml"
    if not path.is_file():
        raise TopologyError(
            f"unknown topology '{name}' (known: {', '.join(builtin_topologies())};"
            " or give a path to a .yaml file)")
    overrides = {}
    if count:
        if not re.fullmatch(r"[0-9]+", count):
            raise TopologyError(f"topology '{name},{count[:20]}': node count "
                                f"{tf.shown(count)} is not a number")
        if len(count) > 6 or int(count) > MAX_NODES:
            raise TopologyError(f"topology '{name},{count[:20]}': {count[:20]} nodes is more "
                                f"than this lab's limit of {MAX_NODES} (each node is a "
                                "Mininet host with its own kubelet and proxy, all on this "
                                "one machine)")
        overrides["nodes"] = int(count)
    return path, overrides


def load(topo: str) -> ClusterSpec:
    """``NAME``, ``NAME,N`` or a file's path to a checked ``ClusterSpec``;
    raises ``TopologyError`` with one line naming the file and field."""
    path, overrides = resolve(topo)
    try:
        data = yaml.load(read_text(path, MAX_TOPOLOGY_BYTES), Loader=BoundedLoader)
    except TooLarge as exc:
        raise TopologyError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TopologyError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: expected a mapping at the top level")
    data.update(overrides)
    return parse(data, source=str(path))


_fail = tf.fail
_NETWORK_KEYS = {"nodeCIDR": "node_cidr", "fabricGateway": "fabric_gateway",
                 "gatewayRouter": "gateway_router", "podCIDR": "pod_cidr",
                 "nodeCIDRMaskSize": "node_cidr_mask_size",
                 "serviceCIDR": "service_cidr", "loadBalancerPool": "lb_pool",
                 "externalCIDR": "external_cidr", "extIP": "ext_ip",
                 "extDNS": "ext_dns_ip", "clusterDomain": "cluster_domain"}
_YAML_NAME = {v: k for k, v in _NETWORK_KEYS.items()}
_CIDRS = ("node_cidr", "pod_cidr", "service_cidr", "lb_pool", "external_cidr")
_ADDRESSES = ("fabric_gateway", "gateway_router", "ext_ip", "ext_dns_ip")


def _network(raw: dict, source: str) -> NetworkPlan:
    """The address plan: IPv4 CIDRs and addresses in canonical form, no overlaps,
    each gateway inside its network, the cluster domain a DNS subdomain."""
    raw = tf.mapping(raw, source, "network", tuple(_NETWORK_KEYS))
    kwargs = {_NETWORK_KEYS[key]: value for key, value in raw.items()}
    plan = NetworkPlan(**kwargs)
    where = {field: f"network.{_YAML_NAME[field]}" for field in _YAML_NAME}
    clean: dict[str, Any] = {}
    for field in _CIDRS:
        clean[field] = tf.ipv4_network(getattr(plan, field), source, where[field])
    nets = {field: ipaddress.IPv4Network(clean[field]) for field in _CIDRS}
    for i, a in enumerate(_CIDRS):
        for b in _CIDRS[i + 1:]:
            if nets[a].overlaps(nets[b]):
                raise _fail(source, "network", f"{_YAML_NAME[a]} {nets[a]} overlaps "
                            f"{_YAML_NAME[b]} {nets[b]}")
    for field in _ADDRESSES:
        clean[field] = tf.ipv4_address(getattr(plan, field), source, where[field])
        home = "external_cidr" if field.startswith("ext") else "node_cidr"
        if ipaddress.IPv4Address(clean[field]) not in nets[home]:
            raise _fail(source, where[field], f"must be inside {_YAML_NAME[home]}")
    mask = plan.node_cidr_mask_size
    if not isinstance(mask, int) or isinstance(mask, bool):
        raise _fail(source, where["node_cidr_mask_size"],
                    f"{tf.shown(mask)} must be a whole number")
    clean["cluster_domain"] = tf.subdomain(plan.cluster_domain, source,
                                           where["cluster_domain"])
    return NetworkPlan(node_cidr_mask_size=mask, **clean)


def _node_entries(raw: Any, source: str) -> list:
    if isinstance(raw, int) and not isinstance(raw, bool):
        tf.node_count(raw, source)
        return [{"name": f"node{i}"} for i in range(1, raw + 1)]
    if isinstance(raw, list):
        tf.node_count(len(raw), source)
        return raw
    if raw is None:
        return []
    raise _fail(source, "nodes", "expected a count or a list of nodes")


def _nodes(raw: Any, plan: NetworkPlan, source: str) -> tuple[Node, ...]:
    entries = _node_entries(raw, source)
    if not entries:
        raise _fail(source, "nodes", "a cluster needs at least one node")
    cidrs = node_pod_cidrs(plan.pod_cidr, int(plan.node_cidr_mask_size),
                           len(entries))
    node_net = ipaddress.ip_network(plan.node_cidr)
    nodes, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        where = f"nodes[{i - 1}]"
        entry = tf.mapping(entry, source, where, ("name", "labels"))
        name = entry.get("name", f"node{i}")
        if not isinstance(name, str) or not DNS1123_LABEL.match(name) or len(name) > 12:
            raise _fail(source, f"{where}.name", f"{tf.shown(name)} must be a DNS-1123 "
                        "label of at most 12 characters (it names interfaces)")
        if name in seen or name in RESERVED_HOSTS:
            raise _fail(source, f"{where}.name", f"duplicate or reserved node "
                        f"name '{name}'")
        seen.add(name)
        ip = node_net.network_address + 10 + i
        if ip not in node_net or ip == node_net.broadcast_address:
            raise _fail(source, where, f"nodeCIDR {node_net} has no room for "
                        f"node {i}")
        nodes.append(Node(name=name, index=i, ip=str(ip), pod_cidr=cidrs[i - 1],
                          labels=tf.labels(entry.get("labels"), source, f"{where}.labels")))
    return tuple(nodes)


def _fabric(raw: Any, source: str) -> Fabric:
    fabric_raw = tf.mapping(raw, source, "fabric", ("kind", "spines", "leaves"))
    kind = fabric_raw.get("kind", "single")
    if kind == "single":
        return Fabric("single", 0, 1)
    if kind == "leafspine":
        spines, leaves = fabric_raw.get("spines", 2), fabric_raw.get("leaves", 2)
        if not (type(spines) is int and type(leaves) is int
                and 1 <= spines <= 8 and 1 <= leaves <= 16):
            raise _fail(source, "fabric", "spines must be 1-8 and leaves 1-16")
        return Fabric("leafspine", spines, leaves)
    raise _fail(source, "fabric.kind", f"unknown fabric {tf.shown(kind)} (single or leafspine)")


def _links(raw: Any, source: str) -> LinkParams:
    links = tf.mapping(raw, source, "links", ("bw", "delay", "loss"))
    return LinkParams(bw=tf.link_number(links.get("bw"), source, "links.bw", 100000, "Mbit/s"),
                      delay=tf.link_delay(links.get("delay"), source),
                      loss=tf.link_number(links.get("loss"), source, "links.loss", 100,
                                          "a percentage"))


def parse(data: dict, source: str = "<topology>") -> ClusterSpec:
    """A topology mapping (``name``, ``fabric``, ``nodes``, ``network``,
    ``links``) to a checked ``ClusterSpec``; ``source`` names it in errors."""
    known = {"name", "fabric", "nodes", "network", "links"}
    for key in data:
        if key in WORKLOAD_FIELDS:
            raise _fail(source, key, "a topology describes the network only (name, fabric, "
                        "nodes, network, links); put pods, services and ingresses in a "
                        "Kubernetes manifest and apply it with -f")
        if key not in known:
            raise _fail(source, tf.shown(key) if not isinstance(key, str) else key,
                        "unknown field (known: " + ", ".join(sorted(known)) + ")")
    name = data.get("name") or (Path(source).stem if source != "<topology>" else "k8snet")
    if not isinstance(name, str) or not DNS1123_LABEL.match(name) or len(name) > 20:
        raise _fail(source, "name", f"{tf.shown(name)} must be a DNS-1123 label of at "
                    "most 20 characters")
    fabric = _fabric(data.get("fabric"), source)
    network = _network(data.get("network"), source)
    try:
        nodes = _nodes(data.get("nodes", 3), network, source)
    except TopologyError:
        raise
    except K8snetError as exc:
        raise _fail(source, "nodes", str(exc)) from None
    return ClusterSpec(name=name, fabric=fabric, network=network, nodes=nodes,
                       link=_links(data.get("links"), source), source=source)
