"""Ingress objects to the nginx.conf of the lab's ingress controller.

Pure except for :func:`check` and :func:`find_nginx`, which run/locate the nginx binary.

:func:`render` follows the Kubernetes documentation, concepts "Ingress":

* *Path types*: ``Exact`` matches one path, case-sensitively.  ``Prefix``
  matches whole path elements: ``/foo`` matches ``/foo``, ``/foo/`` and
  ``/foo/bar``, not ``/foobar``; a trailing slash in the rule is ignored
  (``/foo/`` is ``/foo``).  ``ImplementationSpecific`` is treated as ``Prefix``
  here (and is what a missing pathType means).
* *Multiple matches*: the longest matching path wins, then Exact over Prefix.
* *Hostname wildcards*: ``*.example.com`` matches exactly one more label
  (``a.example.com``, not ``a.b.example.com`` nor ``example.com``).
* *DefaultBackend*: requests that match no host or path go to a default backend.

How that becomes nginx (whose own location rules then give the documented
precedence: ``=`` first, else the longest prefix)::

    Exact  /foo    ->  location = /foo
    Prefix /foo    ->  location = /foo   (unless an Exact /foo exists for the host)
                       location /foo/
    Prefix /       ->  location /
    Exact  /foo/   ->  location = /foo/
                       location = /foo   (unless claimed: what /foo gets otherwise, so
                                          nginx does not redirect /foo to /foo/)

Several Ingresses naming one host merge into one ``server``; rules without
a host go to the default server (``listen ... default_server``), which
also answers every unknown host.  When two Ingresses claim the same
(host, path, pathType), the first created wins, as in ingress-nginx.

``location /`` of a server, when no Prefix ``/`` rule claims it:

* a named host: the ``spec.defaultBackend`` of the first-created Ingress
  with a rule for that host, else the catch-all, else 404;
* the default server: the catch-all, else the defaultBackend of the
  first-created Ingress with a host-less rule, else 404.

The catch-all is the defaultBackend of the first-created Ingress without
rules (ingress-nginx's "Ingress with a backend but no rule").  As in
ingress-nginx, an Ingress's own defaultBackend serves only its own hosts,
so without a catch-all an unknown host gets 404 (case 17, row 3).  Unlike
ingress-nginx, a named host without a defaultBackend sends its unmatched
paths to the catch-all rather than 404, as the docs say: "If none of the
hosts or paths match the HTTP request in the Ingress objects, the traffic
is routed to your default backend."

Backends proxy to the Service's ClusterIP and service port, so kproxy does
the load balancing (ingress-nginx's service-upstream mode); nginx resolves
no names.  The request path goes upstream unmodified; Host is kept and
X-Real-IP / X-Forwarded-For are set.  A backend that cannot be resolved
(no such Service or port, headless, ExternalName) becomes a location
answering 503 plus a warning; a path nginx cannot express is left out
with a warning.  The configuration as a whole never fails because of one
Ingress.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime

from k8snet.errors import K8snetError

EXACT, PREFIX = "Exact", "Prefix"
# pathType -> how it is matched here; ImplementationSpecific is Prefix.
PATH_TYPES = {"Exact": EXACT, "Prefix": PREFIX, "ImplementationSpecific": PREFIX}
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
# RFC 3986 pchar without "%" (nginx matches the decoded path), plus "/".
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
_BARE = re.compile(r"[A-Za-z0-9/._~-]+")          # needs no quotes in nginx.conf
# "2026/01/02 03:04:05 [emerg] 123#123: " as nginx logs to stderr with -e
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)
_LISTEN = re.compile(r"^(\s*listen\s+)([^\s;]+)", re.M)
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 ._~/:@()\[\]*>=,\"-]")


class NginxMissing(K8snetError):
    """The nginx program is not installed (or not where it was said to be)."""


@dataclass(frozen=True)
class Rendered:
    """The result of :func:`render`.

    ``text``: the complete nginx.conf.  ``warnings``: for every Ingress that
    was rendered (the ones of our class), keyed ``namespace/name`` in sorted
    order, the problems found in it, each ``<field>: <message>``; an empty
    list means none.
    """

    text: str
    warnings: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Target:
    upstream: str | None      # "ip:port"; None answers 503
    note: str                 # where it comes from, for a comment


@dataclass
class _Server:
    exact: dict[str, _Target] = field(default_factory=dict)
    prefix: dict[str, _Target] = field(default_factory=dict)    # "/foo", no trailing /
    defaults: list[tuple[str, _Target]] = field(default_factory=list)   # (ingress, backend)


def render(ingresses: list[dict], services: dict[str, dict], conf_dir: str,
           class_name: str = "nginx", port: int = 80, address: str | None = None) -> Rendered:
    """Build the controller's nginx.conf from Ingress objects.

    ``ingresses``: Ingress objects (networking.k8s.io/v1, as ``kubectl get -o
    json`` shows them); those whose ``spec.ingressClassName`` (else the
    ``kubernetes.io/ingress.class`` annotation) is ``class_name`` or unset are
    used (the lab's controller is the default class), the others ignored.
    They are taken oldest first (``metadata.creationTimestamp``, then
    namespace/name), which decides conflicts.  ``services``: Service objects
    keyed ``"namespace/name"``; ``spec.clusterIP``, ``spec.type`` and
    ``spec.ports[]`` (``name``, ``port``) are used.  ``conf_dir``: absolute
    directory for the pid file, error.log, access.log and nginx's temp
    directories.  ``port``/``address``: what the servers listen on (``listen
    80`` by default; ``address="127.0.0.1"`` binds one address).

    The text has no ``daemon`` directive (give ``-g 'daemon off;'``) and is
    byte-identical for the same input in any order.  Problems in an Ingress
    never raise: see :class:`Rendered` and the module docstring.  Raises
    ``ValueError`` only for a ``conf_dir``/``address``/``port`` that cannot
    be written into nginx.conf.  Semantics: Kubernetes docs "Ingress" (Path
    types, Examples, Multiple matches, Hostname wildcards, DefaultBackend).
    """
    if not os.path.isabs(conf_dir) or re.search(r'["\\$\x00-\x1f]', conf_dir):
        raise ValueError(f"conf_dir must be an absolute path without quotes, backslashes, "
                         f"$ or control characters: {conf_dir!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535: {port!r}")
    listen = str(port)
    if address:
        ip = ipaddress.ip_address(address)     # ValueError if not an address
        listen = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"

    chosen = sorted((i for i in ingresses if _class_of(i) in (None, class_name)), key=_age)
    warnings: dict[str, list[str]] = {_key(i): [] for i in chosen}
    servers: dict[str, _Server] = {"": _Server()}
    claims: dict[tuple[str, str, str], tuple[str, str]] = {}
    catch_all: tuple[str, _Target] | None = None

    for ing in chosen:
        key = _key(ing)
        warn = warnings[key].append
        namespace = _namespace(ing)
        spec = ing.get("spec") or {}
        default = None
        if spec.get("defaultBackend"):
            default = _resolve(spec["defaultBackend"], namespace, services, key,
                               "spec.defaultBackend", warn)
        rules = spec.get("rules") or []
        if not rules:
            if default is None:
                warn("spec: neither rules nor defaultBackend: nothing to serve")
            elif catch_all is None:
                catch_all = (key, default)
            else:
                warn(f"spec.defaultBackend: the catch-all (unknown hosts) is already the "
                     f"defaultBackend of Ingress {catch_all[0]} (first created wins)")
            continue
        own_hosts: list[str] = []
        for i, rule in enumerate(rules):
            host = (rule or {}).get("host") or ""
            if host and (not isinstance(host, str) or len(host) > 253
                         or not _HOST.fullmatch(host)):
                warn(f"spec.rules[{i}].host: {_q(host)} is not a valid host name (a DNS-1123 "
                     'subdomain, optionally starting with "*."): rule ignored')
                continue
            server = servers.setdefault(host, _Server())
            if host not in own_hosts:
                own_hosts.append(host)
            paths = ((rule or {}).get("http") or {}).get("paths") or []
            for j, item in enumerate(paths):
                where = f"spec.rules[{i}].http.paths[{j}]"
                _add_path(item or {}, where, host, server, claims, key, namespace, services,
                          warn)
        if default is not None:
            for host in own_hosts:
                servers[host].defaults.append((key, default))

    blocks = [_server_block(host, servers[host], catch_all, listen, warnings)
              for host in sorted(servers)]
    text = _document(conf_dir, class_name, blocks)
    return Rendered(text, {k: warnings[k] for k in sorted(warnings)})


def find_nginx(path: str | None = None) -> str:
    """The nginx program: ``path`` if given, else from PATH or the usual sbin places.

    Raises :class:`NginxMissing` naming what was looked for.
    """
    if path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise NginxMissing(f"nginx not found: {path} is not an executable file")
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in NGINX_CANDIDATES:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise NginxMissing("nginx not found (looked in PATH and " + ", ".join(NGINX_CANDIDATES)
                       + "); install it, e.g. apt-get install nginx-light")


def check(text: str, nginx: str | None = None, timeout: float = 30.0) -> str | None:
    """Test an nginx.conf with ``nginx -t``; None if nginx accepts it, else nginx's error text.

    ``text`` is written to a temporary directory, which is also the prefix
    (``-p``); errors go to stderr (``-e stderr``, nginx 1.19.5 or later), so
    no root is needed.  Files the text names (pid, logs, temp paths) must be
    creatable, as they are when it was rendered for a directory that exists.
    In the messages the temporary file reads ``nginx.conf`` and each line
    starts ``nginx: [level]`` (no time or pid), e.g. ``nginx: [emerg] unknown
    directive "x" in nginx.conf:3``.
    Raises :class:`NginxMissing` (see :func:`find_nginx`) and
    ``subprocess.TimeoutExpired``.

    ``nginx -t`` binds the listen sockets (a port in use is tolerated).  As
    non-root, a listen port below 1024 cannot be bound, so each is tested as
    a free port of 127.0.0.1 instead; the rest of the text is tested as is.
    """
    program = find_nginx(nginx)
    if os.geteuid() != 0:
        text = _unprivileged(text)
    with tempfile.TemporaryDirectory(prefix="k8snet-nginx-t-") as tmp:
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        res = subprocess.run([program, "-t", "-q", "-e", "stderr", "-p", tmp + "/", "-c", conf],
                             capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode == 0:
        return None
    out = (res.stderr + res.stdout).replace(conf, "nginx.conf")
    out = _LOG_PREFIX.sub(r"nginx: [\1] ", out).strip()
    return out or f"nginx -t failed with exit status {res.returncode}"


def _unprivileged(text: str) -> str:
    """``listen`` directives with a port below 1024 moved to free ports of 127.0.0.1."""
    moved: dict[str, str] = {}

    def move(m: re.Match) -> str:
        where = m.group(2)
        port = where.rsplit(":", 1)[-1]
        if not port.isdigit() or int(port) >= 1024:
            return m.group(0)
        if where not in moved:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                moved[where] = f"127.0.0.1:{s.getsockname()[1]}"
        return m.group(1) + moved[where]

    return _LISTEN.sub(move, text)


# --- reading Ingress and Service objects -------------------------------------------------


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


# --- writing nginx.conf ------------------------------------------------------------------


def _arg(value: str) -> str:
    """A path as one nginx.conf token (callers only pass quote- and backslash-free text)."""
    return value if _BARE.fullmatch(value) else f'"{value}"'


def _comment(text: str) -> str:
    return _COMMENT_UNSAFE.sub("?", text)


def _server_name(host: str) -> str:
    if not host:
        return "_"
    if host.startswith("*."):
        # One label only (docs "Hostname wildcards"); nginx's own *. would match several.
        return "~^[^.]+\\." + host[2:].replace(".", "\\.") + "$"
    return host


def _location(modifier: str, path: str, target: _Target | None, note: str = "") -> list[str]:
    head = f"location {modifier} {_arg(path)}" if modifier else f"location {_arg(path)}"
    if target is None:
        body = "return 404;"
    elif target.upstream is None:
        body = "return 503;"
    else:
        body = f"proxy_pass http://{target.upstream};"
    text = note or (target.note if target else "")
    return [f"        # {_comment(text)}", f"        {head} {{", f"            {body}", "        }"]


def _root(host: str, server: _Server, catch_all: tuple[str, _Target] | None,
          warnings: dict[str, list[str]]) -> tuple[_Target | None, str]:
    """What ``location /`` serves when no Prefix / claims it, and a note saying why."""
    on = f"host {_q(host)}" if host else "the default server (unknown hosts)"
    fallback = [catch_all] if catch_all else []
    order = server.defaults + fallback if host else fallback + server.defaults
    if not order:
        return None, "no rule, defaultBackend or catch-all matches: 404"
    winner, target = order[0]
    for key, _ in server.defaults:
        if key != winner:
            what = ("the catch-all Ingress" if catch_all and winner == catch_all[0]
                    else "the defaultBackend of Ingress")
            msg = (f"spec.defaultBackend: unmatched paths on {on} are already served by "
                   f"{what} {winner} (first created wins)")
            if msg not in warnings[key]:
                warnings[key].append(msg)
    return target, ""


def _server_block(host: str, server: _Server, catch_all: tuple[str, _Target] | None,
                  listen: str, warnings: dict[str, list[str]]) -> str:
    # keyed (path, 0 for "=", 1 for a prefix) to print them sorted
    located: dict[tuple[str, int], list[str]] = {}
    for path, target in server.exact.items():
        located[(path, 0)] = _location("=", path, target)
    for path, target in server.prefix.items():
        if path == "/":
            located[("/", 1)] = _location("", "/", target)
            continue
        if path not in server.exact:
            located[(path, 0)] = _location("=", path, target)
        located[(path + "/", 1)] = _location("", path + "/", target)
    root: tuple[_Target | None, str] = (server.prefix.get("/"), "")
    if "/" not in server.prefix:
        root = _root(host, server, catch_all, warnings)
        located[("/", 1)] = _location("", "/", *root)
    # nginx answers /foo with a 301 to /foo/ when a proxying location is named /foo/
    # (prefix or exact: "auto_redirect") unless "= /foo" exists; an Exact /foo/ alone
    # needs one, serving what /foo gets otherwise: the longest Prefix matching it.
    for path in sorted(server.exact):
        bare = path.rstrip("/")
        if path == "/" or path == bare or (bare, 0) in located:
            continue
        owner = max((p for p in server.prefix if p != "/" and bare.startswith(p + "/")),
                    key=len, default=None)
        if owner is not None:
            located[(bare, 0)] = _location("=", bare, server.prefix[owner])
        else:
            located[(bare, 0)] = _location("=", bare, root[0], root[1])
    lines = ["    server {",
             f"        listen {listen}{' default_server' if not host else ''};",
             f"        server_name {_server_name(host)};"]
    for k in sorted(located):
        lines.extend(located[k])
    lines.append("    }")
    return "\n".join(lines)


def _document(conf_dir: str, class_name: str, blocks: list[str]) -> str:
    def under(name: str) -> str:
        return _arg(os.path.join(conf_dir, name))

    temps = "\n".join(f"    {kind}_temp_path {under(kind + '_temp')};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    head = f"""\
# nginx.conf of the k8snet ingress controller, generated from the Ingress
# objects of class {_comment(_q(class_name))} (and those without a class) by
# k8snet.addons.nginx_conf.  Rewritten on every change: do not edit.
# Run with: nginx -c <this file> -g 'daemon off;'
worker_processes 1;
pid {under('nginx.pid')};
error_log {under('error.log')} notice;

events {{
    worker_connections 1024;
}}

http {{
    access_log {under('access.log')};
{temps}
    server_tokens off;
    server_names_hash_bucket_size 512;

    proxy_connect_timeout 3s;
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" close;
    }}

"""
    return head + "\n\n".join(blocks) + "\n}\n"
