"""The DefaultIngressClass admission plugin: an Ingress created with no
class gets the default IngressClass's name (kube-apiserver
``plugin/pkg/admission/network/defaultingressclass``)."""
from __future__ import annotations

import copy

import pytest
from control_helpers import api_store

from k8snet.apiserver.admission import DEFAULT_CLASS_ANNOTATION, INGRESS_CLASS_ANNOTATION
from k8snet.apiserver.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Store:
    return api_store(clock)


def _class(name: str, default: str | None = "true") -> dict:
    meta: dict = {"name": name}
    if default is not None:
        meta["annotations"] = {DEFAULT_CLASS_ANNOTATION: default}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta,
            "spec": {"controller": "k8s.io/ingress-nginx"}}


def _ingress(name: str = "web", annotations: dict | None = None, **spec: object) -> dict:
    meta: dict = {"name": name}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
                     **spec}}


def test_the_default_class_is_set_on_create(store) -> None:
    store.create(_class("other", default=None))
    store.create(_class("nginx"))
    made = store.create(_ingress())
    assert made["spec"]["ingressClassName"] == "nginx"
    assert store.create(_ingress("dry"), dry_run=True)["spec"]["ingressClassName"] == "nginx"


def test_a_class_given_either_way_is_kept(store) -> None:
    store.create(_class("nginx"))
    assert store.create(_ingress("a", ingressClassName="other"))["spec"][
        "ingressClassName"] == "other"
    legacy = store.create(_ingress("b", annotations={INGRESS_CLASS_ANNOTATION: "other"}))
    assert "ingressClassName" not in legacy["spec"]


def test_no_default_or_not_exactly_true_sets_nothing(store) -> None:
    assert "ingressClassName" not in store.create(_ingress("a"))["spec"]
    store.create(_class("nginx", default="True"))
    assert "ingressClassName" not in store.create(_ingress("b"))["spec"]


def test_of_several_defaults_the_newest_then_the_first_name(store, clock) -> None:
    store.create(_class("old"))
    clock.now += 60
    store.create(_class("zeta"))
    store.create(_class("new"))                  # same second as zeta: by name
    assert store.create(_ingress())["spec"]["ingressClassName"] == "new"


def test_only_on_create_not_update(store) -> None:
    made = store.create(_ingress())
    store.create(_class("nginx"))
    obj = copy.deepcopy(made)
    obj["metadata"]["labels"] = {"a": "b"}
    assert "ingressClassName" not in store.update(obj)["spec"]
