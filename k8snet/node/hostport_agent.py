"""The host port agent of one node: its pods in, k8snet.node.hostport's table out.

It gets the store, its node's name and namespace, as the other agents do.
A burst of pod events is one sync; the table is rewritten only when the
node's mappings change, and its nft session is opened on the first host
port (most clusters have none).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.api.hostports import host_ports
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Event, Store, key_of
from k8snet.errors import K8snetError
from k8snet.node import hostport
from k8snet.node.nftables import NftSession


class HostPortAgent(SyncController):
    """Only the node's pods that ask for a host port are delivered to it (a
    thousand pods without one wake nothing); their mappings are kept from
    the events, so a sync reads no pod list."""

    watches = ("Pod",)

    def __init__(self, store: Store, node: str, netns: str) -> None:
        self.name = f"hostport-{node}"
        super().__init__(store)
        self.node = node
        self.netns = netns
        self.nft: NftSession | None = None
        self._pods: dict[Hashable, list[hostport.HostPortMapping]] = {}
        # what the table holds; None after a failed transaction (rewritten next)
        self.applied: list[hostport.HostPortMapping] | None = []

    def wants(self, event: Event) -> bool:
        spec = event.object.get("spec") or {}
        return spec.get("nodeName") == self.node and (
            bool(host_ports(event.object)) or key_of(event.object) in self._pods)

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        key = key_of(event.object)
        found = [] if event.type == "DELETED" else hostport.mappings([event.object])
        if found:
            self._pods[key] = found
        else:
            self._pods.pop(key, None)
        return [self.SYNC]

    def initial_keys(self) -> Iterable[Hashable]:
        self._pods = {}
        for pod in self.store.list("Pod"):
            spec = pod.get("spec") or {}
            if spec.get("nodeName") == self.node and host_ports(pod):
                found = hostport.mappings([pod])
                if found:
                    self._pods[key_of(pod)] = found
        return [self.SYNC]

    def sync(self) -> float | None:
        found = sorted(m for mapped in self._pods.values() for m in mapped)
        if found == self.applied:
            return None
        if self.nft is None:
            self.nft = NftSession(self.netns)
        try:
            self.nft.run(hostport.render(found))
        except K8snetError:
            self.applied = None
            raise
        self.applied = found
        return None

    def stop(self) -> None:
        super().stop()
        if self.nft is None:
            return
        try:
            if self.applied != []:
                self.nft.run(hostport.render([]))
        except K8snetError as exc:
            self.log.warning("hostport cleanup in %s: %s", self.netns, exc)
        finally:
            self.nft.close()
