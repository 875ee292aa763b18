"""``kubectl get`` tables, with kubectl's columns and its age format.

Pure functions over the cluster's status objects, so the formatting is
unit-tested without a cluster.
"""
from __future__ import annotations

import time


def age(since: float, now: float | None = None) -> str:
    """kubectl's short age: 45s, 5m, 3h, 2d."""
    seconds = max(0, int((time.time() if now is None else now) - since))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 3:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by three spaces, as kubectl prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def pods_table(pods: list, wide: bool = False, all_namespaces: bool = False,
               now: float | None = None) -> str:
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    rows = []
    for status in sorted(pods, key=lambda s: (s.pod.namespace, s.pod.name)):
        row = [status.pod.name,
               f"{status.ready_count}/{len(status.containers)}",
               status.phase, "0", age(status.created, now)]
        if all_namespaces:
            row.insert(0, status.pod.namespace)
        if wide:
            row += [status.ip, status.node, "<none>", "<none>"]
        rows.append(row)
    if not rows:
        return "No resources found"
    return table(headers, rows)


def nodes_table(nodes: list, started: float, kernel: str, wide: bool = False,
                now: float | None = None) -> str:
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    if wide:
        headers += ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                    "CONTAINER-RUNTIME"]
    rows = []
    for node in sorted(nodes, key=lambda n: n.index):
        row = [node.name, "Ready", "<none>", age(started, now), "v1.31.0-k8snet"]
        if wide:
            row += [node.ip, "<none>", "Debian GNU/Linux 12 (bookworm)", kernel,
                    "k8snet://netns"]
        rows.append(row)
    return table(headers, rows)


def _ports(svc) -> str:
    parts = []
    for p in svc.ports:
        node = f":{p.node_port}" if p.node_port and svc.type in ("NodePort", "LoadBalancer") \
            else ""
        parts.append(f"{p.port}{node}/{p.protocol}")
    return ",".join(parts) or "<none>"


def services_table(services: list, created: dict, wide: bool = False,
                   all_namespaces: bool = False, now: float | None = None) -> str:
    headers = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers.append("SELECTOR")
    rows = []
    for svc in sorted(services, key=lambda s: (s.namespace, s.name)):
        if svc.type == "ExternalName":
            cluster_ip, external = "<none>", svc.external_name
        else:
            cluster_ip = svc.cluster_ip or "<none>"
            external = (svc.load_balancer_ip or "<pending>") if svc.type == "LoadBalancer" \
                else "<none>"
        row = [svc.name, svc.type, cluster_ip, external, _ports(svc),
               age(created.get(svc.key, time.time()), now)]
        if all_namespaces:
            row.insert(0, svc.namespace)
        if wide:
            row.append(",".join(f"{k}={v}" for k, v in svc.selector) or "<none>")
        rows.append(row)
    return table(headers, rows) if rows else "No resources found"


def endpoints_table(services: list, endpoints: dict, created: dict,
                    now: float | None = None) -> str:
    """kubectl's Endpoints view: ready addresses, three shown then '+ N more...'."""
    rows = []
    for svc in sorted(services, key=lambda s: (s.namespace, s.name)):
        if svc.type == "ExternalName":
            continue
        addrs = [f"{ep.ip}:{ep.port}" for eps in endpoints.get(svc.key, {}).values()
                 for ep in eps if ep.ready]
        text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
        rows.append([svc.name, text or "<none>", age(created.get(svc.key, time.time()), now)])
    return table(["NAME", "ENDPOINTS", "AGE"], rows) if rows else "No resources found"


def ingress_table(ingresses: list, address: str, started: float,
                  now: float | None = None) -> str:
    rows = []
    for ing in sorted(ingresses, key=lambda i: (i.namespace, i.name)):
        hosts = ",".join(r.host for r in ing.rules if r.host) or "*"
        rows.append([ing.name, "nginx", hosts, address or "", "80", age(started, now)])
    return (table(["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], rows)
            if rows else "No resources found")


def workloads_table(kind: str, states: list, pods_of, all_namespaces: bool = False,
                    now: float | None = None) -> str:
    """``kubectl get deploy|sts|ds|rs``: each kind with its own columns.

    ``pods_of(state)`` gives the workload's pod statuses; a pod is available
    when it is ready (minReadySeconds is 0).
    """
    headers = {"Deployment": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
               "StatefulSet": ["NAME", "READY", "AGE"],
               "ReplicaSet": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
               "DaemonSet": ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE",
                             "AVAILABLE", "NODE SELECTOR", "AGE"]}[kind]
    if all_namespaces:
        headers = ["NAMESPACE", *headers]
    rows = []
    for state in sorted(states, key=lambda s: (s.workload.namespace, s.workload.name)):
        wl = state.workload
        pods = [p for p in pods_of(state) if not p.terminating]
        ready = sum(1 for p in pods if p.ready)
        current = len(pods)
        updated = sum(1 for p in pods if wl.kind != "Deployment"
                      or dict(p.pod.labels).get("pod-template-hash") == wl.template_hash)
        desired = current if kind == "DaemonSet" else wl.replicas
        when = age(state.created, now)
        if kind == "Deployment":
            row = [wl.name, f"{ready}/{desired}", str(updated), str(ready), when]
        elif kind == "StatefulSet":
            row = [wl.name, f"{ready}/{desired}", when]
        elif kind == "ReplicaSet":
            row = [wl.name, str(desired), str(current), str(ready), when]
        else:
            selector = ",".join(f"{k}={v}" for k, v in wl.template.node_selector) or "<none>"
            row = [wl.name, str(desired), str(current), str(ready), str(updated), str(ready),
                   selector, when]
        rows.append([wl.namespace, *row] if all_namespaces else row)
    if not rows:
        return "No resources found"
    return table(headers, rows)


def namespaces_table(namespaces: dict[str, float], now: float | None = None) -> str:
    rows = [[name, "Active", age(created, now)] for name, created in sorted(namespaces.items())]
    return table(["NAME", "STATUS", "AGE"], rows)
