"""Field selectors: ``?fieldSelector=spec.nodeName=node-1,status.phase!=Running``.

Every kind takes ``metadata.name`` and ``metadata.namespace``; some kinds add
the fields their registry indexes (kube-apiserver ``pkg/registry/*/strategy.go``
``GetAttrs`` / ``*ToSelectableFields``).  Operators ``=``, ``==`` and ``!=``;
terms are ANDed.  An unknown field is a 400 ``field label not supported: X``,
as the API server answers.  Source:
https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
"""
from __future__ import annotations

from collections.abc import Callable

from k8snet.errors import BadRequest

Getter = Callable[[dict], str]


def _at(*path: str) -> Getter:
    def get(obj: dict) -> str:
        cur: object = obj
        for key in path:
            cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)
    return get


GENERIC: dict[str, Getter] = {"metadata.name": _at("metadata", "name"),
                              "metadata.namespace": _at("metadata", "namespace")}
BY_KIND: dict[str, dict[str, Getter]] = {
    "Pod": {f: _at(*f.split(".")) for f in (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")},
    "Event": {f: _at(*f.split(".")) for f in (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")},
    "Node": {"spec.unschedulable": _at("spec", "unschedulable")},
    "Namespace": {"status.phase": _at("status", "phase")},
    "Secret": {"type": _at("type")},
    "ReplicaSet": {"status.replicas": _at("status", "replicas")},
    "Job": {"status.successful": _at("status", "successful")},
}
BY_KIND["Event"]["source"] = _at("source", "component")
BY_KIND["Node"]["spec.unschedulable"] = lambda o: "true" if (o.get("spec") or {}).get(
    "unschedulable") else "false"


def parse(text: str, kind: str) -> Callable[[dict], bool]:
    """A predicate for ``text`` on objects of ``kind``; raises ``BadRequest``."""
    fields = {**GENERIC, **BY_KIND.get(kind, {})}
    terms: list[tuple[Getter, bool, str]] = []
    for term in _split(text):
        if not term.strip():
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            negate = True
        elif "==" in term:
            key, _, value = term.partition("==")
            negate = False
        elif "=" in term:
            key, _, value = term.partition("=")
            negate = False
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        key = key.strip()
        if key not in fields:
            raise BadRequest(f"field label not supported: {key}")
        terms.append((fields[key], negate, _unescape(value.strip())))

    def match(obj: dict) -> bool:
        return all((get(obj) == value) != negate for get, negate, value in terms)
    return match


def _split(text: str) -> list[str]:
    """Split at commas not escaped with a backslash."""
    out, cur, escaped = [], "", False
    for ch in text:
        if escaped:
            cur += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")
