"""``kubectl apply -f`` and ``kubectl delete -f`` against the store: all or nothing.

Every object is created, or updated with what the manifest says (status and
allocated fields kept), inside one ``Store.atomic()``: if any object is
refused, every cause of every object is reported and nothing is stored.
It returns as soon as the objects are stored, as kubectl does; waiting for
pods is ``kubectl rollout status`` / ``kubectl wait``.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from k8snet.api.defaults import apply_defaults
from k8snet.api.kinds import BUILTIN, BY_KIND, kind_info
from k8snet.api.validation import validate
from k8snet.api.validation.strict import decode_message, type_errors, unknown_fields
from k8snet.apiserver.registry import raise_invalid
from k8snet.apiserver.store import Store, key_of
from k8snet.errors import BadRequest, K8snetError, StatusError
from k8snet.load.documents import Document

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FIRST = ("Namespace", "CustomResourceDefinition")   # what the rest may need to exist
BUILTIN_GROUPS = frozenset(k.group for k in BUILTIN)
POD_MUTABLE = ("image", "activeDeadlineSeconds", "tolerations",
               "terminationGracePeriodSeconds")


class ApplyError(K8snetError):
    """Some objects were refused; nothing was applied.  One line per cause."""


@dataclass
class Applied:
    """What apply did: kubectl's lines, and notes (kinds with no effect)."""

    lines: list[str]
    notes: list[str]


def last_applied(obj: dict) -> str:
    """The annotation kubectl writes: the manifest as Go's json.Marshal prints
    it (sorted keys, no spaces, ``<>&`` escaped) plus a newline, so the real
    kubectl sees our apply as its own and a re-apply is ``unchanged``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def _set_namespace(doc: Document, namespace: str | None) -> str | None:
    """kubectl's ``-n``: fill it in, or refuse a different one."""
    meta = doc.obj.setdefault("metadata", {})
    if not kind_info(doc.kind, doc.obj.get("apiVersion", "v1")).namespaced:
        return None
    if namespace is None:
        return None
    if meta.get("namespace") and meta["namespace"] != namespace:
        return (f"{doc.where('metadata.namespace')}: the namespace from the provided object "
                f'"{meta["namespace"]}" does not match the namespace "{namespace}". You '
                f"must pass '--namespace={meta['namespace']}' to perform this operation.")
    meta["namespace"] = namespace
    return None


def _merged(old: dict, new: dict) -> dict:
    """The stored object with the manifest's content: everything but status
    (and system metadata) replaced, as an apply of a full manifest does.
    Labels and annotations merge three ways, as kubectl's patch does: keys
    the last applied manifest had and this one has not are removed, the
    manifest's are set, and keys others set (a controller's
    ``deployment.kubernetes.io/revision``) are kept."""
    out = {k: copy.deepcopy(v) for k, v in new.items() if k not in ("status",)}
    meta = copy.deepcopy(old["metadata"])
    try:
        last = json.loads((meta.get("annotations") or {}).get(LAST_APPLIED) or "{}")
    except ValueError:
        last = {}
    last_meta = last.get("metadata") if isinstance(last, dict) else None
    for field in ("labels", "annotations"):
        want = (new.get("metadata") or {}).get(field) or {}
        merged = dict(meta.get(field) or {})
        for key in (last_meta or {}).get(field) or {}:
            if key not in want:
                merged.pop(key, None)
        merged.update(copy.deepcopy(want))
        if merged:
            meta[field] = merged
        else:
            meta.pop(field, None)
    out["metadata"] = meta
    if "status" in old:
        out["status"] = old["status"]
    return out


def _pod_change_forbidden(old: dict, new: dict) -> bool:
    """Pod specs are immutable but for a few fields (ValidatePodUpdate)."""
    def strip(spec: dict) -> dict:
        spec = copy.deepcopy(spec)
        spec.pop("nodeName", None)
        for field in POD_MUTABLE:
            spec.pop(field, None)
        for c in spec.get("containers") or []:
            c.pop("image", None)
        return spec
    want = apply_defaults(new).get("spec") or {}
    return strip(want) != strip(old.get("spec") or {})


class StrictDecodingError(BadRequest):
    """A manifest its kind's type cannot hold: values of the wrong type (Go's
    type errors, first) and fields the kind does not have
    (``fieldValidation=Strict``, kubectl's default), all in one message."""

    def __init__(self, obj: dict, paths: list[str],
                 types: list[tuple[str, str]] | None = None) -> None:
        types = types or []
        super().__init__(decode_message(obj, [text for _, text in types], paths))
        self.paths = [where for where, _ in types] + paths


def _located(doc: Document, exc: StatusError) -> str:
    """``file:line: document N`` at the first field the error names, if any."""
    paths = getattr(exc, "paths", None) or [c.partition(":")[0]
                                            for c in getattr(exc, "causes", [])[:1]]
    return doc.where(paths[0] if paths else "")


def _one(store: Store, doc: Document, dry_run: bool) -> str:
    types, unknown = type_errors(doc.obj), unknown_fields(doc.obj)
    if types or unknown:            # decoding comes before anything else, as upstream
        raise StrictDecodingError(doc.obj, unknown, types)
    obj = copy.deepcopy(doc.obj)
    applied = copy.deepcopy(doc.obj)         # what kubectl records: namespace filled in,
    applied_meta = applied.setdefault("metadata", {})   # annotations present but not itself
    applied_meta.setdefault("annotations", {}).pop(LAST_APPLIED, None)
    if kind_info(doc.kind, doc.obj.get("apiVersion", "v1")).namespaced:
        applied_meta.setdefault("namespace", "default")
    obj.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = \
        last_applied(applied)
    kind, ns, name = key_of(obj)
    api_version = obj.get("apiVersion", "v1")
    if kind not in BY_KIND and kind_info(kind, api_version).group in BUILTIN_GROUPS:
        # No CRD can add a kind to a built-in group: kubectl's RESTMapper refuses it.
        raise StatusError(f'no matches for kind "{kind}" in version "{api_version}"')
    old = store.find(kind, ns or "default", name)
    if old is None:
        store.create(obj, dry_run=dry_run)
        return "created"
    if kind == "Pod":
        raise_invalid(obj, validate(obj))      # the shape first: the check below reads it
    if kind == "Pod" and _pod_change_forbidden(old, obj):
        raise StatusError(f'The Pod "{name}" is invalid: spec: Forbidden: pod updates may not '
                          "change fields other than `spec.containers[*].image`, "
                          "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                          "to existing tolerations) or `spec.terminationGracePeriodSeconds`")
    stored = store.update(_merged(old, obj), dry_run=dry_run)
    return "unchanged" if stored is old else "configured"


def apply(store: Store, docs: list[Document], namespace: str | None = None,
          dry_run: bool = False) -> Applied:
    """Create or update every object of ``docs``; raises ApplyError with every
    cause (``file:line: document N: <the API server's message>``) and applies
    nothing when any object is refused."""
    problems = [p for p in (_set_namespace(d, namespace) for d in docs) if p]
    if problems:
        raise ApplyError("\n".join(problems))
    ordered = sorted(docs, key=lambda d: d.kind not in FIRST)
    verbs: dict[int, str] = {}
    with store.atomic():
        for doc in ordered:
            try:
                verbs[id(doc)] = _one(store, doc, dry_run)
            except StatusError as exc:
                problems.append(f"{_located(doc, exc)}: {exc}")
            except Exception as exc:      # a bug must not half-apply nor end the lab
                problems.append(f"{doc.where()}: Internal error occurred: "
                                f"{type(exc).__name__}: {exc}")
        if problems:
            raise ApplyError("\n".join(problems))
    suffix = " (server dry run)" if dry_run else ""
    lines = [f"{kind_info(d.kind, d.obj.get('apiVersion', 'v1')).ref(d.name)} "
             f"{verbs[id(d)]}{suffix}" for d in docs]
    inert = sorted({d.kind for d in docs
                    if not kind_info(d.kind, d.obj.get("apiVersion", "v1")).acted_on})
    notes = [f"note: {', '.join(inert)} stored and listed; no effect in k8snet"] if inert else []
    return Applied(lines, notes)


def delete(store: Store, docs: list[Document], namespace: str | None = None) -> list[str]:
    """``kubectl delete -f``: every object that exists is deleted (its
    dependents by the garbage collector); the others get kubectl's NotFound line."""
    lines = []
    for doc in reversed(docs):
        _set_namespace(doc, namespace)
        kind, ns, name = key_of(doc.obj)
        info = kind_info(kind, doc.obj.get("apiVersion", "v1"))
        try:
            store.delete(kind, ns if info.namespaced else "", name)
            lines.append(f"{info.quoted(name)} deleted")
        except StatusError as exc:
            lines.append(exc.kubectl())
    return lines
