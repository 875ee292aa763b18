"""Load a cluster topology file (YAML) into a validated ``ClusterSpec``.

Every check runs here, before anything touches the kernel, so bad input gives
one clear line and leaves nothing behind.  Messages name the file and the
field path (``network.podCIDR``), and the line for YAML errors.
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
from k8snet.node.ipam import node_pod_cidrs

TOPO_DIR = Path(__file__).resolve().parents[2] / "topologies"
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED_HOSTS = {"gw", "ext"}
WORKLOAD_FIELDS = ("pods", "services", "ingresses")


class TopologyError(K8snetError):
    pass


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
        if not count.isdigit():
            raise TopologyError(f"topology '{topo}': node count '{count}' "
                                "is not a number")
        overrides["nodes"] = int(count)
    return path, overrides


def load(topo: str) -> ClusterSpec:
    path, overrides = resolve(topo)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TopologyError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: expected a mapping at the top level")
    data.update(overrides)
    return parse(data, source=str(path))


def _fail(source: str, where: str, what: str) -> TopologyError:
    return TopologyError(f"{source}: {where}: {what}")


def _mapping(value: Any, source: str, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(source, where, "expected a mapping")
    return value


def _labels(value: Any, source: str, where: str) -> tuple[tuple[str, str], ...]:
    labels = _mapping(value, source, where)
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _network(raw: dict, source: str) -> NetworkPlan:
    keys = {"nodeCIDR": "node_cidr", "fabricGateway": "fabric_gateway",
            "gatewayRouter": "gateway_router", "podCIDR": "pod_cidr",
            "nodeCIDRMaskSize": "node_cidr_mask_size",
            "serviceCIDR": "service_cidr", "loadBalancerPool": "lb_pool",
            "externalCIDR": "external_cidr", "extIP": "ext_ip",
            "extDNS": "ext_dns_ip", "clusterDomain": "cluster_domain"}
    kwargs = {}
    for key, value in raw.items():
        if key not in keys:
            raise _fail(source, f"network.{key}", "unknown field (known: "
                        + ", ".join(sorted(keys)) + ")")
        kwargs[keys[key]] = value
    plan = NetworkPlan(**kwargs)
    nets = {}
    for field in ("node_cidr", "pod_cidr", "service_cidr", "lb_pool",
                  "external_cidr"):
        value = getattr(plan, field)
        try:
            nets[field] = ipaddress.ip_network(str(value))
        except ValueError as exc:
            raise _fail(source, f"network.{field}", str(exc)) from None
    names = {"node_cidr": "nodeCIDR", "pod_cidr": "podCIDR",
             "service_cidr": "serviceCIDR", "lb_pool": "loadBalancerPool",
             "external_cidr": "externalCIDR"}
    fields = list(nets)
    for i, a in enumerate(fields):
        for b in fields[i + 1:]:
            if nets[a].overlaps(nets[b]):
                raise _fail(source, "network",
                            f"{names[a]} {nets[a]} overlaps {names[b]} {nets[b]}")
    for field in ("fabric_gateway", "gateway_router", "ext_ip", "ext_dns_ip"):
        try:
            ip = ipaddress.ip_address(str(getattr(plan, field)))
        except ValueError as exc:
            raise _fail(source, f"network.{field}", str(exc)) from None
        home = "external_cidr" if field.startswith("ext") else "node_cidr"
        if ip not in nets[home]:
            raise _fail(source, f"network.{field}", f"must be inside {names[home]}")
    mask = plan.node_cidr_mask_size
    if not isinstance(mask, int) or isinstance(mask, bool):
        raise _fail(source, "network.nodeCIDRMaskSize", f"'{mask}' must be a whole number")
    return plan


def _nodes(raw: Any, plan: NetworkPlan, source: str) -> tuple[Node, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        entries = [{"name": f"node{i}"} for i in range(1, raw + 1)]
    elif isinstance(raw, list):
        entries = raw
    elif raw is None:
        entries = []
    else:
        raise _fail(source, "nodes", "expected a count or a list of nodes")
    if not entries:
        raise _fail(source, "nodes", "a cluster needs at least one node")
    cidrs = node_pod_cidrs(plan.pod_cidr, int(plan.node_cidr_mask_size),
                           len(entries))
    node_net = ipaddress.ip_network(plan.node_cidr)
    nodes, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        where = f"nodes[{i - 1}]"
        entry = _mapping(entry, source, where)
        name = str(entry.get("name", f"node{i}"))
        if not DNS1123_LABEL.match(name) or len(name) > 12:
            raise _fail(source, f"{where}.name", f"'{name}' must be a DNS-1123 "
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
                          labels=_labels(entry.get("labels"), source,
                                         f"{where}.labels")))
    return tuple(nodes)


def parse(data: dict, source: str = "<topology>") -> ClusterSpec:
    known = {"name", "fabric", "nodes", "network", "links"}
    for key in data:
        if key in WORKLOAD_FIELDS:
            raise _fail(source, key, "a topology describes the network only (name, fabric, "
                        "nodes, network, links); put pods, services and ingresses in a "
                        "Kubernetes manifest and apply it with -f")
        if key not in known:
            raise _fail(source, key, "unknown field (known: "
                        + ", ".join(sorted(known)) + ")")
    name = str(data.get("name") or (Path(source).stem if source != "<topology>" else "k8snet"))
    if not DNS1123_LABEL.match(name) or len(name) > 20:
        raise _fail(source, "name", f"'{name}' must be a DNS-1123 label of at "
                    "most 20 characters")
    fabric_raw = _mapping(data.get("fabric"), source, "fabric")
    kind = fabric_raw.get("kind", "single")
    if kind == "single":
        fabric = Fabric("single", 0, 1)
    elif kind == "leafspine":
        spines, leaves = fabric_raw.get("spines", 2), fabric_raw.get("leaves", 2)
        if not (type(spines) is int and type(leaves) is int
                and 1 <= spines <= 8 and 1 <= leaves <= 16):
            raise _fail(source, "fabric", "spines must be 1-8 and leaves 1-16")
        fabric = Fabric("leafspine", spines, leaves)
    else:
        raise _fail(source, "fabric.kind",
                    f"unknown fabric '{kind}' (single or leafspine)")
    network = _network(_mapping(data.get("network"), source, "network"), source)
    try:
        nodes = _nodes(data.get("nodes", 3), network, source)
    except TopologyError:
        raise
    except K8snetError as exc:
        raise _fail(source, "nodes", str(exc)) from None
    links = _mapping(data.get("links"), source, "links")
    link = LinkParams(bw=links.get("bw"), delay=links.get("delay"),
                      loss=links.get("loss"))
    if link.bw is not None and (type(link.bw) not in (int, float)
                                or not 0 < link.bw <= 100000):
        raise _fail(source, "links.bw", f"'{link.bw}' must be Mbit/s, 0-100000")
    return ClusterSpec(name=name, fabric=fabric, network=network, nodes=nodes, link=link,
                       source=source)
