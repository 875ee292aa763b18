"""A running k8snet cluster: the network, the API store, and the agents that
reconcile the one to the other.

Bring-up reads as its stages (netlab's style): check the machine, make the
run directory, build the network, open the store, start the control plane,
start every node's agents (kubelet, kproxy), start the add-ons, create the
system objects, wait for the system pods.  Each agent gets the store and
what it drives, never this object.  ``stop()`` undoes whatever was started,
in reverse, and a final sweep removes anything a failed step left.
"""
from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path

from mininet.log import info

from k8snet import logs, naming
from k8snet.addons import system
from k8snet.addons.dns_agent import DnsAgent
from k8snet.addons.ingress_agent import IngressAgent
from k8snet.api.convert import is_ready
from k8snet.api.model import ClusterSpec, Node
from k8snet.apiserver.controller import Controller
from k8snet.apiserver.http import serve
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store, now_rfc3339
from k8snet.cluster import memfs, preflight
from k8snet.cluster.fabric_agent import FabricAgent
from k8snet.cluster.faults import controller_running, node_uplinks, uplink_check
from k8snet.cluster.network import API_PORT, OFP_PORT, Network
from k8snet.cluster.pods import KubeletExec, KubeletLogs, Pods
from k8snet.cluster.rundir import KEEP_LOGS, RUN_ROOT, RunDir, keep_logs
from k8snet.cluster.supervisor import Supervised, Supervisor
from k8snet.control.binder import Binder
from k8snet.control.daemonset import DaemonSetController
from k8snet.control.deployment import DeploymentController
from k8snet.control.endpoints_mirror import EndpointsMirror
from k8snet.control.endpointslice import EndpointSliceController
from k8snet.control.gc import GarbageCollector
from k8snet.control.loadbalancer import LoadBalancerController
from k8snet.control.namespace import NamespaceController
from k8snet.control.nodelifecycle import NodeLifecycleController
from k8snet.control.podgc import PodGCController
from k8snet.control.replicaset import ReplicaSetController
from k8snet.control.serviceaccount import ServiceAccountsController
from k8snet.control.statefulset import StatefulSetController
from k8snet.errors import K8snetError
from k8snet.node.heartbeat import NodeHeartbeat, ready_condition
from k8snet.node.hostport_agent import HostPortAgent
from k8snet.node.ipam import NodeIpam
from k8snet.node.kubelet import Kubelet, KubeletConfig, NodeFacts
from k8snet.node.mountns import SandboxMounts
from k8snet.node.netns import NETNS_DIR
from k8snet.node.netpol_agent import NetpolAgent
from k8snet.node.proxy_agent import ProxyAgent
from kproxy.apply import Proxier, require_mode

SYSTEM_READY_TIMEOUT = 30.0
KUBELET_VERSION = "v1.35.0-k8snet"   # as the API server's (discovery.VERSION)
# tmpfs sizes where /run is on disk (k8snet.cluster.memfs): the run directory
# (pods' logs and resolver files, the lab's own logs) and the namespace pins
RUN_TMPFS_SIZE = "25%"
PINS_TMPFS_SIZE = "16m"


def node_object(node: Node, capacity: int) -> dict:
    """The v1 Node a kubelet registers for ``node``."""
    labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              **dict(node.labels)}
    now = now_rfc3339()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.ip},
                          {"type": "Hostname", "address": node.name}],
            "capacity": {"pods": str(capacity)}, "allocatable": {"pods": str(capacity)},
            "conditions": [ready_condition(now)],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "osImage": "k8snet (Mininet host)",
                         "kernelVersion": platform.release(),
                         "containerRuntimeVersion": "k8snet://0.2",
                         "operatingSystem": "linux", "architecture": "amd64"}}}


def pending_reason(pod: dict) -> str:
    """Why a pod is not ready: the scheduler's message, or a container's
    waiting reason; "" when none is known."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return cond.get("message") or cond.get("reason") or "unschedulable"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            return f"{cs.get('name')}: {waiting['reason']} {waiting.get('message', '')}".strip()
    return ""


class Cluster:
    """A running cluster.  Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, spec: ClusterSpec, proxy_mode: str = "nftables",
                 keep_logs: Path | None = None, node_grace: float | None = None) -> None:
        require_mode(proxy_mode)
        self.spec = spec
        self.proxy_mode = proxy_mode
        by_kind, default = strategies(spec.network.service_cidr)
        self.store = Store(by_kind, default_strategy=default)
        self.rundir: RunDir | None = None
        self.network: Network | None = None
        self.controllers: list[Controller] = []
        self.kubelets: dict[str, Kubelet] = {}
        self.heartbeats: dict[str, NodeHeartbeat] = {}
        self.node_grace = node_grace     # None: K8SNET_NODE_MONITOR_GRACE_PERIOD or 4 s
        self.proxies: dict[str, ProxyAgent] = {}
        self.netpols: dict[str, NetpolAgent] = {}
        self.hostports: dict[str, HostPortAgent] = {}
        self.started = 0.0
        self.pods = Pods(self.store, self.kubelets)
        self.api = None
        self.kubeconfig = None
        self.keep_logs = keep_logs if keep_logs is not None else KEEP_LOGS
        self.supervisor: Supervisor | None = None
        self.sandbox_mounts: SandboxMounts | None = None
        self.trusted_owners: set[str] = set()     # the lab's own Deployments (uids)
        self.kept_logs: Path | None = None

    # --- bring-up, stage by stage ---------------------------------------------------

    def start(self) -> Cluster:
        self.started = time.time()
        stages: list[tuple[str, Callable[[], None]]] = [
            ("checking the machine", self._preflight),
            ("building the network", self._start_network),
            ("starting the control plane", self._start_control_plane),
            ("registering nodes", self._start_nodes),
            ("starting add-ons", self._start_addons),
            ("creating system objects", self._create_system_objects),
            ("serving the Kubernetes API", self._serve_api),
            ("supervising the lab's own processes", self._supervise),
            ("waiting for system pods", self._wait_system_pods),
        ]
        try:
            for title, stage in stages:
                info(f"*** {title.capitalize()}\n")
                stage()
        except BaseException as exc:
            run_path = str(self.rundir.path) if self.rundir else ""
            self.stop()
            if isinstance(exc, K8snetError) and run_path and self.kept_logs \
                    and run_path in str(exc):
                # The run directory is gone: point at the kept copy of its logs.
                raise K8snetError(str(exc).replace(run_path, str(self.kept_logs))) from exc
            raise
        return self

    def _preflight(self) -> None:
        preflight.require_root()
        preflight.require_tools()
        preflight.require_ovs()
        preflight.raise_open_files()
        if self.spec.link.delay or self.spec.link.loss:
            preflight.require_netem(f"link delay/loss in {self.spec.source or 'the topology'}")
        preflight.require_port_free(OFP_PORT, "OpenFlow")
        preflight.require_port_free(API_PORT, "controller API")
        with memfs.locked():          # the run directory exists before another's release
            in_memory = {str(RUN_ROOT): memfs.ensure(str(RUN_ROOT), RUN_TMPFS_SIZE),
                         NETNS_DIR: memfs.ensure(NETNS_DIR, PINS_TMPFS_SIZE, shared=True)}
            self.rundir = RunDir(self.spec.name)
        for sub in ("dns", "ingress"):
            (self.rundir.path / sub).mkdir(exist_ok=True)
        logs.to_file(self.rundir.path / "agents.log")     # never the console
        logger = logging.getLogger(logs.ROOT)
        for path, done in in_memory.items():
            logger.info("per-pod files in %s: tmpfs %s", path, done)

    def _start_network(self) -> None:
        self.network = Network(self.spec, self.rundir)
        self.network.start()

    def _start_control_plane(self) -> None:
        net = self.spec.network
        for cls in (Binder, ReplicaSetController, DeploymentController, StatefulSetController,
                    DaemonSetController, EndpointSliceController, EndpointsMirror,
                    GarbageCollector, ServiceAccountsController, NamespaceController,
                    PodGCController):
            self.controllers.append(cls(self.store).start())
        self.controllers.append(LoadBalancerController(self.store, net.lb_pool).start())
        self.controllers.append(NodeLifecycleController(self.store, self.node_grace).start())

    def _start_nodes(self) -> None:
        self.sandbox_mounts = SandboxMounts(self.rundir.path / "sandbox-mnt")
        self._start_sandbox_mounts()
        for node in self.spec.nodes:
            self._start_node(node)

    def _start_sandbox_mounts(self) -> None:
        """The mount namespace containers start from (k8snet.node.mountns)."""
        self.rundir.record_pid(self.sandbox_mounts.start())

    def _start_node(self, node: Node) -> None:
        """Register the Node and start its kubelet, kproxy and netpol agent."""
        net = self.spec.network
        capacity = NodeIpam(node.name, node.pod_cidr).capacity
        self.store.create(node_object(node, capacity))
        node_ns = naming.node_netns(self.spec.name, node.name)
        config = KubeletConfig(self.spec.name, system.dns_ip(net), net.cluster_domain,
                               net.ext_dns_ip, str(self.rundir.logs), self.trusted_owners,
                               str(self.sandbox_mounts.link), str(self.rundir.pod_files))
        # The kubelet reaches the API server while any of the node's fabric links is up.
        reachable = uplink_check([port for _, port in node_uplinks(self.network, node.name)])
        self.kubelets[node.name] = Kubelet(
            self.store, NodeFacts(node.name, node.ip, node.pod_cidr, node_ns), config,
            reachable).start()
        self.heartbeats[node.name] = NodeHeartbeat(self.store, node.name, reachable).start()
        self.proxies[node.name] = ProxyAgent(
            self.store, node.name, Proxier(node_ns, self.proxy_mode), net.pod_cidr,
            net.service_cidr).start()
        self.netpols[node.name] = NetpolAgent(self.store, node.name, node_ns).start()
        self.hostports[node.name] = HostPortAgent(self.store, node.name, node_ns).start()

    def _start_addons(self) -> None:
        net = self.spec.network
        self.controllers.append(DnsAgent(self.store, self.rundir.path / "dns" / "snapshot.json",
                                         net.cluster_domain).start())
        self.controllers.append(IngressAgent(self.store, self.rundir.path / "ingress").start())
        self.controllers.append(FabricAgent(self.store, self.network.fabric_state,
                                            self.network.send).start())

    def _create_system_objects(self) -> None:
        for obj in system.system_objects(self.spec.network, self.rundir.path):
            stored = self.store.create(obj)
            if stored.get("kind") == "Deployment":
                self.trusted_owners.add(stored["metadata"]["uid"])

    def _supervise(self) -> None:
        """Restart the OpenFlow controller, ext's servers and the sandboxes' mount
        namespace holder when they die."""
        net = self.network
        self.supervisor = Supervisor(self.store, time.monotonic)
        self.supervisor.watch(Supervised("fabric-controller", lambda: controller_running(net),
                                         net.start_controller))
        self.supervisor.watch(Supervised("sandbox-mounts", self.sandbox_mounts.alive,
                                         self._start_sandbox_mounts))
        for i, (name, _, _) in enumerate(net.ext_specs):
            self.supervisor.watch(Supervised(name, lambda i=i: net.ext_alive(i),
                                             lambda i=i: net.restart_ext(i)))
        self.supervisor.start()

    def _serve_api(self) -> None:
        """The store as the Kubernetes API on 127.0.0.1 (a free port), and its
        kubeconfig at /run/k8snet/<cluster>/kubeconfig for the real kubectl."""
        self.api = serve(self.store, logs=KubeletLogs(self.pods), execs=KubeletExec(self.pods),
                         log_path=self.rundir.path / "apiserver.log")
        self.kubeconfig = self.api.write_kubeconfig(self.rundir.path / "kubeconfig",
                                                    cluster=self.spec.name)
        info(f"*** Kubernetes API at {self.api.url}: export KUBECONFIG={self.kubeconfig}\n")

    def _wait_system_pods(self) -> None:
        namespaces = ("kube-system", "ingress-nginx")
        waiting = self.wait_ready(namespaces, SYSTEM_READY_TIMEOUT)
        if waiting:
            why = [f"{p['metadata']['namespace']}/{p['metadata']['name']}: {reason}"
                   for p in self.store.list("Pod")
                   if p["metadata"]["namespace"] in namespaces
                   for reason in [pending_reason(p)] if reason]
            raise K8snetError(f"system pods not ready after {SYSTEM_READY_TIMEOUT:g}s: "
                              + ", ".join(waiting) + (f" ({'; '.join(why)})" if why else "")
                              + f"; see {self.rundir.path}/logs")

    # --- waiting ----------------------------------------------------------------------

    def not_ready(self, namespaces: tuple[str, ...] = ()) -> list[str]:
        """``ns/name`` of Deployments, StatefulSets and DaemonSets (in
        ``namespaces``; all when empty) whose pods are not all ready."""
        out = []
        for kind in ("Deployment", "StatefulSet", "DaemonSet"):
            for obj in self.store.list(kind):
                ns = obj["metadata"]["namespace"]
                if namespaces and ns not in namespaces:
                    continue
                spec, status = obj.get("spec") or {}, obj.get("status") or {}
                want = status.get("desiredNumberScheduled", 0) if kind == "DaemonSet" \
                    else spec.get("replicas", 1)
                ready = status.get("numberReady" if kind == "DaemonSet" else "readyReplicas",
                                   0) or 0
                if ready < want or status.get("observedGeneration", 0) < \
                        obj["metadata"].get("generation", 1):
                    out.append(f"{ns}/{obj['metadata']['name']}")
        return out

    def wait_ready(self, namespaces: tuple[str, ...] = (), timeout: float = 60.0) -> list[str]:
        """Wait until every workload (in ``namespaces``) is ready; return what
        is still not ready when ``timeout`` seconds ran out."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = self.not_ready(namespaces)
            if not waiting or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.05)

    def not_started(self) -> list[str]:
        """Workloads still short of pods, and pods not started yet (Pending or
        ready-probing for the first time): what ``run -f`` waits for before
        handing over, so a script's first line finds its pods."""
        out = []
        for kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            for obj in self.store.list(kind):
                want = (obj.get("spec") or {}).get("replicas", 1)
                have = (obj.get("status") or {}).get("replicas", 0)
                if have < want and (obj.get("spec") or {}).get("podManagementPolicy") \
                        != "OrderedReady":
                    out.append(f"{kind.lower()}/{obj['metadata']['name']}")
        for pod in self.store.list("Pod"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if (pod.get("status") or {}).get("phase", "Pending") == "Pending" or \
                    not all(s.get("started") or s.get("restartCount") for s in statuses):
                out.append(f"pod/{pod['metadata']['name']}")
        return out

    def wait_started(self, timeout: float = 30.0) -> list[str]:
        """Wait until ``not_started()`` is empty; return what is left after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = self.not_started()
            if not waiting or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.05)

    def wait_pods_ready(self, timeout: float = 10.0) -> list[str]:
        """Wait until every pod is Ready; return ``pod/name`` of those still not
        ready after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [f"pod/{p['metadata']['name']}" for p in self.store.list("Pod")
                       if not is_ready(p)]
            if not waiting or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.05)

    # --- runtime changes --------------------------------------------------------------

    @property
    def net(self):
        """The Mininet network (for Mininet's CLI)."""
        return self.network.net if self.network else None

    def add_node(self, labels: tuple = ()) -> Node:
        """Join a new node: host, Node object, kubelet and kproxy."""
        node = self.network.add_node(labels)
        self._start_node(node)
        return node

    # --- teardown ---------------------------------------------------------------------

    def stop(self) -> None:
        """Stop agents, then every pod (the kubelets), kproxy rules, the
        network and the controller; then sweep what is left of this cluster."""
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.kubeconfig is not None:
            self.kubeconfig.unlink(missing_ok=True)
            self.kubeconfig = None
        for agent in reversed(self.controllers):
            agent.stop()
        self.controllers = []
        for heartbeat in self.heartbeats.values():
            heartbeat.stop()
        self.heartbeats.clear()
        for kubelet in self.kubelets.values():
            kubelet.stop()
        self.kubelets.clear()
        if self.sandbox_mounts is not None:
            self.sandbox_mounts.stop()
            self.sandbox_mounts = None
        for proxy in self.proxies.values():
            try:
                proxy.stop()
            except K8snetError as exc:
                info(f"*** kproxy cleanup: {exc}\n")
        self.proxies = {}
        for agent in (*self.netpols.values(), *self.hostports.values()):
            agent.stop()
        self.netpols, self.hostports = {}, {}
        if self.network is not None:
            self.network.stop()
            self.network = None
        if self.rundir is not None:
            from k8snet.cluster.cleanup import clean
            self.kept_logs = keep_logs(self.rundir.path, self.keep_logs)
            logs.close()                         # agents.log: nothing left open in the run dir
            clean(cluster=self.spec.name, verbose=False)
            self.rundir = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
