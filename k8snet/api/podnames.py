"""What a pod name typed at the lab's CLI means (``POD CMD`` and ``trace``).

In a pod's command a bare word is a pod's name only where Kubernetes would
not read it otherwise: a Service of that name in the source pod's namespace
is left to the pod's resolver (``kubectl run nginx --expose`` makes a pod and
a Service both called ``nginx``; ``curl nginx`` in a pod reaches the
Service).  Otherwise the pod in the source's namespace wins, as DNS search
paths start there; a name found only in other namespaces means the pod there
when it is in one namespace, and nothing (AmbiguousPodName for ``trace``)
when it is in several.  ``NAMESPACE/NAME`` is always that pod.

Pure over a store with ``find(kind, namespace, name)`` and
``list(kind, namespace=None, where=None)``.
"""
from __future__ import annotations

from k8snet.errors import K8snetError


class AmbiguousPodName(K8snetError):
    """A bare pod name in several namespaces, none the source's."""


def pod_named(store, text: str, namespace: str | None = None) -> dict | None:
    """The stored Pod ``text`` names, seen from a pod in ``namespace`` (None:
    from a node or ext, where no Service name is in the way and ``default``
    is the namespace looked in first); None when it names no pod.  Raises
    AmbiguousPodName for a bare name in several other namespaces."""
    if "/" in text:
        ns, _, name = text.partition("/")
        return store.find("Pod", ns, name)
    if namespace is not None and store.find("Service", namespace, text) is not None:
        return None
    found = store.list("Pod", where=lambda p: p["metadata"]["name"] == text)
    home = namespace or "default"
    mine = [p for p in found if p["metadata"]["namespace"] == home]
    if mine:
        return mine[0]
    if len(found) > 1:
        spaces = sorted(p["metadata"]["namespace"] for p in found)
        raise AmbiguousPodName(f'pod name "{text}" is in several namespaces '
                               f'({", ".join(spaces)}); say NAMESPACE/NAME')
    return found[0] if found else None


def pod_ips(store, namespace: str | None = None) -> dict[str, str]:
    """Every name a pod's command may use for a pod, to its IP, by
    ``pod_named``'s rules: ``ns/name`` for each pod with an IP, and each bare
    name that names one pod from ``namespace``."""
    out: dict[str, str] = {}
    names = set()
    for pod in store.list("Pod"):
        ip = (pod.get("status") or {}).get("podIP")
        if ip:
            out[f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"] = ip
            names.add(pod["metadata"]["name"])
    for name in names:
        try:
            pod = pod_named(store, name, namespace)
        except AmbiguousPodName:
            continue
        ip = (pod.get("status") or {}).get("podIP") if pod else None
        if ip:
            out[name] = ip
    return out
