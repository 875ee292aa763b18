"""``kubectl get`` columns of the networking kinds: Service, Endpoints,
EndpointSlice, Ingress, IngressClass, NetworkPolicy.

Each ``*_row(obj, now)`` returns every cell of the kind's columns, wide ones
included (the API server always renders wide).  A Service without
``spec.type`` prints as ClusterIP and a port without a protocol as TCP, the
API server's defaults.

Source: kubernetes pkg/printers/internalversion/printers.go (``printService``,
``getServiceExternalIP``, ``makePortString``, ``formatEndpoints``,
``formatDiscoveryPorts``, ``formatDiscoveryEndpoints``, ``printIngress``,
``formatHosts``, ``printIngressClass``, ``printNetworkPolicy``), re-written
for plain dicts.
"""
from __future__ import annotations

from collections.abc import Mapping

from k8snet.api.printers_base import (
    AGE,
    NAME,
    NONE,
    Column,
    Row,
    created,
    dig,
    dint,
    dlist,
    dmap,
    dstr,
    format_label_selector,
    format_labels,
    lb_ingress,
    name_of,
    wide,
    with_more,
)

SERVICE_COLUMNS = [
    NAME,
    Column("Type", description="type determines how the Service is exposed: ClusterIP, "
           "NodePort, LoadBalancer or ExternalName."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service, None for "
           "a headless service."),
    Column("External-IP", description="externalIPs and the load balancer's ingress points "
           "for which nodes will also accept traffic for this service."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE,
    wide("Selector", "Route service traffic to pods with label keys and values matching "
         "this selector."),
]


def service_external_ip(svc: Mapping) -> str:
    """``getServiceExternalIP``: externalIPs or ``<none>`` (ClusterIP, NodePort);
    load-balancer ingress IPs, then externalIPs, or ``<pending>``
    (LoadBalancer); the external name (ExternalName)."""
    type_ = dstr(svc, "spec", "type") or "ClusterIP"
    external = [str(ip) for ip in dlist(svc, "spec", "externalIPs")]
    if type_ in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if type_ == "LoadBalancer":
        lb = lb_ingress(dlist(svc, "status", "loadBalancer", "ingress"))
        if external:
            return ",".join(([lb] if lb else []) + external)
        return lb or "<pending>"
    if type_ == "ExternalName":
        return dstr(svc, "spec", "externalName")
    return "<unknown>"


def service_ports(svc: Mapping) -> str:
    """``makePortString``: ``80/TCP``, ``80:30080/TCP`` with a node port, comma-joined."""
    parts = []
    for port in dlist(svc, "spec", "ports"):
        proto = dstr(port, "protocol") or "TCP"
        node_port = dint(port, "nodePort")
        node = f":{node_port}" if node_port > 0 else ""
        parts.append(f"{dint(port, 'port')}{node}/{proto}")
    return ",".join(parts)


def service_row(svc: Mapping, now: float) -> list:
    """NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | SELECTOR:
    ``["web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP", "5m",
    "app=web"]``; CLUSTER-IP is ``None`` for headless, ``<none>`` without one."""
    ips = dlist(svc, "spec", "clusterIPs")
    cluster_ip = (str(ips[0]) if ips else dstr(svc, "spec", "clusterIP")) or NONE
    return [name_of(svc), dstr(svc, "spec", "type") or "ClusterIP", cluster_ip,
            service_external_ip(svc), service_ports(svc) or NONE, created(svc, now),
            format_labels(dmap(svc, "spec", "selector"))]


ENDPOINTS_COLUMNS = [NAME, Column("Endpoints", description="The set of all endpoints is the "
                                  "union of all subsets."), AGE]


def _host_port(ip: str, port: int) -> str:
    """net.JoinHostPort: IPv6 addresses in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_endpoints(ep: Mapping, limit: int = 3) -> str:
    """``formatEndpoints``: ready ``ip:port`` pairs (``ip`` alone for a subset
    without ports), the first three then ``+ N more...``; ``<none>`` without
    subsets (and an empty cell when no address is ready)."""
    subsets = dlist(ep, "subsets")
    if not subsets:
        return NONE
    shown: list[str] = []
    count, more = 0, False
    for subset in subsets:
        addrs = [dstr(a, "ip") for a in dlist(subset, "addresses")]
        ports = dlist(subset, "ports")
        targets = [None] if not ports else [dint(p, "port") for p in ports]
        for port in targets:
            count += len(addrs)
            for ip in addrs:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(ip if port is None else _host_port(ip, port))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def endpoints_row(ep: Mapping, now: float) -> list:
    """NAME ENDPOINTS AGE: ``["web", "10.244.1.2:8080,10.244.2.3:8080", "5m"]``."""
    return [name_of(ep), format_endpoints(ep), created(ep, now)]


ENDPOINTSLICE_COLUMNS = [
    NAME,
    Column("AddressType", description="addressType specifies the type of address carried by "
           "this EndpointSlice."),
    Column("Ports", description="ports specifies the list of network ports exposed by each "
           "endpoint in this slice."),
    Column("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
    AGE,
]


def endpointslice_row(eps: Mapping, now: float) -> list:
    """NAME ADDRESSTYPE PORTS ENDPOINTS AGE: ports (number, else name, else
    ``*``) and addresses, three then ``+ N more...``, ``<unset>`` when none."""
    ports = []
    for port in dlist(eps, "ports"):
        number = dig(port, "port")
        ports.append(str(number) if isinstance(number, int) else dstr(port, "name") or "*")
    addrs = [str(a) for e in dlist(eps, "endpoints") for a in dlist(e, "addresses")]
    return [name_of(eps), dstr(eps, "addressType"), with_more(ports), with_more(addrs),
            created(eps, now)]


INGRESS_COLUMNS = [
    NAME,
    Column("Class", description="The name of the IngressClass resource that should be used "
           "for additional configuration"),
    Column("Hosts", description="Hosts that incoming requests are matched against before the "
           "ingress rule"),
    Column("Address", description="Address is a list containing ingress points for the "
           "load-balancer"),
    Column("Ports", description="Ports of TLS configurations that open"),
    AGE,
]


def ingress_hosts(rules: list, limit: int = 3) -> str:
    """``formatHosts``: the rules' hosts, three then ``+ N more...`` (N counts
    every further rule); ``*`` when no rule names a host."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == limit:
            more = True
        if not more and dstr(rule, "host"):
            hosts.append(dstr(rule, "host"))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - limit} more..." if more else text


def ingress_row(ing: Mapping, now: float) -> list:
    """NAME CLASS HOSTS ADDRESS PORTS AGE:
    ``["web", "nginx", "web.example.com", "172.18.0.11", "80, 443", "3m"]``."""
    ports = "80, 443" if dlist(ing, "spec", "tls") else "80"
    return [name_of(ing), dstr(ing, "spec", "ingressClassName") or NONE,
            ingress_hosts(dlist(ing, "spec", "rules")),
            lb_ingress(dlist(ing, "status", "loadBalancer", "ingress")), ports,
            created(ing, now)]


INGRESSCLASS_COLUMNS = [
    NAME,
    Column("Controller", description="Controller that is responsible for handling this class"),
    Column("Parameters", description="A reference to a resource with additional parameters"),
    AGE,
]


def ingressclass_row(ic: Mapping, now: float) -> list:
    """NAME CONTROLLER PARAMETERS AGE; PARAMETERS is ``Kind.apiGroup/name`` or
    ``<none>``."""
    params = dig(ic, "spec", "parameters")
    text = NONE
    if isinstance(params, Mapping):
        text = dstr(params, "kind")
        if params.get("apiGroup") is not None:
            text += "." + dstr(params, "apiGroup")
        text += "/" + dstr(params, "name")
    return [name_of(ic), dstr(ic, "spec", "controller"), text, created(ic, now)]


NETWORKPOLICY_COLUMNS = [
    NAME,
    Column("Pod-Selector", description="Selects the pods to which this NetworkPolicy object "
           "applies."),
    AGE,
]


def networkpolicy_row(np: Mapping, now: float) -> list:
    """NAME POD-SELECTOR AGE: ``["deny-all", "<none>", "1m"]``,
    ``["allow-web", "app=web", "1m"]``."""
    return [name_of(np), format_label_selector(dmap(np, "spec", "podSelector")),
            created(np, now)]


PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "Service": (SERVICE_COLUMNS, service_row),
    "Endpoints": (ENDPOINTS_COLUMNS, endpoints_row),
    "EndpointSlice": (ENDPOINTSLICE_COLUMNS, endpointslice_row),
    "Ingress": (INGRESS_COLUMNS, ingress_row),
    "IngressClass": (INGRESSCLASS_COLUMNS, ingressclass_row),
    "NetworkPolicy": (NETWORKPOLICY_COLUMNS, networkpolicy_row),
}
