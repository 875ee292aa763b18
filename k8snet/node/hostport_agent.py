"""The host port agent of one node: its pods in, k8snet.node.hostport's table out.

It gets the store, its node's name and namespace, as the other agents do.
A burst of pod events is one sync; the table is rewritten only when the
node's mappings change, and its nft session is opened on the first host
port (most clusters have none).
"""
from __future__ import annotations

from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Event, Store
from k8snet.errors import K8snetError
from k8snet.node import hostport
from k8snet.node.nftables import NftSession


class HostPortAgent(SyncController):
    watches = ("Pod",)

    def __init__(self, store: Store, node: str, netns: str) -> None:
        self.name = f"hostport-{node}"
        super().__init__(store)
        self.node = node
        self.netns = netns
        self.nft: NftSession | None = None
        # what the table holds; None after a failed transaction (rewritten next)
        self.applied: list[hostport.HostPortMapping] | None = []

    def wants(self, event: Event) -> bool:
        return (event.object.get("spec") or {}).get("nodeName") == self.node

    def sync(self) -> float | None:
        found = hostport.mappings(self.store.list(
            "Pod", where=lambda p: (p.get("spec") or {}).get("nodeName") == self.node))
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
