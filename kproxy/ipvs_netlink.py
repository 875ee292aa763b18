"""Apply IPVS mode inside a node's namespace: the thin kernel layer.

Virtual servers and real servers go through generic netlink (pyroute2's
``IPVS``, ``IPVSService``, ``IPVSDest``), the ``kube-ipvs0`` dummy interface
and its addresses through rtnetlink (``IPRoute``), the companion rules through
one ``nft -f -`` transaction, all in the node's namespace.  ``IpvsProxier``
is what ``kproxy.apply.Proxier`` hands a sync to in mode ``ipvs``: read what
IPVS holds (first sync, and after any failure), plan (``kproxy.ipvs``), apply
the steps, then the companion table.

IPVS needs CONFIG_IP_VS.  Without it (no /proc/net/ip_vs, or no "IPVS"
generic netlink family) every entry point raises ``MissingKernelFeature``;
nothing is faked.  As kube-proxy does, the first sync sets the IPVS sysctls
it relies on: ``net.ipv4.vs.conntrack=1`` (so netfilter's masquerade sees
IPVS traffic), ``expire_nodest_conn=1`` and ``expire_quiescent_template=1``
(connections to a removed endpoint end at once, the IPVS counterpart of the
stale UDP conntrack flush).
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from socket import AF_INET, IPPROTO_TCP, IPPROTO_UDP

from k8snet.errors import K8snetError, MissingKernelFeature
from k8snet.node.netns import exec_argv as netns_exec_argv
from kproxy import ipvs
from kproxy.ipvs import IpvsState, RealServer, Step, VirtualServer
from kproxy.state import NodeProxyState

PROC_IP_VS = "/proc/net/ip_vs"
NETNS_DIR = "/var/run/netns"
IPPROTO_SCTP = 132
PROTOCOLS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP, "sctp": IPPROTO_SCTP}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
# IP_VS_CONN_F_* forwarding methods (include/uapi/linux/ip_vs.h), masked by 0x7.
FORWARD_METHODS = {"masq": 0, "local": 1, "tunnel": 2, "route": 3}
FORWARD_NAMES = {number: name for name, number in FORWARD_METHODS.items()}
F_PERSISTENT = 0x0001          # IP_VS_SVC_F_PERSISTENT
HOST_NETMASK = "255.255.255.255"
SYSCTLS = ("net.ipv4.vs.conntrack=1", "net.ipv4.vs.expire_nodest_conn=1",
           "net.ipv4.vs.expire_quiescent_template=1")
MISSING = ("proxy mode ipvs needs IPVS (CONFIG_IP_VS), which this kernel lacks "
           f"({PROC_IP_VS} is missing); use --proxy-mode nftables or iptables")

_CLONE_NEWNET = 0x40000000
_NETLINK_ROUTE, _NETLINK_GENERIC = 0, 16
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def require_ip_vs(proc: str = PROC_IP_VS) -> None:
    """Raise ``MissingKernelFeature`` unless the kernel has IPVS (``proc`` exists)."""
    if not os.path.exists(proc):
        raise MissingKernelFeature(MISSING.replace(PROC_IP_VS, proc))


def _socket_in(netns: str, proto: int) -> socket.socket:
    """A netlink socket made inside ``netns`` by a short-lived thread (setns
    changes only the calling thread; a socket keeps the namespace it was
    made in), so nothing forks and the caller's thread stays put."""
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY)
    box: dict[str, object] = {}

    def make() -> None:
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
            box["sock"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, proto)
        except OSError as exc:
            box["error"] = exc

    try:
        worker = threading.Thread(target=make, name="kproxy-ipvs-netns")
        worker.start()
        worker.join()
    finally:
        os.close(fd)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["sock"]  # type: ignore[return-value]


# ------------------------------------------------------------ messages

def service_spec(vs: VirtualServer):
    """The pyroute2 ``IPVSService`` for ``vs``: every attribute the kernel
    wants for IPVS_CMD_NEW_SERVICE / SET_SERVICE (scheduler, flags, timeout,
    netmask), persistent when ``vs.timeout``."""
    from pyroute2 import IPVSService
    flags = F_PERSISTENT if vs.timeout else 0
    return IPVSService(addr=vs.address, port=vs.port, protocol=PROTOCOLS[vs.protocol],
                       sched_name=vs.scheduler, timeout=vs.timeout, netmask=HOST_NETMASK,
                       flags={"flags": flags, "mask": 0xFFFF})


def dest_spec(rs: RealServer):
    """The pyroute2 ``IPVSDest`` for ``rs`` (masquerading unless it says otherwise)."""
    from pyroute2 import IPVSDest
    return IPVSDest(addr=rs.address, port=rs.port, weight=rs.weight,
                    fwd_method=FORWARD_METHODS[rs.forward])


def service_from(msg) -> VirtualServer | None:
    """A dumped service message as a ``VirtualServer``; None for what kproxy
    never makes (IPv6, firewall-mark services, unknown protocols)."""
    attrs = msg.get_attr("IPVS_CMD_ATTR_SERVICE")
    proto = PROTOCOL_NAMES.get(attrs.get_attr("IPVS_SVC_ATTR_PROTOCOL"))
    address = attrs.get_attr("IPVS_SVC_ATTR_ADDR")
    if attrs.get_attr("IPVS_SVC_ATTR_AF") != AF_INET or proto is None or not address:
        return None
    flags = attrs.get_attr("IPVS_SVC_ATTR_FLAGS")
    persistent = bool(flags and flags["flags"] & F_PERSISTENT)
    timeout = attrs.get_attr("IPVS_SVC_ATTR_TIMEOUT") or 0
    return VirtualServer(proto, address, attrs.get_attr("IPVS_SVC_ATTR_PORT"),
                         attrs.get_attr("IPVS_SVC_ATTR_SCHED_NAME") or "",
                         timeout if persistent else 0)


def dest_from(msg) -> RealServer:
    """A dumped destination message as a ``RealServer``."""
    attrs = msg.get_attr("IPVS_CMD_ATTR_DEST")
    method = (attrs.get_attr("IPVS_DEST_ATTR_FWD_METHOD") or 0) & 0x7
    return RealServer(attrs.get_attr("IPVS_DEST_ATTR_ADDR"),
                      attrs.get_attr("IPVS_DEST_ATTR_PORT"),
                      attrs.get_attr("IPVS_DEST_ATTR_WEIGHT"),
                      FORWARD_NAMES.get(method, "masq"))


# ------------------------------------------------------------ the kernel

class NetlinkIpvs:
    """IPVS and ``kube-ipvs0`` of one namespace, through netlink.

    Used as ``with NetlinkIpvs(netns) as kernel:``: the sockets are opened
    in the node's namespace by the thread that uses them and closed on the
    way out (pyroute2's sockets belong to one thread, and a socket left open
    would keep the node's namespace alive after teardown).  Errors the
    caller can expect (an address already there, one already gone) are
    swallowed by errno; any other is a ``NetlinkError``.
    """

    def __init__(self, netns: str) -> None:
        if not netns:
            raise K8snetError("kproxy ipvs mode runs in a node's namespace, not the machine's")
        self.netns = netns
        self._ipvs = None
        self._ipr = None
        self._dummy = 0

    def __enter__(self) -> NetlinkIpvs:
        self._sockets()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _sockets(self):
        if self._ipvs is None:
            from pyroute2 import IPVS, IPRoute
            from pyroute2.netlink.exceptions import NetlinkError
            require_ip_vs()
            try:
                self._ipvs = IPVS(fileno=_socket_in(self.netns, _NETLINK_GENERIC).detach())
            except NetlinkError as exc:
                if exc.code == errno.ENOENT:   # no "IPVS" generic netlink family
                    raise MissingKernelFeature(MISSING) from None
                raise
            self._ipr = IPRoute(fileno=_socket_in(self.netns, _NETLINK_ROUTE).detach())
        return self._ipvs, self._ipr

    # virtual and real servers
    def services(self) -> list[VirtualServer]:
        sock, _ = self._sockets()
        return [vs for vs in map(service_from, sock.service("dump")) if vs is not None]

    def destinations(self, vs: VirtualServer) -> list[RealServer]:
        sock, _ = self._sockets()
        return [dest_from(m) for m in sock.dest("dump", service=service_spec(vs))]

    def service(self, command: str, vs: VirtualServer) -> None:
        """``command``: add, set or del (IPVS_CMD_NEW/SET/DEL_SERVICE)."""
        self._sockets()[0].service(command, service=service_spec(vs))

    def dest(self, command: str, vs: VirtualServer, rs: RealServer) -> None:
        """``command``: add, set or del (IPVS_CMD_NEW/SET/DEL_DEST)."""
        self._sockets()[0].dest(command, service=service_spec(vs), dest=dest_spec(rs))

    # the dummy interface
    def ensure_dummy(self) -> None:
        from pyroute2.netlink.exceptions import NetlinkError
        _, ipr = self._sockets()
        found = ipr.link_lookup(ifname=ipvs.DUMMY_DEVICE)
        if not found:
            try:
                ipr.link("add", ifname=ipvs.DUMMY_DEVICE, kind="dummy")
            except NetlinkError as exc:
                if exc.code == errno.EOPNOTSUPP:
                    raise MissingKernelFeature(
                        f"proxy mode ipvs needs dummy interfaces (CONFIG_DUMMY) for "
                        f"{ipvs.DUMMY_DEVICE}, which this kernel lacks") from None
                if exc.code != errno.EEXIST:
                    raise
            found = ipr.link_lookup(ifname=ipvs.DUMMY_DEVICE)
        self._dummy = found[0]

    def addresses(self) -> set[str]:
        """The IPv4 addresses on kube-ipvs0 (none while it does not exist)."""
        _, ipr = self._sockets()
        found = ipr.link_lookup(ifname=ipvs.DUMMY_DEVICE)
        if not found:
            return set()
        return {msg.get_attr("IFA_ADDRESS")
                for msg in ipr.get_addr(family=AF_INET, index=found[0])}

    def address(self, command: str, ip: str) -> None:
        """``command``: add or del ``ip``/32 on kube-ipvs0."""
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            self._sockets()[1].addr(command, index=self._dummy, address=ip, prefixlen=32)
        except NetlinkError as exc:
            if exc.code not in ((errno.EEXIST,) if command == "add" else
                                (errno.EADDRNOTAVAIL, errno.ENODEV)):
                raise

    def delete_dummy(self) -> None:
        from pyroute2.netlink.exceptions import NetlinkError
        _, ipr = self._sockets()
        for index in ipr.link_lookup(ifname=ipvs.DUMMY_DEVICE):
            try:
                ipr.link("del", index=index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise

    def close(self) -> None:
        for sock in (self._ipvs, self._ipr):
            if sock is not None:
                sock.close()
        self._ipvs = self._ipr = None


def read(kernel) -> IpvsState:
    """What IPVS and kube-ipvs0 hold now (``kernel``: a ``NetlinkIpvs`` or a fake)."""
    state = IpvsState(addresses=set(kernel.addresses()))
    for vs in kernel.services():
        state.add(vs, kernel.destinations(vs))
    return state


SERVICE_COMMANDS = {"add-service": "add", "update-service": "set", "del-service": "del"}
DEST_COMMANDS = {"add-dest": "add", "update-dest": "set", "del-dest": "del"}


def apply_steps(kernel, steps: list[Step]) -> None:
    """Run ``steps`` in order (``kernel``: a ``NetlinkIpvs`` or a fake).  A
    service or destination already gone on delete is what was wanted (ESRCH,
    ENOENT); any other failure is a ``K8snetError`` naming the step."""
    from pyroute2.netlink.exceptions import NetlinkError
    for step in steps:
        try:
            if step.op in SERVICE_COMMANDS:
                kernel.service(SERVICE_COMMANDS[step.op], step.service)
            elif step.op in DEST_COMMANDS:
                kernel.dest(DEST_COMMANDS[step.op], step.service, step.dest)
            else:
                kernel.address(step.op.split("-")[0], step.address)
        except NetlinkError as exc:
            if step.op.startswith("del-") and exc.code in (errno.ESRCH, errno.ENOENT):
                continue
            raise K8snetError(f"{step}: {os.strerror(exc.code)}") from None


# ------------------------------------------------------------ the proxier

Runner = Callable[[list[str], str], None]


class IpvsProxier:
    """One node's proxy in IPVS mode; ``kproxy.apply.Proxier`` delegates to it.

    It remembers what it applied, so a sync touches only what changed; the
    kernel is read again on the first sync and after any failure, so a
    restarted kproxy or a half-applied sync is repaired (level-triggered).
    ``kernel`` and ``run`` (argv, stdin -> None, raising ``K8snetError``) are
    for tests; by default netlink and ``ip netns exec NETNS ...``.
    """

    def __init__(self, netns: str, kernel=None, run: Runner | None = None,
                 node_ips: tuple[str, ...] = ()) -> None:
        self._real = kernel is None
        if self._real:
            require_ip_vs()
        self.netns = netns
        self.kernel = NetlinkIpvs(netns) if kernel is None else kernel
        self.run = self._run if run is None else run
        self.node_ips = node_ips
        self.current: IpvsState | None = None     # what IPVS holds, once known
        self.companion: ipvs.Companion | None = None
        self.prepared = False
        self.last_steps: list[Step] = []

    def _run(self, argv: list[str], text: str) -> None:
        res = subprocess.run(netns_exec_argv(self.netns, argv), input=text,
                             capture_output=True, text=True)
        if res.returncode != 0:
            first = (res.stderr.strip().splitlines() or ["failed"])[0]
            raise K8snetError(f"kproxy (ipvs) in {self.netns}: {argv[0]}: {first}")

    def sync(self, state: NodeProxyState) -> str:
        """Bring IPVS, kube-ipvs0 and the companion table to ``state``; returns
        what was done: the IPVS steps (ipvsadm syntax) and the ``nft -f`` text.
        Raises ``MissingKernelFeature`` without IP_VS (or dummy interfaces),
        ``K8snetError`` naming the namespace and the failed step otherwise."""
        from pyroute2.netlink.exceptions import NetlinkError
        try:
            with self.kernel as kernel:
                kernel.ensure_dummy()         # every sync, as kube-proxy does
                if not self.prepared:
                    self.run(["sysctl", "-q", "-w", *SYSCTLS], "")
                    self.prepared = True
                if self.current is None:
                    self.current = read(kernel)
                desired = ipvs.build(state, self.node_ips)
                steps = ipvs.diff(desired.ipvs, self.current)
                apply_steps(kernel, steps)
            self.current = desired.ipvs.copy()
            text, companion = ipvs.ruleset(state, desired, self.companion, self.node_ips)
            self.run(["nft", "-f", "-"], text)
        except MissingKernelFeature:
            raise
        except (K8snetError, NetlinkError, OSError) as exc:
            self.current = None               # unknown now: read the kernel next time
            why = str(exc) if isinstance(exc, K8snetError) else _strerror(exc)
            if why.startswith("kproxy"):
                raise
            raise K8snetError(f"kproxy (ipvs) in {self.netns}: {why}") from None
        except BaseException:
            self.current = None
            raise
        self.companion = companion
        self.last_steps = steps
        return "".join(f"{s}\n" for s in steps) + text

    def cleanup(self) -> None:
        """Remove what kproxy made: virtual servers, kube-ipvs0, the companion
        table.  A namespace already gone took all of it with it."""
        if self._real and not os.path.exists(os.path.join(NETNS_DIR, self.netns)):
            return
        self.run(["nft", "-f", "-"], ipvs.cleanup())
        try:
            with self.kernel as kernel:
                apply_steps(kernel, [Step("del-service", vs) for vs in kernel.services()])
                kernel.delete_dummy()
        except MissingKernelFeature:
            pass
        self.current, self.companion, self.prepared = None, None, False


def _strerror(exc: Exception) -> str:
    """``No such file or directory: /var/run/netns/x`` rather than a repr."""
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return f"{what}: {exc.filename}" if exc.filename else what
    code = getattr(exc, "code", None)
    return os.strerror(code) if isinstance(code, int) else str(exc)


def show(netns: str) -> str:
    """``kproxy show`` for a node in IPVS mode: the virtual servers as
    ``ipvsadm -Ln`` lists them, read from the kernel, then the companion table."""
    with NetlinkIpvs(netns) as kernel:
        lines = ["# mode: ipvs", "Prot LocalAddress:Port Scheduler Flags",
                 "  -> RemoteAddress:Port           Forward Weight"]
        for vs in sorted(kernel.services()):
            persist = f" persistent {vs.timeout}" if vs.timeout else ""
            lines.append(f"{vs.protocol.upper():<4} {vs.address}:{vs.port} "
                         f"{vs.scheduler}{persist}")
            for rs in sorted(kernel.destinations(vs)):
                lines.append(f"  -> {rs.address + ':' + str(rs.port):<28} "
                             f"{rs.forward.capitalize():<7} {rs.weight}")
    nft = subprocess.run(netns_exec_argv(netns, ["nft", "list", "table", ipvs.FAMILY,
                                                 ipvs.TABLE]), capture_output=True, text=True)
    return "\n".join(lines) + "\n" + nft.stdout
