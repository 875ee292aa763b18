"""Endpoints and EndpointSlices (light)."""
from __future__ import annotations

from .fields import _BOOLEAN, _INTEGER, _OBJECT, _STRING, _child, _Errors, _index
from .formats import is_dns1123_label, is_dns1123_subdomain, is_port_number
from .ips import _IP_MSG, _parse_ip, _special_ip_errors
from .ports import _check_protocol


def _validate_endpoint_ports(errs: _Errors, holder: dict, path: str, slice_style: bool) -> None:
    port_items = list(errs.objects(holder, "ports", path))
    names: set[str] = set()
    for port_path, port in port_items:
        name = errs.get(port, "name", _child(port_path, "name"), _STRING) or ""
        if not slice_style and len(port_items) > 1 and not name:
            errs.required(_child(port_path, "name"))
        elif name:
            errs.each(_child(port_path, "name"), name, is_dns1123_label(name))
        if slice_style and name in names:
            errs.duplicate(_child(port_path, "name"), name)
        names.add(name)
        number = errs.get(port, "port", _child(port_path, "port"), _INTEGER)
        if not slice_style:
            errs.each(_child(port_path, "port"), number or 0, is_port_number(number or 0))
        _check_protocol(errs, port, _child(port_path, "protocol"))


def _check_endpoint_ip(errs: _Errors, ip: str, path: str, family: int | None = None) -> None:
    parsed = _parse_ip(ip)
    if parsed is None or family and parsed.version != family:
        errs.invalid(path, ip, f"must be a valid IPv{family} address" if family else _IP_MSG)
    else:
        errs.each(path, ip, _special_ip_errors(parsed, ip))


def _validate_endpoints(errs: _Errors, obj: dict) -> None:
    """``ValidateEndpoints``: each subset has addresses, valid IPs and ports."""
    for subset_path, subset in errs.objects(obj, "subsets", "subsets"):
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.required(subset_path, "must specify `addresses` or `notReadyAddresses`")
        for key in ("addresses", "notReadyAddresses"):
            for address_path, address in errs.objects(subset, key, _child(subset_path, key)):
                ip = errs.get(address, "ip", _child(address_path, "ip"), _STRING) or ""
                _check_endpoint_ip(errs, ip, _child(address_path, "ip"))
                hostname = errs.get(address, "hostname", _child(address_path, "hostname"), _STRING)
                errs.name(hostname, _child(address_path, "hostname"), is_dns1123_label)
        _validate_endpoint_ports(errs, subset, _child(subset_path, "ports"), slice_style=False)


_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _validate_endpoint_slice(errs: _Errors, obj: dict) -> None:
    """``ValidateEndpointSlice``: addressType, 1-100 addresses per endpoint, ports."""
    address_type = errs.need(obj, "addressType", "addressType", _STRING)
    if address_type and address_type not in _ADDRESS_TYPES:
        errs.not_supported("addressType", address_type, _ADDRESS_TYPES)
    for endpoint_path, endpoint in errs.objects(obj, "endpoints", "endpoints"):
        addresses_path = _child(endpoint_path, "addresses")
        addresses = errs.string_list(endpoint, "addresses", addresses_path)
        if not addresses:
            errs.required(addresses_path, "must contain at least 1 address")
        elif len(addresses) > 100:
            errs.too_many(addresses_path, len(addresses), 100)
        for i, address in enumerate(addresses):
            if address_type in ("IPv4", "IPv6"):
                _check_endpoint_ip(errs, address, _index(addresses_path, i),
                                   int(address_type[-1]))
        for key, check in (("nodeName", is_dns1123_subdomain), ("hostname", is_dns1123_label)):
            value = errs.get(endpoint, key, _child(endpoint_path, key), _STRING)
            errs.name(value, _child(endpoint_path, key), check)
        conditions = errs.get(endpoint, "conditions", _child(endpoint_path, "conditions"),
                              _OBJECT)
        for key in ("ready", "serving", "terminating"):
            errs.get(conditions, key, _child(_child(endpoint_path, "conditions"), key), _BOOLEAN)
    _validate_endpoint_ports(errs, obj, "ports", slice_style=True)
