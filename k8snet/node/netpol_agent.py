"""The netpol agent: NetworkPolicies, Pods and Namespaces in, one nftables
transaction per sync out, for one node.

Like kproxy's agent it gets the store, its node's name and namespace, and
nothing else.  A burst of events is one sync; the compiler redoes only the
pods the changed policies select, and the transaction rewrites only those
pods' sets (a full table on the first sync and after a failed one).  Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""
from __future__ import annotations

import subprocess
import time

from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Event, Store
from k8snet.errors import K8snetError
from k8snet.netpol import nft
from k8snet.netpol.compile import Compiler
from k8snet.netpol.snapshot import from_store
from k8snet.node.netns import exec_argv as netns_exec_argv
from k8snet.node.nftables import NftSession


class NetpolAgent(SyncController):
    watches = ("NetworkPolicy", "Pod", "Namespace")

    def __init__(self, store: Store, node: str, netns: str) -> None:
        self.name = f"netpol-{node}"
        super().__init__(store)
        self.node = node
        self.netns = netns
        self.nft = NftSession(netns)
        self.compiler = Compiler(node)
        self.applied: nft.State | None = None
        self.last_sync_ms = 0.0
        self.last_text = ""
        self.syncs = 0
        self.synced_rv = -1        # the store's resourceVersion the last good sync read
        self.without_policies = False  # the applied state came from no policy at all

    def wants(self, event: Event) -> bool:
        """While no policy was stored at the last sync, Pod and Namespace
        events are not delivered: a NetworkPolicy event comes first and its
        sync reads every pod from the store."""
        return event.kind == "NetworkPolicy" or not self.without_policies

    def _unchanged_without_policies(self) -> bool:
        """Pods and namespaces only matter to policies: with none stored, and
        none when the applied state was made, a pod event changes nothing
        (a thousand pods would otherwise mean a snapshot per event per node)."""
        return (self.applied is not None and self.without_policies
                and not self.store.list("NetworkPolicy"))

    def sync(self) -> float | None:
        t0 = time.perf_counter()
        rv = self.store.rv
        if self._unchanged_without_policies():
            self.synced_rv = rv      # no policy before or now: no pod is isolated
            return None
        try:
            rules = self.compiler.compile(from_store(self.store))
        except Exception:
            self.compiler = Compiler(self.node)     # start clean next time
            raise
        current = nft.state(rules)
        if self.applied is None:
            text = nft.render_full(current)
        else:
            text = nft.render_delta(self.applied, current)
        if text:
            try:
                self.nft.run(text)
            except K8snetError:
                self.applied = None                  # the next sync rewrites the table
                raise
        previous, self.applied = self.applied, current
        self.without_policies = not self.store.list("NetworkPolicy")
        self.synced_rv = rv
        if previous is not None:
            self._forget_udp_flows(previous, current)
        self.last_text = text
        self.last_sync_ms = (time.perf_counter() - t0) * 1000
        self.syncs += 1
        return None

    def _forget_udp_flows(self, previous: nft.State, current: nft.State) -> None:
        """UDP has no handshake: a flow a policy allowed stays "established" in
        conntrack (and so allowed) for as long as packets keep coming.  When a
        pod's allowed peers change, its UDP flows are forgotten, so the next
        datagram is judged afresh, as kube-proxy does for a gone endpoint's
        UDP flows (kubernetes/kubernetes#48370)."""
        for direction in nft.DIRECTIONS:
            old, new = previous.pods[direction], current.pods[direction]
            for ip in sorted(ip for ip in new if old.get(ip) != new[ip]):
                flag = "--orig-dst" if direction == "ingress" else "--orig-src"
                subprocess.run(netns_exec_argv(self.netns, ["conntrack", "-D", "-p", "udp",
                                                            flag, ip]), capture_output=True)

    def stop(self) -> None:
        super().stop()
        try:
            if self.applied is not None:
                self.nft.run(nft.render_cleanup())
        except K8snetError as exc:
            self.log.warning("netpol cleanup in %s: %s", self.netns, exc)
        finally:
            self.nft.close()
