"""make clean removes only what k8snet made: a foreign link named like ours,
a foreign OVS bridge, a foreign process (even one whose PID a run wrote
down, then exited, then was reused) all survive a run and two cleans."""
from __future__ import annotations

import subprocess

from k8snet.cluster.cleanup import clean, our_links
from k8snet.cluster.cluster import Cluster
from k8snet.cluster.rundir import RUN_ROOT, start_time
from k8snet.load import topofile


def sh(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


def test_foreign_link_bridge_and_process_survive_a_run_and_two_cleans():
    sh("ip", "link", "add", "tor7-eth1", "type", "veth", "peer", "name", "tor7-eth2")
    sh("ovs-vsctl", "--may-exist", "add-br", "foreignbr0", "--", "set", "bridge",
       "foreignbr0", "datapath_type=netdev")
    sleeper = subprocess.Popen(["sleep", "300"])
    stale = RUN_ROOT / "stale-run"
    try:
        # A crashed run's record naming the foreign process's PID with another
        # start time: the PID was reused, it is not ours any more.
        stale.mkdir(parents=True, exist_ok=True)
        (stale / "pids").write_text(f"{sleeper.pid} 1\n")
        with Cluster(topofile.load("leafspine")) as c:
            mine = our_links(c.spec.name)
            assert mine, "the leaf-spine links are tagged as k8snet's"
        clean()
        clean()
        assert sh("ip", "link", "show", "tor7-eth1").returncode == 0
        assert "foreignbr0" in sh("ovs-vsctl", "list-br").stdout
        assert sleeper.poll() is None and start_time(sleeper.pid)
        assert not our_links()
    finally:
        sleeper.kill()
        sleeper.wait()
        sh("ip", "link", "delete", "tor7-eth1")
        sh("ovs-vsctl", "--if-exists", "del-br", "foreignbr0")
        subprocess.run(["rm", "-rf", str(stale)])
