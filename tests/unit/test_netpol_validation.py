"""NetworkPolicy validation: what the oracle may assume of a stored policy.

Wording and order as ``ValidateNetworkPolicySpec`` in kubernetes
pkg/apis/networking/validation/validation.go (a rule's ports before its
peers, every cause at once) and ``IsValidPortName`` for IANA service names.
"""
from __future__ import annotations

from k8snet.api.validation import validate

CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
SUBSET_MSG = "must be a strict subset of `cidr`"
PROTOCOLS = 'supported values: "TCP", "UDP", "SCTP"'


def policy(**spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "x"},
            "spec": {"podSelector": {}, **spec}}


def texts(obj: dict) -> list[str]:
    return [str(e) for e in validate(obj)]


def test_every_cause_at_once():
    spec = {"policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}},
                                  {"ipBlock": {"cidr": "10.0.0.0/8",
                                               "except": ["11.0.0.0/16", "10.1.0.0/16"]}}],
                         "ports": [{"port": "Serve_80", "protocol": "ICMP"}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}],
                        "ports": [{"port": "a--b", "protocol": "tcp"}]}]}
    assert texts(policy(**spec)) == [
        f'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": {PROTOCOLS}',
        'spec.ingress[0].ports[0].port: Invalid value: "Serve_80": must contain only '
        "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        f'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": {CIDR_MSG}',
        f'spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "11.0.0.0/16": {SUBSET_MSG}',
        f'spec.egress[0].ports[0].protocol: Unsupported value: "tcp": {PROTOCOLS}',
        'spec.egress[0].ports[0].port: Invalid value: "a--b": must not contain consecutive '
        "hyphens",
        f'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": {SUBSET_MSG}',
    ]


def test_invalid_cidrs():
    bad = ["10.0.0.0", "10.0.0.0/33", "10.0.0.256/8", "nope/8"]
    peers = [{"ipBlock": {"cidr": c}} for c in bad]
    assert texts(policy(ingress=[{"from": peers}])) == [
        f'spec.ingress[0].from[{i}].ipBlock.cidr: Invalid value: "{c}": {CIDR_MSG}'
        for i, c in enumerate(bad)]


def test_except_must_be_a_strict_subset_of_its_cidr():
    block = {"cidr": "10.244.0.0/16",
             "except": ["10.244.1.0/24", "10.244.0.0/16", "10.0.0.0/8", "10.245.0.0/24",
                        "fd00::/64", "10.244.1.300/32"]}
    assert texts(policy(ingress=[{"from": [{"ipBlock": block}]}])) == [
        f'spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "10.244.0.0/16": '
        f"{SUBSET_MSG}",
        f'spec.ingress[0].from[0].ipBlock.except[2]: Invalid value: "10.0.0.0/8": {SUBSET_MSG}',
        f'spec.ingress[0].from[0].ipBlock.except[3]: Invalid value: "10.245.0.0/24": '
        f"{SUBSET_MSG}",
        f'spec.ingress[0].from[0].ipBlock.except[4]: Invalid value: "fd00::/64": {SUBSET_MSG}',
        f'spec.ingress[0].from[0].ipBlock.except[5]: Invalid value: "10.244.1.300/32": '
        f"{CIDR_MSG}",
    ]


def test_host_bits_in_a_cidr_are_accepted_as_go_parses_them():
    # upstream's own e2e case builds "<pod IP>/4"
    block = {"cidr": "10.244.1.10/4", "except": ["10.244.2.11/32"]}
    assert texts(policy(policyTypes=["Egress"], egress=[{"to": [{"ipBlock": block}]}])) == []


def test_port_names_must_be_iana_service_names():
    names = ["serve-80-tcp", "http", "a-very-long-port-name", "HTTP", "80", "-web", "web-",
             "we--b", "web_1"]
    ports = [{"port": n} for n in names]
    where = "spec.ingress[0].ports"
    assert texts(policy(ingress=[{"ports": ports}])) == [
        f'{where}[2].port: Invalid value: "a-very-long-port-name": must be no more than 15 '
        "characters",
        f'{where}[3].port: Invalid value: "HTTP": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
        f'{where}[3].port: Invalid value: "HTTP": must contain at least one letter (a-z)',
        f'{where}[4].port: Invalid value: "80": must contain at least one letter (a-z)',
        f'{where}[5].port: Invalid value: "-web": must not begin or end with a hyphen',
        f'{where}[6].port: Invalid value: "web-": must not begin or end with a hyphen',
        f'{where}[7].port: Invalid value: "we--b": must not contain consecutive hyphens',
        f'{where}[8].port: Invalid value: "web_1": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
    ]


def test_protocols_are_tcp_udp_sctp():
    ports = [{"protocol": p, "port": 80} for p in ("TCP", "UDP", "SCTP", "ICMP", "udp", "")]
    assert texts(policy(egress=[{"ports": ports}], policyTypes=["Egress"])) == [
        f'spec.egress[0].ports[3].protocol: Unsupported value: "ICMP": {PROTOCOLS}',
        f'spec.egress[0].ports[4].protocol: Unsupported value: "udp": {PROTOCOLS}',
        f'spec.egress[0].ports[5].protocol: Unsupported value: "": {PROTOCOLS}',
    ]
