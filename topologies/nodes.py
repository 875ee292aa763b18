"""Mininet node roles: a Kubernetes node, the gateway router, ``ext``, the switch.

As in Mininet's ``examples/linuxrouter.py``, each role is a class that
overrides ``config()``/``terminate()``; a topology picks it with ``cls=``.
"""
from __future__ import annotations

import os
import shutil

from mininet.log import warn
from mininet.node import Host, OVSSwitch
from mininet.util import quietRun


def _sysctl(host: Host, key: str, value: str) -> None:
    host.cmd(f"sysctl -qw {key}={value}")


class NamedHost(Host):
    """A host whose namespace is also visible as ``/var/run/netns/NAME``.

    Naming the namespace lets pyroute2 and ``ip netns exec`` reach it, and
    lets ``make clean`` find it after a crash.
    """

    def config(self, netns_name: str = "", **params):
        result = super().config(**params)
        self.netns_name = netns_name
        if netns_name:
            quietRun(f"ip netns delete {netns_name}")
            quietRun(f"ip netns attach {netns_name} {self.pid}")
        # Quiet namespaces: no IPv6 chatter on the fabric.
        _sysctl(self, "net.ipv6.conf.all.disable_ipv6", "1")
        _sysctl(self, "net.ipv6.conf.default.disable_ipv6", "1")
        return result

    def terminate(self):
        name = getattr(self, "netns_name", "")
        if name:
            quietRun(f"ip netns delete {name}")
        super().terminate()


class K8sNode(NamedHost):
    """A Kubernetes node: ``eth0`` on the node network; its pods on routed
    veths (k8snet.node.cni), each holding the pods' gateway /32 on the node's
    end (the kubelet's job, not the host's).  The pod CIDR itself is
    unreachable here but for the pods' own /32 routes, so a packet to a free
    pod address ends at its node (ICMP host unreachable) instead of going
    back to the fabric."""

    def config(self, pod_cidr: str = "10.244.1.0/24",
               fabric_gateway: str = "172.18.0.1", **params):
        result = super().config(**params)
        self.pod_cidr = pod_cidr
        self.cmd("ip link set lo up")
        self.cmd(f"ip route replace unreachable {pod_cidr}")
        self.cmd(f"ip route replace default via {fabric_gateway}")
        _sysctl(self, "net.ipv4.ip_forward", "1")
        # A pod reaching itself through a Service or host port leaves by the
        # veth it came in on: no ICMP redirect naming the pod as its own gateway.
        for conf in ("all", "default"):
            _sysctl(self, f"net.ipv4.conf.{conf}.send_redirects", "0")
        # localhost:hostPort on the node reaches the pod (DNAT, then
        # masquerade), as kube-proxy and portmap's snat set it.
        _sysctl(self, "net.ipv4.conf.all.route_localnet", "1")
        return result


class GatewayRouter(NamedHost):
    """The border router between the fabric and the emulated Internet."""

    def config(self, routes: tuple = (), **params):
        result = super().config(**params)
        _sysctl(self, "net.ipv4.ip_forward", "1")
        for prefix, via in routes:
            self.cmd(f"ip route replace {prefix} via {via}")
        return result


ETC_NETNS = "/etc/netns"


class ExtHost(NamedHost):
    """``ext``: the emulated Internet; its servers are started by the cluster.

    Its resolver is its own DNS server (``resolver``), never the machine's:
    ``/etc/netns/NAME/resolv.conf`` for what ``ip netns exec`` starts there
    (the trace's probe), bound over /etc/resolv.conf in ext's own mount
    namespace (mnexec gives each host one) for the CLI's ``ext CMD``."""

    def config(self, extra_ips: tuple = (), gateway: str = "", resolver: str = "", **params):
        result = super().config(**params)
        for ip in extra_ips:
            self.cmd(f"ip addr add {ip} dev {self.defaultIntf()}")
        if gateway:
            self.cmd(f"ip route replace default via {gateway}")
        if resolver and self.netns_name and not self._own_mount_namespace():
            warn("*** ext has no mount namespace of its own: it keeps the machine's "
                 "resolver (a bind mount there would cover the machine's file)\n")
        elif resolver and self.netns_name:
            directory = os.path.join(ETC_NETNS, self.netns_name)
            os.makedirs(directory, exist_ok=True)
            conf = os.path.join(directory, "resolv.conf")
            with open(conf, "w") as out:
                out.write(f"# ext's resolver: the emulated Internet's DNS (k8snet)\n"
                          f"nameserver {resolver}\n")
            failed = self.cmd(f"mount --bind {conf} /etc/resolv.conf").strip()
            if failed:
                warn(f"*** ext: its resolver stays the machine's ({failed})\n")
        return result

    def _own_mount_namespace(self) -> bool:
        """ext's shell has a mount namespace of its own (mnexec -n makes one,
        private), so a bind mount there can never cover the machine's file."""
        try:
            return self.inNamespace and (os.readlink(f"/proc/{self.pid}/ns/mnt")
                                         != os.readlink("/proc/self/ns/mnt"))
        except OSError:
            return False

    def terminate(self):
        name = getattr(self, "netns_name", "")
        if name:
            shutil.rmtree(os.path.join(ETC_NETNS, name), ignore_errors=True)
        super().terminate()


class K8sSwitch(OVSSwitch):
    """OVS with the userspace datapath (no kernel module here), OpenFlow 1.3.

    Fail mode stays ``secure`` so that flows outlive the controller, and the
    bridge is tagged so cleanup can tell it from anyone else's.
    """

    def __init__(self, name, cluster: str = "k8snet", **params):
        params.setdefault("datapath", "user")
        params.setdefault("protocols", "OpenFlow13")
        params.setdefault("failMode", "secure")
        self.cluster = cluster
        super().__init__(name, **params)

    def bridgeOpts(self):
        return (super().bridgeOpts()
                + f" external-ids:k8snet-cluster={self.cluster}")
