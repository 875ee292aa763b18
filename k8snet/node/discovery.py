"""Service discovery files: the DNS server's snapshot and each pod's resolver.

Pure functions that render text and JSON; the cluster writes them.  The
snapshot is the whole of what the cluster DNS knows (k8snet/addons/dns.py reads it
and reloads when it changes), rendered from the same services and endpoints
kproxy gets, so DNS and the data path never disagree for long.
"""
from __future__ import annotations

import json
from pathlib import Path

from k8snet.api.model import Pod
from k8snet.node import syscalls

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_LABELS = (("k8s-app", "kube-dns"),)
ETC_NETNS = Path("/etc/netns")
POD_FILES = ("resolv.conf", "hosts")     # what write_pod_files writes there


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    syscalls.replace_file(str(path), text.encode())


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
    syscalls.make_dirs(str(directory))
    write_atomic(directory / "resolv.conf", resolv)
    write_atomic(directory / "hosts", hosts)
    return directory


def remove_pod_files(netns_name: str) -> None:
    directory = ETC_NETNS / netns_name
    for name in (*POD_FILES, *(f".{n}.tmp" for n in POD_FILES)):
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass
    try:
        directory.rmdir()
    except OSError:
        pass
