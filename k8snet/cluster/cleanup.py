"""``make clean``: remove everything any k8snet run made, even a crashed one.

Only k8snet's own objects are touched: PIDs it wrote down, namespaces named
``k8snet-*``, OVS bridges tagged ``external-ids:k8snet-cluster``, and the
root-namespace links it recorded.  Running it twice is harmless.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

from k8snet.cluster.rundir import cluster_dirs, recorded
from k8snet.naming import PREFIX

SWITCH_LINK = re.compile(r"^(tor|leaf|spine)\d+-eth\d+$")


def _run(*argv: str, timeout: float = 10) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=timeout)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ""
    return out.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_pids(pids: list[int], grace: float = 2.0) -> int:
    """SIGTERM, then SIGKILL what is left after ``grace``; returns how many."""
    live = [p for p in set(pids) if p > 1 and p != os.getpid() and _alive(p)]
    for pid in live:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in live):
        time.sleep(0.05)
    for pid in live:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return len(live)


ETC_NETNS = "/etc/netns"


def our_netns(prefix: str = PREFIX) -> list[str]:
    try:
        return sorted(n for n in os.listdir("/var/run/netns")
                      if n.startswith(prefix))
    except FileNotFoundError:
        return []


def our_etc_netns(prefix: str = PREFIX) -> list[str]:
    try:
        return sorted(os.path.join(ETC_NETNS, n) for n in os.listdir(ETC_NETNS)
                      if n.startswith(prefix))
    except FileNotFoundError:
        return []


def our_bridges(cluster: str | None = None) -> list[str]:
    out = _run("ovs-vsctl", "--timeout=5", "--format=csv", "--no-headings",
               "--columns=name,external_ids", "list", "Bridge")
    found = set()
    for line in out.splitlines():
        name, _, ids = line.partition(",")
        match = re.search(r'k8snet-cluster=\"?([\w-]+)', ids)
        if match and cluster in (None, match.group(1)):
            found.add(name)
    return sorted(found)


def clean(cluster: str | None = None, verbose: bool = True) -> dict[str, int]:
    """Remove what k8snet made; only cluster ``cluster``'s objects if given."""
    say = print if verbose else (lambda *_: None)
    counts = {"processes": 0, "netns": 0, "bridges": 0, "links": 0}
    dirs = [d for d in cluster_dirs() if cluster in (None, d.name)]
    ns_prefix = PREFIX + (f"{cluster}-" if cluster else "")
    pids = []
    for d in dirs:
        pids += [int(p) for p in recorded(d, "pids") if p.isdigit()]
    for ns in our_netns(ns_prefix):
        pids += [int(p) for p in _run("ip", "netns", "pids", ns).split()
                 if p.isdigit()]
    counts["processes"] = kill_pids(pids)
    for ns in our_netns(ns_prefix):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        counts["netns"] += 1
    for br in our_bridges(cluster):
        subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", br],
                       capture_output=True)
        counts["bridges"] += 1
    links = set()
    for d in dirs:
        links.update(recorded(d, "links"))
    for line in _run("ip", "-o", "link", "show").splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if cluster is None and SWITCH_LINK.match(name):
            links.add(name)
    existing = {line.split(":")[1].strip().split("@")[0]
                for line in _run("ip", "-o", "link", "show").splitlines()
                if ":" in line}
    for link in sorted(links & existing):
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
        counts["links"] += 1
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    # Per-pod resolver files (/etc/netns/NAME/{resolv.conf,hosts}).
    for d in our_etc_netns(ns_prefix):
        shutil.rmtree(d, ignore_errors=True)
    say("*** k8snet clean: removed {processes} processes, {netns} namespaces, "
        "{bridges} OVS bridges, {links} links".format(**counts))
    return counts
