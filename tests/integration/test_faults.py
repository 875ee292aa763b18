"""Fault commands on a live cluster: each shows its effect and is undone."""
from __future__ import annotations

import re

from k8snet.cli import faults
from k8snet.cluster.faults import controller_running as faults_running
from tests.integration.conftest import apply_yaml, in_pod, pod_ip, settle, sh, wait_for


def say(lines: list[str]):
    return lines.append


def _node_of(cluster, pod: str) -> str:
    return cluster.pods.find(pod)["spec"]["nodeName"]


def test_loss_drops_at_random_and_zero_removes_it(cluster):
    settle(cluster)
    target = pod_ip(cluster, "web-1")
    node = _node_of(cluster, "web-1")
    lines: list[str] = []
    faults.loss_command(cluster, [node, "100"], say(lines))
    try:
        assert in_pod(cluster, "client", f"ping -c 2 -W 1 {target}").returncode != 0
        faults.loss_command(cluster, [node, "30"], say(lines))
        out = in_pod(cluster, "client", f"ping -c 100 -i 0.01 -W 1 {target}", timeout=60)
        lost = int(re.search(r"(\d+)% packet loss", out.stdout).group(1))
        assert 5 <= lost <= 95, out.stdout          # some, not all: both directions at 30%
    finally:
        faults.loss_command(cluster, [node, "0"], say(lines))
    assert in_pod(cluster, "client", f"ping -c 2 -W 1 {target}").returncode == 0
    assert "30% of packets" in "".join(lines) and "no loss" in "".join(lines)


def test_mtu_mismatch_passes_small_packets_and_stalls_big_ones(cluster):
    target = pod_ip(cluster, "web-1")
    node = _node_of(cluster, "web-1")
    lines: list[str] = []
    faults.mtu_command(cluster, [node, "1000"], say(lines))
    try:
        small = in_pod(cluster, "client", f"ping -c 2 -W 1 -M do -s 500 {target}")
        big = in_pod(cluster, "client", f"ping -c 2 -W 1 -M do -s 1200 {target}")
        assert small.returncode == 0, small.stdout
        assert big.returncode != 0, big.stdout
    finally:
        faults.mtu_command(cluster, [node, "1500"], say(lines))
    assert in_pod(cluster, "client", f"ping -c 2 -W 1 -M do -s 1200 {target}").returncode == 0


def test_controller_away_keeps_traffic_and_applies_changes_when_back(cluster):
    lines: list[str] = []
    faults.controller_command(cluster, ["stop"], say(lines))
    try:
        url = f"http://{pod_ip(cluster, 'web-1')}:8080/hostname"
        out = in_pod(cluster, "client", f"curl -s --max-time 2 {url}")
        assert out.stdout.strip() == "web-1"          # the installed flows still carry it
        apply_yaml(cluster, """
apiVersion: v1
kind: Service
metadata: {name: while-away, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
""")
        lb = wait_for(lambda: ((cluster.store.get("Service", "default", "while-away")
                                .get("status") or {}).get("loadBalancer") or {})
                      .get("ingress"), 15, "LB IP")[0]["ip"]
        lines.clear()
        faults.controller_command(cluster, ["status"], say(lines))
        assert lines == ["controller: stopped\n"]
    finally:
        faults.controller_command(cluster, ["start"], say(lines))
    ext = f"ip netns exec k8snet-{cluster.spec.name}-ext"
    wait_for(lambda: sh(f"{ext} curl -s --max-time 1 http://{lb}/hostname").stdout
             .startswith("web-"), 15, "the LB IP routed once the controller is back")
    cluster.store.delete("Service", "default", "while-away")


def test_a_crashed_controller_and_ext_server_are_restarted(cluster):
    """Killed (not stopped): the supervisor restarts them, with an Event, and
    the lab works on."""
    net = cluster.network
    old = net.controller.proc.pid
    net.controller.proc.kill()
    wait_for(lambda: cluster.supervisor.items["fabric-controller"].restarts >= 1, 15,
             "the supervisor restarting the controller")
    assert faults_running(net) and net.controller.proc.pid != old
    events = [e for e in cluster.store.list("Event", "kube-system")
              if e["reason"] == "Restarted" and "fabric-controller" in e["message"]]
    assert events
    http = next(i for i, (name, _, _) in enumerate(net.ext_specs) if name == "ext-http")
    net.aux_procs[http].kill()
    ext = f"ip netns exec k8snet-{cluster.spec.name}-ext"
    wait_for(lambda: net.ext_alive(http), 10, "ext's HTTP server restarted")
    target = cluster.spec.network.ext_ip
    wait_for(lambda: in_pod(cluster, "client", f"curl -s --max-time 1 http://{target}/hostname")
             .stdout.strip() == "ext", 10, "ext answering again")
    assert sh(f"{ext} true").returncode == 0
