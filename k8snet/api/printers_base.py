"""What every ``kubectl get`` printer shares: the column definition, kubectl's
age format, label and selector formatting, and safe access to an object's
fields (a printer never raises on a partial object).

Sources (Kubernetes, read and re-written here, not copied):
- k8s.io/apimachinery/pkg/apis/meta/v1 ``TableColumnDefinition`` and
  ``FormatLabelSelector``; k8s.io/apimachinery/pkg/labels ``FormatLabels`` and
  ``Requirement.String``;
- k8s.io/apimachinery/pkg/util/duration ``HumanDuration`` (what AGE uses:
  ``translateTimestampSince`` in pkg/printers/internalversion/printers.go);
- ``layoutContainerCells`` and ``listWithMoreString`` in that printers.go.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
            "although some resources may allow a client to request the generation of an "
            "appropriate name automatically. Name is primarily intended for creation "
            "idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
           "was created. It is not guaranteed to be set in happens-before order across "
           "separate operations. Clients may not set this value. It is represented in "
           "RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
           "lists. More info: https://git.k8s.io/community/contributors/devel/"
           "sig-architecture/api-conventions.md#metadata")
CONTAINERS_DOC = "Names of each container in the template."
IMAGES_DOC = "Images referenced by each container in the template."
UNKNOWN = "<unknown>"
NONE = "<none>"


@dataclass(frozen=True)
class Column:
    """One column of a Table: ``Column("Ready", "string", "", "...", 0)``.

    ``type`` is an OpenAPI type (string, integer, boolean, number, date),
    ``format`` is ``"name"`` for the column holding the object's name (kubectl
    prefixes it with the kind), ``priority`` 0 is always shown, 1 only with
    ``-o wide``.  ``as_json()`` is the ``metav1.TableColumnDefinition`` shape.
    """

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def as_json(self) -> dict:
        return asdict(self)


Row = Callable[[Mapping, float], list]     # (object, epoch now) -> the row's cells
NAME = Column("Name", "string", "name", NAME_DOC)
AGE = Column("Age", "string", "", AGE_DOC)


def wide(name: str, description: str, type_: str = "string") -> Column:
    """A priority-1 column (shown with ``-o wide`` only)."""
    return Column(name, type_, "", description, 1)


# ---- object access ---------------------------------------------------------------

def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where anything on the way is missing
    or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def dmap(obj: Any, *path: str) -> Mapping:
    """The mapping at ``path``, or ``{}``."""
    got = dig(obj, *path)
    return got if isinstance(got, Mapping) else {}


def dlist(obj: Any, *path: str) -> list:
    """The list at ``path``, or ``[]``."""
    got = dig(obj, *path)
    return got if isinstance(got, list) else []


def dint(obj: Any, *path: str, default: int = 0) -> int:
    """The integer at ``path``, or ``default``."""
    got = dig(obj, *path)
    if isinstance(got, bool):
        return int(got)
    if isinstance(got, int):
        return got
    try:
        return int(got)
    except (TypeError, ValueError):
        return default


def dstr(obj: Any, *path: str) -> str:
    """The string at ``path``, or ``""``."""
    got = dig(obj, *path)
    return got if isinstance(got, str) else ""


def name_of(obj: Mapping) -> str:
    return dstr(obj, "metadata", "name")


# ---- time ---------------------------------------------------------------------------

def parse_time(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 time (``2026-11-29T12:00:00Z``, or a
    MicroTime with fractions); None when empty or unreadable (Go's zero time)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``: ~2-3 significant figures.

    ``45s``, ``119s``, ``2m``, ``5m12s``, ``10m``, ``179m``, ``3h``, ``7h59m``,
    ``8h``, ``47h``, ``2d``, ``2d3h``, ``8d``, ``729d``, ``2y``, ``2y10d``, ``8y``;
    ``0s`` for up to 2 s in the future (clock skew), ``<invalid>`` beyond."""
    secs = int(seconds)                     # truncates toward zero, as Go's int()
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: float) -> str:
    """``translateTimestampSince``: HumanDuration from ``timestamp`` (RFC 3339)
    to ``now``; ``<unknown>`` when there is no timestamp."""
    then = parse_time(timestamp)
    return UNKNOWN if then is None else human_duration(now - then)


def age(created_rfc3339: str, now: float) -> str:
    """The AGE cell kubectl prints for an object created at ``created_rfc3339``
    (``metadata.creationTimestamp``) seen at epoch ``now``: ``45s``, ``5m12s``,
    ``3h``, ``2d3h``... (HumanDuration); ``<unknown>`` without a timestamp."""
    return since(created_rfc3339, now)


def created(obj: Mapping, now: float) -> str:
    """The AGE cell of ``obj``."""
    return since(dig(obj, "metadata", "creationTimestamp"), now)


# ---- labels and selectors -------------------------------------------------------------

def format_labels(labels: Any) -> str:
    """labels.FormatLabels: ``app=web,tier=frontend`` sorted by key; ``<none>``."""
    if not isinstance(labels, Mapping) or not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _requirement(key: str, op: str, values: list) -> str:
    vals = sorted(str(v) for v in values)
    if op == "Exists":
        return key
    if op == "DoesNotExist":
        return "!" + key
    word = " in " if op == "In" else " notin "
    return f"{key}{word}({','.join(vals)})"


def selector_string(selector: Any) -> str:
    """``LabelSelectorAsSelector(selector).String()``: requirements sorted by key,
    ``k=v``, ``k in (a,b)``, ``k notin (a)``, ``k``, ``!k``; ``""`` for a missing
    or empty selector.  Raises ValueError for an unknown operator."""
    if not isinstance(selector, Mapping):
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in dmap(selector, "matchLabels").items():
        reqs.append((str(key), f"{key}={value}"))
    for expr in dlist(selector, "matchExpressions"):
        op, key = dstr(expr, "operator"), dstr(expr, "key")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"{op!r} is not a valid label selector operator")
        reqs.append((key, _requirement(key, op, dlist(expr, "values"))))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: as ``selector_string``, ``<none>`` when empty,
    ``<error>`` when invalid."""
    try:
        return selector_string(selector) or NONE
    except ValueError:
        return "<error>"


# ---- cells shared by several kinds ---------------------------------------------------

def container_cells(containers: list) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, comma-joined."""
    names = ",".join(dstr(c, "name") for c in containers)
    images = ",".join(dstr(c, "image") for c in containers)
    return names, images


def template_containers(obj: Mapping) -> list:
    """``spec.template.spec.containers`` of a workload."""
    return dlist(obj, "spec", "template", "spec", "containers")


def with_more(items: list[str], limit: int = 3, empty: str = "<unset>") -> str:
    """``listWithMoreString``: the first ``limit`` items, then ``+ N more...``."""
    shown = ",".join(items[:limit])
    if len(items) > limit:
        return f"{shown} + {len(items) - limit} more..."
    return shown or empty


def lb_ingress(ingress: list) -> str:
    """``loadBalancerStatusStringer`` (wide, as the API server renders):
    the sorted, de-duplicated IPs (or hostnames) of ``status.loadBalancer.ingress``."""
    found = {dstr(i, "ip") or dstr(i, "hostname") for i in ingress}
    found.discard("")
    return ",".join(sorted(found))
