"""Cluster DNS, the control side: Services, EndpointSlices and Pods in, the
zone snapshot the DNS pods serve out (they reload it within 0.02 s, at most
once per 0.2 s: addons.dns).

The records follow the kubernetes/dns specification 1.1.0 (``dnszone.py``);
this agent only gathers what the zone needs from the store.
"""
from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from pathlib import Path

from k8snet.api.convert import endpoint_rows, slices_of
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Event, Store
from k8snet.node.discovery import write_snapshot

# Seconds between two zone writes, as kube-proxy's minSyncPeriod: a burst of
# pods (1,000 created at once) is a few writes, not one per pod.  The DNS pods
# look at the file every 0.02 s (addons.dns.POLL_INTERVAL), so nothing is lost.
MIN_SYNC_PERIOD = 0.1


def snapshot(services: list[dict], slices: list[dict], pods: list[dict], domain: str) -> dict:
    """The zone snapshot: every Service with its ports and endpoint rows
    (one per address, all its ports), and every pod IP with its namespace."""
    out = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        mine = slices_of(svc, slices)
        rows: dict[str, dict] = {}
        for port in spec.get("ports") or []:
            for r in endpoint_rows(port, mine):
                row = rows.setdefault(r["ip"], {"ip": r["ip"], "hostname": r["hostname"],
                                                "ready": r["ready"], "ports": []})
                row["ready"] = row["ready"] and r["ready"]
                row["ports"].append({"name": port.get("name", ""),
                                     "protocol": port.get("protocol", "TCP"),
                                     "port": r["port"]})
        if not spec.get("ports"):
            for sl in mine:
                for ep in sl.get("endpoints") or []:
                    for ip in ep.get("addresses") or []:
                        rows.setdefault(ip, {"ip": ip, "hostname": ep.get("hostname", ""),
                                             "ready": (ep.get("conditions") or {})
                                             .get("ready") is not False, "ports": []})
        out.append({"name": meta["name"], "namespace": meta.get("namespace", "default"),
                    "type": spec.get("type", "ClusterIP"),
                    "cluster_ip": spec.get("clusterIP", "") or "",
                    "external_name": spec.get("externalName", "") or "",
                    "ports": [{"name": p.get("name", ""), "protocol": p.get("protocol", "TCP"),
                               "port": p.get("port")} for p in spec.get("ports") or []],
                    "endpoints": [rows[ip] for ip in sorted(rows)]})
    pod_rows = sorted({((p.get("status") or {}).get("podIP"), p["metadata"].get("namespace"))
                       for p in pods if (p.get("status") or {}).get("podIP")})
    return {"domain": domain, "services": out,
            "pods": [{"ip": ip, "namespace": ns} for ip, ns in pod_rows]}


class DnsAgent(SyncController):
    name = "cluster-dns"
    watches = ("Service", "EndpointSlice", "Pod")

    def __init__(self, store: Store, path: Path, domain: str,
                 min_sync_period: float = MIN_SYNC_PERIOD) -> None:
        super().__init__(store)
        self.path = path
        self.domain = domain
        self.min_sync_period = min_sync_period
        self.writes = 0
        self._last_sync = float("-inf")
        self._pod_ips: dict[tuple[str, str], str] = {}   # the zone's only use of a Pod

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """Services and EndpointSlices always; a Pod only when its IP comes,
        goes or changes (its many status updates leave the zone as it is)."""
        if event.kind != "Pod":
            return [self.SYNC]
        meta = event.object.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        ip = "" if event.type == "DELETED" else \
            (event.object.get("status") or {}).get("podIP") or ""
        if self._pod_ips.get(key, "") == ip:
            return []
        if ip:
            self._pod_ips[key] = ip
        else:
            self._pod_ips.pop(key, None)
        return [self.SYNC]

    def sync(self) -> float | None:
        """Write the zone; seconds to wait instead while the last write is
        younger than ``min_sync_period``."""
        wait = self._last_sync + self.min_sync_period - time.monotonic()
        if wait > 0:
            return wait
        self._last_sync = time.monotonic()
        snap = snapshot(self.store.list("Service"), self.store.list("EndpointSlice"),
                        self.store.list("Pod"), self.domain)
        if write_snapshot(self.path, snap):
            self.writes += 1
        return None
