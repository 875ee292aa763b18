"""Mutating admission on create, as kube-apiserver's default-on plugins do it.

DefaultIngressClass (``plugin/pkg/admission/network/defaultingressclass``):
an Ingress created without a class, neither ``spec.ingressClassName`` nor
the legacy ``kubernetes.io/ingress.class`` annotation, gets the name of the
default IngressClass (annotation ``ingressclass.kubernetes.io/is-default-class:
"true"``); with several defaults, the newest (then the first by name); with
none, the Ingress is left without a class.  Only on create: an update never
gains a class.  https://kubernetes.io/docs/concepts/services-networking/ingress/#default-ingress-class
"""
from __future__ import annotations

from k8snet.apiserver.store import Store, parse_time

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"            # networking/v1beta1
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def default_ingress_class(store: Store) -> dict | None:
    """``getDefaultClass``: the newest IngressClass marked default, or None."""
    defaults = [c for c in store.list("IngressClass")
                if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
                == "true"]
    defaults.sort(key=lambda c: (-parse_time(c["metadata"].get("creationTimestamp")),
                                 c["metadata"]["name"]))
    return defaults[0] if defaults else None


def admit_ingress_class(store: Store, ingress: dict) -> None:
    """The plugin's ``Admit`` for an Ingress being created (in place)."""
    spec = ingress.get("spec", {})
    annotations = (ingress.get("metadata") or {}).get("annotations")
    if not isinstance(spec, dict) or spec.get("ingressClassName") is not None:
        return                      # a class given (or a shape error, validation's)
    if isinstance(annotations, dict) and INGRESS_CLASS_ANNOTATION in annotations:
        return
    chosen = default_ingress_class(store)
    if chosen is not None:
        ingress["spec"] = {**spec, "ingressClassName": chosen["metadata"]["name"]}
