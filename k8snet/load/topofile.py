"""Load a cluster topology file (YAML) into a validated ``ClusterSpec``.

Every check runs here, before anything touches the kernel, so bad input gives
one clear line and leaves nothing behind.  Messages name the file and the
field path (``pods[2].containers[0].ports[0]``), and the line for YAML errors.
"""
from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import yaml

from k8snet.addons.ingress import parse_ingress
from k8snet.api.model import (
    ClusterSpec,
    Container,
    ContainerPort,
    Fabric,
    LinkParams,
    NetworkPlan,
    Node,
    Pod,
)
from k8snet.api.service import parse_service
from k8snet.api.service import validate as validate_service
from k8snet.errors import K8snetError
from k8snet.node.ipam import node_pod_cidrs

TOPO_DIR = Path(__file__).resolve().parents[2] / "topologies"
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESERVED_HOSTS = {"gw", "ext"}


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
    if "nodes" in overrides and isinstance(data.get("pods"), list):
        # ``NAME,N``: pods pinned to a node the smaller cluster lacks are
        # scheduled like unpinned ones instead of failing the built-in file.
        names = {f"node{i}" for i in range(1, overrides["nodes"] + 1)}
        for pod in data["pods"]:
            if isinstance(pod, dict) and pod.get("node") not in names:
                pod.pop("node", None)
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


def _port(raw: Any, source: str, where: str) -> ContainerPort:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"containerPort": raw}
    raw = _mapping(raw, source, where)
    port = raw.get("containerPort")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise _fail(source, f"{where}.containerPort",
                    f"'{port}' must be a port number 1-65535")
    protocol = str(raw.get("protocol", "TCP"))
    if protocol not in ("TCP", "UDP"):
        raise _fail(source, f"{where}.protocol",
                    f"'{protocol}' is not supported (TCP or UDP)")
    name = str(raw.get("name", ""))
    if name and (len(name) > 15 or not DNS1123_LABEL.match(name)):
        raise _fail(source, f"{where}.name", f"'{name}' is not a valid port name")
    return ContainerPort(container_port=port, protocol=protocol, name=name)


def _strings(value: Any, source: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise _fail(source, where, "expected a list of strings")
    return tuple(str(v) for v in value)


def parse_container(raw: Any, source: str, where: str) -> Container:
    raw = _mapping(raw, source, where)
    name = str(raw.get("name", ""))
    if not DNS1123_LABEL.match(name):
        raise _fail(source, f"{where}.name", f"'{name}' is not a DNS-1123 label")
    ports = tuple(_port(p, source, f"{where}.ports[{i}]")
                  for i, p in enumerate(raw.get("ports") or []))
    env = []
    for i, entry in enumerate(raw.get("env") or []):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise _fail(source, f"{where}.env[{i}]", "needs a name")
        env.append((str(entry["name"]), str(entry.get("value", ""))))
    return Container(name=name, image=str(raw.get("image", "")),
                     command=_strings(raw.get("command"), source,
                                      f"{where}.command"),
                     args=_strings(raw.get("args"), source, f"{where}.args"),
                     ports=ports, env=tuple(env))


def parse_pod(raw: Any, source: str, where: str) -> Pod:
    raw = _mapping(raw, source, where)
    name = str(raw.get("name", ""))
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise _fail(source, f"{where}.name",
                    f"'{name}' is not a valid pod name (DNS-1123 subdomain)")
    namespace = str(raw.get("namespace", "default"))
    if not DNS1123_LABEL.match(namespace):
        raise _fail(source, f"{where}.namespace",
                    f"'{namespace}' is not a DNS-1123 label")
    containers = raw.get("containers")
    if not containers:
        containers = [{"name": name.split(".")[0][:63],
                       "ports": raw.get("ports") or []}]
    parsed = tuple(parse_container(c, source, f"{where}.containers[{i}]")
                   for i, c in enumerate(containers))
    seen_names: set[str] = set()
    seen_ports: set[tuple[int, str]] = set()
    for i, container in enumerate(parsed):
        if container.name in seen_names:
            raise _fail(source, f"{where}.containers[{i}].name",
                        f"duplicate container name '{container.name}'")
        seen_names.add(container.name)
        for port in container.ports:
            key = (port.container_port, port.protocol)
            if key in seen_ports:
                raise _fail(source, f"{where}.containers[{i}]",
                            f"port {port.container_port}/{port.protocol} is "
                            "already used by another container of this pod")
            seen_ports.add(key)
    return Pod(name=name, namespace=namespace,
               node_name=str(raw.get("node", raw.get("nodeName", "")) or ""),
               labels=_labels(raw.get("labels"), source, f"{where}.labels"),
               containers=parsed)


def parse(data: dict, source: str = "<topology>") -> ClusterSpec:
    known = {"name", "fabric", "nodes", "network", "links", "pods", "services",
             "ingresses"}
    for key in data:
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
    pods, keys = [], set()
    node_names = {n.name for n in nodes}
    raw_pods = data.get("pods") or []
    if not isinstance(raw_pods, list):
        raise _fail(source, "pods", "expected a list of pods")
    for i, raw in enumerate(raw_pods):
        pod = parse_pod(raw, source, f"pods[{i}]")
        if pod.key in keys:
            raise _fail(source, f"pods[{i}].name",
                        f"duplicate pod {pod.key}: pod names must be unique "
                        "within a namespace")
        if pod.name in node_names or pod.name in RESERVED_HOSTS:
            raise _fail(source, f"pods[{i}].name",
                        f"pod name '{pod.name}' clashes with a host name")
        if pod.node_name and pod.node_name not in node_names:
            raise _fail(source, f"pods[{i}].node",
                        f"unknown node '{pod.node_name}' (nodes: "
                        + ", ".join(sorted(node_names)) + ")")
        keys.add(pod.key)
        pods.append(pod)
    services = []
    raw_services = data.get("services") or []
    if not isinstance(raw_services, list):
        raise _fail(source, "services", "expected a list of services")
    for i, raw in enumerate(raw_services):
        try:
            svc = parse_service(raw, source, f"services[{i}]")
            validate_service(svc)
        except K8snetError as exc:
            raise _fail(source, f"services[{i}]", str(exc)) from None
        services.append(svc)
    ingresses = []
    for i, raw in enumerate(data.get("ingresses") or []):
        if not isinstance(raw, dict):
            raise _fail(source, f"ingresses[{i}]", "expected a mapping")
        try:
            ingresses.append(parse_ingress(raw, f"ingresses[{i}]"))
        except K8snetError as exc:
            raise _fail(source, f"ingresses[{i}]", str(exc)) from None
    return ClusterSpec(name=name, fabric=fabric, network=network,
                       nodes=nodes, pods=tuple(pods), link=link, source=source,
                       services=tuple(services), ingresses=tuple(ingresses))
