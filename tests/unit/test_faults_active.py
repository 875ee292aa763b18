"""The faults set in a lab, as the trace names them (k8snet.cluster.faults.active)."""
from __future__ import annotations

import subprocess
from types import SimpleNamespace as NS

from k8snet.cluster import faults

LOSS = '''table ip k8snet-fault {
	chain in {
		type filter hook prerouting priority -500; policy accept;
		iifname "eth0" counter packets 3 bytes 180 drop comment "loss 100% on eth0"
	}
}
'''
MTUS = '"tor1-eth1",[]\n"tor1-eth2",600\n"tor1-eth3",1500\n'


def _network(controller_alive: bool):
    tor1 = NS(name="tor1")
    nodes = {n: object() for n in ("node1", "node2", "node3")}
    links = [NS(intf1=NS(name="eth0", node=NS(name=n)), intf2=NS(name=f"tor1-eth{i}", node=tor1))
             for i, n in enumerate(nodes, start=1)]
    proc = NS(poll=lambda: None if controller_alive else 0)
    return NS(nodes=nodes, net=NS(links=links, switches=[tor1]), controller=NS(proc=proc))


def test_each_fault_is_named_with_the_command_that_undoes_it(monkeypatch) -> None:
    def run(argv, **kw):
        if argv[0] == "ovs-vsctl":
            return subprocess.CompletedProcess(argv, 0, MTUS, "")
        text = LOSS if "k8snet-t-node1" in argv else ""
        return subprocess.CompletedProcess(argv, 0 if text else 1, text, "")

    monkeypatch.setattr(faults.subprocess, "run", run)
    monkeypatch.setattr(faults, "uplink_check",
                        lambda ports: lambda: ports != ["tor1-eth3"])     # node3 is down
    monkeypatch.setattr(faults.naming, "node_netns", lambda c, n: f"k8snet-{c}-{n}")
    assert faults.active(_network(False), "t") == [
        "loss 100% on eth0 of node1 (loss node1 0)",
        "tor1-eth2, facing node2, takes frames of 600 bytes at most (mtu node2 1500)",
        "node3's links to the fabric down (node node3 up)",
        "the OpenFlow controller is stopped: no new flows (controller start)"]
    monkeypatch.setattr(faults, "uplink_check", lambda ports: lambda: True)
    monkeypatch.setattr(faults.subprocess, "run",
                        lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", ""))
    assert faults.active(_network(True), "t") == []
