"""Reading Ingress and Service objects for ``k8snet.addons.nginx_conf``.

Pure.  Host names, path types and paths as the Kubernetes documentation
("Ingress") defines them, backends resolved to ``ClusterIP:port``, and the
claims that decide which Ingress owns a (host, path, pathType); problems
become warnings, never exceptions.

A second line of defence behind validation (``k8snet.api.validation.ingress``),
for objects that bypassed it: a host, path or Service name with a character
outside its safe set (anything that could end an nginx token, directive or
block: ``;``, ``{``, ``}``, ``#``, quotes, ``$``, backslash, whitespace, control
characters) is refused with a warning naming the field, and its rule, path or
backend left out; nothing it holds reaches nginx.conf.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

EXACT, PREFIX = "Exact", "Prefix"
# pathType -> how it is matched here; ImplementationSpecific is Prefix.
PATH_TYPES = {"Exact": EXACT, "Prefix": PREFIX, "ImplementationSpecific": PREFIX}
CLASS_ANNOTATION = "kubernetes.io/ingress.class"

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
# RFC 3986 pchar, plus "/", without "%" (nginx matches the decoded path) and without
# ";", "'" and "$" (safe inside nginx's quotes, but refused as the lab's validation does).
_PATH = re.compile(r"[A-Za-z0-9._~!&()*+,=:@/-]*")
_SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")     # a DNS-1035 label


@dataclass(frozen=True)
class _Target:
    upstream: str | None      # "ip:port"; None answers 503
    note: str                 # where it comes from, for a comment


@dataclass
class _Server:
    exact: dict[str, _Target] = field(default_factory=dict)
    prefix: dict[str, _Target] = field(default_factory=dict)    # "/foo", no trailing /
    defaults: list[tuple[str, _Target]] = field(default_factory=list)   # (ingress, backend)


def _namespace(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _key(obj: dict) -> str:
    return f"{_namespace(obj)}/{(obj.get('metadata') or {}).get('name', '')}"


def _class_of(ing: dict) -> str | None:
    cls = (ing.get("spec") or {}).get("ingressClassName")
    if cls is None:
        cls = ((ing.get("metadata") or {}).get("annotations") or {}).get(CLASS_ANNOTATION)
    return cls


def _age(ing: dict) -> tuple[float, str]:
    """Sort key, oldest first; no or a bad creationTimestamp counts as newest."""
    stamp = (ing.get("metadata") or {}).get("creationTimestamp")
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        when = float("inf")
    return when, _key(ing)


def _q(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _resolve(backend: dict, namespace: str, services: dict[str, dict], key: str, where: str,
             warn) -> _Target:
    """An IngressBackend to ``ClusterIP:port``; problems are warned and answer 503."""
    backend = backend if isinstance(backend, dict) else {}
    svc = backend.get("service") or {}
    name = svc.get("name")
    port = svc.get("port") or {}
    number, port_name = port.get("number"), port.get("name")
    shown = f"{namespace}/{name}:{number if number is not None else port_name}"

    def broken() -> _Target:
        return _Target(None, f"{key} {where} -> {shown}: broken, answers 503")

    if backend.get("resource"):
        warn(f"{where}.resource: resource backends are not supported by this controller")
        return broken()
    if not name:
        warn(f"{where}.service.name: Required value")
        return broken()
    if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
        warn(f"{where}.service.name: {_q(name)} is not a valid Service name (a DNS-1035 "
             "label): answers 503")
        return broken()
    obj = services.get(f"{namespace}/{name}")
    if obj is None:
        warn(f"{where}.service.name: service {_q(f'{namespace}/{name}')} not found")
        return broken()
    spec = obj.get("spec") or {}
    ok, ip = True, None
    cluster_ip = spec.get("clusterIP")
    ident = _q(f"{namespace}/{name}")
    if spec.get("type") == "ExternalName":
        warn(f"{where}.service.name: service {ident} is of type ExternalName and has no "
             "ClusterIP to proxy to")
        ok = False
    elif cluster_ip == "None":
        warn(f"{where}.service.name: service {ident} is headless (clusterIP None); "
             "there is no ClusterIP to proxy to")
        ok = False
    elif not cluster_ip:
        warn(f"{where}.service.name: service {ident} has no ClusterIP")
        ok = False
    else:
        try:
            ip = ipaddress.ip_address(cluster_ip)
        except ValueError:
            warn(f"{where}.service.name: service {ident} has an invalid clusterIP "
                 f"{_q(cluster_ip)}")
            ok = False
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if number is not None:
        match = [p for p in ports if p.get("port") == number and not isinstance(number, bool)]
        if not match:
            warn(f"{where}.service.port.number: service {ident} has no port {_q(number)}")
    elif port_name:
        match = [p for p in ports if p.get("name") == port_name]
        if not match:
            warn(f"{where}.service.port.name: service {ident} has no port named "
                 f"{_q(port_name)}")
    else:
        match = []
        warn(f"{where}.service.port: Required value: a port number or name")
    if not ok or ip is None or not match:
        return broken()
    svc_port = match[0].get("port")
    if isinstance(svc_port, bool) or not isinstance(svc_port, int) or not 0 < svc_port < 65536:
        warn(f"{where}.service.port: service {ident} has an invalid port {_q(svc_port)}")
        return broken()
    upstream = f"[{ip}]:{svc_port}" if ip.version == 6 else f"{ip}:{svc_port}"
    return _Target(upstream, f"{key} {where} -> {namespace}/{name}:{svc_port}")


def _path_problem(path: object) -> str | None:
    """Why nginx cannot match this path as written, or None."""
    if not isinstance(path, str):
        return "not a string"
    if not path.startswith("/"):
        return "must be an absolute path (start with /)"
    if not _PATH.fullmatch(path):
        bad = "".join(sorted({c for c in path if not _PATH.fullmatch(c)}))
        return (f"characters {_q(bad)} are not allowed (nginx matches the decoded path, "
                "and only URL path characters other than % are accepted)")
    for seq in ("//", "/./", "/../"):
        if seq in path:
            return f"contains {_q(seq)}, which nginx normalizes away before matching"
    if path.endswith(("/.", "/..")):
        return "ends with a dot segment, which nginx normalizes away before matching"
    return None


def _add_path(item: dict, where: str, host: str, server: _Server,
              claims: dict[tuple[str, str, str], tuple[str, str]], key: str, namespace: str,
              services: dict[str, dict], warn) -> None:
    raw_type = item.get("pathType") or "ImplementationSpecific"
    kind = PATH_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    target = _resolve(item.get("backend") or {}, namespace, services, key,
                      f"{where}.backend", warn)
    if kind is None:
        warn(f"{where}.pathType: Unsupported value: {_q(raw_type)}: supported values: "
             '"Exact", "ImplementationSpecific", "Prefix"; path ignored')
        return
    path = item.get("path") or "/"
    problem = _path_problem(path)
    if problem:
        warn(f"{where}.path: {_q(path)} cannot be expressed as an nginx location: {problem}; "
             "path ignored")
        return
    norm = path if kind == EXACT else (path.rstrip("/") or "/")
    claim = (host, kind, norm)
    if claim in claims:
        owner, owner_where = claims[claim]
        by = (f"{owner_where} of this Ingress (first listed wins)" if owner == key
              else f"Ingress {owner} (first created wins)")
        on = f"host {_q(host)}" if host else "the default server (rules without host)"
        warn(f"{where}.path: {kind} {_q(norm)} on {on} is already claimed by {by}; "
             "path ignored")
        return
    claims[claim] = (key, where)
    (server.exact if kind == EXACT else server.prefix)[norm] = target
