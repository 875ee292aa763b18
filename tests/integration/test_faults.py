"""Fault commands on a live cluster: each shows its effect and is undone."""
from __future__ import annotations

import re

from k8snet.cli import faults
from k8snet.cluster.dnsrace import summary
from k8snet.cluster.faults import controller_running as faults_running
from k8snet.control.nodelifecycle import NodeLifecycleController, ready_of
from tests.integration.conftest import (
    apply_yaml,
    in_node,
    in_pod,
    kubectl,
    pod_ip,
    settle,
    sh,
    wait_for,
    wait_programmed,
)


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
    try:
        # The switches reconnect within OVS's back-off (at most 8 s), then get
        # the restarted controller's flows.
        wait_for(lambda: sh(f"{ext} curl -s --max-time 1 http://{lb}/hostname").stdout
                 .startswith("web-"), 30, "the LB IP routed once the controller is back")
    except AssertionError as exc:
        state = cluster.network.controller.request({"op": "ping"})
        log = cluster.rundir.controller_log.read_text()[-3000:]
        raise AssertionError(f"{exc}\nvips sent: {cluster.network.vips}\n"
                             f"controller: {state}\ncontroller.log tail:\n{log}") from None
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


def _ready_status(cluster, node: str) -> str:
    return (ready_of(cluster.store.get("Node", "", node)) or {}).get("status", "")


def _ready_addresses(cluster, service: str) -> set[str]:
    return {a for s in cluster.store.list("EndpointSlice", "default")
            if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") == service
            for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
            for a in e.get("addresses") or []}


def _pod_ready(cluster, pod: str) -> str:
    """The pod's Ready condition status, as the real kubectl reads it."""
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    return "".join(kubectl(cluster, "get", "pod", pod, "-o", f"jsonpath={jsonpath}")).strip()


def test_node_down_goes_not_ready_its_pods_leave_and_it_comes_back(cluster):
    settle(cluster)
    node, client_node = _node_of(cluster, "web-1"), _node_of(cluster, "client")
    assert node != client_node
    web1 = pod_ip(cluster, "web-1")
    service = cluster.store.get("Service", "default", "web")["spec"]["clusterIP"]
    grace = next(c.grace for c in cluster.controllers if isinstance(c, NodeLifecycleController))
    lines: list[str] = []
    faults.node_command(cluster, [node, "down"], say(lines))
    try:
        wait_for(lambda: _ready_status(cluster, node) == "Unknown", grace + 2,
                 f"{node} NotReady within the {grace:g}s grace period (+2 s)")
        assert any(row.split()[:2] == [node, "NotReady"] for row in kubectl(cluster, "get",
                                                                            "nodes"))
        taints = cluster.store.get("Node", "", node)["spec"]["taints"]
        assert {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"} in taints
        wait_for(lambda: web1 not in _ready_addresses(cluster, "web"), 10,
                 "web-1 out of the ready endpoints")
        # MarkPodsNotReady: the pod's Ready condition False (status only, upstream
        # sets no reason); containerStatuses are the cut-off kubelet's, so READY
        # still counts 1/1 Running as upstream printPod does.
        assert _pod_ready(cluster, "web-1") == "False"
        row = next(r.split() for r in kubectl(cluster, "get", "pods", "-o", "wide")
                   if r.split()[:1] == ["web-1"])
        assert row[1:3] == ["1/1", "Running"] and node in row, row
        warned = [e for e in cluster.store.list("Event") if e["reason"] == "NodeNotReady"
                  and (e["involvedObject"]["kind"], e["involvedObject"]["name"]) == ("Pod",
                                                                                  "web-1")]
        assert warned and all((e["type"], e["message"]) == ("Warning", "Node is not ready")
                              for e in warned), warned
        assert {pod_ip(cluster, "web-2"), pod_ip(cluster, "web-3")} <= \
            _ready_addresses(cluster, "web")
        wait_programmed(cluster, web1, absent=True, nodes=(client_node,))
        answers = [in_pod(cluster, "client", f"curl -s --max-time 2 http://{service}/hostname")
                   .stdout.strip() for _ in range(10)]
        assert set(answers) <= {"web-2", "web-3"} and len(answers) == 10, answers
        # The LoadBalancer (ECMP from gw) health-checks the node out: ext loses nothing.
        lb = cluster.store.get("Service", "default", "web-lb")["status"]["loadBalancer"][
            "ingress"][0]["ip"]
        wait_for(lambda: cluster.network.vips and all(
            node not in v.targets for v in cluster.network.vips), 10, f"{node} out of the LB")
        from_ext = [cluster.net["ext"].cmd(f"curl -s --max-time 2 http://{lb}/hostname").strip()
                    for _ in range(12)]
        assert set(from_ext) <= {"web-2", "web-3"} and all(from_ext), from_ext
        lines.clear()
        faults.node_command(cluster, ["status"], say(lines))
        row = next(line for line in lines if line.startswith(node))
        assert "NotReady" in row and "down" in row
    finally:
        faults.node_command(cluster, [node, "up"], say(lines))
    wait_for(lambda: _ready_status(cluster, node) == "True", 10, f"{node} Ready again")
    wait_for(lambda: _pod_ready(cluster, "web-1") == "True", 10,
             "web-1 Ready again, posted by its kubelet")
    # The node lifecycle controller removes its taints on its next pass after the
    # kubelet's Ready (every MONITOR_PERIOD, 0.5 s), as upstream: not in the same write.
    wait_for(lambda: not cluster.store.get("Node", "", node)["spec"].get("taints"), 3,
             f"{node}'s unreachable taints removed")
    wait_for(lambda: web1 in _ready_addresses(cluster, "web"), 15, "web-1 back in the endpoints")
    assert "default via" in in_node(cluster, node, "ip route").stdout
    settle(cluster)
    wait_for(lambda: in_pod(cluster, "client", f"curl -s --max-time 2 http://{web1}:8080/"
                            "hostname").stdout.strip() == "web-1", 10, "web-1 reachable again")
    reasons = {(e["reason"], e["involvedObject"]["name"]) for e in cluster.store.list("Event")}
    assert {("NodeNotReady", node), ("NodeReady", node), ("NodeNotReady", "web-1")} <= reasons


def test_dnsrace_figures_add_up_for_both_variants(cluster):
    lines: list[str] = []
    variants = faults.dnsrace_command(cluster, ["client", "-n", "12", "-p", "3"], say(lines))
    text = "".join(lines)
    assert [v.label for v in variants] == ["parallel A+AAAA", "single-request-reopen"]
    kubernetes = cluster.store.get("Service", "default", "kubernetes")["spec"]["clusterIP"]
    for variant in variants:
        s = summary(variant)
        assert s["lookups"] == 12 and s["resolved"] + s["timed_out"] == 12, s
        assert s["resolved"] >= 1, f"{variant.label}: the name never resolved"
        assert all(lk.addresses == (kubernetes,) for lk in variant.lookups if lk.addresses)
        assert 0 <= s["slow"] <= s["lookups"] and s["p50"] <= s["p99"]
        assert variant.before is not None and variant.after is not None, text
        assert all(variant.delta(c) >= 0 for c in ("insert_failed", "drop"))
    node = _node_of(cluster, "client")
    assert f"insert_failed ({node})" in text
    if summary(variants[0])["slow"] == 0:
        assert "the race did not show on kernel" in text
