"""Probe a running lab: real connections between pods, and cases run live.

``LiveLab`` gets the store, a way to name a pod's network namespace and the
netpol agents (to wait until they have synced); nothing else.  Each source
pod runs one ``k8snet.netpol.prober`` process in its namespace that makes
all of that source's connections at once, so a 9 x 9 matrix on two ports
and two protocols is nine processes, not 324.

A connection the destination pod refuses (a TCP reset, an ICMP port
unreachable: nothing listens there) got through the NetworkPolicy, which
only ever rejects with ICMP admin-prohibited (``k8snet.netpol.nft``): as a
policy verdict it is "allowed", and ``refused_cells`` finds those cells.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from k8snet.api.convert import slices_of
from k8snet.errors import K8snetError
from k8snet.netpol import oracle
from k8snet.netpol.cases import MODEL_NAMESPACES, Case, Probe, Step, model_pod_keys, with_pod_ips
from k8snet.netpol.model import service_name
from k8snet.netpol.prober import REFUSED
from k8snet.netpol.snapshot import PodInfo, from_store

Table = dict[tuple[str, str], bool]
PROBER = [sys.executable, "-m", "k8snet.netpol.prober"]


@dataclass
class ProbeOutcome:
    """One probe of one step: the expected and observed truth tables."""

    step: int
    port: int | str
    protocol: str
    expected: Table
    observed: Table
    oracle: Table
    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    written: bool = False          # the expectation is a case's written table
    not_run: str = ""              # why the probe could not be tried (its protocol)
    # cells the pod refused: observed True, the policy let them through
    refused: set[tuple[str, str]] = field(default_factory=set)

    @property
    def discrepancies(self) -> list[tuple[str, str, bool, bool]]:
        """Cells where the lab differs from the expectation; none when the
        probe was not run.  A written (upstream) table's diagonal is not
        checked: upstream ignores a pod's connections to itself
        (ignoreLoopback, kubernetes#95879)."""
        if self.not_run:
            return []
        return [(s, d, want, self.observed.get((s, d))) for (s, d), want in
                sorted(self.expected.items())
                if self.observed.get((s, d)) != want and not (self.written and s == d)]


def refused_cells(errors: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    """The cells the destination refused: reached the pod, nothing listens."""
    return {cell for cell, error in errors.items() if error == REFUSED}


def reached(table: Table, errors: dict[tuple[str, str], str]) -> Table:
    """The policy's verdict per cell: connected, or refused by the pod."""
    refused = refused_cells(errors)
    return {cell: ok or cell in refused for cell, ok in table.items()}


def _endpoint_of(store, svc: dict, info: PodInfo, port: int, protocol: str) -> bool:
    """Whether the pod is a ready endpoint of Service ``svc`` on ``port``/``protocol``."""
    for sl in slices_of(svc, store.list("EndpointSlice", info.namespace)):
        if not any(p.get("port") == port and (p.get("protocol") or "TCP") == protocol
                   for p in sl.get("ports") or []):
            continue
        for ep in sl.get("endpoints") or []:
            if info.ip in (ep.get("addresses") or []) and \
                    (ep.get("conditions") or {}).get("ready") is not False:
                return True
    return False


def unsupported_reason(protocol: str) -> str:
    """Why a protocol the prober found missing could not be probed."""
    return f"{protocol} is not supported by this kernel (no {protocol.lower()} module)"


class LiveLab:
    def __init__(self, store, netns_of: Callable[[dict], str], agents: Sequence = (),
                 timeout: float = 1.0) -> None:
        self.store = store
        self.netns_of = netns_of
        self.agents = list(agents)
        self.timeout = timeout
        # the protocols the last probe() could not try: protocol -> reason
        self.unsupported: dict[str, str] = {}

    # --- what to connect to ---------------------------------------------------------

    def _pod(self, key: str) -> dict:
        ns, _, name = key.partition("/")
        pod = self.store.find("Pod", ns, name)
        if pod is None:
            raise K8snetError(f'Error from server (NotFound): pods "{name}" not found '
                              f'in namespace "{ns}"')
        if not (pod.get("status") or {}).get("podIP"):
            raise K8snetError(f"pod {key} has no IP yet")
        return pod

    def _address(self, info: PodInfo, port: int, protocol: str, via: str) -> tuple[str, int]:
        if via == "pod":
            return info.ip, port
        svc = self.store.find("Service", info.namespace, service_name(info.namespace,
                                                                       info.name))
        if svc is None:
            raise K8snetError(f"--via service: pod {info.key} has no Service "
                              f"{service_name(info.namespace, info.name)}")
        return (svc.get("spec") or {}).get("clusterIP", ""), port

    def probe(self, sources: list[str], destinations: list[str],
              probes: Iterable[tuple[int | str, str]], via: str = "pod"
              ) -> list[tuple[Table, dict[tuple[str, str], str]]]:
        """For each (port, protocol): the observed table and the errors seen.

        The cells of a protocol the kernel lacks are False with the prober's
        error; ``self.unsupported`` names such protocols and why.  An error
        "connection refused" (``refused_cells``) means the pod itself refused;
        through a Service of which the pod is no ready endpoint, the refusal
        is kproxy's, not the pod's, and the error says so."""
        probes = list(probes)
        self.unsupported = {}
        snap = from_store(self.store)
        infos = {k: snap.pod(k) for k in set(sources) | set(destinations)}
        missing = sorted(k for k, v in infos.items() if v is None)
        if missing:
            for key in missing:
                self._pod(key)            # raises with the reason
        jobs: dict[str, list[dict]] = {s: [] for s in sources}
        not_endpoint: set[tuple[int, str]] = set()      # (probe, dst): via a Service
        tables: list[Table] = [{} for _ in probes]
        errors: list[dict] = [{} for _ in probes]
        for i, (port, protocol) in enumerate(probes):
            for dst in destinations:
                info = infos[dst]
                number = port if isinstance(port, int) else info.named_port(port, protocol)
                if number is not None and via == "service":
                    self._address(info, number, protocol, via)     # raises without one
                    svc = self.store.find("Service", info.namespace,
                                          service_name(info.namespace, info.name))
                    if not _endpoint_of(self.store, svc, info, number, protocol):
                        not_endpoint.add((i, dst))
                for src in sources:
                    if number is None:
                        tables[i][(src, dst)] = False
                        errors[i][(src, dst)] = f"{dst} has no {protocol} port named {port}"
                        continue
                    ip, p = self._address(info, number, protocol, via)
                    jobs[src].append({"id": f"{i}|{dst}", "ip": ip, "port": p,
                                      "protocol": protocol})
        procs = {}
        for src, targets in jobs.items():
            if targets:
                netns = self.netns_of(self._pod(src))
                procs[src] = subprocess.Popen(
                    ["ip", "netns", "exec", netns, *PROBER], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                procs[src].stdin.write(json.dumps({"timeout": self.timeout,
                                                   "targets": targets}))
                procs[src].stdin.close()
        for src, proc in procs.items():
            out = proc.stdout.read()
            err = proc.stderr.read()
            if proc.wait() != 0:
                raise K8snetError(f"prober in {src} failed: {err.strip() or out.strip()}")
            answer = json.loads(out)
            for protocol in answer.get("unsupported") or []:
                self.unsupported[protocol] = unsupported_reason(protocol)
            for tid, res in answer["results"].items():
                i, dst = tid.split("|", 1)
                tables[int(i)][(src, dst)] = bool(res.get("connected"))
                error = res.get("error")
                if error == REFUSED and (int(i), dst) in not_endpoint:
                    error = (f"{REFUSED} by the Service, not by {dst}: it is no ready "
                             f"endpoint of {service_name(*dst.split('/', 1))}")
                if error:
                    errors[int(i)][(src, dst)] = error
        return list(zip(tables, errors, strict=True))

    # --- changes and their propagation --------------------------------------------

    def wait_synced(self, timeout: float = 10.0) -> float:
        """Until every netpol agent has synced the store as it is now; seconds."""
        t0 = time.monotonic()
        target = self.store.rv
        for agent in self.agents:
            agent.enqueue(agent.SYNC)
        while any(a.synced_rv < target for a in self.agents):
            if time.monotonic() - t0 > timeout:
                late = [a.name for a in self.agents if a.synced_rv < target]
                raise K8snetError(f"netpol agents not synced after {timeout:.0f}s: {late}")
            time.sleep(0.01)
        return time.monotonic() - t0

    def apply_step(self, step: Step) -> None:
        """Create or replace the step's policies, delete, relabel."""
        ips = {p.key: p.ip for p in from_store(self.store).pods}
        for pol in with_pod_ips(step, ips).policies:
            meta = pol.get("metadata") or {}
            ns, name = meta.get("namespace", "default"), meta.get("name", "")
            old = self.store.find("NetworkPolicy", ns, name)
            if old is None:
                self.store.create(pol)
            else:
                new = dict(pol, metadata={**meta, "resourceVersion":
                                          old["metadata"]["resourceVersion"]})
                self.store.update(new)
        for key in step.delete_policies:
            ns, _, name = key.partition("/")
            self.store.delete("NetworkPolicy", ns, name)
        for key, labels in step.pod_labels.items():
            ns, _, name = key.partition("/")
            self.store.mutate("Pod", ns, name, _set_labels(labels))
        for ns, labels in step.namespace_labels.items():
            self.store.mutate("Namespace", "", ns, _set_labels(
                {**labels, "kubernetes.io/metadata.name": ns}))

    def clear_policies(self, namespaces: Iterable[str]) -> None:
        for ns in namespaces:
            for pol in self.store.list("NetworkPolicy", ns):
                self.store.delete("NetworkPolicy", ns, pol["metadata"]["name"])

    def reset_model(self) -> None:
        """No policies in x, y, z and the model's labels back, for the next case."""
        self.clear_policies(MODEL_NAMESPACES)
        step = Step(pod_labels={k: {"pod": k.split("/")[1]} for k in model_pod_keys()},
                    namespace_labels={ns: {"ns": ns} for ns in MODEL_NAMESPACES})
        for key, labels in step.pod_labels.items():
            ns, _, name = key.partition("/")
            pod = self.store.find("Pod", ns, name)
            if pod is not None and (pod["metadata"].get("labels") or {}) != labels:
                self.store.mutate("Pod", ns, name, _set_labels(labels))
        for ns, labels in step.namespace_labels.items():
            want = {**labels, "kubernetes.io/metadata.name": ns}
            obj = self.store.find("Namespace", "", ns)
            if obj is not None and (obj["metadata"].get("labels") or {}) != want:
                self.store.mutate("Namespace", "", ns, _set_labels(want))

    def wait_connected(self, pods: list[str], via: str = "service",
                       timeout: float = 30.0) -> None:
        """Until every pod reaches every pod on 80/TCP (Services programmed,
        servers listening); K8snetError naming the pairs that still fail."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                (table, errors), = self.probe(pods, pods, [(80, "TCP")], via)
                missing = sorted(k for k, v in table.items() if not v)
            except K8snetError as exc:
                missing, errors = [("-", str(exc))], {}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise K8snetError(f"the model is not reachable after {timeout:.0f}s: "
                                  + ", ".join(f"{s}->{d} ({errors.get((s, d), '')})"
                                              for s, d in missing[:5]))
            time.sleep(0.3)

    # --- cases ----------------------------------------------------------------------

    def run_case(self, case: Case, pods: list[str], via: str = "service"
                 ) -> list[ProbeOutcome]:
        """Every step of ``case`` applied, synced and probed; the outcomes."""
        outcomes = []
        for n, step in enumerate(case.steps):
            self.apply_step(step)
            self.wait_synced()
            observed = self.probe(pods, pods, [(p.port, p.protocol) for p in step.probes], via)
            snap = from_store(self.store)
            for probe, (table, errs) in zip(step.probes, observed, strict=True):
                want = oracle.truth_table(snap, pods, pods, probe.port, probe.protocol)
                expected = want if probe.from_oracle else probe.expected(pods, pods)
                outcomes.append(ProbeOutcome(n, probe.port, probe.protocol, expected,
                                             reached(table, errs), want, errs,
                                             written=not probe.from_oracle,
                                             not_run=self.unsupported.get(probe.protocol, ""),
                                             refused=refused_cells(errs)))
        return outcomes


def expected_of(probe: Probe, snapshot, pods: list[str]) -> Table:
    """The written table, or the oracle's when the case leaves it to the oracle."""
    if probe.from_oracle:
        return oracle.truth_table(snapshot, pods, pods, probe.port, probe.protocol)
    return probe.expected(pods, pods)


def _set_labels(labels: dict) -> Callable[[dict], None]:
    def change(obj: dict) -> None:
        obj.setdefault("metadata", {})["labels"] = dict(labels)
    return change
