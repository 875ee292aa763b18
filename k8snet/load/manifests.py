"""Load plain Kubernetes manifests (multi-document YAML) into k8snet objects.

Kinds: v1 Namespace, Pod, Service; apps/v1 Deployment, ReplicaSet, DaemonSet,
StatefulSet; networking.k8s.io/v1 Ingress.  Everything is checked before
anything runs; a bad document gives ONE line naming the file, the line, the
document (1-based position in the YAML stream) and the field, in the API
server's wording where it has one::

    app.yaml:24: document 2: Deployment.apps "web" is invalid:
        spec.replicas: Invalid value: -1: must be greater than or equal to 0

(shown wrapped here; it is one line).  Fields that mean nothing in k8snet
(resources, volumes, securityContext, livenessProbe, ...) are not errors: they
are collected per document in ``Document.ignored`` so the caller can print one
line (``ManifestSet.ignored_summary()``).

``expand`` turns a workload into pods named as the controllers name them:
Deployment ``<name>-<pod-template-hash>-<5 chars>``, ReplicaSet and DaemonSet
``<name>-<5 chars>``, StatefulSet ``<name>-<ordinal>``.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8snet.addons.ingress import Ingress, parse_ingress
from k8snet.api.model import Container, Node, Pod
from k8snet.api.service import Service, parse_service
from k8snet.api.service import validate as validate_service
from k8snet.errors import K8snetError
from k8snet.load.topofile import DNS1123_LABEL, DNS1123_SUBDOMAIN, parse_container


class ManifestError(K8snetError):
    pass


# (apiVersion, kind) -> the qualified kind the API server names in errors.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Pod"): "Pod",
    ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment.apps",
    ("apps/v1", "ReplicaSet"): "ReplicaSet.apps",
    ("apps/v1", "DaemonSet"): "DaemonSet.apps",
    ("apps/v1", "StatefulSet"): "StatefulSet.apps",
    ("networking.k8s.io/v1", "Ingress"): "Ingress.networking.k8s.io",
}
# kind -> resource, as in "deployments.apps "web" already exists".
RESOURCES = {"Namespace": "namespaces", "Pod": "pods", "Service": "services",
             "Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps",
             "DaemonSet": "daemonsets.apps", "StatefulSet": "statefulsets.apps",
             "Ingress": "ingresses.networking.k8s.io"}
WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet")

# Characters of generated names (k8s.io/apimachinery/pkg/util/rand): no vowels,
# no look-alikes, so a random suffix never spells a word.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
MAX_GENERATED_NAME = 63 - 5

LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
             "characters or '-', and must start and end with an alphanumeric character")
MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric "
                 "character")

# Keys read at each level; anything else is recorded as ignored.
META_USED = {"name", "namespace", "labels"}
META_QUIET = {"annotations", "uid", "resourceVersion", "creationTimestamp",
              "generation", "managedFields", "selfLink", "ownerReferences",
              "finalizers"}
POD_SPEC_USED = {"containers", "nodeName", "nodeSelector", "enableServiceLinks",
                 "hostname", "subdomain"}
CONTAINER_USED = {"name", "image", "command", "args", "ports", "env", "readinessProbe"}
SPEC_USED = {
    "Deployment": {"replicas", "selector", "template"},
    "ReplicaSet": {"replicas", "selector", "template"},
    "DaemonSet": {"selector", "template"},
    "StatefulSet": {"replicas", "selector", "template", "serviceName"},
    "Service": {"type", "selector", "ports", "clusterIP", "sessionAffinity",
                "sessionAffinityConfig", "externalTrafficPolicy",
                "internalTrafficPolicy", "externalName"},
    "Ingress": {"rules", "defaultBackend"},
    "Namespace": set(),
}


# --- the objects ------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """A readiness probe: exactly one of httpGet, tcpSocket, exec."""

    handler: str                       # "httpGet" | "tcpSocket" | "exec"
    port: int | str = 0                # httpGet/tcpSocket: number or container-port name
    path: str = "/"                    # httpGet
    scheme: str = "HTTP"               # httpGet
    host: str = ""                     # httpGet/tcpSocket; "" means the pod IP
    command: tuple[str, ...] = ()      # exec
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    def resolved_port(self, container: Container) -> int | None:
        """The port number, looking a name up among ``container``'s ports."""
        if isinstance(self.port, int):
            return self.port
        return next((p.container_port for p in container.ports if p.name == self.port),
                    None)


@dataclass(frozen=True)
class PodTemplate:
    labels: tuple[tuple[str, str], ...] = ()
    containers: tuple[Container, ...] = ()
    readiness: tuple[tuple[str, Probe], ...] = ()    # (container name, probe)
    node_name: str = ""
    node_selector: tuple[tuple[str, str], ...] = ()
    enable_service_links: bool = True
    hostname: str = ""
    subdomain: str = ""


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workload:
    kind: str                          # Deployment | ReplicaSet | DaemonSet | StatefulSet
    name: str
    namespace: str
    replicas: int                      # DaemonSet: 0 (one pod per eligible node)
    selector: tuple[tuple[str, str], ...]            # spec.selector.matchLabels
    template: PodTemplate
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    service_name: str = ""             # StatefulSet spec.serviceName
    template_hash: str = ""            # pod-template-hash (Deployment)
    source: str = ""
    document: int = 0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PodInstance:
    """A pod to start, with what ``Pod`` alone does not say."""

    pod: Pod
    readiness: tuple[tuple[str, Probe], ...] = ()    # (container name, probe)
    node_selector: tuple[tuple[str, str], ...] = ()
    owner: str = ""                    # "Deployment/web"; "" for a bare Pod

    @property
    def name(self) -> str:
        return self.pod.name

    @property
    def hostname(self) -> str:
        return self.pod.hostname

    @property
    def subdomain(self) -> str:
        return self.pod.subdomain

    @property
    def enable_service_links(self) -> bool:
        return self.pod.enable_service_links

    @property
    def env(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Declared env of each container, by container name."""
        return {c.name: c.env for c in self.pod.containers}

    def probe(self, container: str) -> Probe | None:
        return dict(self.readiness).get(container)


@dataclass
class Document:
    source: str
    index: int                         # 1-based position in the YAML stream
    line: int
    kind: str = ""
    name: str = ""
    namespace: str = ""
    ignored: list[str] = field(default_factory=list)


def _qualified(kind: str) -> str:
    return next((q for (_, k), q in KINDS.items() if k == kind), kind)


@dataclass
class ManifestSet:
    namespaces: list[Namespace] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    pods: list[PodInstance] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    ingresses: list[Ingress] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    _seen: dict[tuple[str, str, str], str] = field(default_factory=dict, repr=False)

    @property
    def ignored(self) -> list[str]:
        """``Kind/name: dotted.path`` for every ignored field of every document."""
        return [f"{d.kind}/{d.name}: {path}" for d in self.documents for path in d.ignored]

    def ignored_summary(self) -> str:
        """One line listing ignored fields, grouped by path; "" if none."""
        by_path: dict[str, list[str]] = {}
        for doc in self.documents:
            for path in doc.ignored:
                by_path.setdefault(path, []).append(f"{doc.kind}/{doc.name}")
        if not by_path:
            return ""
        parts = [f"{path} ({', '.join(owners)})" for path, owners in by_path.items()]
        return "ignored fields (no effect in k8snet): " + "; ".join(parts)


# --- one document -------------------------------------------------------------------

class _Doc:
    """Parsing context for one document: where it is, and how to fail."""

    def __init__(self, record: Document, lines: dict[str, int]) -> None:
        self.record = record
        self.lines = lines

    def line_of(self, path: str) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.record.line

    def location(self, path: str = "") -> str:
        rec = self.record
        return f"{rec.source}:{self.line_of(path)}: document {rec.index}"

    def prefix(self, path: str = "") -> str:
        rec = self.record
        head = self.location(path)
        if rec.kind:
            head += f': {_qualified(rec.kind)} "{rec.name}" is invalid'
        return head

    def fail(self, path: str, detail: str) -> ManifestError:
        return ManifestError(f"{self.prefix(path)}: {path}: {detail}")

    def ignore(self, path: str) -> None:
        if path not in self.record.ignored:
            self.record.ignored.append(path)

    def unused(self, raw: dict, path: str, used: Iterable[str],
               quiet: Iterable[str] = ()) -> None:
        keep = set(used) | set(quiet)
        for key in raw:
            if key not in keep:
                self.ignore(f"{path}.{key}" if path else str(key))

    def mapping(self, value: Any, path: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"Invalid value: {_go(value)}: expected a mapping")
        return value

    def integer(self, value: Any, path: str, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(path, f"Invalid value: {_go(value)}: must be an integer")
        if value < minimum:
            raise self.fail(path, f"Invalid value: {value}: must be greater than or "
                            f"equal to {minimum}")
        return value


def _go(value: Any) -> str:
    """A value as the API server prints it in ``Invalid value: ...``."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        body = ", ".join(f"{json.dumps(str(k))}:{json.dumps(str(v))}"
                         for k, v in sorted(value.items()))
        return "map[string]string{" + body + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dns_name(doc: _Doc, name: str, path: str, label: bool) -> None:
    limit, regex, msg = ((63, DNS1123_LABEL, MSG_LABEL) if label
                         else (253, DNS1123_SUBDOMAIN, MSG_SUBDOMAIN))
    if len(name) > limit:
        raise doc.fail(path, f"Invalid value: {_go(name)}: must be no more than "
                       f"{limit} characters")
    if not regex.match(name):
        raise doc.fail(path, f"Invalid value: {_go(name)}: {msg}")


def _labels(doc: _Doc, value: Any, path: str) -> tuple[tuple[str, str], ...]:
    labels = doc.mapping(value, path)
    out = []
    for key, val in labels.items():
        key, val = str(key), "" if val is None else str(val)
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) \
                or len(name) > 63 or not LABEL_NAME.match(name):
            raise doc.fail(path, f"Invalid value: {_go(key)}: name part must consist of "
                           "alphanumeric characters, '-', '_' or '.', and must start and "
                           "end with an alphanumeric character")
        if len(val) > 63 or not LABEL_VALUE.match(val):
            raise doc.fail(f"{path}.{key}", f"Invalid value: {_go(val)}: a valid label "
                           "must be an empty string or consist of alphanumeric characters, "
                           "'-', '_' or '.', and must start and end with an alphanumeric "
                           "character")
        out.append((key, val))
    return tuple(sorted(out))


def _probe(doc: _Doc, raw: Any, path: str) -> Probe | None:
    raw = doc.mapping(raw, path)
    # the API server checks exec, httpGet, tcpSocket, grpc in this order
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in raw]
    if not handlers:
        raise doc.fail(path, "Required value: must specify a handler type")
    if len(handlers) > 1:
        raise doc.fail(f"{path}.{handlers[1]}",
                       "Forbidden: may not specify more than 1 handler type")
    handler = handlers[0]
    defaults = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                "successThreshold": 1, "failureThreshold": 3}
    timing = {}
    for key, default in defaults.items():
        minimum = 0 if key == "initialDelaySeconds" else 1
        timing[key] = (doc.integer(raw[key], f"{path}.{key}", minimum)
                       if raw.get(key) is not None else default)
    doc.unused(raw, path, [handler, *defaults])
    if handler == "grpc":
        doc.ignore(f"{path}.grpc")
        return None
    where = f"{path}.{handler}"
    body = doc.mapping(raw[handler], where)
    kwargs: dict[str, Any] = {}
    if handler == "exec":
        command = body.get("command")
        if not command or not isinstance(command, list):
            raise doc.fail(f"{where}.command", "Required value")
        kwargs["command"] = tuple(str(c) for c in command)
        doc.unused(body, where, ["command"])
    else:
        port = body.get("port")
        if port is None:
            raise doc.fail(f"{where}.port", "Required value")
        if isinstance(port, int) and not isinstance(port, bool):
            if not 1 <= port <= 65535:
                raise doc.fail(f"{where}.port", f"Invalid value: {port}: must be between "
                               "1 and 65535, inclusive")
        elif isinstance(port, str):
            if len(port) > 15 or not IANA_SVC_NAME.match(port) or "--" in port \
                    or not re.search(r"[a-z]", port):
                raise doc.fail(f"{where}.port", f"Invalid value: {_go(port)}: must be a "
                               "port name (at most 15 characters: a-z, 0-9 and '-', with "
                               "at least one letter)")
        else:
            raise doc.fail(f"{where}.port", f"Invalid value: {_go(port)}: must be a "
                           "number or a port name")
        kwargs["port"] = port
        kwargs["host"] = str(body.get("host") or "")
        if handler == "httpGet":
            kwargs["path"] = str(body.get("path") or "/")
            kwargs["scheme"] = str(body.get("scheme") or "HTTP")
            if kwargs["scheme"] not in ("HTTP", "HTTPS"):
                raise doc.fail(f"{where}.scheme", f"Unsupported value: "
                               f"{_go(kwargs['scheme'])}: supported values: \"HTTP\", "
                               "\"HTTPS\"")
            doc.unused(body, where, ["port", "host", "path", "scheme"])
        else:
            doc.unused(body, where, ["port", "host"])
    return Probe(handler=handler, initial_delay_seconds=timing["initialDelaySeconds"],
                 period_seconds=timing["periodSeconds"],
                 timeout_seconds=timing["timeoutSeconds"],
                 success_threshold=timing["successThreshold"],
                 failure_threshold=timing["failureThreshold"], **kwargs)


def _container(doc: _Doc, raw: Any, path: str) -> tuple[Container, Probe | None]:
    raw = doc.mapping(raw, path)
    doc.unused(raw, path, CONTAINER_USED)
    for i, port in enumerate(raw.get("ports") or []):
        if isinstance(port, dict):
            doc.unused(port, f"{path}.ports[{i}]", ["containerPort", "protocol", "name"])
    for i, env in enumerate(raw.get("env") or []):
        if isinstance(env, dict):
            doc.unused(env, f"{path}.env[{i}]", ["name", "value"])
    try:
        container = parse_container(raw, doc.prefix(path), path)
    except K8snetError as exc:
        raise ManifestError(str(exc)) from None
    probe = None
    if raw.get("readinessProbe") is not None:
        probe = _probe(doc, raw["readinessProbe"], f"{path}.readinessProbe")
    return container, probe


def _pod_spec(doc: _Doc, raw: Any, path: str,
              labels: tuple[tuple[str, str], ...]) -> PodTemplate:
    spec = doc.mapping(raw, path)
    doc.unused(spec, path, POD_SPEC_USED)
    raw_containers = spec.get("containers")
    if not raw_containers:
        raise doc.fail(f"{path}.containers", "Required value")
    if not isinstance(raw_containers, list):
        raise doc.fail(f"{path}.containers", "Invalid value: expected a list")
    containers, readiness = [], []
    names: set[str] = set()
    ports: set[tuple[int, str]] = set()
    for i, raw_container in enumerate(raw_containers):
        where = f"{path}.containers[{i}]"
        container, probe = _container(doc, raw_container, where)
        if container.name in names:
            raise doc.fail(f"{where}.name", f"Duplicate value: {_go(container.name)}")
        names.add(container.name)
        for port in container.ports:
            key = (port.container_port, port.protocol)
            if key in ports:
                raise doc.fail(f"{where}.ports", f"Duplicate value: {port.container_port}/"
                               f"{port.protocol}: already used by another container of "
                               "this pod (containers share the pod's network namespace)")
            ports.add(key)
        containers.append(container)
        if probe is not None:
            readiness.append((container.name, probe))
    links = spec.get("enableServiceLinks", True)
    if links is None:
        links = True
    if not isinstance(links, bool):
        raise doc.fail(f"{path}.enableServiceLinks", f"Invalid value: {_go(links)}: "
                       "must be true or false")
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            _dns_name(doc, str(spec[key]), f"{path}.{key}", label=True)
    node_name = str(spec.get("nodeName") or "")
    if node_name:
        _dns_name(doc, node_name, f"{path}.nodeName", label=False)
    return PodTemplate(labels=labels, containers=tuple(containers),
                       readiness=tuple(readiness), node_name=node_name,
                       node_selector=_labels(doc, spec.get("nodeSelector"),
                                             f"{path}.nodeSelector"),
                       enable_service_links=links, hostname=str(spec.get("hostname") or ""),
                       subdomain=str(spec.get("subdomain") or ""))


def _selector(doc: _Doc, raw: Any, kind: str):
    path = "spec.selector"
    if raw is None:
        raise doc.fail(path, "Required value")
    sel = doc.mapping(raw, path)
    doc.unused(sel, path, ["matchLabels", "matchExpressions"])
    match_labels = _labels(doc, sel.get("matchLabels"), f"{path}.matchLabels")
    exprs = []
    raw_exprs = sel.get("matchExpressions") or []
    if not isinstance(raw_exprs, list):
        raise doc.fail(f"{path}.matchExpressions", "Invalid value: expected a list")
    for i, expr in enumerate(raw_exprs):
        where = f"{path}.matchExpressions[{i}]"
        expr = doc.mapping(expr, where)
        key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
        values = tuple(str(v) for v in expr.get("values") or [])
        if not key:
            raise doc.fail(f"{where}.key", "Required value")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise doc.fail(f"{where}.operator", f"Invalid value: {_go(op)}: not a valid "
                           "selector operator")
        if op in ("In", "NotIn") and not values:
            raise doc.fail(f"{where}.values", "Required value: must be specified when "
                           "`operator` is 'In' or 'NotIn'")
        if op in ("Exists", "DoesNotExist") and values:
            raise doc.fail(f"{where}.values", "Forbidden: may not be specified when "
                           "`operator` is 'Exists' or 'DoesNotExist'")
        exprs.append((key, op, values))
    if not match_labels and not exprs:
        raise doc.fail(path, f"Invalid value: {{}}: empty selector is invalid for "
                       f"{kind.lower()}")
    return match_labels, tuple(exprs)


def selector_matches(match_labels: Iterable[tuple[str, str]],
                     expressions: Iterable[tuple[str, str, tuple[str, ...]]],
                     labels: Iterable[tuple[str, str]]) -> bool:
    """A LabelSelector (matchLabels AND every matchExpression) against labels."""
    have = dict(labels)
    if any(have.get(k) != v for k, v in match_labels):
        return False
    for key, op, values in expressions:
        present = key in have
        if op == "In" and not (present and have[key] in values):
            return False
        if op == "NotIn" and present and have[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _template_hash(template: Any) -> str:
    """pod-template-hash: FNV-1a (32 bit) of the template, encoded as the
    Deployment controller does (SafeEncodeString of the decimal digits).  The
    controller hashes its Go struct dump; this hashes canonical JSON, so values
    differ from a real cluster's but are just as stable."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in str(value))


def _workload(doc: _Doc, raw: dict, kind: str, name: str, namespace: str) -> Workload:
    spec = doc.mapping(raw.get("spec"), "spec")
    doc.unused(spec, "spec", SPEC_USED[kind])
    replicas = 0
    if kind != "DaemonSet":
        value = spec.get("replicas")
        replicas = 1 if value is None else doc.integer(value, "spec.replicas")
    match_labels, exprs = _selector(doc, spec.get("selector"), kind)
    template = doc.mapping(spec.get("template"), "spec.template")
    if not template:
        raise doc.fail("spec.template", "Required value")
    doc.unused(template, "spec.template", ["metadata", "spec"])
    meta = doc.mapping(template.get("metadata"), "spec.template.metadata")
    doc.unused(meta, "spec.template.metadata", ["labels"],
               META_QUIET | {"name", "namespace"})
    labels = _labels(doc, meta.get("labels"), "spec.template.metadata.labels")
    if not selector_matches(match_labels, exprs, labels):
        raise doc.fail("spec.template.metadata.labels",
                       f"Invalid value: {_go(dict(labels))}: `selector` does not match "
                       "template `labels`")
    pod = _pod_spec(doc, template.get("spec"), "spec.template.spec", labels)
    service_name = ""
    if kind == "StatefulSet" and spec.get("serviceName"):
        service_name = str(spec["serviceName"])
        _dns_name(doc, service_name, "spec.serviceName", label=True)
    return Workload(kind=kind, name=name, namespace=namespace, replicas=replicas,
                    selector=match_labels, match_expressions=exprs, template=pod,
                    service_name=service_name,
                    template_hash=_template_hash(template) if kind == "Deployment" else "",
                    source=doc.record.source, document=doc.record.index)


def _object(doc: _Doc, raw: dict, out: ManifestSet, namespace: str | None) -> None:
    rec = doc.record
    api, kind = raw.get("apiVersion"), raw.get("kind")
    missing = [f"{f} not set" for f, v in (("apiVersion", api), ("kind", kind)) if not v]
    if missing:
        raise ManifestError(f"{doc.prefix()}: error validating data: [{', '.join(missing)}]")
    api, kind = str(api), str(kind)
    if (api, kind) not in KINDS:
        known = sorted(f"{a} {k}" for a, k in KINDS)
        raise ManifestError(f'{doc.prefix("kind")}: kind: no matches for kind "{kind}" in '
                            f'version "{api}" (k8snet knows: {", ".join(known)})')
    rec.kind = kind
    doc.unused(raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"])
    meta = raw.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise doc.fail("metadata", "Invalid value: expected a mapping")
    meta = meta or {}
    name = meta.get("name")
    if name is None or name == "":
        if meta.get("generateName"):
            raise doc.fail("metadata.generateName", "Forbidden: cannot use generate name "
                           "with apply; set metadata.name")
        raise doc.fail("metadata.name", "Required value: name or generateName is required")
    rec.name = name = str(name)
    quiet = set(META_QUIET)
    if kind == "Ingress":
        quiet.discard("annotations")     # nginx annotations change behaviour
    doc.unused(meta, "metadata", META_USED, quiet)
    if kind == "Namespace":
        _dns_name(doc, name, "metadata.name", label=True)
        ns = ""
        if meta.get("namespace"):
            doc.ignore("metadata.namespace")
    else:
        ns = str(meta.get("namespace") or namespace or "default")
        if namespace and meta.get("namespace") and ns != namespace:
            raise ManifestError(
                f'{doc.prefix("metadata.namespace")}: the namespace from the provided '
                f'object "{ns}" does not match the namespace "{namespace}". You must '
                f"pass '--namespace={ns}' to perform this operation.")
        _dns_name(doc, ns, "metadata.namespace", label=True)
        if kind != "Service":             # Services: DNS-1035, checked by validate()
            _dns_name(doc, name, "metadata.name", label=kind == "StatefulSet")
    rec.namespace = ns
    key = (kind, ns, name)
    if key in out._seen:
        scope = f" in namespace {ns}" if ns else ""
        raise doc.fail("metadata.name", f'Duplicate value: {_go(name)}: '
                       f'{RESOURCES[kind]} "{name}" already exists{scope} '
                       f"(first defined at {out._seen[key]})")
    out._seen[key] = f"{rec.source} document {rec.index}"
    labels = _labels(doc, meta.get("labels"), "metadata.labels")
    if kind == "Namespace":
        out.namespaces.append(Namespace(name=name, labels=labels))
    elif kind in WORKLOAD_KINDS:
        out.workloads.append(_workload(doc, raw, kind, name, ns))
    elif kind == "Pod":
        template = _pod_spec(doc, raw.get("spec"), "spec", labels)
        out.pods.append(_instance(template, name, ns, owner=""))
    elif kind == "Service":
        spec = doc.mapping(raw.get("spec"), "spec")
        doc.unused(spec, "spec", SPEC_USED["Service"])
        for i, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict):
                doc.unused(port, f"spec.ports[{i}]",
                           ["name", "protocol", "port", "targetPort", "nodePort"])
        shaped = {"metadata": {**meta, "namespace": ns}, "spec": spec}
        try:
            svc = parse_service(shaped, doc.prefix("spec"), "spec")
            validate_service(svc)
        except K8snetError as exc:
            text = str(exc)
            if text.startswith('Service "'):
                # validate()'s own wording: 'Service "x" is invalid: FIELD: ...'
                match = re.search(r"is invalid: ([\w.\[\]]+)", text)
                text = f"{doc.location(match.group(1) if match else 'spec')}: {text}"
            raise ManifestError(text) from None
        out.services.append(svc)
    elif kind == "Ingress":
        spec = doc.mapping(raw.get("spec"), "spec")
        doc.unused(spec, "spec", SPEC_USED["Ingress"])
        shaped = {"metadata": {**meta, "namespace": ns}, "spec": spec}
        try:
            out.ingresses.append(parse_ingress(shaped, f"{doc.prefix('spec')}: spec"))
        except K8snetError as exc:
            raise ManifestError(str(exc)) from None
        except (AttributeError, TypeError):
            raise doc.fail("spec", "Invalid value: malformed Ingress spec (rules[].http."
                           "paths[] and backends must be mappings)") from None


# --- YAML with line numbers ------------------------------------------------------

def _node_lines(node: yaml.Node, path: str, line: int, out: dict[str, int],
                where: tuple[str, int], depth: int = 0) -> None:
    """Record the line of every dotted path (a mapping entry: its key's line);
    reject duplicate mapping keys as the API server's YAML decoder does."""
    if depth > 64:
        return
    out.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise ManifestError(f"{where[0]}:{key_line}: document {where[1]}: "
                                    f'malformed YAML: mapping key "{key}" already '
                                    f"defined at line {seen[key]}")
            seen[key] = key_line
            _node_lines(value_node, f"{path}.{key}" if path else key, key_line, out,
                        where, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, f"{path}[{i}]", item.start_mark.line + 1, out, where,
                        depth + 1)


def _yaml_documents(text: str, source: str):
    """Yield (index, line, data, lines) per document; YAML errors name the line."""
    loader = yaml.SafeLoader(text)
    index = 0
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                index += 1
                node = loader.get_node()
                data = loader.construct_document(node)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark",
                                                                     None)
                where = f"{source}:{mark.line + 1}" if mark else source
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ManifestError(f"{where}: document {max(index, 1)}: malformed YAML: "
                                    f"{problem}") from None
            lines: dict[str, int] = {}
            line = node.start_mark.line + 1 if node is not None else 1
            if node is not None:
                _node_lines(node, "", line, lines, (source, index))
            yield index, line, data, lines
    finally:
        loader.dispose()


# --- entry points ---------------------------------------------------------------------

def parse_documents(text: str, source: str = "<manifest>", into: ManifestSet | None = None,
                    namespace: str | None = None) -> ManifestSet:
    """Parse every document of ``text`` into ``into`` (a new set by default).

    ``namespace`` is kubectl's ``-n``: the namespace of objects that name none,
    and an error for objects that name another.  Duplicates are checked across
    everything already in ``into``.
    """
    out = into if into is not None else ManifestSet()
    for index, line, data, lines in _yaml_documents(text, source):
        if data is None:
            continue
        record = Document(source=source, index=index, line=line)
        doc = _Doc(record, lines)
        if not isinstance(data, dict):
            raise ManifestError(f"{source}:{line}: document {index}: expected a mapping "
                                f"(a Kubernetes object), got {type(data).__name__}")
        _object(doc, data, out, namespace)
        out.documents.append(record)
    return out


def manifest_files(paths: Sequence[str]) -> list[Path]:
    """Files named, and *.yaml/*.yml of directories named (sorted, not recursive)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix in (".yaml", ".yml"))
            if not found:
                raise ManifestError(f"{path}: no *.yaml or *.yml files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f'the path "{name}" does not exist')
    return files


def load_paths(paths: Sequence[str], namespace: str | None = None) -> ManifestSet:
    """Read manifests from files and directories, like ``kubectl apply -f``."""
    out = ManifestSet()
    for path in manifest_files(paths):
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read: {exc}") from None
        parse_documents(text, str(path), into=out, namespace=namespace)
    return out


# --- workloads to pods ----------------------------------------------------------------

def _instance(template: PodTemplate, name: str, namespace: str, owner: str,
              node_name: str = "", hostname: str = "", subdomain: str = "",
              extra_labels: Iterable[tuple[str, str]] = ()) -> PodInstance:
    labels = dict(template.labels)
    labels.update(extra_labels)
    pod = Pod(name=name, namespace=namespace, node_name=node_name or template.node_name,
              labels=tuple(sorted(labels.items())), containers=template.containers,
              hostname=hostname or template.hostname,
              subdomain=subdomain or template.subdomain,
              enable_service_links=template.enable_service_links,
              node_selector=template.node_selector)
    return PodInstance(pod=pod, readiness=template.readiness,
                       node_selector=template.node_selector, owner=owner)


def _generate(base: str, rng: random.Random, taken: set[str], namespace: str) -> str:
    """``generateName``: base (cut to 58 characters) + 5 random characters."""
    base = base[:MAX_GENERATED_NAME]
    while True:
        name = base + "".join(rng.choice(ALPHANUMS) for _ in range(5))
        if name not in taken and f"{namespace}/{name}" not in taken:
            return name


def _node_labels(node: Node | str) -> tuple[str, dict[str, str]]:
    if isinstance(node, str):
        name, labels = node, {}
    else:
        name, labels = node.name, dict(node.labels)
    labels.setdefault("kubernetes.io/hostname", name)
    labels.setdefault("kubernetes.io/os", "linux")
    return name, labels


def expand(workload: Workload, existing_names: Collection[str] = (), *,
           nodes: Sequence[Node | str] = (), counter: int = 0) -> list[PodInstance]:
    """The pods ``workload``'s controller creates, named as Kubernetes names them.

    ``existing_names``: pods already in the namespace (names or ``ns/name``
    keys); generated names avoid them.  ``counter`` seeds the random suffixes,
    so the same (workload, counter) always gives the same names.  ``nodes`` is
    needed for a DaemonSet: one pod per node matching its nodeSelector (and
    nodeName, if set).
    """
    rng = random.Random(f"{counter}:{workload.kind}/{workload.namespace}/{workload.name}")
    taken = set(existing_names)
    owner = f"{workload.kind}/{workload.name}"
    ns, template = workload.namespace, workload.template
    pods: list[PodInstance] = []
    if workload.kind == "StatefulSet":
        for ordinal in range(workload.replicas):
            name = f"{workload.name}-{ordinal}"
            if name in taken or f"{ns}/{name}" in taken:
                raise ManifestError(f'StatefulSet "{workload.name}": pod "{name}" already '
                                    f"exists in namespace {ns}")
            pods.append(_instance(
                template, name, ns, owner, hostname=name, subdomain=workload.service_name,
                extra_labels=[("statefulset.kubernetes.io/pod-name", name),
                              ("apps.kubernetes.io/pod-index", str(ordinal))]))
        return pods
    if workload.kind == "DaemonSet":
        for node in nodes:
            node_name, labels = _node_labels(node)
            if template.node_name and template.node_name != node_name:
                continue
            if any(labels.get(k) != v for k, v in template.node_selector):
                continue
            name = _generate(f"{workload.name}-", rng, taken, ns)
            taken.add(name)
            pods.append(_instance(template, name, ns, owner, node_name=node_name))
        return pods
    extra: list[tuple[str, str]] = []
    base = f"{workload.name}-"
    if workload.kind == "Deployment":
        base = f"{workload.name}-{workload.template_hash}-"
        extra = [("pod-template-hash", workload.template_hash)]
    for _ in range(workload.replicas):
        name = _generate(base, rng, taken, ns)
        taken.add(name)
        pods.append(_instance(template, name, ns, owner, extra_labels=extra))
    return pods
