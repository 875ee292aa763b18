"""Run the path matrix: baselines, then one cluster per topology and proxy mode.

``plan()`` is pure: which phases, which paths, which kinds, so the progress
counter knows its total up front.  A target anchored on a baseline is also
measured in pairs: with the cluster up, the baseline is built again and its
TCP x1 runs alternate with the path's (anchor, path, path, anchor, ...), so a
slow spell of the machine lands on both sides of the ratio.

``Runner`` executes it: every failure is recorded against the measurement it
broke (status "failed" with the text), and every cluster, baseline and server
is torn down on the way out, Ctrl-C included.
"""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from k8snet.errors import K8snetError
from k8snet.perf import baselines, cpu, facts, interrupts, measure, paths, results, routes
from k8snet.perf.measure import Result
from k8snet.perf.routes import Route

SCHEMA = "k8snet-perf/1"
IPVS_MISSING = "not available on this kernel (no CONFIG_IP_VS)"


@dataclass
class Config:
    topos: tuple[str, ...] = (paths.SINGLE, paths.LEAFSPINE)
    modes: tuple[str, ...] = ("nftables", "iptables")
    duration: float = 2.0
    repeat: int = 1
    target_repeat: int = 3      # TCP x1 runs of every path and anchor a target compares
    udp_rate: str = "200M"
    udp_length: int = 1448
    ping_count: int = 30
    connect_count: int = 200
    only: tuple[str, ...] = ()
    shaping: bool = True
    out: str = "results/perf"


@dataclass(frozen=True)
class Job:
    kinds: tuple[str, ...]
    path: paths.PathDef | None = None
    baseline: str | None = None
    repeat: int = 1
    tcp1_repeat: int = 1
    pairs: tuple[str, ...] = ()   # anchors (baseline:ID, path:ID) whose TCP x1 alternates
    pair_rounds: int = 0          # pairs of runs per anchor: even, for the ABBA order

    def counts(self) -> dict[str, int]:
        """Runs of each kind: ``repeat``, and more TCP x1 where a target needs it."""
        return {k: self.tcp1_repeat if k == "tcp1" else self.repeat for k in self.kinds}

    @property
    def steps(self) -> int:
        return sum(self.counts().values()) + 2 * self.pair_rounds * len(self.pairs)


@dataclass(frozen=True)
class Phase:
    kind: str                  # "baselines" or "cluster"
    topo: str = ""
    mode: str = ""
    jobs: tuple[Job, ...] = field(default=())

    @property
    def steps(self) -> int:
        return sum(j.steps for j in self.jobs)


def mode_status(mode: str) -> str:
    """"" when kproxy can run ``mode`` here, else why not."""
    from kproxy.apply import require_mode

    try:
        require_mode(mode)
    except K8snetError as exc:
        return IPVS_MISSING if mode == "ipvs" and "CONFIG_IP_VS" in str(exc) else str(exc)
    if mode == "ipvs":
        return "rendered by kproxy but not applied (see kproxy/ipvs.py)"
    return ""


def plan(cfg: Config, usable_modes: list[str]) -> list[Phase]:
    """The phases of a run, in order; pure."""
    chosen = paths.selected(list(cfg.only) or None)
    roles = set(cfg.topos) | ({paths.SHAPED} if cfg.shaping else set())
    chosen = [p for p in chosen if p.topo in roles]
    phases = []
    anchored = paths.target_anchors(chosen)
    more = max(cfg.repeat, cfg.target_repeat)

    def job(kinds: tuple[str, ...], name: str, **kw) -> Job:
        return Job(kinds, repeat=cfg.repeat,
                   tcp1_repeat=more if name in anchored else cfg.repeat, **kw)

    needed = paths.baselines_needed(chosen, full_run=not cfg.only)
    if needed:
        phases.append(Phase("baselines", jobs=tuple(
            job(baselines.BASELINES[b].kinds or measure.KINDS, f"baseline:{b}", baseline=b)
            for b in needed)))
    for i, mode in enumerate(usable_modes):
        primary = i == 0
        for topo in (paths.SINGLE, paths.LEAFSPINE, paths.SHAPED):
            here = [p for p in chosen if p.topo == topo]
            if not here or (topo != paths.SINGLE and not primary):
                continue
            refs = {p.reference for p in here if p.proxy and not p.is_reference}
            jobs = []
            for p in here:
                kinds = paths.kinds_for(p, primary, p.id in refs)
                if not kinds:
                    continue
                pairs = paths.paired_anchors(p.id) if set(kinds) == set(p.kinds) else ()
                jobs.append(job(kinds, f"path:{p.id}", path=p, pairs=pairs,
                                pair_rounds=more + more % 2 if pairs else 0))
            if jobs:
                phases.append(Phase("cluster", topo, mode, tuple(jobs)))
    return phases


def pair_route(pair: baselines.Pair) -> Route:
    """The route through a baseline's two namespaces."""
    return Route(pair.client_ns, pair.server_ns, pair.server_ip, ping_ip=pair.server_ip,
                 describe=f"{pair.client_ns} → {pair.server_ns} {pair.server_ip}")


def fmt_result(r: Result) -> str:
    if not r.ok:
        return f"FAILED: {r.error}"
    v = r.values
    if r.kind in ("tcp1", "tcp4"):
        return f"{v['gbps']:.2f} Gbit/s"
    if r.kind == "udp":
        return (f"{v['gbps']:.3f} Gbit/s delivered, loss {v['lost_percent']:.2f}%, "
                f"jitter {v['jitter_ms']:.3f} ms")
    return f"p50 {v['p50_ms']:.3f} ms, p99 {v['p99_ms']:.3f} ms"


def run_kind(kind: str, route: Route, cfg: Config) -> Result:
    """One measurement of ``kind`` over ``route``; a server that will not start fails it."""
    try:
        if kind in ("tcp1", "tcp4", "udp"):
            with measure.iperf_server(route.server_ns, route.server_iperf_port):
                return measure.iperf(kind, route.client_ns, route.ip, route.iperf_port,
                                     cfg.duration, cfg.udp_rate, cfg.udp_length)
        if kind == "ping":
            if not route.ping_ip:
                return measure.failed(kind, "no address to ping on this path")
            return measure.ping(route.client_ns, route.ping_ip, cfg.ping_count)
        if kind == "connect":
            with measure.connect_server(route.server_ns, route.server_connect_port):
                return measure.connect_times(route.client_ns, route.ip, route.connect_port,
                                             cfg.connect_count)
    except (RuntimeError, OSError) as exc:
        return measure.failed(kind, str(exc))
    raise ValueError(f"unknown measurement kind {kind}")


def netem_check() -> dict:
    """Ask for link delay and loss as a topology file would: expect a clear refusal."""
    from k8snet.cluster.cluster import Cluster
    from k8snet.errors import MissingKernelFeature
    from k8snet.load import topofile

    spec = topofile.parse({"name": "perf-netem", "nodes": 1,
                           "links": {"bw": 100, "delay": "5ms", "loss": 1}},
                          source="perf netem check (links: {delay: 5ms, loss: 1})")
    cluster = Cluster(spec)
    try:
        cluster.start()
    except MissingKernelFeature as exc:
        return {"status": "refused", "message": str(exc)}
    except K8snetError as exc:
        return {"status": "error", "message": str(exc)}
    cluster.stop()
    return {"status": "available", "message": "this kernel has netem; delay and loss "
            "were applied"}


@contextmanager
def quiet_tc(quiet: bool) -> Iterator[None]:
    """Mininet prints tc's harmless "HTB quantum is big" warning as an error for
    every shaped link; hold Mininet's log to critical while the shaped cluster starts."""
    if not quiet:
        yield
        return
    from mininet.log import lg

    level = lg.level
    lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lg.setLevel(level)


def new_doc(cfg: Config) -> dict:
    return {"schema": SCHEMA, "kind": "perf",
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "finished": None, "wall_s": None, "interrupted": False,
            "machine": facts.machine(), "config": asdict(cfg), "proxy_modes": {},
            "clusters": [], "links": {}, "baselines": {}, "paths": {}, "targets": [],
            "leftovers": []}


class Runner:
    def __init__(self, cfg: Config, say: Callable[..., None] = print) -> None:
        self.cfg = cfg
        self.say = say
        self.doc = new_doc(cfg)
        self.total = 0
        self.done = 0

    # --- progress ---------------------------------------------------------

    def _step(self, title: str, kind: str, measure_fn: Callable[[], Result]) -> Result:
        self.done += 1
        width = len(str(self.total))
        head = (f"[{self.done:>{width}}/{self.total}] {title:<46} "
                f"{paths.KIND_TITLES[kind]:<7} ... ")
        self.say(head, end="", flush=True)
        result = measure_fn()
        self.say(fmt_result(result), flush=True)
        return result

    def _skip(self, entry: dict, kinds: tuple[str, ...], error: str, title: str) -> None:
        """Record every remaining kind of ``entry`` as failed with ``error``."""
        for kind in kinds:
            if kind in entry["metrics"]:
                continue
            samples = [self._step(title, kind, lambda k=kind: measure.failed(k, error))]
            entry["metrics"][kind] = results.kind_record(samples)

    def measure_entry(self, entry: dict, route: Route, counts: dict[str, int],
                      title: str) -> None:
        """Rounds over the kinds (``counts``: runs of each); results into ``entry``."""
        samples: dict[str, list[Result]] = {k: [] for k in counts}
        try:
            for rnd in range(max(counts.values(), default=0)):
                for kind, n in counts.items():
                    if rnd < n:
                        samples[kind].append(self._step(
                            title, kind, lambda k=kind: run_kind(k, route, self.cfg)))
        finally:  # interrupted or not, what was measured is kept
            for kind, taken in samples.items():
                if taken:
                    entry["metrics"][kind] = results.kind_record(taken)

    def measure_pairs(self, entry: dict, route: Route, against: str, rounds: int,
                      title: str, cluster=None) -> None:
        """``rounds`` TCP x1 runs of ``against`` alternating with as many of
        ``route``, in the order ABBA ABBA ... so a drift in between cancels;
        kept in ``entry["paired"][against]`` as ``{"rounds", "anchor": record,
        "path": record, "error"}``.  ``baseline:ID`` is built beside the
        cluster; ``path:ID`` is a reference path of ``cluster``, each of its
        runs inside its own route context (egress SNAT turned off and back
        on, for one)."""
        kind, _, ident = against.partition(":")
        taken: dict[str, list[Result]] = {"anchor": [], "path": []}
        rec = {"rounds": rounds, "error": ""}
        entry.setdefault("paired", {})[against] = rec
        try:
            with ExitStack() as stack:
                if kind == "baseline":
                    base = baselines.BASELINES[ident]
                    anchor = pair_route(stack.enter_context(base.build()))
                    name = f"paired: baseline {base.id}"
                else:
                    anchor = routes.route(cluster, ident)
                    name = f"paired: {paths.BY_ID[ident].title}"
                sides = {"anchor": (name, anchor), "path": (f"paired: {title}", route)}
                for rnd in range(rounds):
                    for side in (("anchor", "path") if rnd % 2 == 0 else ("path", "anchor")):
                        label, where = sides[side]
                        taken[side].append(self._step(
                            label, "tcp1", lambda w=where: self._paired_run(w)))
        except Exception as exc:  # the unpaired runs still judge the target
            rec["error"] = f"{against.replace(':', ' ')} beside the cluster: " \
                f"{type(exc).__name__}: {exc}"
            self.say(f"FAILED: {rec['error']} (the target is judged on the separate runs)")
        finally:
            for side, samples in taken.items():
                if samples:
                    rec[side] = results.kind_record(samples)

    def _paired_run(self, where: Route) -> Result:
        """One TCP x1 run inside its route's context, entered again for each
        run: an anchor's may change the node (SNAT off), and the path's then
        checks it was put back (SNAT on, seen from ext)."""
        with where.context():
            return run_kind("tcp1", where, self.cfg)

    # --- phases -------------------------------------------------------------

    def run(self, phases: list[Phase]) -> dict:
        self.total = sum(p.steps for p in phases)
        t0 = time.monotonic()
        try:
            for phase in phases:
                start = self.done
                if phase.kind == "baselines":
                    self._baselines(phase)
                else:
                    if phase.topo == paths.SHAPED:
                        self.doc["netem"] = netem_check()
                    self._cluster(phase)
                self.done = start + phase.steps   # steps a failure left untaken
        except KeyboardInterrupt:
            self.doc["interrupted"] = True
            raise
        finally:
            with interrupts.shielded():
                baselines.teardown()
            self.doc["wall_s"] = time.monotonic() - t0
            self.doc["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            results.finish(self.doc)
        return self.doc

    def _baselines(self, phase: Phase) -> None:
        for job in phase.jobs:
            base = baselines.BASELINES[job.baseline]
            entry = {"id": base.id, "title": base.title, "role": "baseline",
                     "route": "", "metrics": {}}
            self.doc["baselines"][base.id] = entry
            title = f"baseline: {base.title}"
            try:
                with base.build() as pair:
                    route = pair_route(pair)
                    entry["route"] = route.describe
                    if base.id != "loopback":
                        self.doc["links"][f"baseline {base.id} eth0"] = facts.link_facts(
                            pair.client_ns, "eth0")
                    self.measure_entry(entry, route, job.counts(), title)
            except Exception as exc:  # recorded against its measurements
                self._skip(entry, job.kinds, f"baseline {base.id}: {type(exc).__name__}: "
                           f"{exc}", title)

    def _cluster(self, phase: Phase) -> None:
        from k8snet.cluster.cluster import Cluster
        from k8snet.perf import cluster_spec

        info = {"topo": phase.topo, "proxy_mode": phase.mode, "name": "", "up_s": None,
                "down_s": None, "error": ""}
        self.doc["clusters"].append(info)
        entries = []
        for job in phase.jobs:
            entry = results.path_record(job.path, phase.mode)
            entry["kinds"] = list(job.kinds)
            # Measured in full here, or only to anchor another path's ratio.
            entry["scope"] = "full" if set(job.kinds) == set(job.path.kinds) else "reference"
            self.doc["paths"][entry["key"]] = entry
            entries.append((job, entry))
        t0 = time.monotonic()
        try:
            spec = cluster_spec.load(phase.topo)
            info["name"] = spec.name
            cluster = Cluster(spec, proxy_mode=phase.mode)
            with quiet_tc(phase.topo == paths.SHAPED):
                cluster.start()
        except Exception as exc:  # recorded against every path it had
            info["error"] = f"cluster did not start: {type(exc).__name__}: {exc}"
            info["traceback"] = traceback.format_exc()
            for job, entry in entries:
                self._skip(entry, job.kinds, info["error"], self._title(job, phase))
            return
        try:
            try:
                info["workload_s"] = cluster_spec.deploy(cluster)
            except Exception as exc:  # recorded against every path it had
                info["error"] = f"perf workload not ready: {type(exc).__name__}: {exc}"
                for job, entry in entries:
                    self._skip(entry, job.kinds, info["error"], self._title(job, phase))
                return
            info["up_s"] = time.monotonic() - t0
            # measured on a quiet machine, as the baselines are: not beside the
            # cluster's own start (its add-ons' programs, the controllers' first passes)
            info["settled_s"] = cpu.settle()
            client = routes.perf_pod(cluster, cluster_spec.CLIENT)
            self.doc["links"][f"{phase.topo} pod eth0"] = facts.link_facts(client.netns, "eth0")
            for job, entry in entries:
                title = self._title(job, phase)
                try:
                    route = routes.route(cluster, job.path.id)
                    entry["route"] = route.describe
                    with route.context() as check:
                        entry["check"] = check
                        self.measure_entry(entry, route, job.counts(), title)
                        for against in job.pairs:
                            self.measure_pairs(entry, route, against, job.pair_rounds, title,
                                               cluster)
                except Exception as exc:  # one path's failure, not the run's
                    self._skip(entry, job.kinds, f"{type(exc).__name__}: {exc}", title)
        finally:
            t1 = time.monotonic()
            with interrupts.shielded():
                cluster.stop()
            info["down_s"] = time.monotonic() - t1

    @staticmethod
    def _title(job: Job, phase: Phase) -> str:
        title = job.path.title
        if job.path.proxy:
            title += f" [{phase.mode}]"
        return title
