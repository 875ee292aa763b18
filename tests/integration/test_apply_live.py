"""Real Kubernetes YAML on a real cluster: apply, workloads, env vars, bad input."""
from __future__ import annotations

import collections
import re
import time
from pathlib import Path

import pytest
from conftest import (
    CurlLoop,
    apply_files,
    apply_yaml,
    docs_of,
    in_pod,
    is_ready,
    kubectl,
    pods_with,
    ready_pods,
    remove,
    sh,
    wait_for,
    wait_programmed,
)

from k8snet.apiserver import apply
from k8snet.errors import K8snetError
from k8snet.load import documents

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"
GUESTBOOK = TESTDATA / "guestbook-all-in-one.yaml"


def env_of(cluster, pod: dict, container: int = 0) -> dict[str, str]:
    """The environment the container's process really runs with."""
    rt = cluster.pods.runtime(pod)
    name = pod["spec"]["containers"][container]["name"]
    raw = Path(f"/proc/{rt.containers[name].proc.proc.pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def deployment_pods(cluster, name: str, namespace: str = "default") -> list[dict]:
    """Pods of Deployment ``name`` through its ReplicaSets (ownerReferences),
    not terminating."""
    deploy = cluster.store.get("Deployment", namespace, name)
    rs_uids = {rs["metadata"]["uid"] for rs in cluster.store.owned_by(deploy["metadata"]["uid"])
               if rs["kind"] == "ReplicaSet"}
    return [p for p in cluster.store.list("Pod", namespace)
            if any(r.get("uid") in rs_uids for r in p["metadata"].get("ownerReferences") or [])
            and not p["metadata"].get("deletionTimestamp")]


def snapshot(cluster) -> dict:
    """Every object but Events and Leases (heartbeats), with its resourceVersion."""
    return {(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]):
            o["metadata"]["resourceVersion"]
            for kind in cluster.store.kinds() if kind not in ("Event", "Lease")
            for o in cluster.store.list(kind)}


def rollout_done(cluster, name: str, namespace: str = "default") -> bool:
    """``kubectl rollout status`` says "successfully rolled out" right away."""
    try:
        lines = kubectl(cluster, "rollout", "status", f"deployment/{name}", "-n", namespace,
                        "--watch=false")
    except K8snetError:
        return False
    return lines[-1:] == [f'deployment "{name}" successfully rolled out']


@pytest.fixture(scope="module")
def guestbook(cluster):
    docs = documents.load_paths([str(GUESTBOOK)])
    lines = apply.apply(cluster.store, docs).lines
    for name in ("redis-master", "redis-replica", "frontend"):
        wait_for(lambda n=name: rollout_done(cluster, n), 60, f"deployment {name} rolled out")
    yield lines
    remove(cluster, docs)


def test_guestbook_applies_unchanged(cluster, guestbook):
    assert guestbook == [
        "service/redis-master created", "deployment.apps/redis-master created",
        "service/redis-replica created", "deployment.apps/redis-replica created",
        "service/frontend created", "deployment.apps/frontend created"]
    for name in ("redis-master", "redis-replica", "frontend"):
        assert cluster.store.find("Service", "default", name) is not None
    counts = {n: len(deployment_pods(cluster, n))
              for n in ("redis-master", "redis-replica", "frontend")}
    assert counts == {"redis-master": 1, "redis-replica": 2, "frontend": 3}
    assert all(is_ready(p) for n in counts for p in deployment_pods(cluster, n))
    # Deployment pods are named <deployment>-<pod-template-hash>-<5 chars>, by
    # their ReplicaSet <deployment>-<pod-template-hash>.
    for pod in deployment_pods(cluster, "frontend"):
        template_hash = pod["metadata"]["labels"]["pod-template-hash"]
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("ReplicaSet", f"frontend-{template_hash}")
        assert pod["metadata"]["name"].startswith(f"frontend-{template_hash}-")
        assert len(pod["metadata"]["name"].rsplit("-", 1)[1]) == 5


def test_guestbook_frontend_node_port_answers_ext_on_every_node(cluster, guestbook):
    node_port = cluster.store.get("Service", "default", "frontend")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    frontends = {p["metadata"]["name"] for p in deployment_pods(cluster, "frontend")}
    wait_programmed(cluster, str(node_port), *[p["status"]["podIP"] for p in
                                               deployment_pods(cluster, "frontend")])
    ext = cluster.net["ext"]
    for node in cluster.network.nodes.values():
        got = ext.cmd(f"curl -s --max-time 3 http://{node.ip}:{node_port}/hostname").strip()
        assert got in frontends, f"{node.name}:{node_port} answered {got!r}"


def test_guestbook_frontend_has_redis_master_in_its_environment(cluster, guestbook):
    master = cluster.store.get("Service", "default", "redis-master")["spec"]["clusterIP"]
    for pod in deployment_pods(cluster, "frontend"):
        env = env_of(cluster, pod)
        assert env["REDIS_MASTER_SERVICE_HOST"] == master
        assert env["REDIS_MASTER_SERVICE_PORT"] == "6379"
        assert env["REDIS_MASTER_PORT_6379_TCP_ADDR"] == master
        assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
        # The guestbook's own env entry is there too.
        assert env["GET_HOSTS_FROM"] == "dns"


def test_guestbook_redis_master_resolves_in_frontend_pods(cluster, guestbook):
    master = cluster.store.get("Service", "default", "redis-master")["spec"]["clusterIP"]
    for pod in deployment_pods(cluster, "frontend"):
        got = in_pod(cluster, pod["metadata"]["name"], "getent hosts redis-master")
        assert got.stdout.split()[:2] == [master, "redis-master.default.svc.cluster.local"], got


def test_reapplying_is_unchanged_and_changes_nothing(cluster, guestbook):
    before = snapshot(cluster)
    lines = apply.apply(cluster.store, documents.load_paths([str(GUESTBOOK)])).lines
    assert len(lines) == 6 and all(line.endswith(" unchanged") for line in lines), lines
    assert snapshot(cluster) == before


def _running(cluster, name: str) -> dict:
    return wait_for(lambda: (p := cluster.store.find("Pod", "default", name)) is not None
                    and (p.get("status") or {}).get("phase") == "Running" and p,
                    30, f"pod {name} running")


def test_env_lists_only_services_that_existed_when_the_pod_started(cluster):
    first = """
        apiVersion: v1
        kind: Pod
        metadata: {name: early-bird}
        spec:
          containers: [{name: c, image: busybox, ports: [{containerPort: 80}]}]
        """
    later = """
        apiVersion: v1
        kind: Service
        metadata: {name: late-svc}
        spec:
          selector: {app: nothing}
          ports: [{port: 8080, protocol: UDP, name: dns-ish}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: late-bird}
        spec:
          containers: [{name: c, image: busybox, ports: [{containerPort: 80}]}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: no-links}
        spec:
          enableServiceLinks: false
          containers: [{name: c, image: busybox, ports: [{containerPort: 80}]}]
        """
    try:
        apply_yaml(cluster, first)
        early = env_of(cluster, _running(cluster, "early-bird"))   # started before late-svc
        apply_yaml(cluster, later)
        ip = cluster.store.get("Service", "default", "late-svc")["spec"]["clusterIP"]
        late = env_of(cluster, _running(cluster, "late-bird"))
        assert not any(k.startswith("LATE_SVC_") for k in early)
        assert env_of(cluster, _running(cluster, "early-bird")) == early   # not restarted
        assert late["LATE_SVC_SERVICE_HOST"] == ip
        assert late["LATE_SVC_SERVICE_PORT_DNS_ISH"] == "8080"
        assert late["LATE_SVC_PORT"] == f"udp://{ip}:8080"
        assert late["LATE_SVC_PORT_8080_UDP_PROTO"] == "udp"
        no_links = env_of(cluster, _running(cluster, "no-links"))
        assert not any(k.startswith(("LATE_SVC_", "WEB_")) for k in no_links)
        assert no_links["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"  # the master service stays
    finally:
        remove(cluster, docs_of(later) + docs_of(first))


def test_node_name_and_node_selector_are_honoured(cluster):
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: pinned}
        spec:
          replicas: 3
          selector: {matchLabels: {app: pinned}}
          template:
            metadata: {labels: {app: pinned}}
            spec:
              nodeSelector: {kubernetes.io/hostname: node2}
              containers: [{name: c, image: x, ports: [{containerPort: 80}]}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: by-name}
        spec:
          nodeName: node3
          containers: [{name: c, image: x}]
        """
    try:
        apply_yaml(cluster, text)
        pods = wait_for(lambda: len(p := ready_pods(cluster, "default", {"app": "pinned"})) == 3
                        and p, 30, "3 pinned pods ready")
        assert {p["spec"]["nodeName"] for p in pods} == {"node2"}
        assert all(p["status"]["podIP"].startswith("10.244.2.") for p in pods)
        assert _running(cluster, "by-name")["spec"]["nodeName"] == "node3"
    finally:
        remove(cluster, docs_of(text))


def test_unplaceable_node_selector_stays_pending_with_the_reason(cluster):
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: never}
        spec: {selector: {app: never}, ports: [{port: 80}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: nowhere, labels: {app: never}}
        spec:
          nodeSelector: {disktype: ssd}
          containers: [{name: c, image: x, ports: [{containerPort: 80}]}]
        """
    reason = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    try:
        # As in Kubernetes, the objects are stored; the scheduler says why the
        # pod cannot run, and no sandbox is made for it.
        assert apply_yaml(cluster, text) == ["service/never created", "pod/nowhere created"]

        def unschedulable():
            pod = cluster.store.get("Pod", "default", "nowhere")
            cond = [c for c in (pod.get("status") or {}).get("conditions") or []
                    if c["type"] == "PodScheduled"]
            return cond and cond[0]["status"] == "False" and cond[0]
        cond = wait_for(unschedulable, 10, "PodScheduled False")
        assert (cond["reason"], cond["message"]) == ("Unschedulable", reason)
        events = [e for e in cluster.store.list("Event", "default")
                  if e["involvedObject"]["name"] == "nowhere"]
        assert [(e["type"], e["reason"], e["message"]) for e in events] == \
            [("Warning", "FailedScheduling", reason)]
        pod = cluster.store.get("Pod", "default", "nowhere")
        assert not pod["spec"].get("nodeName")
        assert pod["status"].get("phase", "Pending") == "Pending"
        assert not any("_nowhere" in ns for ns in sh("ip netns list").stdout.split())
        # A node that gets the label takes the pod.
        cluster.store.mutate("Node", "", "node3",
                             lambda o: o["metadata"]["labels"].__setitem__("disktype", "ssd"))
        pod = wait_for(lambda: (p := cluster.store.get("Pod", "default", "nowhere"))
                       and is_ready(p) and p, 30, "nowhere scheduled once node3 is an ssd")
        assert pod["spec"]["nodeName"] == "node3"
    finally:
        cluster.store.mutate("Node", "", "node3",
                             lambda o: o["metadata"]["labels"].pop("disktype", None))
        remove(cluster, docs_of(text))


BAD_INPUTS = {
    "malformed": ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: indent\n",
                  r"m\.yaml:5: document 1: malformed YAML"),
    "unknown kind": ("apiVersion: v1\nkind: Pdo\nmetadata: {name: x}\n",
                     r'm\.yaml:1: document 1: no matches for kind "Pdo" in version "v1"'),
    "pod spec changed": ("apiVersion: v1\nkind: Pod\nmetadata: {name: web-1}\nspec:\n"
                         "  nodeName: node1\n  containers: [{name: c, image: other}]\n",
                         r'm\.yaml:1: document 1: The Pod "web-1" is invalid: spec: Forbidden: '
                         r"pod updates may not change fields other than"),
    "bad name": ("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n"
                 "  containers: [{name: c, image: x}]\n",
                 r'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                 r"a lowercase RFC 1123"),
    "selector mismatch": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: ok-svc}\n"
        "spec: {selector: {app: a}, ports: [{port: 80}]}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
        "  selector: {matchLabels: {app: a}}\n  template:\n"
        "    metadata: {labels: {app: b}}\n"
        "    spec: {containers: [{name: c, image: x}]}\n",
        r"m\.yaml:12: document 2: The Deployment.apps \"d\" is invalid: "
        r"spec.template.metadata.labels: Invalid value: .*`selector` does not match "
        r"template `labels`"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_manifest_is_one_error_line_and_nothing_applied(cluster, tmp_path, case):
    text, pattern = BAD_INPUTS[case]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    before = snapshot(cluster)
    # Through the store's apply (``k8snet run -f``): all or nothing, file:line.
    with pytest.raises(K8snetError) as err:
        apply_files(cluster, path)
    message = str(err.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    assert snapshot(cluster) == before


def test_service_selecting_nothing_is_allowed_and_rejects_traffic(cluster):
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: empty}
        spec: {selector: {app: nobody}, ports: [{port: 80}]}
        """
    try:
        assert apply_yaml(cluster, text) == ["service/empty created"]
        slices = wait_for(lambda: [s for s in cluster.store.list("EndpointSlice", "default")
                                   if s["metadata"]["labels"].get(
                                       "kubernetes.io/service-name") == "empty"],
                          10, "the EndpointSlice of empty")
        assert not any(s.get("endpoints") for s in slices)
        ip = cluster.store.get("Service", "default", "empty")["spec"]["clusterIP"]
        wait_programmed(cluster, ip)
        t0 = time.monotonic()
        got = in_pod(cluster, "client", f"curl -s --max-time 5 http://{ip}/")
        assert got.returncode == 7, got          # connection refused (ICMP reject)
        assert time.monotonic() - t0 < 4         # not a silent drop until the timeout
    finally:
        remove(cluster, docs_of(text))


def test_ingress_to_an_unknown_service_is_a_warning_and_a_503(cluster):
    """Accepted, as the API server accepts it; the ingress controller says
    what is wrong on the Ingress and answers 503 there, never silence."""
    text = """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: dangling}
        spec:
          rules:
          - host: nope.example
            http:
              paths:
              - {path: /, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}
        """
    try:
        assert apply_yaml(cluster, text) == ["ingress.networking.k8s.io/dangling created"]
        event = wait_for(lambda: next((e for e in cluster.store.list("Event", "default")
                                       if e["involvedObject"]["name"] == "dangling"), None),
                         10, "an Event on the Ingress")
        assert (event["type"], event["reason"]) == ("Warning", "BadConfig")
        assert 'service "default/nope" not found' in event["message"], event["message"]
        svc = cluster.store.get("Service", "ingress-nginx", "ingress-nginx-controller")
        lb = svc["status"]["loadBalancer"]["ingress"][0]["ip"]

        def code(host: str) -> str:
            return cluster.net["ext"].cmd(f"curl -s -o /dev/null -w '%{{http_code}}' "
                                          f"--max-time 3 -H 'Host: {host}' "
                                          f"http://{lb}/hostname").strip()
        wait_for(lambda: code("nope.example") == "503", 15, "nginx answering 503")
        assert code("a.example") == "200"       # the demo's Ingress is untouched
    finally:
        remove(cluster, docs_of(text))


def test_readiness_probes_decide_endpoints(cluster):
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: probed}
        spec:
          replicas: 2
          selector: {matchLabels: {app: probed}}
          template:
            metadata: {labels: {app: probed}}
            spec:
              containers:
              - name: good
                image: x
                ports: [{name: http, containerPort: 8080}]
                readinessProbe: {httpGet: {path: /hostname, port: http}, periodSeconds: 1}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: never-ready, labels: {app: probed}}
        spec:
          containers:
          - name: bad
            image: x
            ports: [{name: http, containerPort: 8080}]
            readinessProbe: {httpGet: {path: /, port: 9999}, periodSeconds: 1}  # nothing there
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: exec-probe, labels: {app: probed}}
        spec:
          containers:
          - name: c
            image: x
            ports: [{containerPort: 8080}]
            readinessProbe: {exec: {command: [/bin/redis-cli, ping]}, periodSeconds: 1}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: probed}
        spec: {selector: {app: probed}, ports: [{port: 80, targetPort: 8080}]}
        """

    def endpoints() -> dict[str, bool]:
        return {ep["targetRef"]["name"]: (ep.get("conditions") or {}).get("ready", False)
                for s in cluster.store.list("EndpointSlice", "default")
                if s["metadata"]["labels"].get("kubernetes.io/service-name") == "probed"
                for ep in s.get("endpoints") or []}

    def warned(pod: str, reason: str) -> bool:
        return any(e["involvedObject"]["name"] == pod and e["reason"] == reason
                   for e in cluster.store.list("Event", "default"))
    try:
        apply_yaml(cluster, text)
        # never-ready is probed and fails; the others pass.
        wait_for(lambda: sum(endpoints().values()) == 3 and warned("never-ready", "Unhealthy"),
                 15, "3 ready endpoints and a failed probe of never-ready")
        eps = endpoints()
        ready = {name for name, ok in eps.items() if ok}
        assert eps.get("never-ready") is False           # listed, not ready
        assert "exec-probe" in ready         # program missing here: passes, with a warning
        assert warned("exec-probe", "ProbeProgramMissing")
        assert len([n for n in ready if n.startswith("probed-")]) == 2
        assert not is_ready(cluster.store.get("Pod", "default", "never-ready"))
    finally:
        remove(cluster, docs_of(text))


ROLLOUT = """
    apiVersion: v1
    kind: Service
    metadata: {name: roller}
    spec: {selector: {app: roller}, ports: [{port: 80, targetPort: 8080}]}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: roller}
    spec:
      replicas: 3
      selector: {matchLabels: {app: roller}}
      template:
        metadata: {labels: {app: roller}}
        spec:
          containers: [{name: web, image: x, ports: [{containerPort: 8080}]}]
"""


def test_scale_and_rollout_keep_every_request_working(cluster):
    try:
        apply_yaml(cluster, ROLLOUT)
        wait_for(lambda: rollout_done(cluster, "roller"), 30, "roller rolled out")
        ip = cluster.store.get("Service", "default", "roller")["spec"]["clusterIP"]
        before = {p["metadata"]["name"]: p["status"]["podIP"]
                  for p in deployment_pods(cluster, "roller")}
        assert len(before) == 3
        wait_programmed(cluster, ip, *before.values())
        loop = CurlLoop(cluster, "client", f"http://{ip}/hostname")
        try:
            loop.more(5, "requests before scaling")
            assert kubectl(cluster, "scale", "deploy", "roller", "--replicas=5") == \
                ["deployment.apps/roller scaled"]
            wait_for(lambda: len(ready_pods(cluster, "default", {"app": "roller"})) == 5, 30,
                     "5 ready roller pods")
            assert len(deployment_pods(cluster, "roller")) == 5
            kubectl(cluster, "rollout", "restart", "deployment/roller")
            kubectl(cluster, "scale", "deploy", "roller", "--replicas=2")   # mid-rollout
            wait_for(lambda: rollout_done(cluster, "roller")
                     and len(pods_with(cluster, "default", {"app": "roller"})) == 2, 60,
                     "roller rolled out at 2 replicas")
            loop.more(5, "requests after the rollout")
        finally:
            results = loop.stop()
        assert not [r for r in results if r.startswith("FAIL")], \
            collections.Counter(results)                 # not one request failed
        assert len(results) > 20 and all(r.startswith("roller-") for r in results), results
        after = {p["metadata"]["name"]: p["status"]["podIP"]
                 for p in deployment_pods(cluster, "roller")}
        assert len(after) == 2 and not set(after) & set(before)

        def ready_addresses() -> set[str]:
            return {a for s in cluster.store.list("EndpointSlice", "default")
                    if s["metadata"]["labels"].get("kubernetes.io/service-name") == "roller"
                    for ep in s.get("endpoints") or [] if ep["conditions"].get("ready")
                    for a in ep["addresses"]}
        wait_for(lambda: ready_addresses() == set(after.values()), 10,
                 f"the endpoints of roller to be {sorted(after.values())}")
    finally:
        remove(cluster, docs_of(ROLLOUT))
