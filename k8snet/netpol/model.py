"""The e2e suite's policy model as API objects: namespaces x, y, z; pods a, b, c.

As in kubernetes ``test/e2e/network/netpol/model.go``: every namespace is
labelled ``ns=<name>`` (and ``kubernetes.io/metadata.name`` by the API);
every pod ``pod=<name>`` and serves ports 80 and 81 on TCP and UDP (SCTP
when asked) under the container port names ``serve-<port>-<protocol>``;
every pod has a Service ``s-<ns>-<pod>`` selecting it alone, which the
upstream prober connects through.  Differences: one container per pod
serves all its ports (upstream runs one container per port and protocol),
which keeps the lab at nine processes instead of thirty-six.
"""
from __future__ import annotations

from k8snet.netpol.cases import MODEL_NAMESPACES, MODEL_PODS, MODEL_PORTS

IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"   # runs as the built-in server


def service_name(namespace: str, pod: str) -> str:
    """``s-x-a``: the Service in front of model pod ``x/a``."""
    return f"s-{namespace}-{pod}"


def container_ports(protocols: tuple[str, ...]) -> list[dict]:
    return [{"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
            for proto in protocols for port in MODEL_PORTS]


def objects(protocols: tuple[str, ...] = ("TCP", "UDP"),
            namespaces: tuple[str, ...] = MODEL_NAMESPACES,
            pods: tuple[str, ...] = MODEL_PODS) -> list[dict]:
    """Namespaces, Pods and Services of the model, ready to create."""
    out: list[dict] = []
    for ns in namespaces:
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"ns": ns}}})
    for ns in namespaces:
        for name in pods:
            out.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns,
                             "labels": {"pod": name}},
                "spec": {"containers": [{"name": "cont", "image": IMAGE,
                                         "ports": container_ports(protocols)}]}})
            out.append({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service_name(ns, name), "namespace": ns},
                "spec": {"selector": {"pod": name},
                         "ports": [{"name": f"service-port-{p['protocol'].lower()}-"
                                    f"{p['containerPort']}", "port": p["containerPort"],
                                    "protocol": p["protocol"],
                                    "targetPort": p["containerPort"]}
                                   for p in container_ports(protocols)]}})
    return out
