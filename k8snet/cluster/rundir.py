"""The run directory: what a cluster made, written down before it is made.

``/run/k8snet/<cluster>/`` holds the PIDs k8snet started and the names of
root-namespace links, so ``make clean`` can undo a crashed run without
guessing.  It also keeps the pods' logs and resolver files.  On most
machines /run is a tmpfs; where it is on disk, the cluster mounts one of its
own there while the directory is empty (k8snet.cluster.memfs).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

RUN_ROOT = Path(os.environ.get("K8SNET_RUN_DIR", "/run/k8snet"))
KEEP_LOGS = Path(os.environ.get("K8SNET_KEEP_LOGS", "results/logs"))
LINK_ALIAS = "k8snet:"      # + cluster name: the alias of every root-namespace link we make


def start_time(pid: int) -> str:
    """The process's start time from /proc/PID/stat, or "" when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else ""


class RunDir:
    def __init__(self, cluster: str) -> None:
        self.path = RUN_ROOT / cluster
        self.path.mkdir(parents=True, exist_ok=True)
        self.logs = self.path / "logs"
        self.logs.mkdir(exist_ok=True)

    def _append(self, name: str, value: str) -> None:
        with open(self.path / name, "a") as fh:
            fh.write(value + "\n")

    def record_pid(self, pid: int) -> None:
        """``PID STARTTIME``: the start time (clock ticks since boot, field 22
        of /proc/PID/stat) tells our process from a later one given its PID."""
        self._append("pids", f"{pid} {start_time(pid)}")

    def record_link(self, ifname: str) -> None:
        """Write the link down and tag it (its alias names the cluster), so a
        link is removed only if it is still the one k8snet made."""
        self._append("links", ifname)
        subprocess.run(["ip", "link", "set", "dev", ifname, "alias",
                        f"{LINK_ALIAS}{self.path.name}"], capture_output=True)

    @property
    def fabric_state(self) -> Path:
        return self.path / "fabric.json"

    @property
    def pod_files(self) -> Path:
        """Where the pods' resolver files are kept (/etc/netns/POD links here)."""
        return self.path / "etc-netns"

    @property
    def controller_log(self) -> Path:
        return self.path / "controller.log"


def keep_logs(cluster_dir: Path, dest: Path) -> Path | None:
    """Copy the run's logs (containers', controller, agents, DNS, nginx, ...)
    to ``dest``/<cluster>/ before teardown deletes the run directory; the
    copy, or None when nothing could be written there."""
    target = dest / cluster_dir.name
    try:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for item in cluster_dir.rglob("*"):
            if item.is_file() and (item.suffix == ".log" or "logs" in item.parts) \
                    and "volumes" not in item.relative_to(cluster_dir).parts:   # pods' data
                out = target / item.relative_to(cluster_dir)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(item, out)
    except OSError:
        return None
    return target


def recorded(cluster_dir: Path, name: str) -> list[str]:
    try:
        return [line.strip() for line in (cluster_dir / name).read_text().splitlines()
                if line.strip()]
    except FileNotFoundError:
        return []


def cluster_dirs() -> list[Path]:
    if not RUN_ROOT.is_dir():
        return []
    return sorted(p for p in RUN_ROOT.iterdir() if p.is_dir())
