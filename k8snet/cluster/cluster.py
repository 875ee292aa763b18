"""The orchestrator: connects the pure plan to Mininet, the CNI and the controller.

It owns no logic of its own beyond ordering: validate and allocate first
(nothing touched), then build, and tear down whatever was built if a step
fails.
"""
from __future__ import annotations

import ipaddress
import sys
import threading
import time
from dataclasses import dataclass, field

from mininet.log import info
from mininet.net import Mininet
from mininet.node import RemoteController

from controllers.fabric_state import FabricHost, FabricLink, FabricState
from k8snet import naming
from k8snet.addons import ingress
from k8snet.addons import system as addons
from k8snet.api.model import ClusterSpec, Node, Pod
from k8snet.cluster import preflight
from k8snet.cluster.controller_proc import ControllerProcess
from k8snet.cluster.rundir import RunDir
from k8snet.cluster.servicectl import ServiceManager
from k8snet.control.scheduler import pick_node
from k8snet.errors import K8snetError
from k8snet.load.manifests import Probe
from k8snet.node import cni, discovery, envvars
from k8snet.node import containers as workload
from k8snet.node.ipam import NodeIpam
from k8snet.node.probes import Prober, Tracker, implicit_probe
from topologies.nodes import K8sNode
from topologies.topos import GATEWAY_MAC, TOPO_CLASSES, node_mac

OFP_PORT = 6653
API_PORT = 6654


@dataclass
class PodStatus:
    pod: Pod
    node: str
    ip: str
    netns: str
    veth: str
    containers: list[workload.ContainerProcess] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    setup_ms: float = 0.0
    node_netns: str = ""
    owner: str = ""                     # "Deployment/web"; "" for a bare pod
    trackers: dict[str, Tracker] = field(default_factory=dict)
    terminating: bool = False
    published: bool = False             # readiness the endpoints last showed

    @property
    def ready_count(self) -> int:
        """Containers running and passing their readiness check (READY column)."""
        return sum(1 for c in self.containers
                   if c.running and (c.name not in self.trackers
                                     or self.trackers[c.name].ready))

    @property
    def ready(self) -> bool:
        return not self.terminating and self.ready_count == len(self.pod.containers)

    @property
    def phase(self) -> str:
        if self.terminating:
            return "Terminating"
        running = sum(1 for c in self.containers if c.running)
        if running == len(self.containers):
            return "Running"
        return "Error" if running == 0 else "NotReady"


class Cluster:
    """A running k8snet cluster.  Use as a context manager or call stop()."""

    def __init__(self, spec: ClusterSpec, proxy_mode: str = "nftables") -> None:
        self.spec = spec
        self.net: Mininet | None = None
        self.controller: ControllerProcess | None = None
        self.rundir: RunDir | None = None
        self.ipam = {n.name: NodeIpam(n.name, n.pod_cidr) for n in spec.nodes}
        self.nodes: dict[str, Node] = {n.name: n for n in spec.nodes}
        self.pods: dict[str, PodStatus] = {}
        self.started = 0.0
        self.aux_procs: list = []
        # One lock for every change of pods and services: the CLI and the
        # prober thread both change them.
        self.lock = threading.RLock()
        self.services = ServiceManager(self, proxy_mode)
        self.prober = Prober(self, self._readiness_changed)
        now = time.time()
        self.namespaces: dict[str, float] = {ns: now for ns in addons.BUILTIN_NAMESPACES}
        self.ingresses = {ing.key: ing for ing in spec.ingresses}
        from k8snet.control.workloads import WorkloadManager
        self.workloads = WorkloadManager(self)

    # --- planning (no side effects) ----------------------------------------

    def plan_pods(self, pods: tuple[Pod, ...]) -> list[tuple[Pod, Node]]:
        """Place ``pods`` and check every node has room; raise before touching anything."""
        load = {name: len(ipam.in_use()) for name, ipam in self.ipam.items()}
        room = {name: ipam.capacity for name, ipam in self.ipam.items()}
        placed = []
        for pod in pods:
            if pod.key in self.pods:
                raise K8snetError(f'pods "{pod.name}" already exists in '
                                  f"namespace {pod.namespace}")
            try:
                node = pick_node(pod, tuple(self.nodes.values()), load)
            except KeyError:
                raise K8snetError(f"pod {pod.key}: unknown node "
                                  f"'{pod.node_name}'") from None
            load[node.name] = load.get(node.name, 0) + 1
            if load[node.name] > room[node.name]:
                raise K8snetError(
                    f"node {node.name}: pod CIDR {node.pod_cidr} exhausted "
                    f"({room[node.name]} addresses), cannot place pod {pod.key}")
            placed.append((pod, node))
        return placed

    def preflight(self) -> None:
        preflight.require_root()
        preflight.require_tools()
        preflight.require_ovs()
        preflight.require_br_netfilter()
        if self.spec.link.delay or self.spec.link.loss:
            preflight.require_netem("link delay/loss in "
                                    f"{self.spec.source or 'the topology'}")
        preflight.require_port_free(OFP_PORT, "OpenFlow")
        preflight.require_port_free(API_PORT, "controller API")

    # --- bring-up --------------------------------------------------------

    def start(self) -> Cluster:
        self.preflight()
        for pod in self.spec.pods:
            self.require_namespace(pod.namespace)
        placements = self.plan_pods(self.spec.pods)
        system = addons.system_services(self.spec.network)
        planned_services = self.services.plan(system + list(self.spec.services))
        planned = {svc.key: svc for svc in planned_services}
        for ing in self.spec.ingresses:
            ingress.resolve(ing, planned)
        self.started = time.time()
        self.rundir = RunDir(self.spec.name)
        try:
            self._start_network()
            info(f"*** Starting kproxy ({self.services.mode}) on {len(self.nodes)} nodes, "
                 f"{len(planned_services)} services\n")
            for name in self.nodes:
                self.services.add_node(name)
            # Services before pods: a pod's environment lists the services
            # that exist when it starts.
            self.services.add(system + list(self.spec.services), sync=False)
            addons.start_ext_dns(self)
            addons.start_cluster_dns(self)
            info(f"*** Adding {len(placements)} pods\n")
            for pod, node in placements:
                self._add_pod(pod, node)
                info(f"{pod.name}@{node.name} ")
            info("\n")
            if self.ingresses:
                addons.update_ingress(self)
            self.services.sync()
            self.prober.start()
            self.wait_ready(list(self.pods), timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def require_namespace(self, namespace: str) -> None:
        if namespace not in self.namespaces:
            raise K8snetError(f'namespaces "{namespace}" not found')

    def wait_ready(self, keys: list[str], timeout: float = 30.0) -> list[str]:
        """Wait until the pods ``keys`` are ready and in their services'
        endpoints; return the keys still not ready when ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                waiting = [k for k in keys if k in self.pods and not self.pods[k].ready]
                synced = all(self.pods[k].published for k in keys
                             if k in self.pods and k not in waiting)
            if (not waiting and synced) or time.monotonic() >= deadline:
                return waiting
            time.sleep(0.05)

    def _readiness_changed(self) -> None:
        with self.lock:
            self.services.sync()

    def _start_network(self) -> None:
        topo_cls = TOPO_CLASSES[self.spec.fabric.kind]
        topo = topo_cls(nodes=len(self.spec.nodes), spec=self.spec)
        self.net = Mininet(topo=topo, controller=None, build=False,
                           autoSetMacs=False, waitConnected=False)
        self.net.build()
        for sw in self.net.switches:
            for intf in sw.intfList():
                if intf.link and all(n in self.net.switches for n in
                                     (intf.link.intf1.node, intf.link.intf2.node)):
                    self.rundir.record_link(intf.name)
        for host in self.net.hosts:
            self.rundir.record_pid(host.pid)
        info("*** Starting controller\n")
        self.controller = ControllerProcess(
            self.rundir.fabric_state, self.rundir.controller_log,
            OFP_PORT, API_PORT)
        pid = self.controller.start(self.fabric_state())
        self.rundir.record_pid(pid)
        self.net.addController(RemoteController("c0", ip="127.0.0.1",
                                                port=OFP_PORT))
        self.net.start()
        self._fast_reconnect()
        self.controller.wait_switches({int(sw.dpid, 16) for sw in self.net.switches})
        self._start_ext_servers()

    def _fast_reconnect(self) -> None:
        """Retry a lost controller every second, not OVS's default 8 s."""
        for sw in self.net.switches:
            uuid = sw.vsctl("get", "bridge", sw.name, "controller").strip("[]\n ")
            if uuid:
                sw.vsctl("set", "controller", uuid, "max_backoff=1000")

    def restart_controller(self, kill: bool = True) -> None:
        """Stop the controller (SIGKILL by default, as a crash) and start it again.

        Switches stay fail-secure meanwhile, so traffic keeps flowing; on
        reconnect the controller reconciles each switch to the same flows.
        """
        self.stop_controller(kill)
        self.start_controller()

    def stop_controller(self, kill: bool = True) -> None:
        proc = self.controller.proc
        if kill:
            proc.kill()
        else:
            proc.terminate()
        proc.wait(timeout=10)

    def start_controller(self) -> None:
        pid = self.controller.start(self.fabric_state())
        self.rundir.record_pid(pid)
        self.controller.wait_switches({int(sw.dpid, 16) for sw in self.net.switches})

    def _start_ext_servers(self) -> None:
        ext = self.net["ext"]
        for argv in ([sys.executable, "-m", "k8snet.node.netexec", "--pod", "ext",
                      "--port", "80/TCP"],
                     ["iperf3", "-s"]):
            proc = ext.popen(argv)
            self.aux_procs.append(proc)
            self.rundir.record_pid(proc.pid)

    def fabric_state(self) -> FabricState:
        """The controller's view: every node and the gateway router, and links."""
        net_plan = self.spec.network
        hosts, links = [], []
        dpid_of = {sw.name: int(sw.dpid, 16) for sw in self.net.switches}
        for host in self.net.hosts:
            if host.name == "ext":
                continue
            intf = host.intf("eth0")
            peer = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
            sw = peer.node
            if host.name == "gw":
                routes = (net_plan.external_cidr,)
                ip = net_plan.gateway_router
            else:
                node = self.nodes[host.name]
                routes, ip = (node.pod_cidr,), node.ip
            hosts.append(FabricHost(host.name, ip, intf.MAC(), dpid_of[sw.name],
                                    sw.ports[peer], routes))
        for link in self.net.links:
            a, b = link.intf1, link.intf2
            if a.node.name in dpid_of and b.node.name in dpid_of:
                links.append(FabricLink(dpid_of[a.node.name], a.node.ports[a],
                                        dpid_of[b.node.name], b.node.ports[b]))
        return FabricState(net_plan.fabric_gateway, GATEWAY_MAC,
                           tuple(sorted(dpid_of.values())), tuple(hosts),
                           tuple(links), self.services.vips())

    # --- pods --------------------------------------------------------------

    def add_pod(self, pod: Pod, readiness: tuple[tuple[str, Probe], ...] = (),
                wait: float = 10.0) -> PodStatus:
        """Start one pod; wait up to ``wait`` seconds until it is an endpoint."""
        with self.lock:
            self.require_namespace(pod.namespace)
            ((pod, node),) = self.plan_pods((pod,))
            status = self._add_pod(pod, node, readiness)
            self.services.sync()
        if wait:
            self.wait_ready([pod.key], wait)
        return status

    def _add_pod(self, pod: Pod, node: Node, readiness: tuple[tuple[str, Probe], ...] = (),
                 owner: str = "") -> PodStatus:
        """Network, resolver files, then containers, for a pod already placed."""
        with self.lock:
            t0 = time.perf_counter()
            ipam = self.ipam[node.name]
            ip = ipam.allocate(pod.key)
            netns = naming.pod_netns(self.spec.name, pod.namespace, pod.name)
            veth = naming.host_veth(self.spec.name, pod.namespace, pod.name)
            node_ns = naming.node_netns(self.spec.name, node.name)
            prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
            try:
                cni.add_pod(node_ns, netns, veth, ip, prefix, node.pod_gateway)
            except BaseException:
                ipam.release(ip)
                raise
            status = PodStatus(pod, node.name, ip, netns, veth, node_netns=node_ns, owner=owner)
            self.pods[pod.key] = status
            domain = self.spec.network.cluster_domain
            if pod.namespace != addons.DNS_NAMESPACE or discovery.DNS_LABELS[0] not in pod.labels:
                discovery.write_pod_files(
                    netns, discovery.resolv_conf(pod.namespace, domain, addons.dns_ip(self)),
                    discovery.hosts_file(pod, ip, domain))
            service_vars = envvars.service_env(self.services.services.values(), pod.namespace,
                                               enable_service_links=pod.enable_service_links)
            probes = dict(readiness)
            started = time.monotonic()
            for container in pod.containers:
                env = envvars.container_env(container.env, service_vars)
                proc = workload.start_container(pod, container, netns,
                                                str(self.rundir.logs), env)
                self.rundir.record_pid(proc.proc.pid)
                status.containers.append(proc)
                probe = probes.get(container.name)
                if probe is None and proc.builtin:
                    probe = implicit_probe(container)
                    if probe is not None:
                        status.trackers[container.name] = Tracker(probe, started, once=True)
                elif probe is not None:
                    status.trackers[container.name] = Tracker(probe, started)
            status.setup_ms = (time.perf_counter() - t0) * 1000
            return status

    def delete_pod(self, key: str, sync: bool = True, grace: float = 0.0) -> PodStatus:
        """Take the pod out of its endpoints first (sync), give in-flight
        requests ``grace`` seconds, then stop its containers and remove it."""
        with self.lock:
            status = self.find_pod(key)
            status.terminating = True
            if sync and self.services.proxiers:
                self.services.sync()
        if grace:
            time.sleep(grace)
        with self.lock:
            for container in status.containers:
                workload.stop_process(container.proc)
            cni.delete_pod(naming.node_netns(self.spec.name, status.node),
                           status.netns, status.veth)
            discovery.remove_pod_files(status.netns)
            self.ipam[status.node].release(status.ip)
            self.pods.pop(status.pod.key, None)
            if sync and self.services.proxiers:
                self.services.write_dns_snapshot()
        return status

    def find_pod(self, name: str) -> PodStatus:
        """Look a pod up by ``ns/name`` or by a name unique across namespaces."""
        if name in self.pods:
            return self.pods[name]
        matches = [s for s in self.pods.values() if s.pod.name == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise K8snetError(f'pod "{name}" not found')
        raise K8snetError(f'pod name "{name}" is in several namespaces; '
                          "say NAMESPACE/NAME")

    # --- nodes at runtime ------------------------------------------------

    def add_node(self, labels: tuple = ()) -> Node:
        """Join a new node to the first edge switch; routes follow with no restart."""
        from k8snet.node.ipam import node_pod_cidrs

        index = max(n.index for n in self.nodes.values()) + 1
        name = f"node{index}"
        plan = self.spec.network
        cidr = node_pod_cidrs(plan.pod_cidr, int(plan.node_cidr_mask_size),
                              index)[-1]
        node_net = ipaddress.ip_network(plan.node_cidr)
        node = Node(name, index, str(node_net.network_address + 10 + index),
                    cidr, labels)
        edge = self.net.switches[0]
        host = self.net.addHost(
            name, cls=K8sNode, ip=f"{node.ip}/{node_net.prefixlen}",
            mac=node_mac(index), pod_cidr=cidr, pod_gateway=node.pod_gateway,
            fabric_gateway=plan.fabric_gateway,
            netns_name=naming.node_netns(self.spec.name, name))
        self.rundir.record_pid(host.pid)
        link = self.net.addLink(host, edge, intfName1="eth0")
        edge.attach(link.intf2)
        host.configDefault()
        self.nodes[name] = node
        self.ipam[name] = NodeIpam(name, cidr)
        self.services.add_node(name)
        self.services.sync()
        self.workloads.node_added(node)
        return node

    # --- teardown ------------------------------------------------------------

    def stop(self) -> None:
        self.prober.stop()
        for key in list(self.pods):
            try:
                self.delete_pod(key, sync=False)
            except Exception as exc:  # keep tearing down the rest
                info(f"*** could not delete pod {key}: {exc}\n")
        self.services.cleanup()
        for proc in self.aux_procs:
            proc.terminate()
            proc.wait()
        if self.net is not None:
            self.net.stop()
            self.net = None
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.rundir is not None:
            # Sweep anything a failed step left behind, for this cluster only.
            from k8snet.cluster.cleanup import clean
            clean(cluster=self.spec.name, verbose=False)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
