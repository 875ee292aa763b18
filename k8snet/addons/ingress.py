"""Ingress: the model, validation against services, and the nginx config.

Rules map host and path to a service port; pathType Prefix matches whole
path elements (``/a`` matches ``/a`` and ``/a/b``, not ``/ab``), Exact matches
one path.  nginx proxies to the backend's ClusterIP, so kproxy still does
the load balancing, as ingress-nginx's service-upstream mode does.
"""
from __future__ import annotations

from dataclasses import dataclass

from k8snet.errors import K8snetError

INGRESS_NAMESPACE = "ingress-nginx"
INGRESS_POD = "ingress-nginx-controller"
INGRESS_SERVICE = "ingress-nginx-controller"


@dataclass(frozen=True)
class Backend:
    service: str
    port: int | str


@dataclass(frozen=True)
class IngressPath:
    path: str
    path_type: str
    backend: Backend


@dataclass(frozen=True)
class IngressRule:
    host: str
    paths: tuple[IngressPath, ...]


@dataclass(frozen=True)
class Ingress:
    name: str
    namespace: str = "default"
    rules: tuple[IngressRule, ...] = ()
    default_backend: Backend | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def backends(self) -> list[Backend]:
        out = [p.backend for r in self.rules for p in r.paths]
        return out + ([self.default_backend] if self.default_backend else [])


def _backend(raw: dict, where: str) -> Backend:
    svc = (raw or {}).get("service") or {}
    port = svc.get("port") or {}
    if not svc.get("name") or not (port.get("number") or port.get("name")):
        raise K8snetError(f"{where}: backend needs service.name and service.port")
    return Backend(str(svc["name"]), port.get("number") or str(port["name"]))


def parse_ingress(raw: dict, where: str) -> Ingress:
    meta, spec = raw.get("metadata", raw), raw.get("spec", raw)
    rules = []
    for i, rule in enumerate(spec.get("rules") or []):
        paths = []
        for j, p in enumerate((rule.get("http") or {}).get("paths") or []):
            kind = p.get("pathType", "Prefix")
            path = str(p.get("path", "/"))
            if kind not in ("Prefix", "Exact", "ImplementationSpecific"):
                raise K8snetError(f'{where}.rules[{i}].paths[{j}].pathType: Unsupported '
                                  f'value: "{kind}"')
            if not path.startswith("/"):
                raise K8snetError(f"{where}.rules[{i}].paths[{j}].path: must be absolute")
            paths.append(IngressPath(path, "Prefix" if kind != "Exact" else "Exact",
                                     _backend(p.get("backend"), f"{where}.rules[{i}]")))
        rules.append(IngressRule(str(rule.get("host", "")), tuple(paths)))
    default = spec.get("defaultBackend")
    return Ingress(str(meta.get("name", "")), str(meta.get("namespace", "default")),
                   tuple(rules), _backend(default, f"{where}.defaultBackend") if default else None)


def resolve(ingress: Ingress, services: dict) -> dict[Backend, str]:
    """Backend -> ``ClusterIP:port``; an unknown service or port is an error."""
    out = {}
    for backend in ingress.backends():
        key = f"{ingress.namespace}/{backend.service}"
        svc = services.get(key)
        if svc is None:
            raise K8snetError(f'ingress "{ingress.name}": backend service '
                              f'"{backend.service}" not found in namespace {ingress.namespace}')
        port = next((p for p in svc.ports if backend.port in (p.port, p.name)), None)
        if port is None:
            raise K8snetError(f'ingress "{ingress.name}": service "{backend.service}" has '
                              f"no port {backend.port}")
        out[backend] = f"{svc.cluster_ip}:{port.port}"
    return out


def _locations(paths: tuple[IngressPath, ...], upstream: dict) -> list[str]:
    out = []
    for p in paths:
        target = upstream[p.backend]
        proxy = f"proxy_pass http://{target}; proxy_set_header Host $host;"
        if p.path_type == "Exact":
            out.append(f"        location = {p.path} {{ {proxy} }}")
        elif p.path == "/":
            out.append(f"        location / {{ {proxy} }}")
        else:
            base = p.path.rstrip("/")
            out.append(f"        location = {base} {{ {proxy} }}")
            out.append(f"        location {base}/ {{ {proxy} }}")
    return out


def nginx_conf(ingresses: list[Ingress], services: dict, run_dir: str) -> str:
    """A complete nginx.conf for the ingress controller pod."""
    servers: dict[str, list[str]] = {}
    default = ["        location / { return 404; }"]
    for ing in sorted(ingresses, key=lambda i: i.key):
        upstream = resolve(ing, services)
        for rule in ing.rules:
            servers.setdefault(rule.host, []).extend(_locations(rule.paths, upstream))
        if ing.default_backend:
            target = upstream[ing.default_backend]
            default = [f"        location / {{ proxy_pass http://{target}; "
                       "proxy_set_header Host $host; }"]
    blocks = ["    server {\n        listen 80 default_server;\n        server_name _;\n"
              + "\n".join(servers.pop("", []) + default) + "\n    }"]
    for host, locations in sorted(servers.items()):
        blocks.append(f"    server {{\n        listen 80;\n        server_name {host};\n"
                      + "\n".join(locations) + "\n    }")
    temp = "\n".join(f"    {k}_temp_path {run_dir}/nginx-{k};"
                     for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"# generated by k8snet from Ingress resources\n"
            f"worker_processes 1;\npid {run_dir}/nginx.pid;\n"
            f"error_log {run_dir}/nginx-error.log;\n"
            "events { worker_connections 512; }\n"
            "http {\n    access_log off;\n" + temp + "\n" + "\n".join(blocks) + "\n}\n")
