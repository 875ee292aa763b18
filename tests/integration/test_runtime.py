"""Pods and nodes added and deleted while the cluster runs; controller restart."""
from __future__ import annotations

import ipaddress
import os
import re

import pytest
from conftest import apply_yaml, in_pod, is_ready, pod_ip, sh, wait_for

from k8snet import naming
from k8snet.errors import AlreadyExists
from k8snet.node import cni

LATE = """
apiVersion: v1
kind: Pod
metadata: {name: late, labels: {app: late}}
spec:
  nodeName: node2
  containers: [{name: web, image: agnhost, ports: [{containerPort: 8080}]}]
"""


def _flow_set(switch: str) -> list[str]:
    """Flows without counters, so two dumps compare by content."""
    out = sh(f"ovs-ofctl -O OpenFlow13 --no-stats dump-flows {switch}").stdout
    return sorted(re.sub(r"cookie=0x[0-9a-f]+, ?", "", line.strip())
                  for line in out.splitlines() if line.strip())


def _running(cluster, name: str) -> dict:
    """The pod once it is Running and Ready (it has its IP then)."""
    return wait_for(lambda: (p := cluster.store.find("Pod", "default", name)) is not None
                    and is_ready(p) and p, 30, f"pod {name} Ready")


def _gone(cluster, name: str) -> None:
    wait_for(lambda: cluster.store.find("Pod", "default", name) is None, 30,
             f"pod {name} removed by its kubelet")


def test_pod_added_and_deleted_at_runtime(cluster):
    apply_yaml(cluster, LATE)
    pod = _running(cluster, "late")
    ip = pod["status"]["podIP"]
    assert ip.startswith("10.244.2.")
    rt = cluster.pods.runtime(pod)
    procs = [c.proc.proc for c in rt.containers.values()]
    reply = in_pod(cluster, "web-1", f"curl -s --max-time 5 --retry 5 "
                   f"--retry-connrefused --retry-delay 0 http://{ip}:8080/hostname")
    assert reply.stdout == "late"
    cluster.store.delete("Pod", "default", "late")
    _gone(cluster, "late")
    # The kubelet removes the object only once the sandbox is gone: its namespace
    # at once, the veth with it as the kernel destroys the namespace (not awaited).
    assert not cni.netns_exists(rt.netns)
    node_ns = naming.node_netns(cluster.spec.name, "node2")
    wait_for(lambda: rt.veth not in sh(f"ip -n {node_ns} -o link").stdout, 2,
             f"veth {rt.veth} gone with the pod's namespace")
    assert cluster.kubelets["node2"].ipam.owner(ip) is None
    assert procs and all(p.poll() is not None for p in procs)
    apply_yaml(cluster, LATE)
    again = _running(cluster, "late")
    assert again["status"]["podIP"] != ip, "a just-released IP must not be reused at once"
    cluster.store.delete("Pod", "default", "late")
    _gone(cluster, "late")


def test_per_pod_files_are_kept_in_memory_and_removed_with_the_pod(cluster):
    """The run directory and the namespace pins are on a tmpfs (k8snet's, or
    the machine's) unless they held something already, as agents.log says;
    /etc/netns/POD links to the pod's resolver files in the run directory
    (k8snet.cluster.memfs), and all of it goes with the pod."""
    from pathlib import Path

    from k8snet.cluster import memfs
    from k8snet.cluster.rundir import RUN_ROOT
    from k8snet.node.netns import NETNS_DIR
    said = (cluster.rundir.path / "agents.log").read_text()
    for path in (str(RUN_ROOT), NETNS_DIR):
        [line] = [ln for ln in said.splitlines() if f"per-pod files in {path}:" in ln]
        assert memfs.in_memory(path) == ("stays on disk" not in line), line
    apply_yaml(cluster, LATE)
    pod = _running(cluster, "late")
    rt = cluster.pods.runtime(pod)
    link = Path("/etc/netns") / rt.netns
    assert link.is_symlink()
    assert link.resolve() == (cluster.rundir.path / "etc-netns" / rt.netns)
    assert "nameserver 10.96.0.10" in (link / "resolv.conf").read_text()
    assert in_pod(cluster, "late", "cat /etc/resolv.conf").stdout == \
        (link / "resolv.conf").read_text()
    cluster.store.delete("Pod", "default", "late")
    _gone(cluster, "late")
    assert not os.path.lexists(link) and not (cluster.rundir.path / "etc-netns" / rt.netns).exists()


def test_a_sandbox_that_fails_after_its_network_is_undone_and_made_again(cluster, monkeypatch):
    """The resolver files cannot be written (disk full) after the CNI ADD: the
    kubelet says FailedCreatePodSandBox, undoes the namespace and the IP, and
    its retry makes the pod whole (no "namespace already exists" forever)."""
    from k8snet.node import kubelet as kubelet_mod
    real, calls = kubelet_mod.discovery.write_pod_files, []

    def full_once(netns_name, resolv, hosts, store="", hostname=""):
        calls.append(netns_name)
        if len(calls) == 1:
            assert cni.netns_exists(netns_name)       # the network was made first
            raise OSError(28, f"write {netns_name}/resolv.conf: No space left on device")
        return real(netns_name, resolv, hosts, store, hostname)
    monkeypatch.setattr(kubelet_mod.discovery, "write_pod_files", full_once)
    apply_yaml(cluster, LATE)
    wait_for(lambda: any(e.get("reason") == "FailedCreatePodSandBox"
                         and "No space left" in e.get("message", "")
                         for e in cluster.store.list("Event", "default")), 10,
             "FailedCreatePodSandBox with the cause")
    pod = _running(cluster, "late")
    assert len(calls) >= 2 and calls[0] == calls[-1]
    rt = cluster.pods.runtime(pod)
    assert cni.netns_exists(rt.netns) and pod["status"]["podIP"] == rt.ip
    assert cluster.kubelets["node2"].ipam.owner(rt.ip) is not None
    cluster.store.delete("Pod", "default", "late")
    _gone(cluster, "late")


def test_duplicate_pod_is_refused_without_side_effects(cluster):
    before = sorted(os.listdir("/var/run/netns"))
    web1 = cluster.store.get("Pod", "default", "web-1")
    with pytest.raises(AlreadyExists, match='pods "web-1" already exists'):
        cluster.store.create({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": "web-1"},
                              "spec": {"containers": [{"name": "x", "image": "x"}]}})
    assert cluster.store.get("Pod", "default", "web-1") is web1   # not even rewritten
    assert sorted(os.listdir("/var/run/netns")) == before


def test_node_added_at_runtime_is_routed(cluster):
    node = cluster.add_node()
    assert cluster.store.get("Node", "", node.name)["spec"]["podCIDR"] == node.pod_cidr
    apply_yaml(cluster, f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: on-new-node}}
        spec:
          nodeName: {node.name}
          containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
        """)
    ip = wait_for(lambda: pod_ip(cluster, "on-new-node"), 30, "a pod IP on the new node")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(node.pod_cidr)
    out = in_pod(cluster, "web-1", f"ping -c3 -i0.2 -W1 {ip}")
    assert " 0% packet loss" in out.stdout, out.stdout
    out = in_pod(cluster, "on-new-node", "ping -c1 -W1 203.0.113.10")
    assert out.returncode == 0


def _controller_pids(cluster) -> list[int]:
    """Every live process running this cluster's controller (its state file)."""
    state = str(cluster.rundir.fabric_state).encode()
    pids = []
    for entry in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"controllers.run" in argv and state in argv:
            pids.append(int(entry))
    return pids


def test_controller_crash_keeps_traffic_and_restart_reconciles(cluster):
    before = _flow_set("tor1")
    assert before
    web2 = pod_ip(cluster, "web-2")
    proc = cluster.network.controller.proc
    cluster.network.stop_controller(kill=True)          # SIGKILL: a crash
    assert proc.returncode == -9
    out = in_pod(cluster, "web-1", f"ping -c3 -i0.2 -W1 {web2}")
    assert " 0% packet loss" in out.stdout, "fail-secure switch lost its flows"
    # The supervisor restarts it; starting it by hand then adds no copy.
    wait_for(lambda: cluster.supervisor.items["fabric-controller"].restarts >= 1, 10,
             "the supervisor's restart")
    cluster.network.start_controller()
    assert cluster.network.controller.proc.pid != proc.pid
    assert _controller_pids(cluster) == [cluster.network.controller.proc.pid]
    wait_for(lambda: _flow_set("tor1") == before, 10, "the restarted controller's flows")
    after = _flow_set("tor1")
    assert len(after) == len(set(after)), "duplicate flows after restart"
    out = in_pod(cluster, "web-1", f"ping -c1 -W1 {web2}")
    assert out.returncode == 0
