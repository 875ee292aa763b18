"""The ingress controller, the control side: Ingresses and Services in, the
nginx.conf of the ingress-nginx pods out (``nginx_conf.render``), checked
with ``nginx -t`` before it is written; the pods' ``ingress_runner`` reloads
nginx when the file changes.

Every problem is said where the user looks: a Warning Event on the Ingress
(and the agent's ``warnings``), never a silently dropped rule.  Each Ingress
of the class gets ``status.loadBalancer`` from the controller's Service, as
ingress-nginx publishes it.
"""
from __future__ import annotations

from pathlib import Path

from k8snet.addons import nginx_conf
from k8snet.apiserver import events
from k8snet.apiserver.controller import SyncController
from k8snet.apiserver.store import Store
from k8snet.errors import K8snetError
from k8snet.node.discovery import write_atomic

NAMESPACE = "ingress-nginx"
SERVICE = "ingress-nginx-controller"
COMPONENT = "nginx-ingress-controller"


class IngressAgent(SyncController):
    name = "ingress-nginx"
    watches = ("Ingress", "Service", "IngressClass")

    def __init__(self, store: Store, conf_dir: Path) -> None:
        super().__init__(store)
        self.conf_dir = conf_dir
        self.conf = conf_dir / "nginx.conf"
        self.warnings: dict[str, list[str]] = {}
        self.reported: set[tuple[str, str]] = set()
        self.writes = 0

    def sync(self) -> float | None:
        ingresses = self.store.list("Ingress")
        services = {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s
                    for s in self.store.list("Service")}
        rendered = nginx_conf.render(ingresses, services, str(self.conf_dir))
        self.warnings = {k: v for k, v in rendered.warnings.items() if v}
        by_key = {f"{i['metadata']['namespace']}/{i['metadata']['name']}": i for i in ingresses}
        for ing_key, messages in self.warnings.items():
            for message in messages:
                self._warn(by_key.get(ing_key), message)
        old = self.conf.read_text() if self.conf.exists() else ""
        if rendered.text != old:
            try:
                error = nginx_conf.check(rendered.text)
            except K8snetError as exc:
                error = str(exc)
            if error:
                for ing in ingresses:
                    self._warn(ing, f"nginx refused the configuration, keeping the last "
                                    f"good one: {error}")
            else:
                write_atomic(self.conf, rendered.text)
                self.writes += 1
        self._publish_status(ingresses, services.get(f"{NAMESPACE}/{SERVICE}"))
        return None

    def _warn(self, ing: dict | None, message: str) -> None:
        if ing is None or (ing["metadata"]["uid"], message) in self.reported:
            return
        self.reported.add((ing["metadata"]["uid"], message))
        self.log.warning("%s/%s: %s", ing["metadata"]["namespace"], ing["metadata"]["name"],
                         message)
        events.record(self.store, ing, events.WARNING, "BadConfig", message, COMPONENT)

    def _publish_status(self, ingresses: list[dict], svc: dict | None) -> None:
        lb = ((svc or {}).get("status") or {}).get("loadBalancer") or {}
        want = {"ingress": [{"ip": i["ip"]} for i in lb.get("ingress") or [] if i.get("ip")]}
        for ing in ingresses:
            if ((ing.get("status") or {}).get("loadBalancer") or {}) != want:
                try:
                    self.store.mutate("Ingress", ing["metadata"]["namespace"],
                                      ing["metadata"]["name"],
                                      lambda o: o.setdefault("status", {})
                                      .__setitem__("loadBalancer", want))
                except K8snetError:
                    pass
