"""The trace's data: the lab it looks at, the two ends, the hops it tells."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from k8snet.trace.kernel import ConntrackEntry
from k8snet.trace.nftrace import TraceEvent


@dataclass
class Lab:
    """A running cluster as the tracer sees it."""

    store: object
    cluster: str
    node_netns: dict[str, str]                 # node -> its namespace
    node_ips: dict[str, str]                   # node -> InternalIP
    pod_netns: Callable[[dict], str]           # stored Pod -> its namespace
    links: dict[str, tuple[str, str]]          # switch interface -> (peer, peer interface)
    uplinks: dict[str, tuple[str, str]]        # host -> (switch, switch interface)
    host_netns: dict[str, str] = field(default_factory=dict)   # gw, ext -> namespace
    host_ips: dict[str, str] = field(default_factory=dict)     # gw, ext -> address
    faults: list[str] = field(default_factory=list)   # set now (loss, links, mtu, controller)


@dataclass
class Hop:
    """One numbered step: a title, and the evidence lines; ``path`` holds the
    picture's element pairs it crosses (k8snet.trace.picture ids)."""

    title: str
    lines: list[str] = field(default_factory=list)
    path: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Endpoint:
    """The source: a pod, a node or ext."""

    kind: str              # "pod", "node", "ext"
    name: str              # ns/pod, node name, "ext"
    ip: str
    netns: str
    node: str = ""         # the pod's node, or the node itself
    veth: str = ""         # the pod's veth on its node
    element: str = ""      # picture id


@dataclass
class Target:
    """What the source connects to, after its own resolver had its say."""

    text: str              # as the user wrote it
    ip: str
    port: int
    host: str              # HTTP Host header
    path: str = "/hostname"
    dns: Hop | None = None
    dns_server_pod: str = ""


@dataclass
class TraceResult:
    source: Endpoint
    target: Target
    protocol: str
    hops: list[Hop]
    delivered: bool
    error: str = ""
    reply: str = ""
    backend: str = ""                 # ns/pod that answered, or an address
    events: list[TraceEvent] = field(default_factory=list)
    conntrack: list[ConntrackEntry] = field(default_factory=list)
    verdict: str = ""
