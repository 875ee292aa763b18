"""The emulated network: Mininet hosts (nodes, the gateway router, ext), OVS
switches in userspace, the os-ken fabric controller, and ext's servers.

Only the network: no pods, no Kubernetes objects.  Everything it starts is
written to the run directory first, so ``make clean`` can undo a crash.
"""
from __future__ import annotations

import ipaddress
import sys
import threading

from mininet.log import info
from mininet.net import Mininet
from mininet.node import RemoteController

from controllers.fabric_state import FabricHost, FabricLink, FabricState, Vip
from k8snet import naming
from k8snet.api.model import ClusterSpec, Node
from k8snet.cluster import ovs_rx
from k8snet.cluster.cleanup import in_namespaces_of, kill_pids
from k8snet.cluster.controller_proc import ControllerProcess
from k8snet.cluster.rundir import RunDir
from k8snet.errors import K8snetError
from topologies.links import PatchIntf
from topologies.nodes import K8sNode
from topologies.topos import GATEWAY_MAC, TOPO_CLASSES, node_mac

OFP_PORT = 6653
API_PORT = 6654
DNS_PORT = 53


class LabController(RemoteController):
    """Mininet's RemoteController without its telnet probe: our os-ken
    controller is already up (ControllerProcess waited for it), and the probe
    would read its OpenFlow HELLO as text and fail on the binary bytes."""

    def checkListening(self) -> None:   # Mininet's name
        return


class Network:
    """Build with ``start()``; ``stop()`` undoes it."""

    def __init__(self, spec: ClusterSpec, rundir: RunDir) -> None:
        self.spec = spec
        self.rundir = rundir
        self.net: Mininet | None = None
        self.controller: ControllerProcess | None = None
        self.aux_procs: list = []
        self._ext_log = None                       # ext-dns's log, open while ext runs
        self.nodes: dict[str, Node] = {n.name: n for n in spec.nodes}
        self.vips: tuple[Vip, ...] = ()
        self.rx_buffers = ovs_rx.Tuned(skipped="not started")
        self.ext_specs: list[tuple[str, list[str], dict]] = []
        # The supervisor's thread and the CLI both start and stop processes:
        # one at a time, so a restart never leaves a second, unrecorded copy.
        self._procs = threading.RLock()

    # --- bring-up --------------------------------------------------------------

    def start(self) -> None:
        topo = TOPO_CLASSES[self.spec.fabric.kind](nodes=len(self.spec.nodes), spec=self.spec)
        self.net = Mininet(topo=topo, controller=None, build=False, autoSetMacs=False,
                           waitConnected=False)
        self.net.build()
        for sw in self.net.switches:
            for intf in sw.intfList():
                self._record_link(intf)
        for host in self.net.hosts:
            self.rundir.record_pid(host.pid)
        info("*** Starting the OpenFlow controller (os-ken)\n")
        self.controller = ControllerProcess(self.rundir.fabric_state,
                                            self.rundir.controller_log, OFP_PORT, API_PORT)
        self.controller.start(self.fabric_state(), on_pid=self.rundir.record_pid)
        self.net.addController(LabController("c0", ip="127.0.0.1", port=OFP_PORT))
        self.net.start()
        self.rx_buffers = ovs_rx.tune(intf.name for sw in self.net.switches
                                      for intf in sw.intfList() if self._veth_port(intf))
        info(f"*** {self.rx_buffers.describe()}\n")
        self._fast_reconnect()
        self.controller.wait_switches(self.dpids())
        self._start_ext()

    @staticmethod
    def _veth_port(intf) -> bool:
        """A switch's end of a link to a host: the root-namespace end of a veth
        pair.  Switch-to-switch links are patch ports, inside their bridges."""
        return intf.link is not None and not isinstance(intf, PatchIntf)

    def _record_link(self, intf) -> None:
        """Tag a veth port for cleanup (patch ports go with their bridge)."""
        if self._veth_port(intf):
            self.rundir.record_link(intf.name)

    def dpids(self) -> set[int]:
        return {int(sw.dpid, 16) for sw in self.net.switches}

    def _fast_reconnect(self) -> None:
        """Retry a lost controller every second, not OVS's default 8 s."""
        for sw in self.net.switches:
            uuid = sw.vsctl("get", "bridge", sw.name, "controller").strip("[]\n ")
            if uuid:
                sw.vsctl("set", "controller", uuid, "max_backoff=1000")

    def _start_ext(self) -> None:
        """ext, the Internet: an HTTP server (the built-in one), iperf3, its DNS."""
        from k8snet.addons import dns

        plan = self.spec.network
        zone = self.rundir.path / "dns"
        zone.mkdir(exist_ok=True)
        zone_file = zone / "ext-zone.yaml"
        zone_file.write_text(dns.default_ext_zone(plan.ext_ip))
        log = self._ext_log = open(self.rundir.logs / "ext-dns.log", "ab")  # noqa: SIM115
        self.ext_specs = [
            ("ext-http", [sys.executable, "-m", "k8snet.node.netexec", "--pod", "ext",
                          "--port", "80/TCP"], {}),
            ("ext-iperf3", ["iperf3", "-s"], {}),
            ("ext-dns", [sys.executable, "-m", "k8snet.addons.dns", "--zone-file",
                         str(zone_file), "--bind", plan.ext_dns_ip, "--port", str(DNS_PORT)],
             {"stdout": log, "stderr": -2})]
        for i in range(len(self.ext_specs)):
            self.aux_procs.append(None)
            self.restart_ext(i)

    def ext_alive(self, i: int) -> bool:
        proc = self.aux_procs[i]
        return proc is not None and proc.poll() is None

    def restart_ext(self, i: int) -> None:
        """Start ext's server number ``i`` (see ``ext_specs``) unless it runs."""
        with self._procs:
            if self.ext_alive(i):
                return
            _, argv, kwargs = self.ext_specs[i]
            self._run_dir_kept()
            proc = self.net["ext"].popen(argv, **kwargs)
            self.aux_procs[i] = proc
            self.rundir.record_pid(proc.pid)

    # --- the controller's picture ----------------------------------------------

    def fabric_state(self, vips: tuple[Vip, ...] | None = None) -> FabricState:
        """Every node and the gateway router, the links, and ``vips``."""
        if vips is not None:
            self.vips = vips
        plan = self.spec.network
        hosts, links = [], []
        dpid_of = {sw.name: int(sw.dpid, 16) for sw in self.net.switches}
        for host in self.net.hosts:
            if host.name == "ext":
                continue
            intf = host.intf("eth0")
            peer = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
            if host.name == "gw":
                routes, ip = (plan.external_cidr,), plan.gateway_router
            else:
                node = self.nodes[host.name]
                routes, ip = (node.pod_cidr,), node.ip
            hosts.append(FabricHost(host.name, ip, intf.MAC(), dpid_of[peer.node.name],
                                    peer.node.ports[peer], routes))
        for link in self.net.links:
            a, b = link.intf1, link.intf2
            if a.node.name in dpid_of and b.node.name in dpid_of:
                links.append(FabricLink(dpid_of[a.node.name], a.node.ports[a],
                                        dpid_of[b.node.name], b.node.ports[b]))
        return FabricState(plan.fabric_gateway, GATEWAY_MAC, tuple(sorted(dpid_of.values())),
                           tuple(hosts), tuple(links), self.vips)

    def send(self, state: FabricState) -> None:
        if self.controller is not None and self.controller.proc is not None \
                and self.controller.proc.poll() is None:
            self.controller.set_state(state)

    def stop_controller(self, kill: bool = True) -> None:
        """SIGKILL (a crash) or SIGTERM the controller; switches stay fail-secure."""
        with self._procs:
            proc = self.controller.proc
            proc.kill() if kill else proc.terminate()
            proc.wait(timeout=10)

    def _run_dir_kept(self) -> None:
        """A process is started only if it can be written down: once ``make
        clean`` removed the run directory, nothing is started any more."""
        if not self.rundir.path.is_dir():
            raise K8snetError(f"{self.rundir.path} is gone (make clean ran): not starting")

    def start_controller(self) -> None:
        """Start the controller with the fabric as it is now, unless it runs
        (the supervisor may have restarted it already): never two copies."""
        with self._procs:
            if self.controller.running():
                return
            self._run_dir_kept()
            self.controller.start(self.fabric_state(), on_pid=self.rundir.record_pid)
            self.controller.wait_switches(self.dpids())

    # --- nodes at runtime -------------------------------------------------------

    def add_node(self, labels: tuple = ()) -> Node:
        """A new node host on the first edge switch; routes follow at once."""
        from k8snet.node.ipam import node_pod_cidrs

        index = max(n.index for n in self.nodes.values()) + 1
        name, plan = f"node{index}", self.spec.network
        cidr = node_pod_cidrs(plan.pod_cidr, int(plan.node_cidr_mask_size), index)[-1]
        node_net = ipaddress.ip_network(plan.node_cidr)
        node = Node(name, index, str(node_net.network_address + 10 + index), cidr, labels)
        edge = self.net.switches[0]
        host = self.net.addHost(
            name, cls=K8sNode, ip=f"{node.ip}/{node_net.prefixlen}", mac=node_mac(index),
            pod_cidr=cidr, fabric_gateway=plan.fabric_gateway,
            netns_name=naming.node_netns(self.spec.name, name))
        self.rundir.record_pid(host.pid)
        link = self.net.addLink(host, edge, intfName1="eth0")
        edge.attach(link.intf2)
        self._record_link(link.intf2)
        ovs_rx.tune([link.intf2.name])
        host.configDefault()
        self.nodes[name] = node
        self.send(self.fabric_state())
        return node

    # --- teardown ----------------------------------------------------------------

    def stop(self) -> None:
        with self._procs:
            for proc in self.aux_procs:
                if proc is not None:
                    proc.terminate()
                    proc.wait()
            self.aux_procs = []
            if self._ext_log is not None:      # the run directory can go (k8snet.cluster.memfs)
                self._ext_log.close()
                self._ext_log = None
        if self.net is not None:
            self._kill_strays()
            self.net.stop()
            self.net = None

    def _kill_strays(self) -> None:
        """Whatever still runs in the hosts' (nodes', gw's, ext's) network
        namespaces but their own shells (``node2 iperf3 -s -D``, ``sh ip
        netns exec ... &``): once Mininet has deleted the namespaces' names,
        nothing could find them, and a daemon would outlive the cluster and
        ``make clean``."""
        shells = {host.pid for host in self.net.hosts}
        kill_pids([pid for pid in in_namespaces_of(shells) if pid not in shells])
        with self._procs:
            if self.controller is not None:
                self.controller.stop()
                self.controller = None
