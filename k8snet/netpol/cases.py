"""NetworkPolicy cases as data: policies, label changes and expected truth tables.

A case file is YAML, a list of cases::

    - name: deny-all-ingress-to-x
      upstream: "should support a 'default-deny-ingress' policy"   # the e2e It() text
      source: test/e2e/network/netpol/network_policy.go
      steps:
        - policies: [<NetworkPolicy>, ...]       # created, or replaced by name
          manifests: [deny-all.yaml]             # more policies, from files beside this one
          delete_policies: [x/deny-all]          # "namespace/name"
          pod_labels: {x/a: {pod: a, new: "1"}}  # a pod's labels become exactly these
          namespace_labels: {y: {ns: y, team: b}}
          probes:
            - port: 80                           # a number, or a named port
              protocol: TCP
              reachability:                      # omitted: the oracle decides
                default: true
                expect:                          # in order, as upstream's Reachability.Expect*
                  - {from: "*/*", to: "x/*", allowed: false}

Strings in policies may name a pod's IP as ``${x/a}`` (upstream builds some
ipBlocks from pod IPs); ``with_pod_ips`` fills them in when the case runs.

Patterns are ``namespace/pod`` with shell wildcards in either part.  The
model is the e2e suite's: namespaces x, y, z labelled ``ns=<name>``; pods a,
b, c labelled ``pod=<name>``; each serving ports 80 and 81 on TCP and UDP
under the container port names ``serve-<port>-<protocol>``.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MODEL_NAMESPACES = ("x", "y", "z")
MODEL_PODS = ("a", "b", "c")
MODEL_PORTS = (80, 81)


def model_pod_keys() -> list[str]:
    """``x/a, x/b, ... z/c``: the e2e model's pods in matrix order."""
    return [f"{ns}/{pod}" for ns in MODEL_NAMESPACES for pod in MODEL_PODS]


class CaseError(ValueError):
    """A case file that does not follow the format; names the file and case."""


@dataclass(frozen=True)
class Expectation:
    """``from`` and ``to`` patterns (``ns/pod``, wildcards allowed) and the verdict."""

    source: str
    destination: str
    allowed: bool

    def covers(self, src: str, dst: str) -> bool:
        return fnmatch.fnmatchcase(src, self.source) and fnmatch.fnmatchcase(dst, self.destination)


@dataclass(frozen=True)
class Probe:
    """One truth table to check: a port (number or name) and protocol.

    ``default`` None means the oracle gives the expectation (generated cases)."""

    port: int | str
    protocol: str = "TCP"
    default: bool | None = None
    expect: tuple[Expectation, ...] = ()

    @property
    def from_oracle(self) -> bool:
        return self.default is None

    def expected(self, sources: Iterable[str], destinations: Iterable[str]
                 ) -> dict[tuple[str, str], bool]:
        """The written truth table: ``(src, dst) -> allowed`` for every pair."""
        if self.default is None:
            raise CaseError("this probe's expectation comes from the oracle")
        dsts = list(destinations)
        table = {(s, d): self.default for s in sources for d in dsts}
        for e in self.expect:
            for pair in table:
                if e.covers(*pair):
                    table[pair] = e.allowed
        return table


@dataclass(frozen=True)
class Step:
    """What to change, then what to probe."""

    policies: tuple[dict, ...] = ()
    delete_policies: tuple[str, ...] = ()
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    probes: tuple[Probe, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    upstream: str = ""
    source: str = ""
    tags: tuple[str, ...] = ()


_POD_IP = re.compile(r"\$\{([a-z0-9.-]+/[a-z0-9.-]+)\}")


def _fill(value, ips: Mapping[str, str]):
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            if m.group(1) not in ips:
                raise CaseError(f"${{{m.group(1)}}}: no such pod, or it has no IP")
            return ips[m.group(1)]
        return _POD_IP.sub(sub, value)
    if isinstance(value, list):
        return [_fill(v, ips) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ips) for k, v in value.items()}
    return value


def with_pod_ips(step: Step, ips: Mapping[str, str]) -> Step:
    """``step`` with every ``${ns/pod}`` in its policies replaced by that pod's IP."""
    return Step(tuple(_fill(p, ips) for p in step.policies), step.delete_policies,
                step.pod_labels, step.namespace_labels, step.probes)


def _probe(raw: Mapping, where: str) -> Probe:
    if not isinstance(raw, Mapping) or "port" not in raw:
        raise CaseError(f"{where}: a probe needs a port")
    port = raw["port"]
    if not isinstance(port, (int, str)) or isinstance(port, bool):
        raise CaseError(f"{where}: port must be a number or a name, not {port!r}")
    protocol = str(raw.get("protocol", "TCP")).upper()
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise CaseError(f"{where}: unknown protocol {protocol!r}")
    reach = raw.get("reachability")
    if reach is None:
        return Probe(port, protocol)
    if not isinstance(reach, Mapping) or not isinstance(reach.get("default"), bool):
        raise CaseError(f"{where}: reachability needs default: true or false")
    expect = []
    for i, e in enumerate(reach.get("expect") or []):
        if not isinstance(e, Mapping) or not isinstance(e.get("allowed"), bool) \
                or not isinstance(e.get("from"), str) or not isinstance(e.get("to"), str):
            raise CaseError(f"{where}: expect[{i}] needs from, to and allowed")
        expect.append(Expectation(e["from"], e["to"], e["allowed"]))
    return Probe(port, protocol, reach["default"], tuple(expect))


def _manifests(names: list, base: Path | None, where: str) -> list[dict]:
    out: list[dict] = []
    for name in names:
        path = (base or Path(".")) / str(name)
        if not path.is_file():
            raise CaseError(f"{where}: manifest {name} not found beside the case file")
        out.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return out


def _step(raw: Mapping, where: str, base: Path | None = None) -> Step:
    if not isinstance(raw, Mapping):
        raise CaseError(f"{where}: a step is a mapping")
    unknown = set(raw) - {"policies", "manifests", "delete_policies", "pod_labels",
                          "namespace_labels", "probes"}
    if unknown:
        raise CaseError(f"{where}: unknown keys {sorted(unknown)}")
    probes = tuple(_probe(p, f"{where}.probes[{i}]")
                   for i, p in enumerate(raw.get("probes") or []))
    policies = list(raw.get("policies") or ()) + _manifests(raw.get("manifests") or [], base,
                                                            where)
    return Step(tuple(policies), tuple(raw.get("delete_policies") or ()),
                dict(raw.get("pod_labels") or {}), dict(raw.get("namespace_labels") or {}),
                probes)


def case_from(raw: Mapping, where: str = "case", base: Path | None = None) -> Case:
    """One case from its YAML mapping; CaseError names what is wrong and where.
    ``base`` is the directory ``manifests`` are read from."""
    if not isinstance(raw, Mapping) or not raw.get("name"):
        raise CaseError(f"{where}: a case needs a name")
    where = f"{where} {raw['name']}"
    steps = tuple(_step(s, f"{where}.steps[{i}]", base)
                  for i, s in enumerate(raw.get("steps") or []))
    if not steps:
        raise CaseError(f"{where}: a case needs steps")
    return Case(str(raw["name"]), steps, str(raw.get("upstream", "")),
                str(raw.get("source", "")), tuple(raw.get("tags") or ()))


def load(path: str | Path) -> list[Case]:
    """Every case in a YAML file (a list of cases)."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, list):
        raise CaseError(f"{path}: expected a list of cases")
    cases = [case_from(c, f"{path}[{i}]", Path(path).parent) for i, c in enumerate(data)]
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CaseError(f"{path}: duplicate case names {dup}")
    return cases


def to_dict(case: Case) -> dict:
    """The YAML mapping of ``case`` (the inverse of ``case_from``)."""
    def probe(p: Probe) -> dict:
        out: dict = {"port": p.port, "protocol": p.protocol}
        if p.default is not None:
            out["reachability"] = {"default": p.default, "expect": [
                {"from": e.source, "to": e.destination, "allowed": e.allowed}
                for e in p.expect]}
        return out

    steps = []
    for s in case.steps:
        step: dict = {}
        if s.policies:
            step["policies"] = list(s.policies)
        if s.delete_policies:
            step["delete_policies"] = list(s.delete_policies)
        if s.pod_labels:
            step["pod_labels"] = {k: dict(v) for k, v in s.pod_labels.items()}
        if s.namespace_labels:
            step["namespace_labels"] = {k: dict(v) for k, v in s.namespace_labels.items()}
        step["probes"] = [probe(p) for p in s.probes]
        steps.append(step)
    out: dict = {"name": case.name}
    if case.upstream:
        out["upstream"] = case.upstream
    if case.source:
        out["source"] = case.source
    if case.tags:
        out["tags"] = list(case.tags)
    out["steps"] = steps
    return out
