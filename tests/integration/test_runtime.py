"""Pods and nodes added and deleted while the cluster runs; controller restart."""
from __future__ import annotations

import os
import re
import signal

from conftest import in_pod, sh

from k8snet import naming
from k8snet.api.model import Container, ContainerPort, Pod
from k8snet.node import cni


def _flow_set(switch: str) -> list[str]:
    """Flows without counters, so two dumps compare by content."""
    out = sh(f"ovs-ofctl -O OpenFlow13 --no-stats dump-flows {switch}").stdout
    return sorted(re.sub(r"cookie=0x[0-9a-f]+, ?", "", line.strip())
                  for line in out.splitlines() if line.strip())


def test_pod_added_and_deleted_at_runtime(cluster):
    pod = Pod("late", labels=(("app", "late"),), node_name="node2",
              containers=(Container("web", ports=(ContainerPort(8080),)),))
    status = cluster.add_pod(pod)
    assert status.ip.startswith("10.244.2.")
    reply = in_pod(cluster, "web-1", f"curl -s --max-time 5 --retry 5 "
                   f"--retry-connrefused --retry-delay 0 http://{status.ip}:8080/hostname")
    assert reply.stdout == "late"
    cluster.delete_pod("late")
    assert not cni.netns_exists(status.netns)
    node_ns = naming.node_netns(cluster.spec.name, "node2")
    assert status.veth not in sh(f"ip -n {node_ns} -o link").stdout
    assert cluster.ipam["node2"].owner(status.ip) is None
    assert all(p.proc.poll() is not None for p in status.containers)
    again = cluster.add_pod(pod)
    assert again.ip != status.ip, "a just-released IP must not be reused at once"
    cluster.delete_pod("late")


def test_duplicate_pod_is_refused_without_side_effects(cluster):
    before = sorted(os.listdir("/var/run/netns"))
    try:
        cluster.add_pod(Pod("web-1", containers=(Container("x"),)))
    except Exception as exc:
        assert "already exists" in str(exc)
    else:
        raise AssertionError("duplicate pod accepted")
    assert sorted(os.listdir("/var/run/netns")) == before


def test_node_added_at_runtime_is_routed(cluster):
    node = cluster.add_node()
    status = cluster.add_pod(Pod("on-new-node", node_name=node.name,
                                 containers=(Container("c"),)))
    out = in_pod(cluster, "web-1", f"ping -c3 -i0.2 -W1 {status.ip}")
    assert " 0% packet loss" in out.stdout, out.stdout
    out = in_pod(cluster, "on-new-node", "ping -c1 -W1 203.0.113.10")
    assert out.returncode == 0


def test_controller_crash_keeps_traffic_and_restart_reconciles(cluster):
    before = _flow_set("tor1")
    assert before
    web2 = cluster.find_pod("web-2").ip
    os.kill(cluster.controller.proc.pid, signal.SIGKILL)
    cluster.controller.proc.wait(timeout=5)
    out = in_pod(cluster, "web-1", f"ping -c3 -i0.2 -W1 {web2}")
    assert " 0% packet loss" in out.stdout, "fail-secure switch lost its flows"
    cluster.start_controller()
    after = _flow_set("tor1")
    assert after == before
    assert len(after) == len(set(after)), "duplicate flows after restart"
    out = in_pod(cluster, "web-1", f"ping -c1 -W1 {web2}")
    assert out.returncode == 0
