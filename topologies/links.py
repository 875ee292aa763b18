"""Switch-to-switch links as OVS patch ports (Mininet's ``OVSLink``).

Two bridges of one ``ovs-vswitchd`` joined by a pair of patch ports share a
datapath: a packet crosses leaf, spine and leaf in one datapath pass and one
megaflow, where a veth pair costs a send and a receive per hop (measured here
on a chain of 3 userspace switches: veth links 5.9-6.3 Gbit/s, patch ports
10.6-10.8 Gbit/s).

A patch port has no kernel interface, so Mininet's ``link A B down`` cannot
``ifconfig`` it, and OVS refuses OFPPC_PORT_DOWN on it (a patch netdev
cannot be turned off).  ``PatchIntf`` cuts the link the way OpenFlow lets a
controller: OFPPC_NO_RECV and OFPPC_NO_FWD on both ends (``ovs-ofctl
mod-port``; OpenFlow 1.3 section 7.2.1, ``ofp_port_config``), which the
datapath honours on patch ports too.  ``up`` clears both.  The flows stay,
as on a cable pulled and plugged back.
"""
from __future__ import annotations

import subprocess

from mininet.link import Link, OVSIntf, OVSLink
from mininet.node import OVSSwitch

OFCTL = ("ovs-ofctl", "-O", "OpenFlow13")
CUT = ("no-receive", "no-forward")        # ovs-ofctl(8) mod-port actions
RESTORE = ("receive", "forward")


class PatchIntf(OVSIntf):
    """One end of a patch link; ``ifconfig('down'|'up')`` cuts or restores it.

    ``ifconfig()`` with no argument answers "UP" or "DOWN" (Mininet's
    ``isUp``); a failure returns ovs-ofctl's message, as ``ifconfig`` would.
    """

    def __init__(self, *args, **kwargs) -> None:
        self.cut = False
        super().__init__(*args, **kwargs)

    def ifconfig(self, *args: str) -> str:
        words = " ".join(args).split()
        if not words:
            return "DOWN" if self.cut else "UP"
        if words not in (["up"], ["down"]):
            return f"{self.name}: a patch port takes only up or down, not {' '.join(words)!r}"
        cut = words == ["down"]
        if not cut and not self.cut:
            return ""                   # at creation, before the bridge exists: nothing to do
        if cut:
            self.cut = True             # a half-done cut is still undone by ``up``
        for action in CUT if cut else RESTORE:
            res = subprocess.run([*OFCTL, "mod-port", self.node.name, self.name, action],
                                 capture_output=True, text=True, timeout=10)
            if res.returncode != 0:
                return (res.stderr.strip()
                        or f"ovs-ofctl mod-port {self.node.name} {self.name} {action} failed")
        self.cut = cut
        return ""

    def status(self) -> str:
        """For Mininet's ``links``: "OK", or "DOWN" while cut."""
        return "DOWN" if self.cut else "OK"

    def delete(self) -> None:
        """Nothing in the kernel: the port goes with its bridge (``del-br``)."""
        self.node.delIntf(self)
        self.link = None


class PatchLink(OVSLink):
    """A link between two OVS switches as a pair of ``PatchIntf`` patch ports.

    Raises ``ValueError`` when either end is not an OVS switch (hosts keep
    veth pairs).
    """

    def __init__(self, node1, node2, **kwargs) -> None:
        if not (isinstance(node1, OVSSwitch) and isinstance(node2, OVSSwitch)):
            raise ValueError(f"a patch link joins two OVS switches, not {node1} and {node2}")
        self.isPatchLink = True
        kwargs.update(cls1=PatchIntf, cls2=PatchIntf)
        Link.__init__(self, node1, node2, **kwargs)
