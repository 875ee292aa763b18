"""Tests for k8snet.addons.nginx_conf: Ingress objects to the controller's nginx.conf.

Three layers: the rendered text (which locations and backends), ``nginx -t``
on it (``check``), and real nginx serving it on 127.0.0.1 with small Python
HTTP servers on 127.0.0.1 standing in for ClusterIPs, answering
``<service> <path>`` like the echo pods of cases 16 and 17.  Every process
started is stopped by its PID; the HTTP servers are shut down.  Tests that
need nginx skip when it is not installed.

The expected values are the tables of ../shared/cases/16-ingress-path-matching
and 17-ingress-default-backend (their manifests are copied below, pods left
out) and the Examples table of the Kubernetes docs "Ingress".
"""

from __future__ import annotations

import copy
import http.client
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from k8snet.addons import nginx_conf as nc

try:
    NGINX: str | None = nc.find_nginx()
except nc.NginxMissing:
    NGINX = None
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

# --- the cases' manifests (Services and Ingresses of case.yaml / fallback.yaml) -----------

CASE16 = """
apiVersion: v1
kind: Service
metadata: {name: landing, namespace: ingpath}
spec:
  selector: {app: paths-echo}
  ports: [{name: http, port: 80, targetPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: catchall, namespace: ingpath}
spec:
  selector: {app: paths-echo}
  ports: [{name: http, port: 80, targetPort: 8082}]
---
apiVersion: v1
kind: Service
metadata: {name: foo-prefix, namespace: ingpath}
spec:
  selector: {app: paths-echo}
  ports: [{name: http, port: 80, targetPort: 8083}]
---
apiVersion: v1
kind: Service
metadata: {name: foo-exact, namespace: ingpath}
spec:
  selector: {app: paths-echo}
  ports: [{name: http, port: 80, targetPort: 8084}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: paths
  namespace: ingpath
spec:
  ingressClassName: nginx
  rules:
  - host: paths.example
    http:
      paths:
      - path: /
        pathType: Exact
        backend:
          service:
            name: landing
            port:
              number: 80
      - path: /
        pathType: Prefix
        backend:
          service:
            name: catchall
            port:
              number: 80
      - path: /foo
        pathType: Prefix
        backend:
          service:
            name: foo-prefix
            port:
              number: 80
      - path: /foo
        pathType: Exact
        backend:
          service:
            name: foo-exact
            port:
              number: 80
"""

CASE17 = """
apiVersion: v1
kind: Service
metadata: {name: example-svc, namespace: ingdef}
spec:
  selector: {app: def-echo}
  ports: [{name: http, port: 80, targetPort: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: default-svc, namespace: ingdef}
spec:
  selector: {app: def-echo}
  ports: [{name: http, port: 80, targetPort: 8082}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: site
  namespace: ingdef
  creationTimestamp: "2026-01-01T10:00:00Z"
spec:
  ingressClassName: nginx
  defaultBackend:
    service:
      name: default-svc
      port:
        number: 80
  rules:
  - host: example.dev
    http:
      paths:
      - path: /app
        pathType: Prefix
        backend:
          service:
            name: example-svc
            port:
              number: 80
"""

FALLBACK17 = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: fallback
  namespace: ingdef
  creationTimestamp: "2026-01-01T10:00:07Z"
spec:
  ingressClassName: nginx
  defaultBackend:
    service:
      name: default-svc
      port:
        number: 80
"""

# case 16, expected.md: request path -> backend
CASE16_ROWS = [("/", "landing"), ("/index.html", "catchall"), ("/foo", "foo-exact"),
               ("/foo/", "foo-prefix"), ("/foo/bar", "foo-prefix"), ("/foobar", "catchall"),
               ("/FOO", "catchall")]
CONTROLLER_HOST = "ingress-nginx-controller.ingress-nginx.svc.cluster.local"


def load(text: str) -> tuple[list[dict], dict[str, dict]]:
    """(Ingresses, Services keyed ns/name) of a manifest; each Service gets a ClusterIP."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    services = {}
    for d in docs:
        if d["kind"] == "Service":
            key = f"{d['metadata']['namespace']}/{d['metadata']['name']}"
            d["spec"]["clusterIP"] = fake_ip(key)
            services[key] = d
    return ingresses, services


def fake_ip(key: str) -> str:
    """A stable, distinct ClusterIP per service key."""
    return f"10.96.{sum(map(ord, key)) % 250}.{len(key) + 10}"


def svc(ns: str, name: str, port: int = 80, ip: str | None = None, **spec) -> dict:
    ip = fake_ip(f"{ns}/{name}") if ip is None else ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "type": "ClusterIP",
                     "ports": [{"name": "http", "port": port, "protocol": "TCP"}], **spec}}


def svc_map(*services: dict) -> dict[str, dict]:
    return {f"{s['metadata']['namespace']}/{s['metadata']['name']}": s for s in services}


def backend(name: str, port: int | str = 80) -> dict:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": name, "port": {key: port}}}


def ingress(name: str, rules: list[dict] | None = None, ns: str = "default",
            default: dict | None = None, created: str | None = None,
            cls: str | None = "nginx") -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if created:
        meta["creationTimestamp"] = created
    spec: dict = {}
    if cls is not None:
        spec["ingressClassName"] = cls
    if rules is not None:
        spec["rules"] = rules
    if default is not None:
        spec["defaultBackend"] = default
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


def rule(host: str | None, *paths: tuple[str, str, dict]) -> dict:
    """A rule; paths are (pathType, path, backend)."""
    out: dict = {"http": {"paths": [{"pathType": t, "path": p, "backend": b}
                                    for t, p, b in paths]}}
    if host:
        out["host"] = host
    return out


def routes(text: str, services: dict[str, dict]) -> dict[str, dict[str, str]]:
    """server_name -> {"= /foo": "<service name>" | "503" | "404"} parsed from nginx.conf."""
    by_target = {}
    for key, s in services.items():
        for p in s["spec"].get("ports", []):
            ip = s["spec"].get("clusterIP") or ""
            ip = f"[{ip}]" if ":" in ip else ip
            by_target[f"{ip}:{p['port']}"] = key.split("/", 1)[1]
    out: dict[str, dict[str, str]] = {}
    for block in re.findall(r"^    server \{\n(.*?)\n    \}$", text, re.S | re.M):
        name = re.search(r"server_name (\S+);", block).group(1)
        locs = {}
        for where, body in re.findall(r"location ((?:= )?\S+) \{\n\s+(.*?)\n", block):
            if body.startswith("proxy_pass http://"):
                locs[where] = by_target[body[len("proxy_pass http://"):-1]]
            else:
                locs[where] = re.fullmatch(r"return (\d+);", body).group(1)
        assert name not in out, f"two server blocks for {name}"
        out[name] = locs
    return out


# --- rendering: cases 16 and 17 -----------------------------------------------------------


def test_case16_locations():
    ingresses, services = load(CASE16)
    r = nc.render(ingresses, services, "/run/ingress")
    assert r.warnings == {"ingpath/paths": []}
    assert routes(r.text, services) == {
        "_": {"/": "404"},
        "paths.example": {"= /": "landing", "/": "catchall", "= /foo": "foo-exact",
                          "/foo/": "foo-prefix"},
    }


def test_case17_phase1_own_hosts_only():
    ingresses, services = load(CASE17)
    r = nc.render(ingresses, services, "/run/ingress")
    assert r.warnings == {"ingdef/site": []}
    assert routes(r.text, services) == {
        "_": {"/": "404"},      # row 3: the site's defaultBackend is for its own hosts
        "example.dev": {"/": "default-svc", "= /app": "example-svc", "/app/": "example-svc"},
    }


def test_case17_phase2_ruleless_ingress_is_the_catch_all():
    ingresses, services = load(CASE17 + "---" + FALLBACK17)
    r = nc.render(ingresses, services, "/run/ingress")
    assert r.warnings == {"ingdef/fallback": [], "ingdef/site": []}
    assert routes(r.text, services) == {
        "_": {"/": "default-svc"},
        "example.dev": {"/": "default-svc", "= /app": "example-svc", "/app/": "example-svc"},
    }
    assert "# ingdef/fallback spec.defaultBackend -> ingdef/default-svc:80" in r.text


# --- rendering: the rest of the semantics --------------------------------------------------


def test_only_our_class_and_unclassed_ingresses():
    services = svc_map(svc("default", "web"))
    ings = [ingress("ours", [rule("a.test", ("Prefix", "/", backend("web")))]),
            ingress("unset", [rule("b.test", ("Prefix", "/", backend("web")))], cls=None),
            ingress("other", [rule("c.test", ("Prefix", "/", backend("web")))], cls="traefik"),
            ingress("annotated", [rule("d.test", ("Prefix", "/", backend("web")))], cls=None)]
    ings[3]["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
    r = nc.render(ings, services, "/run/ingress")
    assert set(routes(r.text, services)) == {"_", "a.test", "b.test"}
    assert list(r.warnings) == ["default/ours", "default/unset"]
    r = nc.render(ings, services, "/run/ingress", class_name="traefik")
    assert set(routes(r.text, services)) == {"_", "b.test", "c.test", "d.test"}


def test_same_host_in_several_ingresses_is_one_server():
    services = svc_map(svc("a", "one"), svc("b", "two"))
    ings = [ingress("x", [rule("shop.test", ("Prefix", "/cart", backend("one")))], ns="a"),
            ingress("y", [rule("shop.test", ("Exact", "/pay", backend("two")))], ns="b")]
    r = nc.render(ings, services, "/run/ingress")
    assert r.text.count("server_name shop.test;") == 1
    assert routes(r.text, services)["shop.test"] == {
        "/": "404", "= /cart": "one", "/cart/": "one", "= /pay": "two"}


def test_duplicate_claim_first_created_wins():
    services = svc_map(svc("default", "old"), svc("default", "new"))
    # "aaa" sorts first by name but was created later: creation time decides.
    ings = [ingress("aaa", [rule("h.test", ("Prefix", "/api", backend("new")))],
                    created="2026-03-01T00:00:05Z"),
            ingress("zzz", [rule("h.test", ("Prefix", "/api/", backend("old")))],
                    created="2026-03-01T00:00:00Z")]
    r = nc.render(ings, services, "/run/ingress")
    assert routes(r.text, services)["h.test"] == {"/": "404", "= /api": "old", "/api/": "old"}
    assert r.warnings == {
        "default/aaa": ['spec.rules[0].http.paths[0].path: Prefix "/api" on host "h.test" is '
                        "already claimed by Ingress default/zzz (first created wins); "
                        "path ignored"],
        "default/zzz": []}


def test_duplicate_claim_inside_one_ingress_and_implementation_specific_is_prefix():
    services = svc_map(svc("default", "a"), svc("default", "b"))
    ing = ingress("dup", [rule("h.test", ("Prefix", "/x", backend("a")),
                               ("ImplementationSpecific", "/x/", backend("b")),
                               ("Exact", "/x", backend("b")))])
    r = nc.render([ing], services, "/run/ingress")
    assert routes(r.text, services)["h.test"] == {"/": "404", "= /x": "b", "/x/": "a"}
    assert r.warnings["default/dup"] == [
        'spec.rules[0].http.paths[1].path: Prefix "/x" on host "h.test" is already claimed by '
        "spec.rules[0].http.paths[0] of this Ingress (first listed wins); path ignored"]


def test_missing_path_type_is_prefix_and_exact_keeps_its_slash():
    services = svc_map(svc("default", "a"), svc("default", "b"))
    ing = ingress("p", [rule("h.test", ("Exact", "/dir/", backend("a")))])
    ing["spec"]["rules"][0]["http"]["paths"].append({"path": "/lib", "backend": backend("b")})
    r = nc.render([ing], services, "/run/ingress")
    # "= /dir" keeps nginx from redirecting /dir to /dir/ (its auto_redirect); /dir
    # gets what it would get without the Exact /dir/ rule
    assert routes(r.text, services)["h.test"] == {
        "/": "404", "= /dir/": "a", "= /dir": "404", "= /lib": "b", "/lib/": "b"}
    assert r.warnings["default/p"] == []


def test_exact_with_trailing_slash_does_not_redirect_its_bare_path():
    services = svc_map(svc("default", "a"), svc("default", "b"), svc("default", "c"))
    ing = ingress("p", [rule("h.test", ("Prefix", "/a", backend("a")),
                             ("Exact", "/a/b/c/", backend("b")), ("Prefix", "/", backend("c")),
                             ("Exact", "/x/", backend("b")))])
    r = nc.render([ing], services, "/run/ingress")
    assert routes(r.text, services)["h.test"] == {
        "/": "c", "= /a": "a", "/a/": "a", "= /a/b/c/": "b", "= /a/b/c": "a",
        "= /x/": "b", "= /x": "c"}


BROKEN = [
    (backend("nope"), {},
     'spec.rules[0].http.paths[0].backend.service.name: service "ns1/nope" not found'),
    (backend("web", "admin"), {},
     'spec.rules[0].http.paths[0].backend.service.port.name: service "ns1/web" has no port '
     'named "admin"'),
    (backend("web", 8080), {},
     'spec.rules[0].http.paths[0].backend.service.port.number: service "ns1/web" has no '
     "port 8080"),
    (backend("web"), {"clusterIP": "None"},
     'spec.rules[0].http.paths[0].backend.service.name: service "ns1/web" is headless '
     "(clusterIP None); there is no ClusterIP to proxy to"),
    (backend("web"), {"type": "ExternalName", "clusterIP": None, "externalName": "x.test"},
     'spec.rules[0].http.paths[0].backend.service.name: service "ns1/web" is of type '
     "ExternalName and has no ClusterIP to proxy to"),
    (backend("web"), {"clusterIP": ""},
     'spec.rules[0].http.paths[0].backend.service.name: service "ns1/web" has no ClusterIP'),
    ({"service": {"name": "web"}}, {},
     "spec.rules[0].http.paths[0].backend.service.port: Required value: a port number or name"),
    ({"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}}, {},
     "spec.rules[0].http.paths[0].backend.resource: resource backends are not supported by "
     "this controller"),
]


@pytest.mark.parametrize(("back", "spec", "message"), BROKEN)
def test_broken_backend_answers_503_and_warns(back, spec, message):
    services = svc_map(svc("ns1", "web"), svc("ns1", "ok"))
    services["ns1/web"]["spec"].update(spec)
    ing = ingress("i", [rule("h.test", ("Prefix", "/bad", back), ("Prefix", "/", backend("ok")))],
                  ns="ns1")
    r = nc.render([ing], services, "/run/ingress")
    assert r.warnings == {"ns1/i": [message]}
    assert routes(r.text, services)["h.test"] == {"/": "ok", "= /bad": "503", "/bad/": "503"}


def test_broken_default_backend_answers_503():
    services = svc_map(svc("ns1", "ok"))
    ing = ingress("i", [rule("h.test", ("Exact", "/x", backend("ok")))], ns="ns1",
                  default=backend("gone"))
    r = nc.render([ing], services, "/run/ingress")
    assert r.warnings == {"ns1/i": ['spec.defaultBackend.service.name: service "ns1/gone" '
                                    "not found"]}
    assert routes(r.text, services)["h.test"] == {"/": "503", "= /x": "ok"}


@pytest.mark.parametrize(("path", "why"), [
    ("/a b", 'characters " " are not allowed'),
    ("/a%20b", 'characters "%" are not allowed'),
    ("/x{y}", 'characters "{}" are not allowed'),
    ('/q"', 'characters "\\"" are not allowed'),
    ("/a//b", 'contains "//"'),
    ("/a/../b", 'contains "/../"'),
    ("/a/.", "ends with a dot segment"),
    ("relative", "must be an absolute path"),
])
def test_path_nginx_cannot_express_is_left_out(path, why):
    services = svc_map(svc("default", "web"))
    ing = ingress("i", [rule("h.test", ("Prefix", path, backend("web")),
                             ("Exact", "/fine", backend("web")))])
    r = nc.render([ing], services, "/run/ingress")
    (message,) = r.warnings["default/i"]
    assert message.startswith("spec.rules[0].http.paths[0].path: ")
    assert why in message and message.endswith("path ignored")
    assert routes(r.text, services)["h.test"] == {"/": "404", "= /fine": "web"}


def test_other_ingress_problems_are_warnings():
    services = svc_map(svc("default", "web"))
    ings = [ingress("badhost", [rule("Bad_Host", ("Prefix", "/", backend("web"))),
                                rule("ok.test", ("Regex", "/x", backend("web")))]),
            ingress("empty")]
    r = nc.render(ings, services, "/run/ingress")
    assert r.warnings == {
        "default/badhost": [
            'spec.rules[0].host: "Bad_Host" is not a valid host name (a DNS-1123 subdomain, '
            'optionally starting with "*."): rule ignored',
            'spec.rules[1].http.paths[0].pathType: Unsupported value: "Regex": supported '
            'values: "Exact", "ImplementationSpecific", "Prefix"; path ignored'],
        "default/empty": ["spec: neither rules nor defaultBackend: nothing to serve"]}
    assert routes(r.text, services) == {"_": {"/": "404"}, "ok.test": {"/": "404"}}


def test_default_backends_first_created_wins():
    services = svc_map(*(svc("d", n) for n in ("a", "b", "c", "d", "x")))
    ings = [ingress("first", [rule("h.test", ("Exact", "/e", backend("x")))], ns="d",
                    default=backend("a"), created="2026-01-01T00:00:01Z"),
            ingress("second", [rule("h.test", ("Exact", "/f", backend("x")))], ns="d",
                    default=backend("b"), created="2026-01-01T00:00:02Z"),
            ingress("catch", None, ns="d", default=backend("c"), created="2026-01-01T00:00:03Z"),
            ingress("catch2", None, ns="d", default=backend("d"), created="2026-01-01T00:00:04Z")]
    r = nc.render(ings, services, "/run/ingress")
    assert routes(r.text, services) == {"_": {"/": "c"},
                                        "h.test": {"/": "a", "= /e": "x", "= /f": "x"}}
    assert r.warnings == {
        "d/catch": [],
        "d/catch2": ["spec.defaultBackend: the catch-all (unknown hosts) is already the "
                     "defaultBackend of Ingress d/catch (first created wins)"],
        "d/first": [],
        "d/second": ['spec.defaultBackend: unmatched paths on host "h.test" are already served '
                     "by the defaultBackend of Ingress d/first (first created wins)"]}


def test_hostless_rules_and_catch_all_share_the_default_server():
    services = svc_map(*(svc("d", n) for n in ("api", "own", "all", "web")))
    ings = [ingress("hostless", [rule(None, ("Prefix", "/api", backend("api")))], ns="d",
                    default=backend("own"), created="2026-01-01T00:00:01Z"),
            ingress("named", [rule("n.test", ("Prefix", "/web", backend("web")))], ns="d",
                    created="2026-01-01T00:00:02Z"),
            ingress("catch", None, ns="d", default=backend("all"),
                    created="2026-01-01T00:00:03Z")]
    r = nc.render(ings, services, "/run/ingress")
    # the catch-all also serves the unmatched paths of hosts without a defaultBackend
    # (docs: "If none of the hosts or paths match ... routed to your default backend")
    assert routes(r.text, services) == {
        "_": {"/": "all", "= /api": "api", "/api/": "api"},
        "n.test": {"/": "all", "= /web": "web", "/web/": "web"}}
    assert r.warnings["d/hostless"] == [
        "spec.defaultBackend: unmatched paths on the default server (unknown hosts) are already "
        "served by the catch-all Ingress d/catch (first created wins)"]
    # without the catch-all, the host-less rule's Ingress serves the default server
    r = nc.render(ings[:2], services, "/run/ingress")
    assert routes(r.text, services)["_"]["/"] == "own"
    assert routes(r.text, services)["n.test"]["/"] == "404"


def test_wildcard_host_is_one_label():
    services = svc_map(svc("default", "web"))
    ing = ingress("w", [rule("*.wild.test", ("Prefix", "/", backend("web")))])
    r = nc.render([ing], services, "/run/ingress")
    assert "server_name ~^[^.]+\\.wild\\.test$;" in r.text


def test_ipv6_cluster_ip_is_bracketed():
    services = svc_map(svc("default", "v6", ip="fd00:10:96::a"))
    r = nc.render([ingress("i", None, default=backend("v6"))], services, "/run/ingress")
    assert "proxy_pass http://[fd00:10:96::a]:80;" in r.text


def test_output_is_deterministic():
    ings16, services16 = load(CASE16)
    ings17, services17 = load(CASE17 + "---" + FALLBACK17)
    extra = ingress("more", [rule("paths.example", ("Exact", "/z", backend("landing")))],
                    ns="ingpath")
    ings = ings16 + ings17 + [extra]
    services = {**services16, **services17}
    first = nc.render(ings, services, "/run/ingress")
    rng = random.Random(7)
    for _ in range(5):
        shuffled = copy.deepcopy(ings)
        rng.shuffle(shuffled)
        keys = list(services)
        rng.shuffle(keys)
        again = nc.render(shuffled, {k: services[k] for k in keys}, "/run/ingress")
        assert again.text == first.text
        assert list(again.warnings.items()) == list(first.warnings.items())


def test_document_shape():
    ingresses, services = load(CASE16)
    text = nc.render(ingresses, services, "/run/ingress").text
    for line in ("pid /run/ingress/nginx.pid;", "error_log stderr notice;",
                 "access_log /dev/stdout;",
                 "client_body_temp_path /run/ingress/client_body_temp;",
                 "proxy_temp_path /run/ingress/proxy_temp;",
                 "proxy_set_header Host $http_host;", "proxy_set_header X-Real-IP $remote_addr;",
                 "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                 "proxy_connect_timeout 3s;", "listen 80 default_server;", "listen 80;"):
        assert line in text
    assert "daemon" not in text.replace("'daemon off;'", "")
    # proxy_pass without a URI part: the request path goes upstream unmodified
    assert re.findall(r"proxy_pass (\S+);", text)
    assert all(re.fullmatch(r"http://[0-9.]+:\d+", t) for t in re.findall(r"proxy_pass (\S+);",
                                                                          text))
    text = nc.render(ingresses, services, "/tmp/x y", port=18080, address="127.0.0.1").text
    assert 'pid "/tmp/x y/nginx.pid";' in text
    assert "listen 127.0.0.1:18080 default_server;" in text
    assert "listen [::1]:81 default_server;" in nc.render([], {}, "/r", port=81, address="::1").text


@pytest.mark.parametrize("kwargs", [{"conf_dir": "relative"}, {"conf_dir": '/a"b'},
                                    {"conf_dir": "/a$b"}, {"port": 0}, {"port": 70000},
                                    {"address": "localhost"}])
def test_render_rejects_unwritable_parameters(kwargs):
    args = {"conf_dir": "/run/ingress", **kwargs}
    with pytest.raises(ValueError):
        nc.render([], {}, **args)


# --- nginx -t --------------------------------------------------------------------------------


@needs_nginx
def test_check_accepts_what_render_writes(tmp_path):
    ings16, services16 = load(CASE16)
    ings17, services17 = load(CASE17 + "---" + FALLBACK17)
    services = {**services16, **services17,
                **svc_map(svc("misc", "web"), svc("misc", "v6", ip="fd00::5"))}
    long_host = ".".join(["a" * 63] * 3 + ["b" * 61])       # 253 characters
    misc = ingress("misc", ns="misc", rules=[
        rule("*.wild.test", ("Prefix", "/", backend("web"))),
        rule(long_host, ("Exact", "/", backend("v6"))),
        rule("q.test", ("Prefix", "/a:b", backend("web")), ("Exact", "/it(s)", backend("web")),
             ("Prefix", "/@x/(y)", backend("web")), ("Prefix", "/bad", backend("nope")),
             ("Prefix", "/a b", backend("web"))),
        rule(None, ("Exact", "/healthz", backend("web")))])
    r = nc.render(ings16 + ings17 + [misc], services, str(tmp_path), port=free_port(),
                  address="127.0.0.1")             # nginx -t binds it: stay on 127.0.0.1
    assert len(r.warnings["misc/misc"]) == 2
    assert 'location "/a:b/" {' in r.text and 'location = "/it(s)" {' in r.text
    assert nc.check(r.text, NGINX) is None


@needs_nginx
def test_check_returns_nginx_errors(tmp_path):
    ingresses, services = load(CASE16)
    good = nc.render(ingresses, services, str(tmp_path), port=free_port(),
                     address="127.0.0.1").text
    error = nc.check(good.replace("server_tokens off;", "server_tokens off;\n    bogus on;"))
    assert error is not None
    assert error.startswith('nginx: [emerg] unknown directive "bogus" in nginx.conf:')
    error = nc.check(good.replace("location = /foo {", "location = /foo {}\n location = /foo {"))
    assert error is not None and "duplicate location" in error
    assert nc.check(good, NGINX) is None


def test_check_moves_privileged_listen_ports_when_not_root():
    text = ("    listen 80 default_server;\n    listen 80;\n    listen 10.0.0.1:443;\n"
            "    listen 127.0.0.1:8080;\n    listen unix:/run/x.sock;\n")
    moved = nc._unprivileged(text).splitlines()
    first = re.fullmatch(r"    listen 127\.0\.0\.1:(\d+) default_server;", moved[0])
    assert first and int(first.group(1)) >= 1024
    assert moved[1] == f"    listen 127.0.0.1:{first.group(1)};"
    assert re.fullmatch(r"    listen 127\.0\.0\.1:\d+;", moved[2]) and moved[2] != moved[1]
    assert moved[3:] == ["    listen 127.0.0.1:8080;", "    listen unix:/run/x.sock;"]


def test_check_names_the_missing_program(tmp_path):
    missing = str(tmp_path / "no-nginx")
    with pytest.raises(nc.NginxMissing, match="nginx not found: .*no-nginx"):
        nc.check("events {}\n", missing)


# --- real nginx with stand-in upstreams ------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers ``<label> <path>`` and shows the headers it got as X-Seen-* headers."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = f"{self.server.label} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name in ("Host", "X-Real-IP", "X-Forwarded-For"):
            self.send_header(f"X-Seen-{name}", self.headers.get(name, ""))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Upstreams:
    """HTTP servers on 127.0.0.1 started on demand, one per service name."""

    def __init__(self) -> None:
        self.servers: dict[str, ThreadingHTTPServer] = {}

    def port(self, label: str) -> int:
        if label not in self.servers:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
            server.label = label
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            self.servers[label] = server
        return self.servers[label].server_address[1]

    def service(self, ns: str, name: str) -> dict:
        return svc(ns, name, self.port(name), ip="127.0.0.1")

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    ups = Upstreams()
    try:
        yield ups
    finally:
        ups.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nginx_serving(ingresses: list[dict], services: dict[str, dict], conf_dir: Path
                  ) -> Iterator[tuple[int, nc.Rendered]]:
    """Render, run nginx in the foreground on 127.0.0.1:<free port>, stop it by its PID."""
    port = free_port()
    rendered = nc.render(ingresses, services, str(conf_dir), port=port, address="127.0.0.1")
    conf = conf_dir / "nginx.conf"
    conf.write_text(rendered.text)
    out = open(conf_dir / "nginx.out", "wb")     # noqa: SIM115 (closed below)
    proc = subprocess.Popen([NGINX, "-e", "stderr", "-p", f"{conf_dir}/", "-c", str(conf),
                             "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nginx exited with {proc.returncode}: "
                            + (conf_dir / "nginx.out").read_text(errors="replace"))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not start listening")
                time.sleep(0.05)
        yield port, rendered
    finally:
        if proc.poll() is None:
            proc.terminate()                     # master: fast shutdown, workers too
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)    # its own session/group
                proc.wait(5)
        out.close()


def get(port: int, host: str, path: str) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        return resp.status, body, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def retarget(ingresses: list[dict], ups: Upstreams) -> tuple[list[dict], dict[str, dict]]:
    """The cases' Ingresses with port 80 backends pointed at the stand-in upstream's port."""
    out, services = [], {}
    for ing in copy.deepcopy(ingresses):
        ns = ing["metadata"]["namespace"]
        spec = ing["spec"]
        backends = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
        backends += [p["backend"] for r in spec.get("rules", []) for p in r["http"]["paths"]]
        for b in backends:
            name = b["service"]["name"]
            services[f"{ns}/{name}"] = ups.service(ns, name)
            b["service"]["port"] = {"number": ups.port(name)}
        out.append(ing)
    return out, services


@needs_nginx
def test_live_case16(tmp_path, upstreams):
    ingresses, services = retarget(load(CASE16)[0], upstreams)
    with nginx_serving(ingresses, services, tmp_path) as (port, rendered):
        assert rendered.warnings == {"ingpath/paths": []}
        for path, expected in CASE16_ROWS:
            status, body, _ = get(port, "paths.example", path)
            assert (path, status, body) == (path, 200, f"{expected} {path}\n")


@needs_nginx
def test_live_case17(tmp_path, upstreams):
    site, services = retarget(load(CASE17)[0], upstreams)
    fallback, more = retarget(load(FALLBACK17)[0], upstreams)
    services.update(more)
    common = [("example.dev", "/app/x", "example-svc"), ("example.dev", "/other", "default-svc")]
    phase1 = common + [("wrong.dev", "/", None)]       # row 3: ingress-nginx's 404
    phase2 = common + [("wrong.dev", "/", "default-svc"), (CONTROLLER_HOST, "/", "default-svc")]
    for n, (ingresses, rows) in enumerate([(site, phase1), (site + fallback, phase2)]):
        conf_dir = tmp_path / f"phase{n + 1}"
        conf_dir.mkdir()
        with nginx_serving(ingresses, services, conf_dir) as (port, _):
            for host, path, expected in rows:
                status, body, _ = get(port, host, path)
                if expected is None:
                    assert (n, host, path, status) == (n, host, path, 404)
                else:
                    assert (n, host, path, status, body) == \
                        (n, host, path, 200, f"{expected} {path}\n")


# Kubernetes docs "Ingress", Examples: (rule paths, request path, index of the winning
# rule path or None for no match)
DOCS_EXAMPLES = [
    ([("Prefix", "/")], "/", 0),
    ([("Prefix", "/")], "/any/path.html", 0),
    ([("Exact", "/foo")], "/foo", 0),
    ([("Exact", "/foo")], "/bar", None),
    ([("Exact", "/foo")], "/foo/", None),
    ([("Exact", "/foo/")], "/foo", None),
    ([("Prefix", "/foo")], "/foo", 0),
    ([("Prefix", "/foo")], "/foo/", 0),
    ([("Prefix", "/foo/")], "/foo", 0),
    ([("Prefix", "/foo/")], "/foo/", 0),
    ([("Prefix", "/aaa/bb")], "/aaa/bbb", None),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb", 0),
    ([("Prefix", "/aaa/bbb/")], "/aaa/bbb", 0),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/", 0),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", 0),
    ([("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
    ([("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", 1),
    ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", 2),
    ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", 0),
    ([("Prefix", "/aaa")], "/ccc", None),
    ([("Prefix", "/foo"), ("Exact", "/foo")], "/foo", 1),
    ([("Exact", "/foo"), ("Prefix", "/foo")], "/foo", 0),      # order does not matter
]


@needs_nginx
def test_live_docs_examples_table(tmp_path, upstreams):
    ingresses, services = [], {}
    for n, (paths, _, _) in enumerate(DOCS_EXAMPLES):
        backends = []
        for i in range(len(paths)):
            name = f"row{n}-p{i}"
            services[f"docs/{name}"] = upstreams.service("docs", name)
            backends.append(backend(name, upstreams.port(name)))
        ingresses.append(ingress(
            f"row{n}", ns="docs",
            rules=[rule(f"row{n}.docs.test", *((t, p, b) for (t, p), b in zip(paths, backends,
                                                                             strict=True)))]))
    with nginx_serving(ingresses, services, tmp_path) as (port, rendered):
        assert not any(rendered.warnings.values())
        for n, (paths, request, winner) in enumerate(DOCS_EXAMPLES):
            status, body, _ = get(port, f"row{n}.docs.test", request)
            got = (status, body if status == 200 else "")
            want = (404, "") if winner is None else (200, f"row{n}-p{winner} {request}\n")
            assert (paths, request, got) == (paths, request, want)


@needs_nginx
def test_live_headers_wildcards_quoting_and_broken_backends(tmp_path, upstreams):
    services = svc_map(upstreams.service("m", "web"), upstreams.service("m", "wild"),
                       upstreams.service("m", "odd"), upstreams.service("m", "all"))
    services["m/headless"] = svc("m", "headless", ip="None")
    ingresses = [
        ingress("m", ns="m", rules=[
            rule("web.test", ("Prefix", "/", backend("web", upstreams.port("web"))),
                 ("Prefix", "/broken", backend("headless")),
                 ("Prefix", "/gone", backend("nope")),
                 ("Prefix", "/a:b", backend("odd", upstreams.port("odd"))),
                 ("Exact", "/it(s)", backend("odd", upstreams.port("odd")))),
            rule("*.wild.test", ("Prefix", "/", backend("wild", upstreams.port("wild")))),
            rule("plain.test", ("Exact", "/only", backend("web", upstreams.port("web"))),
                 ("Prefix", "/p", backend("wild", upstreams.port("wild"))),
                 ("Exact", "/p/q/", backend("odd", upstreams.port("odd"))))]),
    ]
    with nginx_serving(ingresses, services, tmp_path) as (port, rendered):
        assert len(rendered.warnings["m/m"]) == 2
        # path and query go upstream as sent; Host kept; client address passed on
        raw = "/some/p%41th;x=1?q=a%20b&r=/"
        status, body, headers = get(port, "web.test", raw)
        assert (status, body) == (200, f"web {raw}\n")
        assert headers["x-seen-host"] == "web.test"
        assert headers["x-seen-x-real-ip"] == "127.0.0.1"
        assert headers["x-seen-x-forwarded-for"] == "127.0.0.1"
        assert get(port, "web.test", "/broken/x")[0] == 503
        assert get(port, "web.test", "/gone")[0] == 503
        assert get(port, "web.test", "/a:b/c")[:2] == (200, "odd /a:b/c\n")
        assert get(port, "web.test", "/it(s)")[:2] == (200, "odd /it(s)\n")
        # *.wild.test covers one label only (docs "Hostname wildcards")
        assert get(port, "a.wild.test", "/x")[:2] == (200, "wild /x\n")
        assert get(port, "b.a.wild.test", "/x")[0] == 404
        assert get(port, "wild.test", "/x")[0] == 404
        assert get(port, "plain.test", "/other")[0] == 404
        # an Exact path with a trailing slash: no 301 for the path without it
        assert get(port, "plain.test", "/p/q/")[:2] == (200, "odd /p/q/\n")
        assert get(port, "plain.test", "/p/q")[:2] == (200, "wild /p/q\n")
    # a catch-all serves unknown hosts and unmatched paths of hosts without a defaultBackend
    catch = ingress("catch", None, ns="m", default=backend("all", upstreams.port("all")))
    conf_dir = tmp_path / "with-catch-all"
    conf_dir.mkdir()
    with nginx_serving(ingresses + [catch], services, conf_dir) as (port, _):
        assert get(port, "plain.test", "/other")[:2] == (200, "all /other\n")
        assert get(port, "b.a.wild.test", "/x")[:2] == (200, "all /x\n")
        assert get(port, "plain.test", "/only")[:2] == (200, "web /only\n")
