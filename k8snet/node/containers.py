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
import threading
import time
from dataclasses import dataclass

from k8snet.api.model import Container, Pod
from k8snet.node import sandbox, syscalls
from k8snet.node.discovery import ETC_NETNS, POD_FILES
from k8snet.node.netns import path as netns_path


@dataclass
class ContainerProcess:
    name: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: str
    started: float
    builtin: bool = False          # the built-in netexec server, not its own command
    env: dict[str, str] | None = None
    wrapper: tuple[str, ...] = ()  # what enters the pod: ip netns exec [+ the sandbox]
    identity: sandbox.Identity | None = None

    @property
    def running(self) -> bool:
        return self.proc.poll() is None


def agnhost_netexec(container: Container) -> bool:
    """The container is agnhost's ``netexec`` (the Kubernetes e2e test server)."""
    return "agnhost" in container.image and (container.args[:1] == ("netexec",)
                                              or container.command[-1:] == ("netexec",))


def _agnhost_ports(container: Container) -> list[str]:
    """``--http-port=N`` / ``--udp-port=N`` of agnhost netexec (defaults 8080/8081)."""
    ports = {"TCP": 8080, "UDP": 8081}
    for arg in container.args:
        for flag, proto in (("--http-port", "TCP"), ("--udp-port", "UDP")):
            if arg.startswith(flag + "="):
                ports[proto] = int(arg.split("=", 1)[1]) if arg.split("=", 1)[1].isdigit() \
                    else ports[proto]
    return [f"{port}/{proto}" for proto, port in ports.items() if port > 0]


def container_argv(pod: Pod, container: Container,
                   grpc_ports: tuple[int, ...] = (), path: str | None = None) -> list[str]:
    """What runs for ``container``: its own command if runnable, else the
    built-in server (as agnhost netexec when the image is agnhost netexec,
    else as a stand-in answering any path, gRPC health on ``grpc_ports``)."""
    command = list(container.command) + list(container.args)
    if command and shutil.which(command[0], path=path):
        return command
    if not command and container.args and shutil.which(container.args[0], path=path):
        return list(container.args)
    specs = [f"{p.container_port}/{p.protocol}" for p in container.ports
             if p.container_port not in grpc_ports]
    argv = [sys.executable, "-m", "k8snet.node.netexec", "--pod", pod.name]
    if agnhost_netexec(container):
        argv.append("--agnhost")
        specs = list(dict.fromkeys(specs + _agnhost_ports(container)))
    if not specs and not grpc_ports:
        return ["sleep", "infinity"]
    for spec in specs:
        argv += ["--port", spec]
    for port in grpc_ports:
        argv += ["--grpc-port", str(port)]
    return argv


_DEVNULL: list[int] = []
_DEVNULL_LOCK = threading.Lock()


def _devnull() -> int:
    """/dev/null, opened once for every container's stdin (close-on-exec here;
    Popen gives the child its own copy)."""
    with _DEVNULL_LOCK:
        if not _DEVNULL:
            _DEVNULL.append(syscalls.open_fd(os.devnull, syscalls.O_RDONLY))
        return _DEVNULL[0]


def start_container(pod: Pod, container: Container, netns: str, log_dir: str,
                    env: dict[str, str], log_path: str = "",
                    grpc_ports: tuple[int, ...] = (),
                    sandboxed: tuple[dict, dict] | None = None,
                    mounts: tuple = (), mount_ns: str = "", hostname: str = "",
                    files: str = "", tmp_dir: str = "") -> ContainerProcess:
    """Start ``container`` in the network namespace ``netns``; its output goes
    to ``log_path`` (default: ``log_dir/<ns>_<pod>_<container>.log``).
    Its hostname is ``hostname``, else the pod's ``spec.hostname``, else its
    name; its resolver files are /etc/netns/``files`` (default: ``netns``);
    a sandboxed container's /tmp is ``tmp_dir`` (made here, world-writable and
    sticky), which ``kubectl exec`` into it shares, as a container's
    filesystem is shared by what runs in it.
    ``sandboxed`` (the pod's and the container's API spec) runs it in the
    sandbox (k8snet.node.sandbox) as the identity they ask for, with
    ``mounts`` (k8snet.node.volumes.Mount: its volumes) bound in, starting
    from the mount namespace ``mount_ns`` (k8snet.node.mountns) if given."""
    argv = container_argv(pod, container, grpc_ports,
                          path=sandbox.SANDBOX_PATH if sandboxed else None)
    hostname = hostname or pod.hostname or pod.name
    builtin = "k8snet.node.netexec" in argv
    wrapper = ["ip", "netns", "exec", netns]
    ident = None
    if sandboxed:
        ident = sandbox.identity(sandboxed[0], sandboxed[1], builtin)
        if tmp_dir:
            syscalls.make_dirs(tmp_dir)
            os.chmod(tmp_dir, 0o1777)
        wrapper = [*sandbox.enter(netns_path(netns), mount_ns),
                   *sandbox.prefix(ident, hostname, mounts,
                                   str(sandboxed[1].get("workingDir") or "/"),
                                   etc_dir=ETC_NETNS / (files or netns),   # the kubelet
                                   etc_names=POD_FILES,       # wrote them at sandbox set-up
                                   tmp_dir=tmp_dir)]
    log_path = log_path or os.path.join(
        log_dir, f"{pod.namespace}_{pod.name}_{container.name}.log")
    syscalls.make_dirs(os.path.dirname(log_path))
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOSTNAME": hostname, "POD_NAME": pod.name,
                "POD_NAMESPACE": pod.namespace,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    if ident is not None and ident.uid != 0:
        full_env["PATH"] = sandbox.SANDBOX_PATH
    full_env.update(dict(container.env))
    full_env.update(env)
    log = syscalls.open_fd(log_path, syscalls.O_WRONLY | syscalls.O_CREAT | syscalls.O_APPEND,
                           0o644)
    try:
        proc = subprocess.Popen(
            [*wrapper, *argv], stdout=log,
            stderr=subprocess.STDOUT, stdin=_devnull(), env=full_env,
            start_new_session=True)
    finally:
        syscalls.close_fd(log)
    return ContainerProcess(container.name, argv, proc, log_path, time.time(), builtin,
                            full_env, tuple(wrapper), ident)


def _members(pgid: int) -> list[int]:
    """PIDs of process group ``pgid``, whose leader is the container's first
    process: its descendants still in the group, found through
    /proc/PID/task/TID/children, so the cost follows the container's own
    processes, not every process of the machine (a thousand pods)."""
    if not os.path.exists(f"/proc/{pgid}/task/{pgid}/children"):
        return _members_by_scan(pgid)
    out, todo = [], [pgid]
    while todo:
        pid = todo.pop()
        try:
            if os.getpgid(pid) == pgid:
                out.append(pid)
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue                                 # gone meanwhile
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except OSError:
                pass
    return out


def _members_by_scan(pgid: int) -> list[int]:
    """The same from every /proc/PID/stat (kernels without CONFIG_PROC_CHILDREN)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def kill_leftovers(pgid: int) -> None:
    """SIGKILL what is left of a container's process group once its first
    process has ended.  A runtime ends a container's processes with it (its
    PID namespace dies with its first process, kernel pid_namespaces(7)); the
    sandbox's own PID namespace does that, but an unsandboxed container (the
    lab's DNS and ingress-nginx) is a process group: without this an nginx
    worker whose master was killed would outlive its container."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(proc: subprocess.Popen, grace: float = 2.0, sandboxed: bool = False) -> None:
    """SIGTERM the container's process group, SIGKILL it after ``grace``.

    In a sandbox the group leader is bubblewrap, which dies at SIGTERM and
    would take the container with it at once (``--die-with-parent``): the
    container's own processes get the SIGTERM instead and bubblewrap exits
    when they have finished, so a server drains its connections."""
    if proc.poll() is not None:
        kill_leftovers(proc.pid)            # it ended before anyone looked: its orphans
        return
    try:
        if sandboxed:
            for pid in _members(proc.pid):
                if pid != proc.pid and _comm(pid) != "bwrap":
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        else:
            os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_leftovers(proc.pid)
        proc.wait(timeout=grace)
    kill_leftovers(proc.pid)                # its orphans, if the first process left any
