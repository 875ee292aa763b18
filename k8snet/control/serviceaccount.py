"""The ServiceAccounts controller: every active Namespace has a ServiceAccount
named ``default``, made again when it is deleted.

Follows kube-controller-manager's ``serviceaccount`` controller
(pkg/controller/serviceaccount/serviceaccounts_controller.go,
``syncNamespace``): the keys are namespace names, queued when a Namespace
is added or changes and when a ServiceAccount is deleted; a sync makes each
ensured account (``ENSURED``: only ``default``, as
``DefaultServiceAccountsControllerOptions``) that its namespace lacks, with
nothing but a name and a namespace (no token Secret: none since Kubernetes
1.24, and the lab has no tokens at all).  A Namespace that is not active
(``status.phase`` Terminating, or a ``deletionTimestamp``) gets none, and a
create the store refuses because the namespace is going or already has the
account is not an error, as upstream ignores AlreadyExists and
NamespaceTerminating.  Pods name the account through the API server's
defaulting (``spec.serviceAccountName``, k8snet.api.defaults).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import DELETED, Event
from k8snet.errors import AlreadyExists, Forbidden, NotFound

ENSURED = ("default",)


def service_account(namespace: str, name: str) -> dict:
    """The ServiceAccount the controller makes: a name in a namespace."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace}}


def is_active(ns: dict) -> bool:
    """A Namespace that takes new objects: not being deleted."""
    phase = (ns.get("status") or {}).get("phase") or "Active"
    return phase == "Active" and not (ns.get("metadata") or {}).get("deletionTimestamp")


class ServiceAccountsController(Controller):
    """``ServiceAccountsController(store)``: keys are namespace names."""

    name = "serviceaccount"
    watches = ("Namespace", "ServiceAccount")

    def wants(self, event: Event) -> bool:
        """Namespaces added or changed; ServiceAccounts deleted."""
        if event.object.get("kind") == "Namespace":
            return event.type != DELETED
        return event.type == DELETED

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        meta = event.object.get("metadata") or {}
        if event.object.get("kind") == "Namespace":
            return [meta.get("name", "")] if event.type != DELETED else []
        if event.type == DELETED and meta.get("name") in ENSURED:
            return [meta.get("namespace", "")]
        return []

    def initial_keys(self) -> Iterable[Hashable]:
        return [ns["metadata"]["name"] for ns in self.store.list("Namespace")]

    def reconcile(self, key: Hashable) -> float | None:
        if not isinstance(key, str) or not key:
            return None
        ns = self.store.find("Namespace", "", key)
        if ns is None or not is_active(ns):
            return None
        for name in ENSURED:
            if self.store.find("ServiceAccount", key, name) is not None:
                continue
            try:
                self.store.create(service_account(key, name))
            except (AlreadyExists, NotFound, Forbidden):
                pass                # made meanwhile, or the namespace went or is going
            else:
                self.log.info("created ServiceAccount %s/%s", key, name)
        return None
