"""The kubelet of one node: its pods' sandboxes, containers, probes and status.

It watches the Pods bound to its node (``spec.nodeName``) and reconciles
each: make the sandbox (IP from the node's pod CIDR, the CNI ADD, resolver
files), start containers with their environment, restart them by
``restartPolicy`` with CrashLoopBackOff, run readiness, liveness and startup
probes, report ``status`` and Events; on deletion take the pod out of its
endpoints first (Ready False), stop its containers and the sandbox, and
remove the object.  It gets the store, its node's facts and a ``KubeletConfig``
(cluster DNS, log directory): nothing else, as kindnetd's agents do.  While
``reachable()`` is False (the node cut off from the API server) it neither
sees pod changes nor posts status; its containers run on, and when the node is
back it looks at every pod again.

Source: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from k8snet import naming
from k8snet.api.convert import container_from, pod_from
from k8snet.api.hostports import ERR_REASON as PORTS_TAKEN
from k8snet.apiserver import events
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.store import Event, Store, key_of
from k8snet.errors import K8snetError
from k8snet.node import (
    admission,
    cni,
    containers,
    discovery,
    envvars,
    exits,
    pod_dns,
    probes,
    sandbox,
    volumes,
)
from k8snet.node.env import EnvError, container_env
from k8snet.node.ipam import NodeIpam
from k8snet.node.kubelet_config import KubeletConfig, NodeFacts
from k8snet.node.probes import probe_order, run_probe, trackers
from k8snet.node.runtime import (
    ContainerRuntime,
    PodRuntime,
    backoff,
    listed_ready,
    next_pass,
    next_wakeup,
    pod_status,
    should_restart,
    terminated_state,
)

TERMINATION_DRAIN = 0.5   # seconds a deleted pod stays out of its endpoints before SIGTERM
ENDPOINTS_WAIT_MAX = 5.0  # at most this long for the EndpointSlices to drop it first
ENDPOINTS_POLL = 0.05
MONITOR_TICK = 0.05       # seconds at least between two monitor passes (exits, due probes)
IDLE_TICK = 0.5           # seconds at most between two passes (the node's reachability)
COMPONENT = "kubelet"


class Kubelet(Controller):
    watches = ("Pod",)

    def __init__(self, store: Store, node: NodeFacts, config: KubeletConfig,
                 reachable: Callable[[], bool] | None = None) -> None:
        self.name = f"kubelet-{node.name}"
        super().__init__(store)
        self.node = node
        self.config = config
        self.reachable = reachable or (lambda: True)
        self._online = True
        self.ipam = NodeIpam(node.name, node.pod_cidr)
        self.cni = cni.PodNetwork(node.netns)
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self.lock = threading.RLock()
        self._exits = exits.ExitWatch()     # container exits as events, not a waitpid a pass
        self._monitor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._warned_sandbox = False

    # --- which pods are mine ------------------------------------------------------

    def wants(self, event: Event) -> bool:
        """Only the pods bound to this node, as the kubelet's watch with the
        field selector ``spec.nodeName=NODE``: a thousand pods elsewhere wake
        nothing here.  (A bound pod's nodeName never changes.)"""
        return (event.object.get("spec") or {}).get("nodeName") == self.node.name

    def keys_for(self, event: Event):
        spec = event.object.get("spec") or {}
        _, ns, name = key_of(event.object)
        if spec.get("nodeName") == self.node.name or (ns, name) in self.pods:
            yield (ns, name)

    def initial_keys(self):
        for pod in self.store.list("Pod"):
            if (pod.get("spec") or {}).get("nodeName") == self.node.name:
                yield key_of(pod)[1:]

    # --- reconcile ------------------------------------------------------------------

    def reconcile(self, key: tuple[str, str]) -> float | None:
        if not self.reachable():
            return None                  # cut off: every pod is looked at when back
        ns, name = key
        pod = self.store.find("Pod", ns, name)
        with self.lock:
            rt = self.pods.get(key)
        mine = pod is not None and (pod.get("spec") or {}).get("nodeName") == self.node.name
        if rt is not None and (not mine or rt.uid != pod["metadata"]["uid"]):
            self._teardown(key, rt)
            rt = None
        if not mine:
            return None
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminate(key, pod, rt)
        if rt is None:
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                return None                  # rejected or run to its end before
            with self.lock:
                others = [k for k in self.pods if k != key]
            if admission.ports_taken(self.store, others, pod):
                admission.reject(self.store, pod, "NodePorts", PORTS_TAKEN, self.node.name)
                return None
            try:
                rt = self._sandbox(key, pod)
            except (K8snetError, OSError) as exc:
                events.record(self.store, pod, events.WARNING, "FailedCreatePodSandBox",
                              f"Failed to create pod sandbox: {exc}", COMPONENT,
                              self.node.name)
                self._write_status(pod, None)
                return 5.0
        for spec in (pod.get("spec") or {}).get("containers") or []:
            self._sync_container(pod, rt, spec)
        self._write_status(pod, rt)
        return next_wakeup(rt)

    def _write_status(self, pod: dict, rt: PodRuntime | None) -> None:
        with self.lock:
            status = pod_status(pod, rt, self.node.ip)
        if status != pod.get("status"):
            try:
                self.store.mutate("Pod", *key_of(pod)[1:],
                                  lambda o: o.__setitem__("status", status))
            except K8snetError:
                pass                     # deleted meanwhile: the next event tells

    # --- the sandbox -------------------------------------------------------------

    def _sandbox(self, key: tuple[str, str], pod: dict) -> PodRuntime:
        """The pod's network (its own namespace, IP and veth; or, for
        ``hostNetwork: true``, the node's namespace and IP, as the kubelet
        gives such a pod the host's), its resolver files and volumes."""
        ns, name = key
        spec, uid = pod.get("spec") or {}, pod["metadata"]["uid"]
        files = naming.pod_netns(self.config.cluster, ns, name)
        log_dir = os.path.join(self.config.log_dir, f"{ns}_{name}_{uid[:8]}")
        typed = pod_from(pod)
        if spec.get("hostNetwork") is True:
            rt = PodRuntime(uid, self.node.ip, self.node.netns, "", self.node.netns, log_dir,
                            host_network=True, files=files)
            typed = replace(typed, name=self.node.name, hostname="", subdomain="")
        else:
            veth = naming.host_veth(self.config.cluster, ns, name)
            ip = self.ipam.allocate(f"{ns}/{name}")
            prefix = ipaddress.ip_network(self.node.pod_cidr).prefixlen
            try:
                self.cni.add_pod(files, veth, ip, prefix, self.node.gateway)
            except BaseException:
                self.ipam.release(ip)
                raise
            rt = PodRuntime(uid, ip, files, veth, self.node.netns, log_dir)
        try:                  # anything failing now undoes the sandbox: a retry starts clean
            resolv = pod_dns.pod_dns_config(
                spec, ns, self.config.cluster_domain, self.config.cluster_dns,
                pod_dns.DNSConfig((self.config.upstream_dns,))).resolv_conf()
            discovery.write_pod_files(files, resolv, discovery.hosts_file(
                typed, rt.ip, self.config.cluster_domain), self.config.pod_files,
                hostname=typed.hostname or typed.name)
            if spec.get("volumes") and not self._trusted(pod):
                rt.volume_dir = volumes.pod_volume_dir(
                    os.path.join(os.path.dirname(self.config.log_dir), "volumes"), ns, name, uid)
                rt.volumes, problems = volumes.prepare(spec, rt.volume_dir)
                self._volume_problems(pod, rt, problems)
        except BaseException:
            self._teardown(key, rt)
            raise
        with self.lock:
            self.pods[key] = rt
        return rt

    def _teardown(self, key: tuple[str, str], rt: PodRuntime) -> None:
        for c in rt.containers.values():
            if c.proc is not None:
                containers.stop_process(c.proc.proc, sandboxed=c.proc.identity is not None)
        try:
            if not rt.host_network:          # the node's namespace is not the pod's to delete
                self.cni.delete_pod(rt.netns)
        finally:
            discovery.remove_pod_files(rt.files_name)
            if rt.volume_dir:
                volumes.remove(rt.volume_dir)
            shutil.rmtree(self.config.pod_tmp(rt.log_dir), ignore_errors=True)   # /tmp
            if not rt.host_network:
                self.ipam.release(rt.ip)
            with self.lock:
                self.pods.pop(key, None)

    def _terminate(self, key: tuple[str, str], pod: dict, rt: PodRuntime | None) -> float | None:
        if rt is not None:
            if rt.terminating_since is None:
                rt.terminating_since = time.monotonic()
                self._write_status(pod, rt)          # Ready False: out of the endpoints
                for c in rt.containers.values():
                    if c.running:
                        events.record(self.store, pod, events.NORMAL, "Killing",
                                      f"Stopping container {c.name}", COMPONENT,
                                      self.node.name)
            left = self._drain_left(rt)
            if left > 0:
                return left
            self._teardown(key, rt)
        try:
            self.store.delete("Pod", *key, grace_seconds=0)
        except K8snetError:
            pass
        return None

    def _drain_left(self, rt: PodRuntime) -> float:
        """Seconds until SIGTERM: ``TERMINATION_DRAIN`` counted from when no
        EndpointSlice lists the pod as ready any more (the proxies then have
        that long to follow), so a slow EndpointSlice controller does not eat
        the proxies' time; at most ``ENDPOINTS_WAIT_MAX`` waiting for that."""
        now = time.monotonic()
        if rt.out_of_endpoints_since is None:
            if now - rt.terminating_since < ENDPOINTS_WAIT_MAX and \
                    listed_ready(self.store.list("EndpointSlice"), rt.ip):
                return ENDPOINTS_POLL
            rt.out_of_endpoints_since = now
        return rt.out_of_endpoints_since + TERMINATION_DRAIN - now

    # --- containers --------------------------------------------------------------

    def _sync_container(self, pod: dict, rt: PodRuntime, spec: dict) -> None:
        name = spec.get("name", "")
        c = rt.containers.get(name)
        if c is None:
            c = rt.containers[name] = ContainerRuntime(name, spec)
        if c.running:
            return
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        if c.proc is not None and c.finished is None:
            self._exited(pod, rt, c, policy)
        if c.finished is not None and not c.waiting_reason:
            return                                   # terminated for good
        if time.monotonic() < c.backoff_until:
            return
        self._start(pod, rt, c)

    def _exited(self, pod: dict, rt: PodRuntime, c: ContainerRuntime, policy: str) -> None:
        code = c.proc.proc.poll()
        containers.kill_leftovers(c.proc.proc.pid)   # the container ends with its first process
        code = 128 + (-code) if code is not None and code < 0 else (code or 0)
        c.finished = terminated_state(code, c.started_at)
        if time.time() - c.started_at > 600:
            c.crashes = 0
        if should_restart(policy, code):
            c.crashes += 1
            wait = backoff(c.crashes)
            c.backoff_until = time.monotonic() + wait
            c.waiting_reason = "CrashLoopBackOff" if wait else "ContainerCreating"
            c.waiting_message = (f"back-off {wait:g}s restarting failed container={c.name} "
                                 f"pod={pod['metadata']['name']}") if wait else ""
            if wait:
                events.record(self.store, pod, events.WARNING, "BackOff",
                              "Back-off restarting failed container", COMPONENT,
                              self.node.name)
        else:
            c.waiting_reason = ""

    def _start(self, pod: dict, rt: PodRuntime, c: ContainerRuntime) -> None:
        typed_pod = pod_from(pod)
        typed = container_from(c.spec)
        with_status = dict(pod, status=dict(pod.get("status") or {}, podIP=rt.ip,
                                            hostIP=self.node.ip))
        try:
            services = envvars.pod_service_env(lambda ns: self.store.list("Service", ns), pod)
            env = container_env(with_status, c.spec, services, self.store.find)
        except EnvError as exc:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", str(exc)
            events.record(self.store, pod, events.WARNING, "Failed", f"Error: {exc}",
                          COMPONENT, self.node.name)
            c.backoff_until = time.monotonic() + 2.0
            return
        grpc_ports = probes.grpc_ports(c.spec)
        typed = replace(typed, env=())
        run = c.restart_count + (c.proc is not None)
        log_path = os.path.join(rt.log_dir, c.name, f"{run}.log")
        if c.proc is not None:
            c.restart_count += 1
            c.last_state = c.finished
        sandboxed = self._sandbox_for(pod, c)
        mounts, problems = volumes.mounts_for(c.spec, rt.volumes) if sandboxed else ([], [])
        self._volume_problems(pod, rt, problems)
        proc = containers.start_container(typed_pod, typed, rt.netns, rt.log_dir, env,
                                          log_path=log_path, grpc_ports=grpc_ports,
                                          sandboxed=sandboxed, mounts=tuple(mounts),
                                          mount_ns=self.config.sandbox_mounts,
                                          hostname=self.node.name if rt.host_network else "",
                                          files=rt.files_name,
                                          tmp_dir=os.path.join(
                                              self.config.pod_tmp(rt.log_dir), c.name, str(run))
                                          if sandboxed else "")
        self._exits.watch(proc.proc.pid)     # before anyone can reap it; False: polled
        if proc.identity is not None and proc.identity.refused:
            events.record(self.store, pod, events.WARNING, "CapabilityRefused",
                          f"container {c.name}: {', '.join(proc.identity.refused)} not "
                          "granted in this lab (it could reach beyond the pod)",
                          COMPONENT, self.node.name)
        c.proc, c.finished, c.started_at = proc, None, time.time()
        c.waiting_reason = c.waiting_message = ""
        c.builtin = proc.builtin
        self._arm_probes(c)
        events.record(self.store, pod, events.NORMAL, "Started",
                      f"Started container {c.name}", COMPONENT, self.node.name)

    def _trusted(self, pod: dict) -> bool:
        return admission.trusted(self.store, pod, self.config.trusted_owners)

    def _volume_problems(self, pod: dict, rt: PodRuntime, problems: list[str]) -> None:
        for problem in problems:                  # once per pod, as a Warning
            if problem not in rt.warned:
                rt.warned.add(problem)
                events.record(self.store, pod, events.WARNING, "FailedMount", problem,
                              COMPONENT, self.node.name)

    def _sandbox_for(self, pod: dict, c: ContainerRuntime) -> tuple[dict, dict] | None:
        if self._trusted(pod):
            return None
        if not sandbox.available():
            if not self._warned_sandbox:
                self._warned_sandbox = True
                self.log.warning("bubblewrap or setpriv is missing: containers run "
                                 "without a sandbox (apt-get install bubblewrap)")
            return None
        return pod.get("spec") or {}, c.spec

    def _arm_probes(self, c: ContainerRuntime) -> None:
        c.startup, c.readiness, c.liveness = trackers(c.spec, c.builtin, time.monotonic())
        self._exits.wake()                           # the monitor's next pass may be sooner

    # --- the monitor thread: process exits and probes ----------------------------

    def start(self) -> Kubelet:
        super().start()
        self._monitor = threading.Thread(target=self._watch_processes,
                                         name=f"{self.name}-probes", daemon=True)
        self._monitor.start()
        return self

    def _watch_processes(self) -> None:
        last = 0.0
        while not self._stopping.is_set():
            try:
                exited, due = set(), self._next_pass(last)
                while (left := due - time.monotonic()) > 0:
                    exited |= self._exits.wait(left)
                    if time.monotonic() < due:       # an exit or a wake-up: look soon
                        due = min(due, last + MONITOR_TICK)
                if not self._stopping.is_set():
                    self.check_once(exited)
            except Exception:  # noqa: BLE001 - the monitor must outlive one bad pass
                self.log.exception("probe pass failed")
            finally:
                last = time.monotonic()           # a failed pass counts: no spinning

    def _next_pass(self, last: float) -> float:
        """One pass a tick at most, every IDLE_TICK at least (runtime.next_pass)."""
        with self.lock:
            runtimes = list(self.pods.values())
        return next_pass(runtimes, self._exits.watching, last + MONITOR_TICK,
                         time.monotonic() + IDLE_TICK)

    def check_once(self, exited: set[int] | None = None) -> None:
        """Enqueue pods whose containers exited; run due probes; enqueue pods
        whose readiness changed; kill containers whose liveness or startup
        probe failed; every pod again when the node is back online.
        ``exited``: PIDs the exit watch reported; a process it watches and did
        not report is running (no waitpid); None: ask every process."""
        online = self.reachable()
        if online and not self._online:
            with self.lock:
                known = list(self.pods)
            for key in {*self.initial_keys(), *known}:
                self.enqueue(key)
        self._online = online
        with self.lock:
            items = list(self.pods.items())
        for key, rt in items:
            if rt.terminating_since is not None:
                continue
            changed = False
            for c in list(rt.containers.values()):
                if c.proc is None or c.finished is not None:
                    continue
                pid = c.proc.proc.pid
                unknown = exited is None or pid in exited or not self._exits.watching(pid)
                if unknown and not c.proc.running:
                    changed = True
                    continue
                if c.startup or c.readiness or c.liveness:
                    changed |= self._probe(key, rt, c)
            if changed:
                self.enqueue(key)

    def _probe(self, key: tuple[str, str], rt: PodRuntime, c: ContainerRuntime) -> bool:
        now = time.monotonic()
        changed = False
        due = [(kind, t) for kind, t in probe_order(c.startup, c.readiness, c.liveness)
               if t.due(now)]
        if not due:
            return False
        typed = container_from(c.spec)
        for kind, tracker in due:
            probe = tracker.probe
            if probe.handler == "exec" and (not probe.command
                                            or not shutil.which(probe.command[0])):
                self._warn_exec(key, rt, probe.command[:1])
            ok, error = run_probe(probe, typed, rt.ip, rt.node_ns, rt.netns,
                                  c.proc.wrapper if c.proc is not None else ())
            flipped = tracker.record(ok, time.monotonic(), error)
            if not ok and not tracker.once:          # the implicit start-up check is silent
                self._unhealthy(key, kind, error)
            if kind == "readiness" and flipped:
                changed = True
            if kind == "startup" and flipped:
                changed = True
            failed = tracker.failures >= max(1, probe.failure_threshold)
            if kind in ("liveness", "startup") and failed and not ok:
                self._kill(key, c, kind)
                changed = True
        return changed

    def _warn_exec(self, key, rt: PodRuntime, program) -> None:
        if str(program) in rt.warned:
            return
        rt.warned.add(str(program))
        pod = self.store.find("Pod", *key)
        if pod is not None:
            events.record(self.store, pod, events.WARNING, "ProbeProgramMissing",
                          f"exec probe program {program[0] if program else ''!r} does not "
                          "exist here (no image filesystem); treating the probe as passing",
                          COMPONENT, self.node.name)

    def _unhealthy(self, key, kind: str, error: str) -> None:
        pod = self.store.find("Pod", *key)
        if pod is not None:
            events.record(self.store, pod, events.WARNING, "Unhealthy",
                          f"{kind.capitalize()} probe failed: {error}", COMPONENT,
                          self.node.name)

    def _kill(self, key, c: ContainerRuntime, kind: str) -> None:
        pod = self.store.find("Pod", *key)
        if pod is not None:
            events.record(self.store, pod, events.NORMAL, "Killing",
                          f"Container {c.name} failed {kind} probe, will be restarted",
                          COMPONENT, self.node.name)
        containers.stop_process(c.proc.proc, grace=1.0,
                                sandboxed=c.proc.identity is not None)

    # --- shutdown ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the loops and every pod of this node (sandboxes included)."""
        self._stopping.set()
        self._exits.wake()
        super().stop()
        if self._monitor is not None:
            self._monitor.join(timeout=10)
        self._exits.close()
        with self.lock:
            items = list(self.pods.items())
        for key, rt in items:
            try:
                self._teardown(key, rt)
            except Exception:  # noqa: BLE001 - keep tearing down the rest
                self.log.exception("teardown of %s failed", key)
        self.cni.close()
