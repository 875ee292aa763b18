"""The ``Table`` response kubectl asks for with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``.

    {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
     "metadata": {"resourceVersion": "42", "continue": "..."},
     "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", ...}],
     "rows": [{"cells": ["web-1", "1/1", ...], "object": {PartialObjectMetadata}}]}

Columns and cells are the printers' (k8snet.api.printers), wide ones
included: kubectl drops priority-1 columns unless ``-o wide``.  ``object`` is
what ``includeObject`` asks for: ``Metadata`` (the default,
PartialObjectMetadata), ``Object`` (the whole object) or ``None``.  Source:
https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
"""
from __future__ import annotations

from k8snet.api import printers

TABLE_GROUP = "meta.k8s.io"


def accepts(header: str, as_: str = "Table") -> str | None:
    """The meta.k8s.io version (``v1``/``v1beta1``) of the first media range in
    an Accept header that asks for ``as_``; None when none does."""
    for media in header.split(","):
        params = {}
        for part in media.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            params[key.strip()] = value.strip()
        if params.get("as") == as_ and params.get("g") == TABLE_GROUP \
                and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


def partial(obj: dict, version: str = "v1") -> dict:
    """``PartialObjectMetadata``: the object's kind, apiVersion and metadata."""
    return {"kind": "PartialObjectMetadata", "apiVersion": f"{TABLE_GROUP}/{version}",
            "metadata": obj.get("metadata") or {}}


def _row_object(obj: dict, include: str, version: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return partial(obj, version)


def table(kind: str, objs: list[dict], now: float, meta: dict, include: str = "Metadata",
          version: str = "v1", with_columns: bool = True) -> dict:
    """A Table of ``objs`` (all of ``kind``); ``meta`` is the list metadata
    (resourceVersion, continue); ``with_columns`` False leaves the column
    definitions out (watch events after the first, as the API server does)."""
    rows = []
    for obj in objs:
        entry: dict = {"cells": list(printers.row(obj, now))}
        shown = _row_object(obj, include, version)
        if shown is not None:
            entry["object"] = shown
        rows.append(entry)
    cols = [c.as_json() for c in printers.columns(kind)] if with_columns else []
    return {"kind": "Table", "apiVersion": f"{TABLE_GROUP}/{version}", "metadata": meta,
            "columnDefinitions": cols, "rows": rows}
