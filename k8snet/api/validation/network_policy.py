"""networking.k8s.io/v1 NetworkPolicies (``ValidateNetworkPolicySpec``)."""
from __future__ import annotations

from .errors import _go_quote, _GoText
from .fields import (
    _INT_OR_STRING,
    _INTEGER,
    _OBJECT,
    _STRING,
    _child,
    _Errors,
    _index,
    _is_int,
    _spec,
)
from .formats import is_port_name, is_port_number
from .ips import _CIDR_MSG, _parse_cidr
from .label_selectors import _check_selector


def _validate_policy_port(errs: _Errors, port: dict, path: str) -> None:
    """``ValidateNetworkPolicyPort``."""
    protocol = errs.get(port, "protocol", _child(path, "protocol"), _STRING)
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        errs.not_supported(_child(path, "protocol"), protocol, ("TCP", "UDP", "SCTP"))
    number = errs.get(port, "port", _child(path, "port"), _INT_OR_STRING)
    end_path = _child(path, "endPort")
    end = errs.get(port, "endPort", end_path, _INTEGER)
    if _is_int(number):
        errs.each(_child(path, "port"), number, is_port_number(number))
        if end is not None:
            if end < number:
                errs.invalid(end_path, number, "must be greater than or equal to `port`")
            errs.each(end_path, end, is_port_number(end))
    elif isinstance(number, str):
        if end is not None:
            errs.invalid(end_path, end, "may not be specified when `port` is non-numeric")
        errs.each(_child(path, "port"), number, is_port_name(number))
    elif end is not None and port.get("port") is None:
        errs.invalid(end_path, end, "may not be specified when `port` is not specified")


def _validate_ip_block(errs: _Errors, block: dict, path: str) -> None:
    """``ValidateIPBlock``: a CIDR, and each except a strict subset of it."""
    cidr_text = errs.need(block, "cidr", _child(path, "cidr"), _STRING)
    excepts = errs.string_list(block, "except", _child(path, "except"))
    if not cidr_text:
        return
    cidr = _parse_cidr(cidr_text)
    if cidr is None:
        errs.invalid(_child(path, "cidr"), cidr_text, _CIDR_MSG)
        return
    for i, text in enumerate(excepts):
        inner = _parse_cidr(text)
        if inner is None:
            errs.invalid(_index(_child(path, "except"), i), text, _CIDR_MSG)
        elif inner.version != cidr.version or inner.network_address not in cidr \
                or inner.prefixlen <= cidr.prefixlen:
            errs.invalid(_index(_child(path, "except"), i), text,
                         "must be a strict subset of `cidr`")


def _validate_policy_peer(errs: _Errors, peer: dict, path: str) -> None:
    """``ValidateNetworkPolicyPeer``: selectors, or an ipBlock alone."""
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            _check_selector(errs, peer[key], _child(path, key))
    block = errs.get(peer, "ipBlock", _child(path, "ipBlock"), _OBJECT)
    if block is not None:
        count += 1
        _validate_ip_block(errs, block, _child(path, "ipBlock"))
    if count == 0:
        errs.required(path, "must specify a peer")
    elif count > 1 and block is not None:
        errs.forbidden(path, "may not specify both ipBlock and another peer")


def _validate_network_policy(errs: _Errors, obj: dict) -> None:
    """``ValidateNetworkPolicySpec``."""
    spec = _spec(errs, obj)
    if spec is None:
        return
    if spec.get("podSelector") is None:
        errs.required("spec.podSelector")
    _check_selector(errs, spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for rule_path, rule in errs.objects(spec, direction, f"spec.{direction}"):
            for port_path, port in errs.objects(rule, "ports", _child(rule_path, "ports")):
                _validate_policy_port(errs, port, port_path)
            for peer_path, peer in errs.objects(rule, peers, _child(rule_path, peers)):
                _validate_policy_peer(errs, peer, peer_path)
    types = errs.string_list(spec, "policyTypes", "spec.policyTypes")
    if len(types) > 2:
        errs.invalid("spec.policyTypes", _GoText(
            "[]networking.PolicyType{" + ", ".join(_go_quote(t) for t in types) + "}"),
            "may not specify more than two policyTypes")
        return
    for i, policy_type in enumerate(types):
        if policy_type not in ("Ingress", "Egress"):
            errs.not_supported(_index("spec.policyTypes", i), policy_type, ("Ingress", "Egress"))
