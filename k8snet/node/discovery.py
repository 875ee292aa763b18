"""Service discovery files: the DNS server's snapshot and each pod's resolver.

Pure functions that render text and JSON; the cluster writes them.  The
snapshot is the whole of what the cluster DNS knows (k8snet/addons/dns.py reads it
and reloads when it changes), rendered from the same services and endpoints
kproxy gets, so DNS and the data path never disagree for long.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from k8snet.api.model import Pod
from k8snet.api.service import Service, ServicePort
from kproxy.state import Endpoint

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_LABELS = (("k8s-app", "kube-dns"),)
ETC_NETNS = Path("/etc/netns")


def _endpoint_rows(svc: Service, ports: Mapping[ServicePort, tuple[Endpoint, ...]],
                   pods: Mapping[str, Pod]) -> list[dict]:
    """One row per endpoint address with all its ports, as an EndpointSlice has.

    The hostname is set only when the pod asked for it and its subdomain is
    this service: the rule that gives StatefulSet pods ``web-0.nginx``.
    """
    rows: dict[str, dict] = {}
    for port, endpoints in ports.items():
        for ep in endpoints:
            row = rows.get(ep.ip)
            if row is None:
                pod = pods.get(ep.pod)
                hostname = ""
                if pod is not None and pod.hostname and pod.subdomain == svc.name:
                    hostname = pod.hostname
                row = rows[ep.ip] = {"ip": ep.ip, "hostname": hostname,
                                     "ready": ep.ready, "ports": []}
            row["ready"] = row["ready"] and ep.ready
            row["ports"].append({"name": port.name, "protocol": port.protocol,
                                 "port": ep.port})
    return [rows[ip] for ip in sorted(rows)]


def dns_snapshot(services: Iterable[Service],
                 endpoints: Mapping[str, Mapping[ServicePort, tuple[Endpoint, ...]]],
                 pods: Iterable[tuple[Pod, str]], domain: str) -> dict:
    """The snapshot k8snet/addons/dns.py serves: services, their endpoints, pod IPs."""
    pod_list = list(pods)
    by_key = {pod.key: pod for pod, _ in pod_list}
    out = []
    for svc in sorted(services, key=lambda s: s.key):
        cluster_ip = "None" if svc.headless else svc.cluster_ip
        out.append({
            "name": svc.name, "namespace": svc.namespace, "type": svc.type,
            "cluster_ip": cluster_ip, "external_name": svc.external_name,
            "ports": [{"name": p.name, "protocol": p.protocol, "port": p.port}
                      for p in svc.ports],
            "endpoints": _endpoint_rows(svc, endpoints.get(svc.key, {}), by_key)})
    return {"domain": domain, "services": out,
            "pods": [{"ip": ip, "namespace": pod.namespace}
                     for pod, ip in sorted(pod_list, key=lambda p: p[1])]}


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_snapshot(path: Path, snapshot: dict) -> bool:
    """Write only when something changed; return whether it did."""
    text = json.dumps(snapshot, indent=1, sort_keys=True)
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, text)
    return True


def resolv_conf(namespace: str, domain: str, nameserver: str) -> str:
    """The kubelet's ClusterFirst resolv.conf."""
    return (f"search {namespace}.svc.{domain} svc.{domain} {domain}\n"
            f"nameserver {nameserver}\n"
            "options ndots:5\n")


def hosts_file(pod: Pod, ip: str, domain: str) -> str:
    """The kubelet-managed /etc/hosts: localhost and the pod's own name."""
    names = [pod.hostname or pod.name]
    if pod.hostname and pod.subdomain:
        names.insert(0, f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.{domain}")
    return ("# Kubernetes-managed hosts file (k8snet).\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{ip}\t{' '.join(names)}\n")


def write_pod_files(netns_name: str, resolv: str, hosts: str) -> Path:
    """/etc/netns/NAME/{resolv.conf,hosts}: ``ip netns exec`` bind-mounts them
    over /etc for every process started in the pod."""
    directory = ETC_NETNS / netns_name
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "resolv.conf", resolv)
    write_atomic(directory / "hosts", hosts)
    return directory


def remove_pod_files(netns_name: str) -> None:
    directory = ETC_NETNS / netns_name
    for name in ("resolv.conf", "hosts", ".resolv.conf.tmp", ".hosts.tmp"):
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass
    try:
        directory.rmdir()
    except OSError:
        pass
