"""Services (``ValidateService``, and the allocators' stateless checks)."""
from __future__ import annotations

from .errors import _go_quote, _GoText
from .fields import _BOOLEAN, _INTEGER, _OBJECT, _STRING, _child, _Errors, _index, _is_int, _spec
from .formats import is_dns1123_label, is_dns1123_subdomain, is_port_number, is_qualified_name
from .ips import _CIDR_MSG, _IP_MSG, _parse_cidr, _parse_ip, _special_ip_errors
from .meta import _validate_labels
from .ports import _check_port_num_or_name, _check_protocol

NODE_PORT_RANGE = (30000, 32767)        # kube-apiserver --service-node-port-range
KUBELET_PORT = 10250
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400  # core.MaxClientIPServiceAffinitySeconds

_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")


def _service_port_key(protocol: str, port: int) -> _GoText:
    """How Go prints the ``core.ServicePort`` key of a duplicate port."""
    return _GoText(
        f'core.ServicePort{{Name:"", Protocol:{_go_quote(protocol)}, '
        f'AppProtocol:(*string)(nil), Port:{port}, '
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _validate_service_port(errs: _Errors, port: dict, path: str, require_name: bool,
                           names: set[str]) -> None:
    """``validateServicePort``."""
    name = errs.get(port, "name", _child(path, "name"), _STRING)
    if require_name and not name:
        errs.required(_child(path, "name"))
    elif name:
        errs.each(_child(path, "name"), name, is_dns1123_label(name))
        if name in names:
            errs.duplicate(_child(path, "name"), name)
        names.add(name)
    number = errs.get(port, "port", _child(path, "port"), _INTEGER)
    if number is not None or port.get("port") is None:
        errs.each(_child(path, "port"), number or 0, is_port_number(number or 0))
    _check_protocol(errs, port, _child(path, "protocol"))
    target = port.get("targetPort")
    if isinstance(target, bool) or target not in (0, ""):    # 0 and "" are defaulted
        _check_port_num_or_name(errs, port, "targetPort", _child(path, "targetPort"))
    app_protocol = errs.get(port, "appProtocol", _child(path, "appProtocol"), _STRING)
    if app_protocol is not None:
        errs.each(_child(path, "appProtocol"), app_protocol, is_qualified_name(app_protocol))


def _validate_service_node_ports(errs: _Errors, ports: list[tuple[str, dict]],
                                 svc_type: str) -> None:
    """NodePorts: forbidden for ClusterIP, in range, unique per protocol."""
    seen: set[tuple[str, int]] = set()
    for path, port in ports:
        node_port = errs.get(port, "nodePort", _child(path, "nodePort"), _INTEGER)
        if not node_port:
            continue
        if svc_type == "ClusterIP":
            errs.forbidden(_child(path, "nodePort"), "may not be used when `type` is 'ClusterIP'")
            continue
        low, high = NODE_PORT_RANGE
        if svc_type in ("NodePort", "LoadBalancer") and not low <= node_port <= high:
            errs.invalid(_child(path, "nodePort"), node_port,
                         "provided port is not in the valid range. "
                         f"The range of valid ports is {low}-{high}")
        protocol = port.get("protocol") or "TCP"
        key = (protocol if isinstance(protocol, str) else "", node_port)
        if key in seen:
            errs.duplicate(_child(path, "nodePort"), node_port)
        seen.add(key)


def _validate_service_port_uniqueness(errs: _Errors, ports: list[tuple[str, dict]]) -> None:
    seen: set[tuple[str, int]] = set()
    for path, port in ports:
        number, protocol = port.get("port"), port.get("protocol") or "TCP"
        if not _is_int(number) or not isinstance(protocol, str):
            continue
        if (protocol, number) in seen:
            errs.duplicate(path, _service_port_key(protocol, number))
        seen.add((protocol, number))


def _validate_cluster_ips(errs: _Errors, spec: dict, svc_type: str) -> None:
    """``ValidateServiceClusterIPsRelatedFields`` for the lab's IPv4-only
    service network.  The API server copies ``clusterIP`` into ``clusterIPs``
    first, so a bad ``clusterIP`` is reported at ``spec.clusterIPs[0]``."""
    cluster_ip = errs.get(spec, "clusterIP", "spec.clusterIP", _STRING) or ""
    given = spec.get("clusterIPs") is not None
    cluster_ips = errs.string_list(spec, "clusterIPs", "spec.clusterIPs")
    families = errs.string_list(spec, "ipFamilies", "spec.ipFamilies")
    policy = errs.get(spec, "ipFamilyPolicy", "spec.ipFamilyPolicy", _STRING)
    if svc_type == "ExternalName":
        for key, present in (("clusterIPs", cluster_ip or cluster_ips), ("ipFamilies", families),
                             ("ipFamilyPolicy", policy is not None)):
            if present:
                errs.forbidden(f"spec.{key}", "may not be set for ExternalName services")
        return
    if given and cluster_ip and cluster_ips and cluster_ips[0] != cluster_ip:
        errs.invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`")
    elif given and cluster_ips and not cluster_ip:
        errs.invalid("spec.clusterIPs", cluster_ips,
                     "must be empty when `clusterIP` is not specified")
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            errs.not_supported(_index("spec.ipFamilies", i), family, ("IPv4", "IPv6"))
    if policy is not None and policy not in _IP_FAMILY_POLICIES:
        errs.not_supported("spec.ipFamilyPolicy", policy, _IP_FAMILY_POLICIES)
    ips = cluster_ips or ([cluster_ip] if cluster_ip else [])
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                errs.invalid("spec.clusterIPs", ips, "'None' must be the first and only value")
            continue
        parsed = _parse_ip(ip)
        if parsed is None:
            errs.invalid(_index("spec.clusterIPs", i), ip, _IP_MSG)
        elif parsed.version == 6 and (families[i:i + 1] or ["IPv4"]) == ["IPv4"]:
            errs.invalid(_index("spec.clusterIPs", i), ip,
                         f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
    if len(ips) > 2:
        errs.invalid("spec.clusterIPs", ips, "may only hold up to 2 values")


def _validate_session_affinity(errs: _Errors, spec: dict) -> None:
    affinity = errs.get(spec, "sessionAffinity", "spec.sessionAffinity", _STRING) or "None"
    config_path = "spec.sessionAffinityConfig"
    config = errs.get(spec, "sessionAffinityConfig", config_path, _OBJECT)
    if affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    elif affinity == "None" and config is not None:
        errs.forbidden(config_path, "must not be set when session affinity is None")
    elif affinity == "ClientIP" and config is not None:
        client_path = _child(config_path, "clientIP")
        client = errs.get(config, "clientIP", client_path, _OBJECT)
        timeout_path = _child(client_path, "timeoutSeconds")
        timeout = errs.get(client, "timeoutSeconds", timeout_path, _INTEGER)
        if timeout is not None and not 0 < timeout <= MAX_CLIENT_IP_AFFINITY_SECONDS:
            errs.invalid(timeout_path, timeout, "must be greater than 0 and less than "
                                                f"{MAX_CLIENT_IP_AFFINITY_SECONDS}")


def _validate_traffic_policies(errs: _Errors, spec: dict, svc_type: str,
                               external_ips: list[str]) -> None:
    """``validateServiceExternalTrafficPolicy`` and the internal one.  The
    health check port is checked only when given: it is validated before the
    allocator fills it (upstream validates after, and requires it)."""
    external = errs.get(spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", _STRING)
    accessible = svc_type in ("NodePort", "LoadBalancer") or (
        svc_type == "ClusterIP" and bool(external_ips))
    if external and not accessible:
        errs.invalid("spec.externalTrafficPolicy", external,
                     "may only be set for externally-accessible services")
    elif external and external not in ("Cluster", "Local"):
        errs.not_supported("spec.externalTrafficPolicy", external, ("Cluster", "Local"))
    health = errs.get(spec, "healthCheckNodePort", "spec.healthCheckNodePort", _INTEGER)
    if health and not (svc_type == "LoadBalancer" and external == "Local"):
        errs.invalid("spec.healthCheckNodePort", health, "may only be set when `type` is "
                     "'LoadBalancer' and `externalTrafficPolicy` is 'Local'")
    elif health:
        errs.each("spec.healthCheckNodePort", health, is_port_number(health))
    internal = errs.get(spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", _STRING)
    if internal is not None and internal not in ("Cluster", "Local"):
        errs.not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local"))


def _validate_service_ips(errs: _Errors, spec: dict, svc_type: str) -> list[str]:
    """externalIPs (no special addresses) and loadBalancerSourceRanges."""
    external_ips = errs.string_list(spec, "externalIPs", "spec.externalIPs")
    for i, ip in enumerate(external_ips):
        parsed = _parse_ip(ip)
        if parsed is None:
            errs.invalid(_index("spec.externalIPs", i), ip, _IP_MSG)
        else:
            errs.each(_index("spec.externalIPs", i), ip, _special_ip_errors(parsed, ip))
    ranges_path = "spec.LoadBalancerSourceRanges"     # sic: the API server's capital L
    ranges = errs.string_list(spec, "loadBalancerSourceRanges", ranges_path)
    if ranges and svc_type != "LoadBalancer":
        errs.forbidden(ranges_path, "may only be used when `type` is 'LoadBalancer'")
    for i, cidr in enumerate(ranges):
        if _parse_cidr(cidr.strip()) is None:
            errs.invalid(_index(ranges_path, i), cidr.strip(), _CIDR_MSG)
    return external_ips


def _validate_service(errs: _Errors, obj: dict) -> None:
    """``ValidateService`` (and the allocators' stateless checks)."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    svc_type = errs.get(spec, "type", "spec.type", _STRING) or "ClusterIP"
    cluster_ip = spec.get("clusterIP")
    cluster_ips = spec.get("clusterIPs")
    headless = cluster_ip == "None" or cluster_ips == ["None"]
    ports = list(errs.objects(spec, "ports", "spec.ports"))
    if not ports and spec.get("ports") in (None, []) and not headless \
            and svc_type != "ExternalName":
        errs.required("spec.ports")
    if svc_type == "LoadBalancer":
        for path, port in ports:
            if port.get("port") == KUBELET_PORT:
                errs.invalid(path, KUBELET_PORT, f"may not expose port {KUBELET_PORT} "
                                                 "externally since it is used by kubelet")
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.invalid("spec.clusterIPs[0]", "None",
                     f"may not be set to 'None' for {svc_type} services")
    if svc_type == "ExternalName":
        name = errs.get(spec, "externalName", "spec.externalName", _STRING) or ""
        cname = name[:-1] if name.endswith(".") else name
        if cname:
            errs.each("spec.externalName", cname, is_dns1123_subdomain(cname))
        else:
            errs.required("spec.externalName")
    names: set[str] = set()
    for path, port in ports:
        _validate_service_port(errs, port, path, len(spec.get("ports") or []) > 1, names)
    if spec.get("selector") is not None:
        selector = errs.strings(spec, "selector", "spec.selector")
        _validate_labels(errs, selector, "spec.selector")
    _validate_session_affinity(errs, spec)
    _validate_cluster_ips(errs, spec, svc_type)
    external_ips = _validate_service_ips(errs, spec, svc_type)
    if svc_type not in _SERVICE_TYPES:
        errs.not_supported("spec.type", svc_type, _SERVICE_TYPES)
    _validate_service_node_ports(errs, ports, svc_type)
    _validate_service_port_uniqueness(errs, ports)
    _validate_traffic_policies(errs, spec, svc_type, external_ips)
    errs.get(spec, "publishNotReadyAddresses", "spec.publishNotReadyAddresses", _BOOLEAN)
    allocate = errs.get(spec, "allocateLoadBalancerNodePorts",
                        "spec.allocateLoadBalancerNodePorts", _BOOLEAN)
    if allocate is not None and svc_type != "LoadBalancer":
        errs.forbidden("spec.allocateLoadBalancerNodePorts",
                       "may only be used when `type` is 'LoadBalancer'")
    errs.get(spec, "loadBalancerIP", "spec.loadBalancerIP", _STRING)
