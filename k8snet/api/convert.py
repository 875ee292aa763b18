"""Stored objects (Kubernetes JSON dicts) to the typed views the pure
renderers take: ``Service`` for kproxy and the kubelet's environment,
``Pod``/``Container``/``Probe`` for the kubelet, ``Endpoint`` rows from
EndpointSlices.

Objects reaching these functions passed validation and defaulting; the
converters still tolerate missing fields (they default as the API does).
"""
from __future__ import annotations

from k8snet.api.model import Container, ContainerPort, Pod, Probe
from k8snet.api.service import Service, ServicePort

PROBE_KINDS = ("readinessProbe", "livenessProbe", "startupProbe")


def _pairs(mapping: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


def service_from(obj: dict) -> Service:
    """The typed Service (ClusterIP, NodePorts and LoadBalancer IP as
    allocated, externalIPs) for a stored v1 Service."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    affinity = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ports = tuple(
        ServicePort(port=p.get("port", 0), target_port=p.get("targetPort") or p.get("port", 0),
                    protocol=p.get("protocol", "TCP"), name=p.get("name", ""),
                    node_port=p.get("nodePort", 0) or 0)
        for p in spec.get("ports") or [])
    return Service(
        name=meta.get("name", ""), namespace=meta.get("namespace", "default"),
        type=spec.get("type", "ClusterIP"), selector=_pairs(spec.get("selector")),
        ports=ports, cluster_ip=spec.get("clusterIP", "") or "",
        session_affinity=spec.get("sessionAffinity", "None"),
        affinity_timeout=affinity.get("timeoutSeconds", 10800),
        external_traffic_policy=spec.get("externalTrafficPolicy") or "Cluster",
        internal_traffic_policy=spec.get("internalTrafficPolicy") or "Cluster",
        external_name=spec.get("externalName", "") or "",
        load_balancer_ip=next((i.get("ip", "") for i in ingress if i.get("ip")), ""),
        external_ips=tuple(str(ip) for ip in spec.get("externalIPs") or ()),
        health_check_node_port=spec.get("healthCheckNodePort") or 0)


def probe_from(raw: dict | None) -> Probe | None:
    """A typed Probe from a container's ``readinessProbe``/``livenessProbe``/
    ``startupProbe``; None when absent."""
    if not raw:
        return None
    timing = {"initial_delay_seconds": raw.get("initialDelaySeconds", 0),
              "period_seconds": raw.get("periodSeconds", 10),
              "timeout_seconds": raw.get("timeoutSeconds", 1),
              "success_threshold": raw.get("successThreshold", 1),
              "failure_threshold": raw.get("failureThreshold", 3)}
    if "exec" in raw:
        return Probe("exec", command=tuple(str(c) for c in
                                           (raw["exec"] or {}).get("command") or ()), **timing)
    if "grpc" in raw:
        body = raw["grpc"] or {}
        return Probe("grpc", port=body.get("port", 0), service=body.get("service") or "",
                     **timing)
    for handler in ("httpGet", "tcpSocket"):
        if handler in raw:
            body = raw[handler] or {}
            headers = tuple((h.get("name", ""), h.get("value", ""))
                            for h in body.get("httpHeaders") or [])
            return Probe(handler, port=body.get("port", 0), path=body.get("path") or "/",
                         scheme=body.get("scheme") or "HTTP", host=body.get("host") or "",
                         headers=headers, **timing)
    return None


def container_from(raw: dict) -> Container:
    """A typed Container (plain ``env`` values only; ``valueFrom`` is the
    kubelet's to resolve)."""
    ports = tuple(ContainerPort(p.get("containerPort", 0), p.get("protocol", "TCP"),
                                p.get("name", "")) for p in raw.get("ports") or [])
    env = tuple((e.get("name", ""), str(e.get("value", "")))
                for e in raw.get("env") or [] if "valueFrom" not in e)
    return Container(name=raw.get("name", ""), image=raw.get("image", ""),
                     command=tuple(str(c) for c in raw.get("command") or ()),
                     args=tuple(str(a) for a in raw.get("args") or ()),
                     ports=ports, env=env)


def pod_from(obj: dict) -> Pod:
    """A typed Pod for a stored v1 Pod."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return Pod(name=meta.get("name", ""), namespace=meta.get("namespace", "default"),
               node_name=spec.get("nodeName", "") or "", labels=_pairs(meta.get("labels")),
               containers=tuple(container_from(c) for c in spec.get("containers") or []),
               hostname=spec.get("hostname", "") or "",
               subdomain=spec.get("subdomain", "") or "",
               enable_service_links=spec.get("enableServiceLinks", True) is not False,
               node_selector=_pairs(spec.get("nodeSelector")))


def node_ip(node: dict) -> str:
    """A Node's InternalIP."""
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return addr.get("address", "")
    return ""


def is_ready(obj: dict) -> bool:
    """A Pod's or Node's Ready condition is "True"."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def slices_of(svc: dict, slices: list[dict]) -> list[dict]:
    """The EndpointSlices of Service ``svc`` (label kubernetes.io/service-name)."""
    meta = svc.get("metadata") or {}
    return [s for s in slices
            if (s.get("metadata") or {}).get("namespace") == meta.get("namespace")
            and ((s.get("metadata") or {}).get("labels") or {})
            .get("kubernetes.io/service-name") == meta.get("name")]


def endpoint_rows(port: dict, slices: list[dict]) -> list[dict]:
    """Endpoints of one Service port (``{name, protocol}``) from its slices:
    ``{ip, port, node, pod, ready, serving, terminating, hostname}`` rows,
    sorted by IP, one per address (as kube-proxy reads EndpointSlices)."""
    rows: dict[str, dict] = {}
    want = (port.get("name", "") or "", port.get("protocol", "TCP"))
    for sl in slices:
        match = next((p for p in sl.get("ports") or []
                      if ((p.get("name") or ""), p.get("protocol", "TCP")) == want), None)
        if match is None or not match.get("port"):
            continue
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            for ip in ep.get("addresses") or []:
                rows.setdefault(ip, {
                    "ip": ip, "port": match["port"], "node": ep.get("nodeName", ""),
                    "pod": (ep.get("targetRef") or {}).get("name", ""),
                    "ready": cond.get("ready") is not False,
                    "serving": cond.get("serving") is not False,
                    "terminating": bool(cond.get("terminating")),
                    "hostname": ep.get("hostname", "")})
    return [rows[ip] for ip in sorted(rows, key=_ip_key)]


def _ip_key(ip: str) -> tuple:
    return tuple(int(x) if x.isdigit() else 0 for x in ip.split("."))
