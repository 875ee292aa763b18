"""The ServiceAccounts controller: a ``default`` ServiceAccount in every
active namespace, made again when deleted."""
from control_helpers import cluster

from k8snet.apiserver.store import Store
from k8snet.control.serviceaccount import ServiceAccountsController, is_active


def namespace(name: str, phase: str = "") -> dict:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


def accounts(store: Store) -> list[tuple[str, str]]:
    return [(sa["metadata"]["namespace"], sa["metadata"]["name"])
            for sa in store.list("ServiceAccount")]


def test_every_namespace_gets_a_default_account_at_start_and_when_added():
    store = cluster(0)
    store.create(namespace("kube-system"))
    controller = ServiceAccountsController(store)
    controller.settle()
    assert accounts(store) == [("default", "default"), ("kube-system", "default")]
    sa = store.get("ServiceAccount", "default", "default")
    assert sa["apiVersion"] == "v1" and "secrets" not in sa      # no token Secret
    store.create(namespace("shop"))
    controller.settle()
    assert ("shop", "default") in accounts(store)


def test_a_deleted_default_account_is_made_again_and_others_are_left_alone():
    store = cluster(0)
    controller = ServiceAccountsController(store)
    controller.settle()
    first = store.get("ServiceAccount", "default", "default")["metadata"]["uid"]
    store.create({"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "builder", "namespace": "default"}})
    controller.settle()
    store.delete("ServiceAccount", "default", "default")
    store.delete("ServiceAccount", "default", "builder")
    controller.settle()
    assert accounts(store) == [("default", "default")]
    assert store.get("ServiceAccount", "default", "default")["metadata"]["uid"] != first
    controller.settle()                               # nothing left to do: no churn
    assert controller.errors == 0


def test_an_existing_default_account_is_kept_as_it_is():
    store = cluster(0)
    store.create({"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "default", "namespace": "default",
                               "labels": {"mine": "yes"}}})
    before = store.get("ServiceAccount", "default", "default")
    ServiceAccountsController(store).settle()
    assert store.get("ServiceAccount", "default", "default") == before


def test_terminating_namespaces_get_none():
    store = cluster(0)
    store.create(namespace("going", phase="Terminating"))
    controller = ServiceAccountsController(store)
    controller.settle()
    assert accounts(store) == [("default", "default")]
    assert not is_active({"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert is_active({"metadata": {"name": "x"}, "status": {"phase": "Active"}})


def test_deleting_a_namespace_takes_its_account_without_errors():
    store = cluster(0)
    store.create(namespace("shop"))
    controller = ServiceAccountsController(store)
    controller.settle()
    store.delete("Namespace", "", "shop")
    controller.settle()
    assert accounts(store) == [("default", "default")]
    assert controller.errors == 0
    assert controller.reconcile("no-such-namespace") is None
