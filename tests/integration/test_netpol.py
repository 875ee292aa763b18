"""NetworkPolicy enforced in the live lab, cell by cell against the truth tables.

The e2e model (namespaces x, y, z; pods a, b, c; ports 80 and 81 over TCP
and UDP) runs in a real cluster in both proxy modes.  ``make test`` runs
every upstream case in nftables mode and a spread sample elsewhere; ``make
netpol-full`` (NETPOL_FULL=1) runs everything: upstream cases in both modes
and every generated case.  SCTP cases run only where the kernel has SCTP;
elsewhere they are reported as skipped, never as passed.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from k8snet.cli import netpol as cli
from k8snet.cluster.cluster import Cluster
from k8snet.load import topofile
from k8snet.netpol import generator
from k8snet.netpol.cases import load, model_pod_keys
from tests.integration.conftest import apply_yaml, in_pod, sh, wait_for

FULL = os.environ.get("NETPOL_FULL") == "1"
UPSTREAM = load(cli.UPSTREAM)
RECIPES = load(Path(__file__).resolve().parents[2] / "examples" / "netpol" / "cases"
               / "recipes.yaml")
GENERATED = generator.generate()
SAMPLE_GENERATED = GENERATED if FULL else generator.sample(GENERATED, 24, seed=7)


def _sctp() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        return True
    except OSError:
        return False


HAVE_SCTP = _sctp()


def _quiet(_text: str) -> None:
    pass


def model_cluster(mode: str):
    c = Cluster(topofile.load("single"), proxy_mode=mode).start()
    try:
        assert cli.netpol_command(c, ["model"], _quiet) == 0
    except BaseException:
        c.stop()
        raise
    return c


@pytest.fixture(scope="module")
def lab():
    c = model_cluster("nftables")
    yield c
    c.stop()


def run_live(cluster, case, via: str = "service") -> None:
    if not HAVE_SCTP and any(p.protocol == "SCTP" for st in case.steps for p in st.probes):
        pytest.skip("this kernel has no SCTP (no sctp module): SCTP cases not run")
    lab = cli.lab_of(cluster)
    lab.reset_model()
    outcomes = lab.run_case(case, model_pod_keys(), via=via)
    problems = [f"step {o.step} {o.port}/{o.protocol}: {s} -> {d} expected "
                f"{'allowed' if want else 'blocked'} ({o.errors.get((s, d), 'connected')})"
                for o in outcomes for s, d, want, _ in o.discrepancies]
    assert not problems, f"{case.name} ({case.upstream or 'generated'}):\n" + \
        "\n".join(problems[:20])
    # The oracle agrees with the written upstream table too (also in unit tests).
    for o in outcomes:
        off = {k for k in o.expected if k[0] != k[1] and o.oracle[k] != o.expected[k]}
        assert not off, f"{case.name}: the oracle disagrees with upstream on {sorted(off)}"


@pytest.mark.parametrize("case", UPSTREAM, ids=[c.name for c in UPSTREAM])
def test_upstream_case_live(lab, case):
    run_live(lab, case)


@pytest.mark.parametrize("case", RECIPES, ids=[c.name for c in RECIPES])
def test_recipe_live(lab, case):
    """examples/netpol: the well-known recipes, with their written matrices."""
    run_live(lab, case)


@pytest.mark.parametrize("case", SAMPLE_GENERATED, ids=[c.name for c in SAMPLE_GENERATED])
def test_generated_case_live(lab, case):
    # To the pod IPs: generated cases relabel pods, which can take a pod out of
    # its Service (selector pod=<name>); upstream's cases run through Services.
    run_live(lab, case, via="pod")


def _policy(name: str, ns: str, spec: str) -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: "{ns}"}}    # quoted: a bare y is a boolean (YAML 1.1)
spec:
{spec}
"""


def test_default_deny_egress_still_resolves_names_when_dns_is_allowed(lab):
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    apply_yaml(lab, _policy("deny-egress-but-dns", "x", """
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
"""))
    lab_.wait_synced()
    out = in_pod(lab, "x/a", "getent hosts s-y-b.y.svc.cluster.local")
    svc_ip = lab.store.get("Service", "y", "s-y-b")["spec"]["clusterIP"]
    assert out.returncode == 0 and svc_ip in out.stdout, out
    (table, _), = lab_.probe(["x/a"], ["y/b"], [(80, "TCP")], "service")
    assert table[("x/a", "y/b")] is False          # everything else is blocked
    lab_.reset_model()


def test_default_deny_ingress_keeps_readiness_probes_passing(lab):
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    apply_yaml(lab, """
apiVersion: v1
kind: Pod
metadata: {name: probed, namespace: x, labels: {app: probed}}
spec:
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
      failureThreshold: 1
""")
    wait_for(lambda: _ready(lab, "x", "probed"), 20, "probed Ready")
    apply_yaml(lab, _policy("deny-all", "x", "  podSelector: {}\n  policyTypes: [Ingress]"))
    lab_.wait_synced()
    (table, _), = lab_.probe(["y/a"], ["x/probed"], [(8080, "TCP")], "pod")
    assert table[("y/a", "x/probed")] is False     # the policy holds ...
    time.sleep(4)                                  # ... for four probe periods,
    pod = lab.store.get("Pod", "x", "probed")      # the kubelet's probes still pass
    assert _ready(lab, "x", "probed"), pod.get("status")
    restarts = [c.get("restartCount") for c in pod["status"].get("containerStatuses") or []]
    assert restarts == [0]
    lab.store.delete("Pod", "x", "probed", grace_seconds=0)
    lab_.reset_model()


def _ready(cluster, ns: str, name: str) -> bool:
    pod = cluster.store.find("Pod", ns, name) or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@pytest.mark.parametrize("what", ["pod", "namespace"])
def test_label_change_opens_a_blocked_connection_within_a_second(lab, what):
    """A continuous probe (a connect every 20 ms) sees the change land."""
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    peer = ("podSelector: {matchLabels: {role: client}}" if what == "pod" else
            "namespaceSelector: {matchLabels: {team: client}}")
    apply_yaml(lab, _policy("allow-clients", "y", f"""
  podSelector: {{matchLabels: {{pod: a}}}}
  ingress:
  - from:
    - {peer}
"""))
    lab_.wait_synced()
    dst = lab.store.get("Pod", "y", "a")["status"]["podIP"]
    netns = lab.pods.runtime(lab.store.get("Pod", "y", "b")).netns
    loop = subprocess.Popen(
        ["ip", "netns", "exec", netns, "timeout", "20", "python3", "-c", CONNECT_LOOP, dst],
        stdout=subprocess.PIPE, text=True)
    try:
        first = loop.stdout.readline().split()
        assert first and first[1] == "blocked", first
        changed = time.time()
        if what == "pod":
            lab.store.mutate("Pod", "y", "b", lambda o: o["metadata"]["labels"].update(
                {"role": "client"}))
        else:
            lab.store.mutate("Namespace", "", "y", lambda o: o["metadata"]["labels"].update(
                {"team": "client"}))
        opened = None
        for line in loop.stdout:
            stamp, verdict = line.split()
            if verdict == "allowed":
                opened = float(stamp)
                break
        assert opened is not None, "never allowed"
        assert opened - changed <= 1.0, f"took {opened - changed:.3f}s"
    finally:
        loop.kill()
        loop.wait()
        lab_.reset_model()


CONNECT_LOOP = """
import socket, sys, time
while True:
    s = socket.socket(); s.settimeout(0.2)
    try:
        s.connect((sys.argv[1], 80)); v = "allowed"
    except OSError:
        v = "blocked"
    s.close()
    print(f"{time.time():.3f} {v}", flush=True)
    if v == "allowed":
        break
    time.sleep(0.02)
"""


def test_ext_reaches_a_pod_only_from_an_allowed_ip_block(lab):
    """ipBlock judges ext's own address (externalTrafficPolicy Local keeps it)."""
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    apply_yaml(lab, """
apiVersion: v1
kind: Service
metadata: {name: lb-a, namespace: z}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {pod: a}
  ports: [{port: 80, targetPort: 80}]
""")
    lb = wait_for(lambda: ((lab.store.get("Service", "z", "lb-a").get("status") or {})
                           .get("loadBalancer") or {}).get("ingress"), 15, "LB IP")[0]["ip"]
    def reached() -> bool:
        out = sh(f"ip netns exec k8snet-{lab.spec.name}-ext curl -s -o /dev/null "
                 f"-w '%{{http_code}}' --max-time 1 http://{lb}/")
        return out.stdout.strip() == "200"
    wait_for(reached, 15, "ext reaches the LoadBalancer")
    apply_yaml(lab, _policy("from-cluster-only", "z", """
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 10.244.0.0/16}}]
"""))
    lab_.wait_synced()
    assert not reached()
    apply_yaml(lab, _policy("from-ext", "z", """
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
"""))
    lab_.wait_synced()
    assert reached()
    lab.store.delete("Service", "z", "lb-a")
    lab_.reset_model()


def test_egress_to_ext_is_judged_before_snat(lab):
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    ext_ip = lab.spec.network.ext_ip
    check = f"curl -s -o /dev/null --max-time 1 -w '%{{http_code}}' http://{ext_ip}/"
    assert in_pod(lab, "x/b", check).stdout.strip() == "200"
    apply_yaml(lab, _policy("no-internet", "x", """
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [203.0.113.0/24]}}]
"""))
    lab_.wait_synced()
    assert in_pod(lab, "x/b", check).stdout.strip() != "200"
    assert in_pod(lab, "x/c", check).stdout.strip() == "200"     # not selected
    lab_.reset_model()


def test_probe_command_prints_the_matrix_and_json(lab):
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    apply_yaml(lab, _policy("deny-all", "z", "  podSelector: {}\n  policyTypes: [Ingress]"))
    lab_.wait_synced()
    lines: list[str] = []
    bad = cli.probe_command(lab, ["-n", "y", "-n", "z", "--ports", "80"], lines.append)
    text = "".join(lines)
    assert bad == 0 and "36/36 cells agree" in text
    assert "z/a  X" in text.replace("   ", " ") or " X " in text
    lines.clear()
    cli.probe_command(lab, ["y/a", "z/b", "--ports", "80", "-o", "json"], lines.append)
    import json
    doc = json.loads("".join(lines))
    cell = doc["probes"][0]["observed"]["y/a"]["z/b"]
    assert cell is False and doc["probes"][0]["discrepancies"] == []
    lab_.reset_model()


def test_real_kubectl_applies_gets_and_describes_policies(lab):
    """The real kubectl against the lab's API: apply a recipe, get, describe;
    an invalid policy is refused with the API server's message and not stored."""
    lab_ = cli.lab_of(lab)
    lab_.reset_model()
    recipe = Path(__file__).resolve().parents[2] / "examples" / "netpol" / \
        "05-deny-from-other-namespaces.yaml"
    out = kubectl(lab, "apply", "-f", str(recipe))
    assert out.returncode == 0 and "created" in out.stdout, out.stderr
    got = kubectl(lab, "get", "netpol", "-n", "x")
    assert got.returncode == 0 and "POD-SELECTOR" in got.stdout, got
    described = kubectl(lab, "describe", "netpol", "-n", "x")
    assert described.returncode == 0, described.stderr
    assert "Allowing ingress traffic" in described.stdout
    lab_.wait_synced()
    (table, errors), = lab_.probe(["y/a"], ["x/b"], [(80, "TCP")], "pod")
    assert table[("y/a", "x/b")] is False and "prohibited" in errors[("y/a", "x/b")]
    bad = kubectl(lab, "apply", "-f", "-", stdin=BAD_POLICY)
    assert bad.returncode != 0
    for cause in ('spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33"',
                  "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\""):
        assert cause in bad.stderr, bad.stderr
    assert lab.store.find("NetworkPolicy", "x", "bad") is None
    lab_.reset_model()


def kubectl(cluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    from tests.integration.test_kubectl_real import KUBECTL
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=30,
                          env=env, input=stdin)


BAD_POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]
    ports: [{protocol: ICMP, port: 80}]
"""
