"""No command, however wrong, ends the cluster: every malformed kubectl and
``POD CMD`` line gets its error (kubectl's own, from the real kubectl), and
the cluster keeps answering.

The lines go through the real CLI (``k8snet run --script``), one after the
other, in one cluster; the last lines check that it still works.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BAD_FILES = {
    "malformed.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: x\n",
    "wrong-types.yaml": ("apiVersion: v1\nkind: Service\nmetadata: {name: wrong-types}\n"
                         "spec:\n  ports:\n  - {port: \"80\", protocol: 7}\n"),
    "affinity.yaml": ("apiVersion: v1\nkind: Service\nmetadata: {name: affinity}\nspec:\n"
                      "  selector: {app: web}\n  sessionAffinity: ClientIP\n"
                      "  sessionAffinityConfig: {clientIP: {timeoutSeconds: banana}}\n"
                      "  ports: [{port: 80}]\n"),
    "list.yaml": "- just\n- a list\n",
    "no-kind.yaml": "apiVersion: v1\nmetadata: {name: nokind}\n",
    "bool-port.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: boolport}\nspec:\n"
                       "  containers:\n  - name: c\n    ports: [{containerPort: true}]\n"),
    "huge-replicas.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: huge}\n"
                           "spec:\n  replicas: -5\n  selector: {matchLabels: {a: b}}\n"
                           "  template:\n    metadata: {labels: {a: c}}\n"
                           "    spec: {containers: [{name: c, image: x}]}\n"),
}

MALFORMED = [
    "kubectl", "kubectl get", "kubectl get pods -n", "kubectl get pods -o",
    "kubectl get pods -o bogus", "kubectl get nosuchkind", "kubectl get pods -l 'a in (b'",
    "kubectl get pod/nonexistent", "kubectl get pods nonexistent", "kubectl get pods -n nosuchns",
    "kubectl get pods \"unterminated", "kubectl logs", "kubectl logs -c",
    "kubectl logs web-1 -c nosuch", "kubectl logs nosuchpod", "kubectl logs web-1 --previous",
    "kubectl logs web-1 --tail=abc", "kubectl exec", "kubectl exec web-1", "kubectl exec web-1 --",
    "kubectl exec nosuchpod -- ls", "kubectl exec web-1 -c nosuch -- true",
    "kubectl exec deploy/nosuch -- ls", "kubectl apply", "kubectl apply -f",
    "kubectl apply -f /nonexistent.yaml", "kubectl delete", "kubectl delete pod",
    "kubectl delete pod nosuch", "kubectl delete nosuchkind x", "kubectl delete ns default",
    "kubectl scale", "kubectl scale deploy nosuch --replicas=2",
    "kubectl scale deploy web --replicas=-1", "kubectl scale deploy web --replicas=abc",
    "kubectl scale pod web-1 --replicas=2", "kubectl rollout", "kubectl rollout restart",
    "kubectl rollout undo deploy/x", "kubectl rollout status deploy/nosuch", "kubectl create",
    "kubectl create service", "kubectl create service bogus x --tcp=80",
    "kubectl create service clusterip x --tcp=abc",
    "kubectl create service nodeport np --tcp=80 --node-port=99999",
    "kubectl create deployment", "kubectl run", "kubectl run x --port=abc",
    "kubectl run Bad_Name", "kubectl run y --labels=novalue", "kubectl wait",
    "kubectl wait --for=condition=Ready pod/nosuch --timeout=1s",
    "kubectl wait --for=bogus pod/web-1 --timeout=1s", "kubectl label pod web-1",
    "kubectl frobnicate", "web-1", "web-1 'unterminated", "client nosuchcommand",
    "kubectl get pods -o yaml nosuch", "kubectl events -n",
]


def test_fifty_malformed_commands_leave_the_cluster_running(tmp_path):
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    lines = MALFORMED + [f"kubectl apply -f {tmp_path / n}" for n in BAD_FILES]
    assert len(lines) >= 50
    script = tmp_path / "script.txt"
    script.write_text("\n".join(lines + [
        "kubectl get pods",
        "client curl -s --max-time 3 http://web/hostname; echo ' still-answering'",
    ]) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "k8snet.main", "run", "--topo", "single",
         "-f", str(ROOT / "examples" / "demo"), "--script", str(script)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert "k8snet bug" not in out, out[-3000:]
    assert "still-answering" in out and "web-" in out.split("still-answering")[0][-40:], out[-2000:]
    errors = [line for line in out.splitlines() if line.lower().startswith(("error", "the "))]
    assert len(errors) >= 50, "\n".join(errors)
    # Every error says what and where, in kubectl's and the API server's words.
    assert 'error: the server doesn\'t have a resource type "nosuchkind"' in out
    assert 'Error from server (NotFound): pods "nosuch" not found' in out
    assert 'namespaces "default" is forbidden: this namespace may not be deleted' in out
    assert ('json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port '
            'of type int32') in out                   # decoding fails first, as upstream
    assert "malformed.yaml: error converting YAML to JSON: yaml: line 3" in out
    assert 'error: required flag(s) "image" not set' in out          # kubectl run
    assert 'The Pod "Bad_Name" is invalid: \n* metadata.name: Invalid value: "Bad_Name"' in out
    # Nothing of the refused objects exists.
    for name in ("wrong-types", "affinity", "boolport", "huge", "np", "x"):
        assert f"service/{name} created" not in out and f"pod/{name} created" not in out
