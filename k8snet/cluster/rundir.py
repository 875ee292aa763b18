"""The run directory: what a cluster made, written down before it is made.

``/run/k8snet/<cluster>/`` holds the PIDs k8snet started and the names of
root-namespace links, so ``make clean`` can undo a crashed run without
guessing.  /run is a tmpfs: a reboot empties it along with the kernel state.
"""
from __future__ import annotations

import os
from pathlib import Path

RUN_ROOT = Path(os.environ.get("K8SNET_RUN_DIR", "/run/k8snet"))


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
        self._append("pids", str(pid))

    def record_link(self, ifname: str) -> None:
        self._append("links", ifname)

    @property
    def fabric_state(self) -> Path:
        return self.path / "fabric.json"

    @property
    def controller_log(self) -> Path:
        return self.path / "controller.log"


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
