"""Pod lifecycle on a real cluster: restarts with CrashLoopBackOff, liveness
probes, system pods that come back, a loss-free rolling update, and a
real-world application manifest applied unchanged."""
from __future__ import annotations

import subprocess
import time

from conftest import EXAMPLES, apply_files, apply_yaml, in_pod, pod_obj, ready_pods, sh, wait_for

from k8snet import naming

CRASHER = """
apiVersion: v1
kind: Pod
metadata: {name: crasher, labels: {app: crasher}}
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo run-$(date +%s%N); exit 3"]
"""

LIVENESS = """
apiVersion: v1
kind: Pod
metadata: {name: unhealthy, labels: {app: unhealthy}}
spec:
  containers:
  - name: web
    image: registry.k8s.io/e2e-test-images/agnhost:2.47
    args: [netexec, --http-port=8080]
    ports: [{containerPort: 8080}]
    livenessProbe:
      httpGet: {path: /no-such-path, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
"""

TOOLS = """
apiVersion: v1
kind: Pod
metadata: {name: tools}
spec:
  containers:
  - {name: shell, image: busybox, command: [sleep, infinity]}
"""

ROLLING = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 3
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      containers:
      - name: web
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: roll}
spec:
  selector: {app: roll}
  ports: [{port: 80, targetPort: http}]
"""


def container_status(cluster, name: str) -> dict:
    pod = cluster.store.find("Pod", "default", name) or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return statuses[0]


def test_a_container_that_exits_is_restarted_with_growing_backoff(empty_cluster):
    c = empty_cluster
    apply_yaml(c, CRASHER)
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 45
    while len(seen) < 3 and time.monotonic() < deadline:
        count = container_status(c, "crasher").get("restartCount", 0)
        seen.setdefault(count, time.monotonic())
        time.sleep(0.05)
    assert {0, 1, 2} <= set(seen), f"restarts seen: {sorted(seen)}"
    first, second = seen[1] - seen[0], seen[2] - seen[1]
    assert second >= 9.0, f"second restart after {second:.1f}s: back-off must be ~10s"
    assert second > first + 5, f"back-off must grow: {first:.1f}s then {second:.1f}s"
    status = wait_for(lambda: container_status(c, "crasher").get("state", {}).get("waiting"),
                      15, "CrashLoopBackOff")
    assert status["reason"] == "CrashLoopBackOff"
    last = container_status(c, "crasher")["lastState"]["terminated"]
    assert last["exitCode"] == 3 and last["reason"] == "Error"
    previous = c.pods.logs("crasher", "default", None, previous=True)
    assert previous.startswith("run-"), previous
    reasons = {e["reason"] for e in c.store.list("Event", "default")
               if e["involvedObject"]["name"] == "crasher"}
    assert {"Started", "BackOff"} <= reasons
    c.store.delete("Pod", "default", "crasher")
    wait_for(lambda: c.store.find("Pod", "default", "crasher") is None, 15, "crasher gone")


def test_a_failing_liveness_probe_restarts_the_container(empty_cluster):
    c = empty_cluster
    apply_yaml(c, LIVENESS)
    wait_for(lambda: container_status(c, "unhealthy").get("restartCount", 0) >= 1, 20,
             "a liveness restart")
    messages = [e["message"] for e in c.store.list("Event", "default")
                if e["involvedObject"]["name"] == "unhealthy"]
    assert "Container web failed liveness probe, will be restarted" in messages
    assert any(m.startswith("Liveness probe failed: HTTP probe failed with statuscode: 404")
               for m in messages), messages
    c.store.delete("Pod", "default", "unhealthy")


def test_a_deleted_kube_dns_pod_is_replaced_and_dns_answers(empty_cluster):
    c = empty_cluster
    apply_yaml(c, TOOLS)
    wait_for(lambda: ready_pods(c, "default", {}), 20, "tools pod ready")
    (old,) = ready_pods(c, "kube-system", {"k8s-app": "kube-dns"})
    c.store.delete("Pod", "kube-system", old["metadata"]["name"])
    t0 = time.monotonic()
    new = wait_for(lambda: [p for p in ready_pods(c, "kube-system", {"k8s-app": "kube-dns"})
                            if p["metadata"]["name"] != old["metadata"]["name"]], 15,
                   "a new kube-dns pod")
    took = time.monotonic() - t0
    assert took < 10, f"new kube-dns pod ready after {took:.1f}s"
    assert new[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"

    def answers():
        out = in_pod(c, "tools", "dig +short +time=1 +tries=1 kubernetes.default.svc.cluster.local")
        return out.stdout.strip() == "10.96.0.1"
    wait_for(answers, 10, "DNS answers through the new pod")
    c.store.delete("Pod", "default", "tools")


def test_rolling_update_with_surge_loses_no_request(empty_cluster):
    c = empty_cluster
    apply_yaml(c, ROLLING + "---" + TOOLS.replace("name: tools", "name: curler"))
    wait_for(lambda: len(ready_pods(c, "default", {"app": "roll"})) == 3, 30, "3 roll pods")
    wait_for(lambda: ready_pods(c, "default", {}), 20, "curler ready")
    netns = c.pods.runtime(pod_obj(c, "curler")).netns
    loop = subprocess.Popen(
        ["ip", "netns", "exec", netns, "sh", "-c",
         "end=$(( $(date +%s) + 25 )); ok=0; bad=0; "
         "while [ $(date +%s) -lt $end ]; do "
         "if curl -s -o /dev/null --max-time 2 -w '%{http_code}' http://roll/hostname "
         "| grep -q 200; then ok=$((ok+1)); else bad=$((bad+1)); fi; done; "
         "echo ok=$ok bad=$bad"], stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    old_pods = {p["metadata"]["name"] for p in ready_pods(c, "default", {"app": "roll"})}
    c.store.mutate("Deployment", "default", "roll", lambda d: d["spec"]["template"]["metadata"]
                   .setdefault("annotations", {}).update(
                       {"kubectl.kubernetes.io/restartedAt": "2026-11-29T00:00:00Z"}))

    def rolled():
        pods = ready_pods(c, "default", {"app": "roll"})
        names = {p["metadata"]["name"] for p in pods}
        return len(pods) == 3 and not names & old_pods and \
            len(c.store.list("Pod", "default", where=lambda p: p["metadata"].get(
                "labels", {}).get("app") == "roll")) == 3
    wait_for(rolled, 60, "the rollout to finish")
    out, _ = loop.communicate(timeout=60)
    ok, bad = (int(part.split("=")[1]) for part in out.split())
    assert bad == 0 and ok > 20, out
    sets = sorted((rs["spec"]["replicas"], rs["metadata"]["name"])
                  for rs in c.store.list("ReplicaSet", "default")
                  if rs["metadata"]["name"].startswith("roll-"))
    assert [n for n, _ in sets] == [0, 3], sets


def test_a_real_world_application_applies_unchanged(empty_cluster):
    """examples/microservices.yaml: ServiceAccounts, ConfigMap and Secret through
    envFrom/valueFrom, exec and gRPC probes, securityContext, resources,
    volumes, an HPA and a PDB: every Deployment becomes Available and ext
    reaches the frontend through its LoadBalancer IP."""
    c = empty_cluster
    lines = apply_files(c, EXAMPLES / "microservices.yaml")
    assert "serviceaccount/frontend created" in lines
    deployments = c.store.list("Deployment", "parcel")
    assert len(deployments) == 12

    def available():
        return all(any(cond["type"] == "Available" and cond["status"] == "True"
                       for cond in (d.get("status") or {}).get("conditions") or [])
                   and (d.get("status") or {}).get("availableReplicas", 0)
                   == d["spec"]["replicas"]
                   for d in c.store.list("Deployment", "parcel"))
    wait_for(available, 120, "every parcel Deployment Available")
    svc = wait_for(lambda: ((c.store.get("Service", "parcel", "frontend-external")
                             .get("status") or {}).get("loadBalancer") or {}).get("ingress"),
                   10, "the frontend's LoadBalancer IP")
    ip = svc[0]["ip"]
    ext = naming.node_netns(c.spec.name, "ext")
    out = sh(f"ip netns exec {ext} curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 "
             f"http://{ip}/")
    if out.returncode != 0 or out.stdout != "200":
        out = sh(f"ip netns exec {ext} curl -s --max-time 3 http://{ip}/")
    assert out.stdout.strip() and out.returncode == 0, out
    frontend = [p for p in c.store.list("Pod", "parcel")
                if p["metadata"]["labels"].get("app") == "frontend"][0]
    env = c.pods.env(frontend)
    assert env["POD_NAME"] == frontend["metadata"]["name"]
    assert env["POD_IP"] == frontend["status"]["podIP"]
    assert env["CART_SERVICE_ADDR"] == "cart:7070"
