"""The objects a NetworkPolicy verdict depends on, frozen at one moment.

A ``Snapshot`` holds the namespaces' labels, every pod with an IP (its
labels, node and named container ports) and the stored NetworkPolicies as
defaulted API JSON.  Both the oracle and the nftables compiler read it; the
netpol agent builds one from the store per sync.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class PodPort:
    """One ``containerPort``: ``PodPort("serve-80-tcp", 80, "TCP")``; name may be ""."""

    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class PodInfo:
    """A pod as NetworkPolicy sees it: identity, labels, IPv4 address, node, ports."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str
    node: str = ""
    ports: tuple[PodPort, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``, the way the probe matrix names a pod."""
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        """The number of container port ``name`` with ``protocol``, or None."""
        for p in self.ports:
            if p.name == name and p.protocol == protocol:
                return p.port
        return None


@dataclass(frozen=True)
class Snapshot:
    """namespaces: name -> labels; pods: those with an IP; policies: API JSON."""

    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pods: tuple[PodInfo, ...] = ()
    policies: tuple[dict, ...] = ()

    def pod(self, key: str) -> PodInfo | None:
        """The pod named ``namespace/name``, or None."""
        for p in self.pods:
            if p.key == key:
                return p
        return None

    def pod_by_ip(self, ip: str) -> PodInfo | None:
        for p in self.pods:
            if p.ip == ip:
                return p
        return None


def _pod_info(obj: Mapping) -> PodInfo | None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    ip = status.get("podIP") or ""
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports = tuple(PodPort(str(p.get("name") or ""), int(p.get("containerPort") or 0),
                          str(p.get("protocol") or "TCP"))
                  for c in spec.get("containers") or [] for p in c.get("ports") or [])
    return PodInfo(meta.get("namespace") or "default", meta.get("name") or "",
                   dict(meta.get("labels") or {}), ip, spec.get("nodeName") or "", ports)


def from_objects(namespaces: Iterable[Mapping], pods: Iterable[Mapping],
                 policies: Iterable[Mapping]) -> Snapshot:
    """A snapshot from stored API objects (Namespaces, Pods, NetworkPolicies).

    Pods without an IP, host-network pods and finished pods are left out:
    NetworkPolicy selects pods by their IP on the pod network."""
    ns = {(n.get("metadata") or {}).get("name", ""): dict((n.get("metadata") or {})
                                                        .get("labels") or {})
          for n in namespaces}
    infos = tuple(i for i in (_pod_info(p) for p in pods) if i is not None)
    return Snapshot(ns, infos, tuple(dict(p) for p in policies))


def from_store(store) -> Snapshot:
    """``from_objects`` over everything in ``store`` (an apiserver Store)."""
    return from_objects(store.list("Namespace"), store.list("Pod"),
                        store.list("NetworkPolicy"))
