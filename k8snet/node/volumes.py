"""Pod volumes in the sandbox: ``emptyDir``, writable, shared by the pod's containers.

An ``emptyDir`` is a directory the kubelet makes when the pod starts on the
node (mode 0777, as the kubelet's emptyDir plugin makes it) and deletes with
the pod; each container's ``volumeMounts`` bind it at ``mountPath``
(``readOnly`` binds it read-only).  The rest of the filesystem stays the
host's, read-only (k8snet.node.sandbox).

Only ``emptyDir`` is served: a lab has no image runtime, and a ``hostPath``
would hand the host's files to a manifest.  Any other volume type, or a
mount the sandbox cannot place (a ``mountPath`` under an existing read-only
host directory that does not exist there), is a problem the kubelet reports
as an Event; the container runs without that mount.

Source: https://kubernetes.io/docs/concepts/storage/volumes/#emptydir
"""
from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

EMPTY_DIR_MODE = 0o777
WRITABLE_ROOTS = ("/tmp", "/run")        # private tmpfs in the sandbox: any path works


@dataclass(frozen=True)
class Mount:
    """A bind into the sandbox: host ``source`` at ``target``."""

    source: str
    target: str
    read_only: bool = False

    def bwrap_args(self) -> list[str]:
        return ["--ro-bind" if self.read_only else "--bind", self.source, self.target]


def pod_volume_dir(base: str, namespace: str, name: str, uid: str) -> str:
    """Where a pod's emptyDirs live on the host (one directory per pod)."""
    return os.path.join(base, f"{namespace}_{name}_{uid[:8]}")


def _placeable(target: str) -> bool:
    """bwrap can create ``target``: its parent chain leads to / (the sandbox's
    own tmpfs) or a private tmpfs without crossing a host directory that
    lacks the next step."""
    if target.startswith(tuple(r + "/" for r in WRITABLE_ROOTS)) or os.path.isdir(target):
        return True
    parts = [p for p in target.split("/") if p]
    # The top level is the sandbox's tmpfs root: /cache can be made there.
    return len(parts) == 1 or not os.path.lexists("/" + parts[0])


def prepare(pod_spec: Mapping, volume_dir: str) -> tuple[dict[str, str], list[str]]:
    """Make the pod's emptyDirs under ``volume_dir``: ({volume name: host
    path}, problems for volumes this lab does not serve)."""
    paths: dict[str, str] = {}
    problems: list[str] = []
    for vol in pod_spec.get("volumes") or []:
        if not isinstance(vol, Mapping) or not isinstance(vol.get("name"), str):
            continue
        if "emptyDir" in vol:
            path = os.path.join(volume_dir, vol["name"])
            os.makedirs(path, exist_ok=True)
            os.chmod(path, EMPTY_DIR_MODE)
            paths[vol["name"]] = path
        else:
            kind = next((k for k in vol if k != "name"), "unknown")
            problems.append(f'volume "{vol["name"]}": {kind} volumes are not served in this '
                            "lab (emptyDir only); its mounts are left out")
    return paths, problems


def mounts_for(container_spec: Mapping, volumes: Mapping[str, str]) -> tuple[list[Mount],
                                                                            list[str]]:
    """The binds of a container's ``volumeMounts`` that name a served volume,
    and a problem for each that cannot be placed."""
    mounts: list[Mount] = []
    problems: list[str] = []
    for vm in container_spec.get("volumeMounts") or []:
        if not isinstance(vm, Mapping) or vm.get("name") not in volumes:
            continue
        target = posixpath.normpath(str(vm.get("mountPath") or ""))
        if not target.startswith("/") or target == "/":
            problems.append(f'volumeMount "{vm["name"]}": mountPath {target!r} must be an '
                            "absolute path other than /")
            continue
        if not _placeable(target):
            problems.append(f'volumeMount "{vm["name"]}": cannot mount at {target}: '
                            f"{posixpath.dirname(target)} is part of the read-only host "
                            "filesystem here; mount under /tmp, /run or a new top-level "
                            "directory")
            continue
        source = volumes[vm["name"]]
        sub = vm.get("subPath")
        if isinstance(sub, str) and sub:
            sub = posixpath.normpath(sub).lstrip("/")
            if sub.split("/")[0] == "..":       # validation refuses it; never leave the volume
                problems.append(f'volumeMount "{vm["name"]}": subPath must not contain ".."')
                continue
            source = os.path.join(source, sub)
            os.makedirs(source, exist_ok=True)
            os.chmod(source, EMPTY_DIR_MODE)
        mounts.append(Mount(source, target, bool(vm.get("readOnly"))))
    return mounts, problems


def remove(volume_dir: str) -> None:
    """Delete a pod's emptyDirs (the pod is gone from the node)."""
    shutil.rmtree(volume_dir, ignore_errors=True)
