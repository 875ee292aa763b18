"""What ``kubectl get`` prints for stored objects, as data: for each kind the
column definitions of the API server's Table response and a function from an
object to that row's cells; and the text kubectl lays out from them.

    columns("Pod")        -> [Column("Name", "string", "name", ...), ...]
    row(pod, now)         -> ["web-1", "1/1", "Running", "0", "5m", "10.244.1.5", ...]
    table([pod], now)     -> "NAME    READY   STATUS    RESTARTS   AGE\\nweb-1   1/1 ..."

``row`` gives every cell, wide ones included, as the API server does (it
always renders with ``Wide``; kubectl drops priority-1 columns unless
``-o wide``).  Cells are what a Table carries: strings, ints, bools.  A
kind without a printer gets the API server's default Table for custom
resources: NAME and AGE.  Printers never raise on a partial object.

``table`` follows kubectl's table printer (k8s.io/cli-runtime
pkg/printers/tableprinter.go and tabwriter.go): headers upper-cased,
priority-1 columns only when ``wide``, NAMESPACE first for namespaced kinds
with ``namespace_column`` (``-A``), ``kind.group/name`` in the name column
with ``show_kind``, cells separated by tabwriter(minwidth 6, padding 3):
each column padded to its widest cell plus 3 spaces (at least 6), the last
cell unpadded.  Objects of several kinds print as one table per kind (in
order of first appearance) separated by a blank line, as ``kubectl get all``.
Rows keep the given order (the caller sorts, as the API server lists).  No
objects give ``""``: kubectl's ``No resources found in NS namespace.`` is the
caller's.

Sources: kubernetes pkg/printers/internalversion/printers.go (the kinds'
columns and cells), staging/src/k8s.io/apiextensions-apiserver (the default
``Age`` column of a custom resource), k8s.io/cli-runtime printers (layout).
"""
from __future__ import annotations

from collections.abc import Mapping

from k8snet.api import printers_core, printers_net, printers_workloads
from k8snet.api.kinds import BY_KIND
from k8snet.api.printers_base import AGE_DOC, NAME, Column, age, created, dstr, name_of

__all__ = ["Column", "DEFAULT_COLUMNS", "age", "cell_text", "columns", "has_printer",
           "layout", "row", "table"]

DEFAULT_COLUMNS = [NAME, Column("Age", "date", "", AGE_DOC)]
_PRINTERS = {**printers_core.PRINTERS, **printers_net.PRINTERS, **printers_workloads.PRINTERS}
MIN_WIDTH, PADDING = 6, 3


def has_printer(kind: str) -> bool:
    """True when ``kind`` has its own columns (else NAME, AGE)."""
    return kind in _PRINTERS


def columns(kind: str) -> list[Column]:
    """Every column of ``kind``'s Table, wide (priority 1) ones included, in
    order; NAME and AGE for a kind without a printer."""
    entry = _PRINTERS.get(kind)
    return list(entry[0] if entry else DEFAULT_COLUMNS)


def row(obj: Mapping, now: float) -> list:
    """The cells of ``obj`` (a stored object, ``kind`` set) at epoch ``now``,
    one per ``columns(obj["kind"])``."""
    entry = _PRINTERS.get(dstr(obj, "kind"))
    if entry is None:
        return [name_of(obj), created(obj, now)]
    return entry[1](obj, now)


def cell_text(cell: object) -> str:
    """How kubectl prints one cell: None empty, bools ``true``/``false``, a
    string cut at its first newline (``...`` appended)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    text = str(cell)
    if "\n" in text:
        return text[:text.index("\n")] + "..."
    return text


def layout(lines: list[list[str]]) -> str:
    """Lines of cells aligned as kubectl's tabwriter aligns them: every cell but
    a line's last padded to its column's widest cell + 3 (6 at least)."""
    width: dict[int, int] = {}
    for cells in lines:
        for i, cell in enumerate(cells[:-1]):
            width[i] = max(width.get(i, MIN_WIDTH), len(cell) + PADDING)
    out = []
    for cells in lines:
        padded = [cell.ljust(width[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + (cells[-1] if cells else ""))
    return "\n".join(out)


def _namespaced(kind: str, objs: list[Mapping]) -> bool:
    if kind in BY_KIND:
        return BY_KIND[kind].namespaced
    return any(dstr(o, "metadata", "namespace") for o in objs)


def _kind_prefix(kind: str, obj: Mapping) -> str:
    """``deployment.apps``, ``pod``: lower-case ``Kind.group``."""
    group = BY_KIND[kind].group if kind in BY_KIND else \
        dstr(obj, "apiVersion").rpartition("/")[0]
    return (f"{kind}.{group}" if group else kind).lower()


def _kind_table(kind: str, objs: list[Mapping], now: float, wide: bool,
                namespace_column: bool, show_kind: bool) -> str:
    cols = columns(kind)
    keep = [i for i, c in enumerate(cols) if wide or c.priority == 0]
    name_at = next((i for i, c in enumerate(cols)
                    if c.format == "name" and c.type == "string"), None)
    with_ns = namespace_column and _namespaced(kind, objs)
    lines = [(["NAMESPACE"] if with_ns else []) + [cols[i].name.upper() for i in keep]]
    for obj in objs:
        texts = [cell_text(c) for c in row(obj, now)]
        texts += [""] * (len(cols) - len(texts))
        if show_kind and name_at is not None:
            texts[name_at] = f"{_kind_prefix(kind, obj)}/{texts[name_at]}"
        namespace = [dstr(obj, "metadata", "namespace")] if with_ns else []
        lines.append(namespace + [texts[i] for i in keep])
    return layout(lines)


def table(objs: list[Mapping], now: float, wide: bool = False,
          namespace_column: bool = False, show_kind: bool = False) -> str:
    """What ``kubectl get`` prints for ``objs`` at epoch ``now`` (no final
    newline); ``wide`` is ``-o wide``, ``namespace_column`` is ``-A``
    (ignored for cluster-scoped kinds, as kubectl does), ``show_kind`` names
    rows ``kind.group/name``.  ``""`` for no objects."""
    by_kind: dict[str, list[Mapping]] = {}
    for obj in objs:
        by_kind.setdefault(dstr(obj, "kind"), []).append(obj)
    return "\n\n".join(_kind_table(kind, items, now, wide, namespace_column, show_kind)
                       for kind, items in by_kind.items())
