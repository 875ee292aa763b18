"""A container's environment, built as the kubelet's
``makeEnvironmentVariables`` builds it (pkg/kubelet/kubelet_pods.go):

1. the service variables of the pod's namespace (``enableServiceLinks``);
2. ``envFrom`` sources in order (ConfigMap / Secret, with ``prefix``);
3. ``env`` in order: ``value`` with ``$(VAR)`` expansion against what is
   defined so far, or ``valueFrom``: ``fieldRef`` (downward API),
   ``resourceFieldRef``, ``configMapKeyRef``, ``secretKeyRef``.

A missing ConfigMap, Secret or key that is not ``optional`` is the kubelet's
``CreateContainerConfigError``: ``EnvError`` with its message.
Source: https://kubernetes.io/docs/tasks/inject-data-application/
"""
from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping

from k8snet.errors import K8snetError
from k8snet.node.envvars import expand

Lookup = Callable[[str, str, str], dict | None]     # (kind, namespace, name) -> object
ENV_KEY = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class EnvError(K8snetError):
    """CreateContainerConfigError: the container cannot start yet."""


def _data(obj: dict) -> dict[str, str]:
    """A ConfigMap's data, or a Secret's decoded data plus stringData."""
    if obj.get("kind") == "Secret":
        out = {}
        for key, value in (obj.get("data") or {}).items():
            try:
                out[key] = base64.b64decode(value).decode("utf-8", "replace")
            except (ValueError, TypeError):
                continue
        out.update(obj.get("stringData") or {})
        return out
    return dict(obj.get("data") or {})


def field_ref(pod: dict, path: str) -> str:
    """The downward API value of ``fieldRef.fieldPath``; raises EnvError for
    an unsupported path."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, \
        pod.get("status") or {}
    simple = {"metadata.name": meta.get("name", ""),
              "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""),
              "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
              "status.hostIP": status.get("hostIP", ""),
              "status.hostIPs": status.get("hostIP", ""),
              "status.podIP": status.get("podIP", ""),
              "status.podIPs": status.get("podIP", "")}
    if path in simple:
        return simple[path] or ""
    m = LABEL_REF.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    raise EnvError(f'unsupported fieldPath: "{path}"')


def _key_ref(ref: dict, kind: str, namespace: str, lookup: Lookup) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    obj = lookup(kind, namespace, name)
    what = "configmap" if kind == "ConfigMap" else "secret"
    if obj is None:
        if ref.get("optional"):
            return None
        raise EnvError(f'{what} "{name}" not found')
    data = _data(obj)
    if key not in data:
        if ref.get("optional"):
            return None
        raise EnvError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def _value_from(pod: dict, container: dict, source: dict, lookup: Lookup) -> str | None:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    if "fieldRef" in source:
        return field_ref(pod, (source["fieldRef"] or {}).get("fieldPath", ""))
    if "resourceFieldRef" in source:
        ref = source["resourceFieldRef"] or {}
        kind, _, res = ref.get("resource", "").partition(".")
        value = ((container.get("resources") or {}).get(kind) or {}).get(res)
        return str(value) if value is not None else "0"
    if "configMapKeyRef" in source:
        return _key_ref(source["configMapKeyRef"] or {}, "ConfigMap", namespace, lookup)
    if "secretKeyRef" in source:
        return _key_ref(source["secretKeyRef"] or {}, "Secret", namespace, lookup)
    return None


def _env_from(pod: dict, sources: list, lookup: Lookup) -> dict[str, str]:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    out: dict[str, str] = {}
    for source in sources or []:
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if field not in source:
                continue
            ref = source[field] or {}
            obj = lookup(kind, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                what = "configmap" if kind == "ConfigMap" else "secret"
                raise EnvError(f'{what} "{ref.get("name", "")}" not found')
            prefix = source.get("prefix", "")
            for key, value in _data(obj).items():
                if ENV_KEY.match(prefix + key):
                    out[prefix + key] = value
    return out


def container_env(pod: dict, container: dict, service_vars: Mapping[str, str],
                  lookup: Lookup) -> dict[str, str]:
    """The environment of ``container`` in ``pod`` (both stored dicts).
    ``service_vars`` are the service variables (``envvars.service_env``).
    Raises EnvError (CreateContainerConfigError)."""
    env: dict[str, str] = dict(service_vars)
    env.update(_env_from(pod, container.get("envFrom") or [], lookup))
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "valueFrom" in var:
            value = _value_from(pod, container, var.get("valueFrom") or {}, lookup)
            if value is not None:
                env[name] = value
        else:
            raw = var.get("value", "")
            env[name] = expand(str(raw), env) if raw else ""
    return env
