"""The pure half of kube-proxy's service health check: which Services get a
listener, how many local endpoints each has, and the answer for a count.

A LoadBalancer Service with ``externalTrafficPolicy: Local`` has a
``spec.healthCheckNodePort``; kube-proxy on every node serves HTTP there so
that a load balancer sends traffic only to nodes with a local ready
endpoint.  Upstream: ``pkg/proxy/healthcheck/service_health.go`` (the
handler: headers, status, body), ``pkg/proxy/serviceport.go``
(``HealthCheckNodePort`` only for a Service that ``NeedsHealthCheck``),
``ServicePortMap.HealthCheckNodePorts`` (``pkg/proxy/servicechangetracker.go``)
and ``EndpointsMap.LocalReadyEndpoints`` (``pkg/proxy/endpointschangetracker.go``:
ready endpoints on this node, counted by IP, so one pod behind two ports
is one endpoint).  The server that sends these answers is
``kproxy.service_health``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from kproxy.state import ServicePortState

ServiceKey = tuple[str, str]     # namespace, name
OK = 200
UNAVAILABLE = 503
WEIGHT_HEADER = "X-Load-Balancing-Endpoint-Weight"


@dataclass(frozen=True)
class HealthResponse:
    """What the health check port answers to any GET."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def needs_health_check(sp: ServicePortState) -> bool:
    """``NeedsHealthCheck`` on the typed Service: a LoadBalancer with
    ``externalTrafficPolicy: Local`` and an allocated port."""
    svc = sp.service
    return (svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local"
            and svc.health_check_node_port > 0)


def health_check_ports(ports: Iterable[ServicePortState]) -> dict[ServiceKey, int]:
    """Service -> its health check node port (``HealthCheckNodePorts``), for
    every Service that needs one; on every node alike."""
    return {(sp.service.namespace, sp.service.name): sp.service.health_check_node_port
            for sp in ports if needs_health_check(sp)}


def local_ready_endpoints(ports: Iterable[ServicePortState], node: str,
                          only: Iterable[ServiceKey] | None = None) -> dict[ServiceKey, int]:
    """Service -> how many distinct ready endpoint IPs it has on ``node``
    (``LocalReadyEndpoints``: a terminating endpoint does not count); a Service
    with none is absent.  ``only`` limits the count to those Services."""
    wanted = None if only is None else set(only)
    ips: dict[ServiceKey, set[str]] = {}
    for sp in ports:
        key = (sp.service.namespace, sp.service.name)
        if wanted is not None and key not in wanted:
            continue
        for ep in sp.local(node):
            ips.setdefault(key, set()).add(ep.ip)
    return {key: len(found) for key, found in ips.items()}


def response(namespace: str, name: str, local_endpoints: int,
             proxy_healthy: bool = True) -> HealthResponse:
    """The answer of the health check port of Service ``namespace/name``
    (``hcHandler.ServeHTTP``): 200 with one or more local endpoints while the
    proxy is healthy, else 503; the endpoint count is also the load
    balancing weight.  The body is the JSON object upstream prints,
    tab-indented as it prints it, with no newline at the end."""
    body = json.dumps({"service": {"namespace": namespace, "name": name},
                       "localEndpoints": local_endpoints,
                       "serviceProxyHealthy": proxy_healthy}, indent="\t")
    status = OK if local_endpoints != 0 and proxy_healthy else UNAVAILABLE
    headers = (("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"),
               (WEIGHT_HEADER, str(local_endpoints)))
    return HealthResponse(status, headers, body.encode())
