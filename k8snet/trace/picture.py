"""What a picture of the cluster shows, as plain data: nodes with their pods
(each on a routed veth), fabric switches and links, the gateway router, ext, and Services
as virtual IPs; and a packet's path over it as numbered hops.

Built from the API store and a ``Fabric`` (switch names and links), so it is
testable without a running cluster; ``k8snet.trace.draw`` renders it.

Element ids, the names a ``Path`` uses and the picture draws (``element_ids``):

- a pod: ``NAMESPACE/NAME`` (``default/web-1``)
- a node (its root namespace, eth0 and the node ends of its pods' veths,
  where it routes): the node's name (``node1``)
- a fabric switch: its name (``tor1``, ``leaf1``, ``spine2``)
- the gateway router ``gw`` and the Internet host ``ext``
- a Service's virtual IP: ``svc:NAMESPACE/NAME`` (``svc:default/web``)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from k8snet import naming
from k8snet.api.convert import is_ready, node_ip, slices_of
from k8snet.api.model import pod_gateway_of
from k8snet.errors import K8snetError

GATEWAY = "gw"
EXT = "ext"


def pod_id(namespace: str, name: str) -> str:
    """``default/web-1``: a pod's element id."""
    return f"{namespace}/{name}"


def service_id(namespace: str, name: str) -> str:
    """``svc:default/web``: a Service's virtual IP."""
    return f"svc:{namespace}/{name}"


@dataclass
class PodBox:
    """One pod: its IP ("" before it has one) and the node end of its veth
    ("" for a hostNetwork pod, which lives in the node's namespace)."""

    namespace: str
    name: str
    ip: str
    veth: str
    ready: bool
    host_network: bool = False

    @property
    def key(self) -> str:
        return pod_id(self.namespace, self.name)


@dataclass
class NodeBox:
    """One node: InternalIP, pod CIDR (``10.244.1.0/24``) and its pods."""

    name: str
    ip: str
    pod_cidr: str
    pods: list[PodBox] = field(default_factory=list)

    @property
    def pod_gateway(self) -> str:
        """The pods' gateway, held by the node end of each pod's veth: the
        first host of the pod CIDR ("" when unknown)."""
        try:
            return pod_gateway_of(self.pod_cidr)
        except ValueError:
            return ""


@dataclass
class ServiceVip:
    """A Service as a virtual IP: ``cluster_ip`` ("None" when headless),
    ``type`` (ClusterIP, NodePort, LoadBalancer, ExternalName), external IPs
    (externalIPs and LoadBalancer ingress), and endpoint pod keys ``ns/name``."""

    namespace: str
    name: str
    cluster_ip: str
    type: str
    external_ips: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return service_id(self.namespace, self.name)


@dataclass
class Picture:
    """The whole cluster.  ``links`` are fabric links as element-id pairs:
    node—switch, switch—switch, gw—switch, gw—ext.  ``labels`` adds a line
    (an address) under an element's name, e.g. ``{"gw": "172.18.0.2"}``."""

    nodes: list[NodeBox]
    switches: list[str]
    links: list[tuple[str, str]]
    gateway: str = GATEWAY
    ext: str = EXT
    services: list[ServiceVip] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Fabric:
    """What the picture needs from the network: switch names, links between
    Mininet node names (nodes, switches, ``gw``, ``ext``), the cluster name
    (for veth names), and addresses to show (``{"gw": ip, "ext": ip}``)."""

    switches: list[str]
    links: list[tuple[str, str]]
    cluster: str
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PathHop:
    """Hop ``number`` (1, 2, ...) from element ``src`` to element ``dst``;
    ``label`` is a short note drawn on the edge (``eth0 -> veth1a2b3c4d``)."""

    number: int
    src: str
    dst: str
    label: str = ""


@dataclass
class Path:
    """A packet's path: hops in order.  ``src == dst`` is a hop inside one
    element (a pod's ``lo``)."""

    hops: list[PathHop] = field(default_factory=list)

    def pairs(self) -> set[tuple[str, str]]:
        """The (src, dst) of every hop."""
        return {(h.src, h.dst) for h in self.hops}


def element_ids(picture: Picture) -> set[str]:
    """Every element id the picture draws (see the module docstring)."""
    ids = {picture.gateway, picture.ext, *picture.switches}
    for node in picture.nodes:
        ids |= {node.name, *(p.key for p in node.pods)}
    ids |= {s.key for s in picture.services}
    return ids


def unknown_ids(picture: Picture, path: Path | None = None) -> list[str]:
    """Ids that links or ``path`` name but the picture lacks, sorted."""
    known = element_ids(picture)
    named = {e for link in picture.links for e in link}
    if path is not None:
        named |= {e for h in path.hops for e in (h.src, h.dst)}
    return sorted(named - known)


# --- from the API store -------------------------------------------------------

def _pod_box(pod: dict, cluster: str) -> PodBox:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns, name = meta.get("namespace", "default"), meta.get("name", "")
    host = spec.get("hostNetwork") is True
    return PodBox(namespace=ns, name=name, ip=(pod.get("status") or {}).get("podIP") or "",
                  veth="" if host else naming.host_veth(cluster, ns, name),
                  ready=is_ready(pod), host_network=host)


def _service_vip(svc: dict, slices: list[dict]) -> ServiceVip:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = [*(spec.get("externalIPs") or []), *(i["ip"] for i in ingress if i.get("ip"))]
    endpoints = {pod_id(ref.get("namespace") or meta.get("namespace", "default"),
                        ref.get("name", ""))
                 for s in slices_of(svc, slices) for e in s.get("endpoints") or []
                 for ref in [e.get("targetRef") or {}] if ref.get("kind") == "Pod"}
    return ServiceVip(namespace=meta.get("namespace", "default"), name=meta.get("name", ""),
                      cluster_ip=spec.get("clusterIP", "") or "",
                      type=spec.get("type", "ClusterIP") or "ClusterIP",
                      external_ips=list(dict.fromkeys(external)), endpoints=sorted(endpoints))


def picture_from(store, fabric: Fabric) -> Picture:
    """The picture of what ``store`` (a ``k8snet.apiserver.store.Store``)
    holds, on ``fabric``.  Pods that have not been scheduled to a known node,
    or have finished (Succeeded/Failed), are left out; so are links to
    elements the picture lacks."""
    nodes = {}
    for obj in store.list("Node"):
        name = obj["metadata"]["name"]
        nodes[name] = NodeBox(name=name, ip=node_ip(obj),
                              pod_cidr=(obj.get("spec") or {}).get("podCIDR") or "")
    for pod in store.list("Pod"):
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        node.pods.append(_pod_box(pod, fabric.cluster))
    slices = store.list("EndpointSlice")
    services = [_service_vip(s, slices) for s in store.list("Service")]
    picture = Picture(nodes=list(nodes.values()), switches=list(fabric.switches), links=[],
                      services=services, labels=dict(fabric.addresses))
    known, seen = element_ids(picture), set()
    for a, b in fabric.links:
        if a in known and b in known and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            picture.links.append((a, b))
    return picture


def fabric_from(network) -> Fabric:
    """The ``Fabric`` of a started ``k8snet.cluster.network.Network``: its
    Mininet switches and links (node—switch, switch—switch, gw—switch, gw—ext)."""
    if network.net is None:
        raise K8snetError("the network is not running")
    plan = network.spec.network
    return Fabric(switches=[sw.name for sw in network.net.switches],
                  links=[(link.intf1.node.name, link.intf2.node.name)
                         for link in network.net.links],
                  cluster=network.spec.name,
                  addresses={GATEWAY: plan.gateway_router, EXT: plan.ext_ip})
