"""The netpol agent: NetworkPolicies, Pods and Namespaces in, one nftables
transaction per sync out, for one node.

Like kproxy's agent it gets the store, its node's name and namespace, and
nothing else.  A burst of events is one sync; the compiler redoes only the
pods the changed policies select, and the transaction carries only the set
elements that changed (a full table on the first sync and after a failed
one).  Source: https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""
from __future__ import annotations

import subprocess
import time

from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Store
from k8snet.errors import K8snetError
from k8snet.netpol import nft
from k8snet.netpol.compile import Compiler
from k8snet.netpol.snapshot import from_store


def apply_nft(netns: str, text: str) -> None:
    """Run one ``nft -f -`` transaction in ``netns``; K8snetError on refusal."""
    argv = ["ip", "netns", "exec", netns, "nft", "-f", "-"] if netns else ["nft", "-f", "-"]
    res = subprocess.run(argv, input=text, capture_output=True, text=True)
    if res.returncode != 0:
        first = (res.stderr.strip().splitlines() or ["failed"])[0]
        raise K8snetError(f"netpol in {netns or 'the root namespace'}: nft: {first}")


class NetpolAgent(SyncController):
    watches = ("NetworkPolicy", "Pod", "Namespace")

    def __init__(self, store: Store, node: str, netns: str) -> None:
        self.name = f"netpol-{node}"
        super().__init__(store)
        self.node = node
        self.netns = netns
        self.compiler = Compiler(node)
        self.applied: dict[str, set[str]] | None = None
        self.last_sync_ms = 0.0
        self.last_text = ""
        self.syncs = 0
        self.synced_rv = -1        # the store's resourceVersion the last good sync read

    def sync(self) -> float | None:
        t0 = time.perf_counter()
        rv = self.store.rv
        try:
            rules = self.compiler.compile(from_store(self.store))
        except Exception:
            self.compiler = Compiler(self.node)     # start clean next time
            raise
        current = nft.elements(rules)
        if self.applied is None:
            text = nft.render_full(current)
        else:
            text = nft.render_delta(self.applied, current)
        if text:
            try:
                apply_nft(self.netns, text)
            except K8snetError:
                self.applied = None                  # the next sync rewrites the table
                raise
        self.applied = current
        self.synced_rv = rv
        self.last_text = text
        self.last_sync_ms = (time.perf_counter() - t0) * 1000
        self.syncs += 1
        return None

    def stop(self) -> None:
        super().stop()
        if self.applied is not None:
            subprocess.run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"],
                           input=nft.render_cleanup(), capture_output=True, text=True)
