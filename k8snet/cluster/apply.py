"""``kubectl apply -f`` and ``kubectl delete -f``: all or nothing.

Apply plans the whole set first, with no side effect: namespaces exist,
services allocate on a scratch allocator, workloads expand to named pods,
every pod is placed, ingresses resolve.  Any error stops it there.  Then it
executes in the order a real cluster settles in: namespaces, services (so
pods' environments list them), pods, ingress, one sync; then rolling updates
of changed workloads, and a bounded wait until the new pods are endpoints.
If a step fails while executing, what this apply created is removed again.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from k8snet.addons import ingress
from k8snet.addons import system as addons
from k8snet.api.service import Service
from k8snet.control.workloads import WorkloadState, ref
from k8snet.errors import K8snetError
from k8snet.load.manifests import ManifestSet, PodInstance, Workload, expand

Out = Callable[[str], None]
IMMUTABLE = "field is immutable"


@dataclass
class Plan:
    namespaces: list[str] = field(default_factory=list)
    new_services: list[Service] = field(default_factory=list)
    changed_services: list[Service] = field(default_factory=list)
    new_workloads: list[tuple[Workload, list[PodInstance]]] = field(default_factory=list)
    scaled: list[tuple[WorkloadState, Workload]] = field(default_factory=list)
    rolled: list[tuple[WorkloadState, Workload]] = field(default_factory=list)
    pods: list[PodInstance] = field(default_factory=list)
    ingresses: list = field(default_factory=list)
    placements: list = field(default_factory=list)
    verbs: dict[tuple[str, str, str], str] = field(default_factory=dict)


def plan(cluster, mset: ManifestSet) -> Plan:
    """Everything the apply will do; raises (changing nothing) on any error."""
    p = Plan()
    known = set(cluster.namespaces)
    for ns in mset.namespaces:
        if ns.name not in known:
            p.namespaces.append(ns.name)
            known.add(ns.name)
        p.verbs[("Namespace", "", ns.name)] = "created" if ns.name in p.namespaces \
            else "unchanged"
    for doc in mset.documents:
        if doc.kind != "Namespace" and doc.namespace not in known:
            raise K8snetError(f'{doc.source}: document {doc.index}: {doc.kind} '
                              f'"{doc.name}": namespaces "{doc.namespace}" not found')
    mgr = cluster.services
    replacing = []
    for svc in mset.services:
        verb = "created"
        if svc.key in mgr.services:
            if mgr.declared.get(svc.key) == svc:
                verb = "unchanged"
            else:
                verb = "configured"
                replacing.append((mgr.services[svc.key], svc))
                p.changed_services.append(svc)
        else:
            p.new_services.append(svc)
        p.verbs[("Service", svc.namespace, svc.name)] = verb
    planned = {s.key: s for s in mgr.plan(p.new_services, replacing)}
    all_services = {**mgr.services, **planned}

    taken: dict[str, set[str]] = {}

    def names(ns: str) -> set[str]:
        if ns not in taken:
            taken[ns] = cluster.workloads.taken_names(ns)
        return taken[ns]

    for inst in mset.pods:
        old = cluster.pods.get(inst.pod.key)
        if old is not None:
            if old.pod != inst.pod:
                raise K8snetError(f'Pod "{inst.name}" is invalid: spec: Forbidden: pod updates '
                                  "may not change fields other than spec.containers[*].image "
                                  "(delete the pod and apply again)")
            p.verbs[("Pod", inst.pod.namespace, inst.name)] = "unchanged"
            continue
        names(inst.pod.namespace).add(inst.name)
        p.pods.append(inst)
        p.verbs[("Pod", inst.pod.namespace, inst.name)] = "created"
    nodes = list(cluster.nodes.values())
    for wl in mset.workloads:
        key = cluster.workloads.key(wl.kind, wl.namespace, wl.name)
        state = cluster.workloads.states.get(key)
        verb = "created"
        if state is None:
            instances = expand(wl, names(wl.namespace), nodes=nodes, counter=1)
            names(wl.namespace).update(i.name for i in instances)
            p.new_workloads.append((wl, instances))
            p.pods.extend(instances)
        else:
            old = state.workload
            if (old.selector, old.match_expressions) != (wl.selector, wl.match_expressions):
                raise K8snetError(f'{wl.source}: document {wl.document}: '
                                  f'{old.kind}.apps "{wl.name}" is invalid: spec.selector: '
                                  f"Invalid value: {dict(wl.selector)}: {IMMUTABLE}")
            if old.template != wl.template:
                p.rolled.append((state, wl))
                verb = "configured"
            elif old.replicas != wl.replicas and wl.kind != "DaemonSet":
                p.scaled.append((state, wl))
                verb = "configured"
            else:
                verb = "unchanged"
        p.verbs[(wl.kind, wl.namespace, wl.name)] = verb
    p.placements = cluster.plan_pods(tuple(inst.pod for inst in p.pods))
    for ing in mset.ingresses:
        ingress.resolve(ing, all_services)
        old = cluster.ingresses.get(ing.key)
        verb = "created" if old is None else ("unchanged" if old == ing else "configured")
        if verb != "unchanged":
            p.ingresses.append(ing)
        p.verbs[("Ingress", ing.namespace, ing.name)] = verb
    return p


def _undo(cluster, created_pods: list[str], created_services: list[str],
          namespaces: list[str]) -> None:
    for key in created_pods:
        if key in cluster.pods:
            cluster.delete_pod(key, sync=False)
    for key in created_services:
        if key in cluster.services.services:
            cluster.services.delete(key, sync=False)
    for ns in namespaces:
        cluster.namespaces.pop(ns, None)
    cluster.services.sync()


def apply(cluster, mset: ManifestSet, out: Out = print, wait: float = 30.0) -> list[str]:
    """Apply a parsed manifest set; print kubectl's lines; return them."""
    summary = mset.ignored_summary()
    if summary:
        out(summary)
    with cluster.lock:
        p = plan(cluster, mset)
        created_pods: list[str] = []
        created_services: list[str] = []
        try:
            now = time.time()
            for ns in p.namespaces:
                cluster.namespaces[ns] = now
            added = cluster.services.add(p.new_services, sync=False)
            created_services = [s.key for s in added]
            for svc in p.changed_services:
                cluster.services.replace(svc, sync=False)
            owner_of = {}
            for wl, instances in p.new_workloads:
                state = cluster.workloads.create(wl)
                for inst in instances:
                    owner_of[inst.pod.key] = state.owner
            for inst, (pod, node) in zip(p.pods, p.placements, strict=True):
                cluster._add_pod(pod, node, inst.readiness, owner=owner_of.get(pod.key, ""))
                created_pods.append(pod.key)
            for ing in p.ingresses:
                cluster.ingresses[ing.key] = ing
            if p.ingresses or (p.changed_services and cluster.ingresses):
                addons.update_ingress(cluster)
            cluster.services.sync()
        except BaseException:
            for wl, _ in p.new_workloads:
                cluster.workloads.states.pop(
                    cluster.workloads.key(wl.kind, wl.namespace, wl.name), None)
            _undo(cluster, created_pods, created_services, p.namespaces)
            raise
    lines = []
    for doc in mset.documents:
        verb = p.verbs.get((doc.kind, doc.namespace, doc.name), "unchanged")
        lines.append(f"{ref(doc.kind, doc.name)} {verb}")
        out(lines[-1])
    for state, wl in p.scaled:
        state.workload = wl
        cluster.workloads.reconcile(state)
    for state, wl in p.rolled:
        state.workload = replace(wl, replicas=wl.replicas)
        cluster.workloads.roll(state, out)
    if wait and created_pods:
        if len(created_pods) > 10:
            out(f"Waiting for {len(created_pods)} pods to be ready and in their endpoints...")
        waiting = cluster.wait_ready(created_pods, wait)
        if waiting:
            out(f"Warning: {len(waiting)} pod(s) not ready after {wait:g}s: "
                + ", ".join(waiting))
    return lines


def delete(cluster, mset: ManifestSet, out: Out = print) -> list[str]:
    """``kubectl delete -f``: what exists is deleted (dependents first);
    what does not gets kubectl's NotFound line."""
    lines = []

    def say(line: str) -> None:
        lines.append(line)
        out(line)

    for doc in reversed(mset.documents):
        ns, name, kind = doc.namespace, doc.name, doc.kind
        try:
            if kind == "Ingress":
                key = f"{ns}/{name}"
                if key not in cluster.ingresses:
                    raise K8snetError(f'ingresses.networking.k8s.io "{name}" not found')
                del cluster.ingresses[key]
                addons.update_ingress(cluster)
            elif kind == "Service":
                cluster.services.delete(name, ns)
            elif kind == "Pod":
                key = f"{ns}/{name}"
                if key not in cluster.pods:
                    raise K8snetError(f'pods "{name}" not found')
                cluster.delete_pod(key, grace=0.0)
            elif kind == "Namespace":
                delete_namespace(cluster, name)
            else:
                cluster.workloads.delete(kind, name, ns)
            say(f"{ref(kind, name, ' ')} deleted")
        except K8snetError as exc:
            say(f"Error from server (NotFound): {exc}")
    return lines


def delete_namespace(cluster, name: str) -> None:
    if name not in cluster.namespaces:
        raise K8snetError(f'namespaces "{name}" not found')
    if name in addons.BUILTIN_NAMESPACES:
        raise K8snetError(f'namespaces "{name}" is forbidden: this namespace may not be '
                          "deleted")
    for state in list(cluster.workloads.states.values()):
        if state.workload.namespace == name:
            cluster.workloads.delete(state.workload.kind, state.workload.name, name)
    for key in [k for k, s in cluster.pods.items() if s.pod.namespace == name]:
        cluster.delete_pod(key, sync=False)
    for key in [k for k in cluster.ingresses if k.startswith(f"{name}/")]:
        del cluster.ingresses[key]
    for svc in [s for s in cluster.services.services.values() if s.namespace == name]:
        cluster.services.delete(svc.name, name, sync=False)
    del cluster.namespaces[name]
    cluster.services.sync()
