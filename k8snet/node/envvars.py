"""Service environment variables, exactly as the kubelet makes them.

Follows pkg/kubelet/envvars/envvars.go (``FromServices``) and the kubelet's
``getServiceEnvVarMap``: for every service with a ClusterIP (not headless, not
ExternalName) in the pod's namespace, plus the master services (``kubernetes``
in ``default``) for every pod::

    REDIS_PRIMARY_SERVICE_HOST=10.0.0.11
    REDIS_PRIMARY_SERVICE_PORT=6379              first port
    REDIS_PRIMARY_SERVICE_PORT_<PORTNAME>=6379   every named port
    REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379      first port (Docker links)
    REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379          every port:
    REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp
    REDIS_PRIMARY_PORT_6379_TCP_PORT=6379
    REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11

With ``enableServiceLinks: false`` only the master services are included.
The kubelet takes the services that exist when the container starts, so the
caller passes exactly those; services created later never appear.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from k8snet.api.convert import service_from
from k8snet.api.service import Service

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def env_name(name: str) -> str:
    """``makeEnvVariableName``: upper case, ``-`` becomes ``_``."""
    return name.replace("-", "_").upper()


def _ip_set(svc: Service) -> bool:
    """``IsServiceIPSet``: a ClusterIP that is neither empty nor ``None``."""
    return svc.type != "ExternalName" and svc.cluster_ip not in ("", "None")


def _host_port(ip: str, port: int) -> str:
    """``net.JoinHostPort``: IPv6 addresses get brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def from_services(services: Iterable[Service]) -> dict[str, str]:
    """``envvars.FromServices``: the variables of these services, no filtering
    by namespace (services without a ClusterIP are skipped)."""
    out: dict[str, str] = {}
    for svc in services:
        if not _ip_set(svc) or not svc.ports:
            continue
        prefix = env_name(svc.name)
        out[f"{prefix}_SERVICE_HOST"] = svc.cluster_ip
        out[f"{prefix}_SERVICE_PORT"] = str(svc.ports[0].port)
        for port in svc.ports:
            if port.name:
                out[f"{prefix}_SERVICE_PORT_{env_name(port.name)}"] = str(port.port)
        for i, port in enumerate(svc.ports):
            proto = (port.protocol or "TCP").lower()
            url = f"{proto}://{_host_port(svc.cluster_ip, port.port)}"
            if i == 0:
                out[f"{prefix}_PORT"] = url        # Docker special-cases the first port
            base = f"{prefix}_PORT_{port.port}_{proto.upper()}"
            out[base] = url
            out[f"{base}_PROTO"] = proto
            out[f"{base}_PORT"] = str(port.port)
            out[f"{base}_ADDR"] = svc.cluster_ip
    return out


def service_env(services: Iterable[Service], namespace: str, *,
                enable_service_links: bool = True,
                master_namespace: str = MASTER_NAMESPACE) -> dict[str, str]:
    """``getServiceEnvVarMap``: the service variables a pod in ``namespace`` gets.

    ``services`` are those existing when the pod's container starts.  A
    service of the pod's own namespace wins over a master service of the same
    name, as in the kubelet.  (The cluster domain plays no part: the kubelet
    puts only addresses in these variables.)
    """
    chosen: dict[str, Service] = {}
    for svc in services:
        if not _ip_set(svc):
            continue
        if svc.namespace == master_namespace and svc.name in MASTER_SERVICES:
            chosen.setdefault(svc.name, svc)
        elif svc.namespace == namespace and enable_service_links:
            chosen[svc.name] = svc
    return from_services(chosen[name] for name in sorted(chosen))


def pod_service_env(list_services: Callable[[str], list[dict]], pod: dict) -> dict[str, str]:
    """``service_env`` for ``pod`` from the API objects: its namespace's
    Services and the master Services; ``list_services(namespace)`` lists them."""
    ns = pod["metadata"].get("namespace", "default")
    services = [service_from(s) for s in list_services(ns)]
    if ns != MASTER_NAMESPACE:
        services += [service_from(s) for s in list_services(MASTER_NAMESPACE)
                     if s["metadata"]["name"] in MASTER_SERVICES]
    links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
    return service_env(services, ns, enable_service_links=links)


def expand(value: str, *lookups: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: ``$$`` is a literal ``$``; an unknown
    or unclosed reference is left as written."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = value.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
                continue
            name = value[i + 2:end]
            found = next((m[name] for m in lookups if name in m), None)
            out.append(found if found is not None else f"$({name})")
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def container_env(declared: Sequence[tuple[str, str]],
                  service_vars: Mapping[str, str]) -> dict[str, str]:
    """A container's final environment, as ``makeEnvironmentVariables``
    builds it: declared variables (expanded against earlier ones and the
    service variables) override service variables of the same name."""
    env: dict[str, str] = {}
    for name, value in declared:
        env[name] = expand(value, env, service_vars) if value else value
    for name, value in service_vars.items():
        env.setdefault(name, value)
    return env
