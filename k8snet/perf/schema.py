"""The results.json schema, checked by hand (no jsonschema on this machine).

``validate_perf(doc)`` and ``validate_bench(doc)`` return a list of problems,
empty when the document is well formed.  Beyond types they check the rules
the reports rely on: a failed sample has an error and no values, an ok one
has values, and a target that is not met or failed says why.
"""
from __future__ import annotations

import math

from k8snet.perf.measure import KINDS

PERF_SCHEMA = "k8snet-perf/1"
BENCH_SCHEMA = "k8snet-bench/1"
NUMBER = (int, float)


def _is_number(value) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def has(self, obj, where: str, key: str, kind, nullable: bool = False) -> bool:
        if not isinstance(obj, dict) or key not in obj:
            self.fail(where, f"missing '{key}'")
            return False
        value = obj[key]
        if value is None and nullable:
            return True
        if kind == "number":
            ok = _is_number(value)
        elif kind is bool:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            self.fail(f"{where}.{key}", f"expected {getattr(kind, '__name__', kind)}, "
                      f"got {type(value).__name__}")
        return ok

    def one_of(self, obj: dict, where: str, key: str, allowed: tuple) -> None:
        if self.has(obj, where, key, str) and obj[key] not in allowed:
            self.fail(f"{where}.{key}", f"'{obj[key]}' not one of {', '.join(allowed)}")

    def machine(self, doc: dict) -> None:
        if not self.has(doc, "$", "machine", dict):
            return
        m = doc["machine"]
        for key in ("cpu_model", "kernel"):
            self.has(m, "machine", key, str)
        self.has(m, "machine", "nproc", int)
        if self.has(m, "machine", "versions", dict):
            for tool in ("ovs-vswitchd", "iperf3", "nft", "python", "k8snet"):
                self.has(m["versions"], "machine.versions", tool, str)

    def sample(self, s, where: str) -> None:
        self.one_of(s, where, "status", ("ok", "failed"))
        self.has(s, where, "kind", str)
        self.has(s, where, "error", str)
        self.has(s, where, "disturbed", bool)
        if not self.has(s, where, "values", dict):
            return
        for k, v in s["values"].items():
            if not _is_number(v):
                self.fail(f"{where}.values.{k}", "not a finite number")
        if s.get("status") == "failed" and (s["values"] or not s.get("error")):
            self.fail(where, "a failed sample must carry an error and no values")
        if s.get("status") == "ok" and not s["values"]:
            self.fail(where, "an ok sample must carry values")

    def record(self, rec, where: str) -> None:
        self.one_of(rec, where, "status", ("ok", "failed", "partial"))
        self.has(rec, where, "error", str)
        if self.has(rec, where, "samples", list):
            for i, s in enumerate(rec["samples"]):
                self.sample(s, f"{where}.samples[{i}]")
            if not rec["samples"]:
                self.fail(where, "no samples")
        if self.has(rec, where, "summary", dict):
            for key, summ in rec["summary"].items():
                w = f"{where}.summary.{key}"
                if summ is None:
                    continue
                for field in ("median", "min", "max"):
                    self.has(summ, w, field, "number")
                self.has(summ, w, "n", int)
                if all(_is_number(summ.get(f)) for f in ("median", "min", "max")) and not (
                        summ["min"] <= summ["median"] <= summ["max"]):
                    self.fail(w, "median outside min..max")
            if rec.get("status") == "failed" and any(rec["summary"].values()):
                self.fail(where, "a failed measurement has no summary numbers")
            if rec.get("status") == "ok" and not rec["summary"]:
                self.fail(where, "an ok measurement must have summary numbers")
        if rec.get("status") in ("failed", "partial") and not rec.get("error"):
            self.fail(where, "a failed measurement must say why")

    def entry(self, e, where: str) -> None:
        self.has(e, where, "id", str)
        self.has(e, where, "title", str)
        if self.has(e, where, "metrics", dict):
            for kind, rec in e["metrics"].items():
                if kind not in KINDS:
                    self.fail(f"{where}.metrics", f"unknown kind '{kind}'")
                self.record(rec, f"{where}.metrics.{kind}")

    def path(self, e, where: str) -> None:
        self.entry(e, where)
        for key in ("key", "proxy_mode", "topo", "route"):
            self.has(e, where, key, str)
        self.one_of(e, where, "role", ("path", "reference"))
        if isinstance(e, dict) and "paired" in e and self.has(e, where, "paired", dict):
            self.paired(e, where)
        if self.has(e, where, "ratios", dict):
            for which, ratios in e["ratios"].items():
                w = f"{where}.ratios.{which}"
                if which not in ("baseline", "reference", "veth"):
                    self.fail(w, "unknown ratio group")
                    continue
                self.has(ratios, w, "against", str)
                for metric, value in ratios.items():
                    if metric != "against" and value is not None and not _is_number(value):
                        self.fail(f"{w}.{metric}", "not a number or null")

    def paired(self, e: dict, where: str) -> None:
        """``paired``: {"baseline:ID" | "path:ID": {rounds, error, path?, anchor?}}
        (runner.measure_pairs)."""
        for against, rec in e.get("paired", {}).items():
            w = f"{where}.paired.{against}"
            if not against.startswith(("baseline:", "path:")):
                self.fail(w, "pairs are taken only with a baseline or a reference path")
            if self.has(rec, w, "rounds", int) and rec["rounds"] < 1:
                self.fail(f"{w}.rounds", "at least one pair")
            self.has(rec, w, "error", str)
            for side in ("path", "anchor"):
                if isinstance(rec, dict) and side in rec:
                    self.record(rec[side], f"{w}.{side}")

    def target(self, t, where: str) -> None:
        for key in ("id", "title", "path", "metric", "reason"):
            self.has(t, where, key, str)
        self.one_of(t, where, "status", ("met", "not met", "failed"))
        for key in ("value", "ratio", "against_value"):
            self.has(t, where, key, "number", nullable=True)
        if t.get("status") in ("not met", "failed") and not t.get("reason"):
            self.fail(where, f"a target that is {t.get('status')} must give the reason")
        if isinstance(t, dict) and ("pairs" in t) != ("unpaired" in t):
            self.fail(where, "a target judged on pairs has both 'pairs' and 'unpaired'")
        if isinstance(t, dict) and "pairs" in t and self.has(t, where, "pairs", int) \
                and t["pairs"] < 2:
            self.fail(f"{where}.pairs", "a target judged on pairs has at least two")
        if isinstance(t, dict) and "unpaired" in t and self.has(t, where, "unpaired", dict):
            for key in ("value", "against_value", "ratio"):
                self.has(t["unpaired"], f"{where}.unpaired", key, "number", nullable=True)
        if isinstance(t, dict) and "pairs" in t:
            self.has(t, where, "ratio_of_medians", "number", nullable=True)
            if self.has(t, where, "pair_ratios", list):
                if len(t["pair_ratios"]) != t.get("pairs"):
                    self.fail(f"{where}.pair_ratios", "one ratio for each pair")
                for i, r in enumerate(t["pair_ratios"]):
                    if not _is_number(r):
                        self.fail(f"{where}.pair_ratios[{i}]", "expected a number")
        if t.get("status") == "failed" and t.get("ratio") is not None:
            self.fail(where, "a failed target has no ratio")


def validate_perf(doc) -> list[str]:
    c = _Checker()
    if not isinstance(doc, dict):
        return ["$: not an object"]
    if doc.get("schema") != PERF_SCHEMA:
        c.fail("$.schema", f"expected '{PERF_SCHEMA}'")
    c.has(doc, "$", "started", str)
    c.has(doc, "$", "wall_s", "number", nullable=True)
    c.has(doc, "$", "interrupted", bool)
    c.has(doc, "$", "config", dict)
    c.machine(doc)
    if c.has(doc, "$", "proxy_modes", dict):
        for mode, info in doc["proxy_modes"].items():
            c.one_of(info, f"proxy_modes.{mode}", "status", ("measured", "not available"))
            c.has(info, f"proxy_modes.{mode}", "reason", str)
    if c.has(doc, "$", "baselines", dict):
        for bid, e in doc["baselines"].items():
            c.entry(e, f"baselines.{bid}")
    if c.has(doc, "$", "paths", dict):
        for key, e in doc["paths"].items():
            c.path(e, f"paths.{key}")
            if isinstance(e, dict) and e.get("key") != key:
                c.fail(f"paths.{key}", "key does not match")
    if c.has(doc, "$", "targets", list):
        for i, t in enumerate(doc["targets"]):
            c.target(t, f"targets[{i}]")
    if c.has(doc, "$", "leftovers", list):
        for item in doc["leftovers"]:
            if not isinstance(item, str):
                c.fail("$.leftovers", "expected strings")
    return c.problems


def validate_bench(doc) -> list[str]:
    c = _Checker()
    if not isinstance(doc, dict):
        return ["$: not an object"]
    if doc.get("schema") != BENCH_SCHEMA:
        c.fail("$.schema", f"expected '{BENCH_SCHEMA}'")
    c.has(doc, "$", "started", str)
    c.has(doc, "$", "wall_s", "number", nullable=True)
    c.has(doc, "$", "interrupted", bool)
    c.machine(doc)
    if c.has(doc, "$", "benchmarks", dict):
        for name, b in doc["benchmarks"].items():
            c.one_of(b, f"benchmarks.{name}", "status", ("ok", "failed", "skipped"))
            c.has(b, f"benchmarks.{name}", "error", str)
            if isinstance(b, dict) and b.get("status") in ("failed", "skipped") \
                    and not b.get("error"):
                c.fail(f"benchmarks.{name}", "a failed or skipped benchmark must say why")
    if c.has(doc, "$", "leftovers", list):
        for item in doc["leftovers"]:
            if not isinstance(item, str):
                c.fail("$.leftovers", "expected strings")
    return c.problems
