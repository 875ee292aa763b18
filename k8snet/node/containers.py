"""Container processes: each container is a process in its pod's namespace.

There is no container runtime, so an image cannot run.  A container whose
``command`` names a program present on this machine runs as it is; any other
container gets the built-in netexec server on its declared ports, or idles
like a pause container when it declares none.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from k8snet.api.model import Container, Pod


@dataclass
class ContainerProcess:
    name: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: str
    started: float
    builtin: bool = False          # the built-in netexec server, not its own command
    env: dict[str, str] | None = None

    @property
    def running(self) -> bool:
        return self.proc.poll() is None


def container_argv(pod: Pod, container: Container) -> list[str]:
    """What runs for ``container``: its own command if runnable, else netexec."""
    command = list(container.command) + list(container.args)
    if command and shutil.which(command[0]):
        return command
    if not command and container.args and shutil.which(container.args[0]):
        return list(container.args)
    if container.ports:
        argv = [sys.executable, "-m", "k8snet.node.netexec", "--pod", pod.name]
        for port in container.ports:
            argv += ["--port", f"{port.container_port}/{port.protocol}"]
        return argv
    return ["sleep", "infinity"]


def start_container(pod: Pod, container: Container, netns: str, log_dir: str,
                    env: dict[str, str]) -> ContainerProcess:
    argv = container_argv(pod, container)
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(
        log_dir, f"{pod.namespace}_{pod.name}_{container.name}.log")
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOSTNAME": pod.name, "POD_NAME": pod.name,
                "POD_NAMESPACE": pod.namespace,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    full_env.update(dict(container.env))
    full_env.update(env)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, *argv], stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env,
            start_new_session=True)
    builtin = "k8snet.node.netexec" in argv
    return ContainerProcess(container.name, argv, proc, log_path, time.time(), builtin,
                            full_env)


def stop_process(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the container's process group, SIGKILL it after ``grace``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=grace)
