"""Endpoints from a service's selector and the pods: EndpointSlice logic, pure.

A pod is an endpoint when its labels match the selector and it is Running;
it is ready when every container runs.  A named targetPort resolves per pod
through its container ports; a pod that does not declare that name is left
out of that port, as Kubernetes does, with a warning.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from k8snet.api.model import Pod
from k8snet.api.service import Service, ServicePort
from kproxy.state import Endpoint


@dataclass(frozen=True)
class PodView:
    """What endpoint selection needs to know of a pod."""

    pod: Pod
    ip: str
    node: str
    ready: bool


def selects(svc: Service, pod: Pod) -> bool:
    if not svc.selector or pod.namespace != svc.namespace:
        return False
    labels = dict(pod.labels)
    return all(labels.get(k) == v for k, v in svc.selector)


def target_port(port: ServicePort, pod: Pod) -> int | None:
    """The pod's port number for ``port``'s targetPort, or None if undeclared."""
    target = port.target_port
    if isinstance(target, str) and not target.isdigit():
        for container in pod.containers:
            for cport in container.ports:
                if cport.name == target and cport.protocol == port.protocol:
                    return cport.container_port
        return None
    return int(target) or port.port


def endpoints_for(svc: Service, pods: Iterable[PodView]
                  ) -> tuple[dict[ServicePort, tuple[Endpoint, ...]], list[str]]:
    """Per service port, its endpoints; plus warnings for left-out pods."""
    chosen = sorted((p for p in pods if selects(svc, p.pod)), key=lambda p: p.pod.name)
    result: dict[ServicePort, tuple[Endpoint, ...]] = {}
    warnings = []
    for port in svc.ports:
        eps = []
        for view in chosen:
            number = target_port(port, view.pod)
            if number is None:
                warnings.append(
                    f'Warning: service {svc.key} port "{port.name or port.port}": pod '
                    f'{view.pod.name} declares no {port.protocol} port named '
                    f'"{port.target_port}"; left out of the endpoints')
                continue
            eps.append(Endpoint(view.ip, number, view.node, view.pod.key, view.ready))
        result[port] = tuple(eps)
    return result, warnings
