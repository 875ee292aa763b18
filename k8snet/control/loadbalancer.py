"""LoadBalancer IPs from the lab's pool, as cloud-provider-kind or MetalLB
assign them: every Service of type LoadBalancer gets
``status.loadBalancer.ingress[0].ip`` (``spec.loadBalancerIP`` when it asks for
a free address of the pool); other Services lose theirs.  The fabric routes
these IPs to the nodes; kproxy DNATs them.
"""
from __future__ import annotations

import ipaddress

from k8snet.apiserver import events
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Store, key_of

COMPONENT = "service-controller"


def _ip_of(svc: dict) -> str:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return next((i.get("ip", "") for i in ingress if i.get("ip")), "")


class LoadBalancerController(Controller):
    name = "service-lb"
    watches = ("Service",)

    def __init__(self, store: Store, pool: str) -> None:
        super().__init__(store)
        self.pool = ipaddress.ip_network(pool)

    def reconcile(self, key) -> float | None:
        _, ns, name = key
        svc = self.store.find("Service", ns, name)
        if svc is None:
            return None
        spec = svc.get("spec") or {}
        have = _ip_of(svc)
        if spec.get("type") != "LoadBalancer":
            if have:
                self.store.mutate("Service", ns, name,
                                  lambda o: o.setdefault("status", {})
                                  .__setitem__("loadBalancer", {}))
            return None
        if have:
            return None
        taken = {_ip_of(s) for s in self.store.list("Service") if key_of(s) != key}
        wanted = spec.get("loadBalancerIP") or ""
        if wanted:
            if ipaddress.ip_address(wanted) not in self.pool or wanted in taken:
                events.record(self.store, svc, events.WARNING, "AllocationFailed",
                              f"loadBalancerIP {wanted} is not a free address of the pool "
                              f"{self.pool}", COMPONENT)
                return None
            ip = wanted
        else:
            ip = next((str(a) for a in self.pool.hosts() if str(a) not in taken), "")
        if not ip:
            events.record(self.store, svc, events.WARNING, "AllocationFailed",
                          f"no free address in the LoadBalancer pool {self.pool}", COMPONENT)
            return 5.0
        self.store.mutate("Service", ns, name, lambda o: o.setdefault("status", {}).__setitem__(
            "loadBalancer", {"ingress": [{"ip": ip, "ipMode": "VIP"}]}))
        events.record(self.store, svc, events.NORMAL, "IPAllocated",
                      f"Assigned IP [\"{ip}\"]", COMPONENT)
        return None
