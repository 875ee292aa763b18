"""Service discovery files: the DNS server's snapshot and each pod's resolver.

Pure functions that render text and JSON; the cluster writes them.  The
snapshot is the whole of what the cluster DNS knows (k8snet/addons/dns.py reads it
and reloads when it changes), rendered from the same services and endpoints
kproxy gets, so DNS and the data path never disagree for long.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from k8snet.api.model import Pod
from k8snet.node import syscalls

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_LABELS = (("k8s-app", "kube-dns"),)
ETC_NETNS = Path("/etc/netns")
POD_FILES = ("resolv.conf", "hosts", "hostname")     # what write_pod_files writes there


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


def hosts_file(pod: Pod, ip: str, domain: str) -> str:
    """The kubelet-managed /etc/hosts: localhost and the pod's own name."""
    names = [pod.hostname or pod.name]
    if pod.hostname and pod.subdomain:
        names.insert(0, f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.{domain}")
    return ("# Kubernetes-managed hosts file (k8snet).\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{ip}\t{' '.join(names)}\n")


def write_pod_files(netns_name: str, resolv: str, hosts: str, store: str = "",
                    hostname: str = "") -> Path:
    """/etc/netns/NAME/{resolv.conf,hosts,hostname}: ``ip netns exec`` and the
    sandbox bind them over /etc for every process started in the pod (the
    runtime writes /etc/hostname with the pod's hostname, ``hostname``).  With ``store`` (a
    directory in memory: k8snet.cluster.memfs) the files are kept in
    STORE/NAME and /etc/netns/NAME is a link there: one new file on /etc's
    disk instead of three."""
    directory = ETC_NETNS / netns_name
    if store:
        kept = Path(store) / netns_name
        _write_files(kept, resolv, hosts, hostname)
        if _link(kept, directory):
            return directory
        # a directory of an older run is in the way: written in place instead
        shutil.rmtree(kept, ignore_errors=True)
    _write_files(directory, resolv, hosts, hostname)
    return directory


def _write_files(directory: Path, resolv: str, hosts: str, hostname: str) -> None:
    syscalls.make_dirs(str(directory))
    write_atomic(directory / "resolv.conf", resolv)
    write_atomic(directory / "hosts", hosts)
    write_atomic(directory / "hostname", f"{hostname}\n")


def _link(target: Path, link: Path) -> bool:
    """``link`` -> ``target``, replacing a link left by an earlier pod of
    the same name; False if a real directory is in the way."""
    try:
        os.symlink(target, link)
    except FileNotFoundError:
        syscalls.make_dirs(str(link.parent))
        os.symlink(target, link)
    except FileExistsError:
        if not link.is_symlink():
            return False
        tmp = link.with_name(f".{link.name}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, link)
    return True


def remove_pod_files(netns_name: str) -> None:
    """The pod's resolver files and their directory (or link); quiet about
    what is already gone."""
    directory = ETC_NETNS / netns_name
    kept = Path(os.readlink(directory)) if directory.is_symlink() else directory
    for name in (*POD_FILES, *(f".{n}.tmp" for n in POD_FILES)):
        try:
            (kept / name).unlink()
        except FileNotFoundError:
            pass
    for remove in (kept.rmdir, directory.unlink) if kept != directory else (kept.rmdir,):
        try:
            remove()
        except OSError:
            pass
