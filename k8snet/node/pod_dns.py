"""A pod's resolv.conf, as the kubelet composes it from dnsPolicy and dnsConfig.

    ClusterFirst             the cluster DNS, search <ns>.svc.<domain> svc.<domain>
                             <domain> (then the node's searches), options ndots:5;
                             for a hostNetwork pod it falls back to Default
    ClusterFirstWithHostNet  ClusterFirst, hostNetwork or not
    Default                  the node's resolver (here: the emulated Internet's DNS)
    None                     nothing: dnsConfig alone

Then ``dnsConfig`` is appended: its nameservers and searches after the
policy's (duplicates dropped), its options over the policy's by name
(``ndots:2`` replaces ``ndots:5``; a value-less option is written bare).
The file is written as containerd's CRI writes it: search, nameservers,
options.  Pure: no file, no cluster.  Sources: the Pod DNS concept page
(https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/
#pod-s-dns-policy), pkg/kubelet/network/dns/dns.go (getPodDNSType,
appendDNSConfig, mergeDNSOptions).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DNSConfig:
    """What a resolv.conf holds: nameservers, searches, options (``ndots:5``)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def resolv_conf(self) -> str:
        """The file's text (empty lines left out, as containerd leaves them)."""
        lines = [f"search {' '.join(self.searches)}"] if self.searches else []
        lines += [f"nameserver {server}" for server in self.nameservers]
        if self.options:
            lines.append(f"options {' '.join(self.options)}")
        return "".join(line + "\n" for line in lines)


def dns_type(spec: dict) -> str:
    """``cluster``, ``host`` or ``none`` for a pod spec (getPodDNSType)."""
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet":
        return "cluster"
    if policy == "ClusterFirst" and spec.get("hostNetwork") is not True:
        return "cluster"
    return "host"


def pod_dns_config(spec: dict, namespace: str, domain: str, cluster_dns: str,
                   host: DNSConfig) -> DNSConfig:
    """The resolver of a pod with ``spec`` in ``namespace``: ``cluster_dns``
    is the cluster DNS Service's IP, ``host`` the node's own resolver."""
    kind = dns_type(spec)
    if kind == "cluster":
        base = DNSConfig((cluster_dns,),
                         (f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host.searches),
                         ("ndots:5",))
    elif kind == "host":
        base = host
    else:
        base = DNSConfig()
    return _append(base, spec.get("dnsConfig") or {})


def _append(base: DNSConfig, config: dict) -> DNSConfig:
    """appendDNSConfig: nameservers and searches appended without repeats,
    options merged by name (the pod's value wins)."""
    servers = _unique([*base.nameservers, *(config.get("nameservers") or [])])
    searches = _unique([*base.searches, *(config.get("searches") or [])])
    options: dict[str, str] = {}
    for option in base.options:
        name, _, value = option.partition(":")
        options[name] = value
    for option in config.get("options") or []:
        options[str(option.get("name", ""))] = str(option.get("value") or "")
    return DNSConfig(tuple(servers), tuple(searches),
                     tuple(f"{name}:{value}" if value else name
                           for name, value in options.items()))


def _unique(items: list) -> list[str]:
    return list(dict.fromkeys(str(i) for i in items))
