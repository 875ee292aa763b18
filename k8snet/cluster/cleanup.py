"""``make clean``: remove everything any k8snet run made, even a crashed one.

Only k8snet's own objects are touched: processes it wrote down (with their
start time, so a PID reused by another process is left alone) and processes
inside its namespaces, namespaces named ``k8snet-*``, OVS bridges tagged
``external-ids:k8snet-cluster``, and root-namespace links whose alias says
k8snet made them (``k8snet:<cluster>``), and the tmpfs it mounted on
/run/k8snet and /run/netns once they are empty (k8snet.cluster.memfs).
Running it twice is harmless.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

from k8snet.cluster import memfs
from k8snet.cluster.rundir import LINK_ALIAS, RUN_ROOT, cluster_dirs, recorded, start_time
from k8snet.naming import PREFIX
from k8snet.node.netns import NETNS_DIR


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


def netns_pids(names: list[str]) -> list[int]:
    """Every process in the named network namespaces (``ip netns pids``)."""
    return [int(p) for ns in names for p in _run("ip", "netns", "pids", ns).split()
            if p.isdigit()]


def in_namespaces_of(pids: set[int]) -> list[int]:
    """Every process whose network namespace is that of one of ``pids``
    (one pass over /proc; processes that go meanwhile are skipped)."""
    def net_of(pid: int | str) -> str:
        try:
            return os.readlink(f"/proc/{pid}/ns/net")
        except OSError:
            return ""
    wanted = {ns for ns in (net_of(p) for p in pids) if ns}
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and net_of(p) in wanted]


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


def ours(line: str) -> int | None:
    """The PID of a ``PID STARTTIME`` line if that process is still ours."""
    words = line.split()
    if not words or not words[0].isdigit():
        return None
    pid = int(words[0])
    if len(words) < 2 or not words[1]:
        return None                 # no start time written down: cannot be sure
    return pid if start_time(pid) == words[1] else None


def our_links(cluster: str | None = None) -> list[str]:
    """Root-namespace links tagged with k8snet's alias (of ``cluster`` if given)."""
    want = LINK_ALIAS + (cluster or "")
    found = []
    for line in _run("ip", "-o", "link", "show").splitlines():
        if ":" not in line or " alias " not in line:
            continue
        name = line.split(":")[1].strip().split("@")[0]
        alias = line.rsplit(" alias ", 1)[1].split()[0]
        if (alias == want) if cluster else alias.startswith(LINK_ALIAS):
            found.append(name)
    return sorted(found)


def clean(cluster: str | None = None, verbose: bool = True) -> dict[str, int]:
    """Remove what k8snet made; only cluster ``cluster``'s objects if given."""
    say = print if verbose else (lambda *_: None)
    counts = {"processes": 0, "netns": 0, "bridges": 0, "links": 0}
    dirs = [d for d in cluster_dirs() if cluster in (None, d.name)]
    ns_prefix = PREFIX + (f"{cluster}-" if cluster else "")
    pids = []
    for d in dirs:
        pids += [pid for pid in (ours(line) for line in recorded(d, "pids")) if pid]
    pids += netns_pids(our_netns(ns_prefix))
    counts["processes"] = kill_pids(pids)
    for ns in our_netns(ns_prefix):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        counts["netns"] += 1
    for br in our_bridges(cluster):
        subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", br],
                       capture_output=True)
        counts["bridges"] += 1
    for link in our_links(cluster):
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
        counts["links"] += 1
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    # Per-pod resolver files (/etc/netns/NAME/{resolv.conf,hosts}): a
    # directory, or a link to one in the run directory (gone above).
    for d in our_etc_netns(ns_prefix):
        if os.path.islink(d):
            os.unlink(d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    with memfs.locked():
        if not cluster_dirs():           # no cluster left, none starting: no pin to come
            for path in (str(RUN_ROOT), NETNS_DIR):
                memfs.release(path)      # k8snet's tmpfs there, once nothing is left in it
    say("*** k8snet clean: removed {processes} processes, {netns} namespaces, "
        "{bridges} OVS bridges, {links} links".format(**counts))
    return counts
