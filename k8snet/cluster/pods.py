"""Into a running pod: its network namespace, a container's environment,
its logs.  What ``kubectl exec``, ``kubectl logs`` and ``POD CMD`` need from
the kubelets (a CRI would give it to a real kubectl through the API server).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from k8snet.api.podnames import pod_ips
from k8snet.apiserver.store import Store
from k8snet.errors import K8snetError


class Pods:
    def __init__(self, store: Store, kubelets: dict) -> None:
        self.store = store
        self.kubelets = kubelets

    def find(self, name: str, namespace: str | None = None) -> dict:
        """A pod by ``name`` in ``namespace``, by ``ns/name``, or by a name
        unique across namespaces when no namespace is given."""
        if "/" in name:
            namespace, name = name.split("/", 1)
        if namespace:
            pod = self.store.find("Pod", namespace, name)
            if pod is None:
                raise K8snetError(f'Error from server (NotFound): pods "{name}" not found')
            return pod
        matches = self.store.list("Pod", where=lambda p: p["metadata"]["name"] == name)
        if not matches:
            raise K8snetError(f'Error from server (NotFound): pods "{name}" not found')
        if len(matches) > 1:
            default = [p for p in matches if p["metadata"]["namespace"] == "default"]
            if len(default) == 1:
                return default[0]
            raise K8snetError(f'pod name "{name}" is in several namespaces; say '
                              "NAMESPACE/NAME or -n NAMESPACE")
        return matches[0]

    def runtime(self, pod: dict):
        """The kubelet's runtime of ``pod``; raises when it has no sandbox."""
        node = (pod.get("spec") or {}).get("nodeName", "")
        kubelet = self.kubelets.get(node)
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        rt = kubelet.pods.get(key) if kubelet else None
        if rt is None:
            raise K8snetError(f'error: unable to upgrade connection: pod '
                              f'"{key[1]}" is not running (phase '
                              f'{(pod.get("status") or {}).get("phase", "Pending")})')
        return rt

    def env(self, pod: dict, container: str | None = None) -> dict[str, str]:
        """The environment a container runs with (the first by default)."""
        rt = self.runtime(pod)
        names = list(rt.containers)
        name = container or (names[0] if names else "")
        c = rt.containers.get(name)
        if c is None:
            raise K8snetError(f"error: container {name} is not valid for pod "
                              f"{pod['metadata']['name']}")
        return dict(c.proc.env) if c.proc and c.proc.env else dict(os.environ)

    def exec(self, name: str, namespace: str | None, container: str | None,
             command: list[str]) -> int:
        pod = self.find(name, namespace)
        return subprocess.call([*self.way_in(pod, container), *command],
                               env=self.env(pod, container))

    def way_in(self, pod: dict, container: str | None = None) -> list[str]:
        """How a command enters a container: ``ip netns exec`` into the pod's
        namespace, then the container's sandbox (its user, its capabilities)."""
        rt = self.runtime(pod)
        names = list(rt.containers)
        c = rt.containers.get(container or (names[0] if names else ""))
        if c is not None and c.proc is not None and c.proc.wrapper:
            return list(c.proc.wrapper)
        return ["ip", "netns", "exec", rt.netns]

    def logs(self, name: str, namespace: str | None, container: str | None,
             previous: bool = False) -> str:
        pod = self.find(name, namespace)
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        if container is None:
            if len(names) > 1:
                raise K8snetError(f"error: a container name must be specified for pod "
                                  f"{pod['metadata']['name']}, choose one of: "
                                  f"[{' '.join(names)}]")
            container = names[0] if names else ""
        if container not in names:
            raise K8snetError(f"error: container {container} is not valid for pod "
                              f"{pod['metadata']['name']}")
        rt = self.runtime(pod)
        restarts = next((s.get("restartCount", 0) for s in statuses
                         if s.get("name") == container), 0)
        run = restarts - 1 if previous else restarts
        if run < 0:
            raise K8snetError(f'error: previous terminated container "{container}" in pod '
                              f'"{pod["metadata"]["name"]}" not found')
        path = Path(rt.log_dir) / container / f"{run}.log"
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ips(self, namespace: str | None = None) -> dict[str, str]:
        """Pod names (and ``ns/name``) to pod IPs, for ``POD CMD`` substitution
        in a pod of ``namespace`` (k8snet.api.podnames: a Service's name there
        is left alone, the namespace's own pods first)."""
        return pod_ips(self.store, namespace)


class KubeletLogs:
    """The API server's ``pods/log`` source: the kubelets' log files, with
    kubectl's errors as API Status errors."""

    def __init__(self, pods: Pods) -> None:
        self.pods = pods

    def logs(self, namespace: str, name: str, container: str, previous: bool,
             tail: int | None) -> str:
        from k8snet.errors import BadRequest, NotFound

        try:
            text = self.pods.logs(name, namespace, container or None, previous)
        except K8snetError as exc:
            message = str(exc).removeprefix("error: ")
            if "not found" in message and "previous" not in message:
                raise NotFound(message.split("): ")[-1]) from None
            raise BadRequest(message) from None
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail else ""
        return text


class KubeletExec:
    """The API server's ``pods/exec`` source: into the pod's network namespace
    with the container's environment."""

    def __init__(self, pods: Pods) -> None:
        self.pods = pods

    def target(self, namespace: str, name: str, container: str
               ) -> tuple[list[str], dict[str, str]]:
        from k8snet.errors import BadRequest

        try:
            pod = self.pods.find(name, namespace)
            way_in = self.pods.way_in(pod, container or None)
            env = self.pods.env(pod, container or None)
        except K8snetError as exc:
            raise BadRequest(str(exc).removeprefix("error: ")) from None
        return way_in, env
