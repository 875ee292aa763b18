"""Ingress objects to the nginx.conf of the lab's ingress controller.

Pure except for :func:`check` and :func:`find_nginx`, which run/locate the nginx binary
(they live in ``k8snet.addons.nginx_check``; reading Ingress and Service objects in
``k8snet.addons.ingress_paths``; both re-exported here).

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

Nothing from an Ingress reaches nginx.conf unchecked, even if validation was
bypassed: hosts must be DNS-1123 subdomains (optionally ``*.``), paths URL path
characters without ``;``, ``'``, ``$`` or ``%``, Service names DNS-1035 labels
(``k8snet.addons.ingress_paths``), else the rule, path or backend is refused
with a warning; upstreams are parsed IP addresses and ports; comments keep only
harmless characters; and :func:`_arg` raises rather than write a quote,
backslash or control character.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from k8snet.addons.ingress_paths import (
    _HOST,
    CLASS_ANNOTATION,
    EXACT,
    PATH_TYPES,
    PREFIX,
    _add_path,
    _age,
    _class_of,
    _key,
    _namespace,
    _q,
    _resolve,
    _Server,
    _Target,
)
from k8snet.addons.nginx_check import NGINX_CANDIDATES, NginxMissing, check, find_nginx
from k8snet.addons.nginx_check import _unprivileged as _unprivileged

__all__ = ["CLASS_ANNOTATION", "EXACT", "NGINX_CANDIDATES", "PATH_TYPES", "PREFIX",
           "NginxMissing", "Rendered", "check", "find_nginx", "render"]

_BARE = re.compile(r"[A-Za-z0-9/._~-]+")          # needs no quotes in nginx.conf
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')     # cannot be inside "..." safely
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 ._~/:@()\[\]*>=,\"-]")


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
    directory for the pid file and nginx's temp directories; the error and
    access logs go to the container's stderr and stdout, as ingress-nginx's
    image links them (``kubectl logs``).  ``port``/``address``: what the servers listen on (``listen
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
        if "%" in str(address):
            raise ValueError(f"address must have no IPv6 zone: {address!r}")
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



# --- writing nginx.conf ------------------------------------------------------------------


def _arg(value: str) -> str:
    """A path as one nginx.conf token.  Callers pass checked text; a quote, backslash
    or control character (which no quoting here could contain) raises ValueError."""
    if _UNQUOTABLE.search(value):
        raise ValueError(f"refusing to write {value!r} into nginx.conf")
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
error_log stderr notice;

events {{
    worker_connections 1024;
}}

http {{
    access_log /dev/stdout;
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
