"""kproxy's nftables transactions against the real ``nft`` and kernel.

The unit tests apply kproxy's transactions to a model of ``nft -f``; this
applies them to the real one, in a scratch namespace (``k8snet-bench-resync``,
which ``make clean`` finds).  It was written after a live failure: nft 1.0.6
creates a ``typeof ... th dport . numgen ...`` map but refuses any later rule
that uses it ("conflicting protocols specified: tcp vs. th"), so a partial
sync that needed a new shared chain failed.  Here every seed of
test_kproxy_partial's random cluster generator runs 40 partial syncs, and a
table that was flushed or deleted is written again (kube-proxy's canary:
``Proxier.intact`` then ``reset``).  After each run the kernel must hold
exactly what kproxy believes it applied: the same chains with as many rules,
the same map and set elements.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kproxy.apply import Proxier
from kproxy.nft import FAMILY, TABLE
from kproxy.nft_sync import Ruleset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import test_kproxy_partial as generator  # noqa: E402  (the unit tests' random clusters)

NS = "k8snet-bench-resync"
STEPS = 40
SEEDS = range(6)           # as in test_kproxy_partial


def nft(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", NS, "nft", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def netns():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    yield NS
    subprocess.run(["ip", "netns", "del", NS], check=True)


@pytest.fixture
def proxier(netns):
    p = Proxier(netns, "nftables")
    p.cleanup()                      # each test starts with no kproxy table
    yield p
    p.cleanup()


def _key(item) -> str:
    """An element of ``nft -j`` output as kproxy renders it: ``a . b . c``."""
    if isinstance(item, dict) and "elem" in item:
        item = item["elem"]["val"]
    if isinstance(item, dict) and "concat" in item:
        return " . ".join(str(x) for x in item["concat"])
    return str(item)


def kernel_view() -> tuple[dict[str, int], dict[str, set[str]]]:
    """(chain -> number of rules, map or set -> element keys) of the live table."""
    out = nft("-j", "list", "table", FAMILY, TABLE)
    assert out.returncode == 0, out.stderr
    chains: dict[str, int] = {}
    elements: dict[str, set[str]] = {}
    for obj in json.loads(out.stdout)["nftables"]:
        if "chain" in obj:
            chains.setdefault(obj["chain"]["name"], 0)
        elif "rule" in obj:
            chains[obj["rule"]["chain"]] = chains.get(obj["rule"]["chain"], 0) + 1
        elif "map" in obj:
            elements[obj["map"]["name"]] = {_key(e[0]) for e in obj["map"].get("elem", [])}
        elif "set" in obj:
            elements[obj["set"]["name"]] = {_key(e) for e in obj["set"].get("elem", [])}
    return chains, elements


def applied_view(rs: Ruleset) -> tuple[dict[str, int], dict[str, set[str]]]:
    """The same view of what kproxy believes the kernel holds."""
    elements = {name: set(keys) for name, keys in rs.elements.items()}
    elements.update((name, set()) for name in rs.affinity_sets)   # dynamic: no client yet
    return {name: len(rules) for name, rules in rs.chains.items()}, elements


def cluster(seed: int) -> tuple[random.Random, dict]:
    rng = random.Random(seed)
    return rng, {i: generator.make_service(rng, i) for i in range(1, 15)}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_partial_syncs_apply_to_the_real_nft(proxier: Proxier, seed: int) -> None:
    rng, services = cluster(seed)
    new_chains = 0
    for step in range(STEPS):
        result = proxier.sync(generator.state(services))     # raises if nft refuses
        assert result.fresh == (step == 0), f"seed {seed} step {step}"
        if step:
            new_chains += result.text.count(f"add chain {FAMILY} {TABLE} ")
        if step % 10 == 9:
            assert kernel_view() == applied_view(proxier.previous), f"seed {seed} step {step}"
        generator.mutate(rng, services, step)
    assert new_chains, "no partial sync added a chain: the case that failed live is not run"
    assert proxier.intact()


@pytest.mark.parametrize("damage", [("flush", "table"), ("delete", "table")],
                         ids=["flushed", "deleted"])
def test_a_damaged_table_is_written_again(proxier: Proxier, damage: tuple[str, str]) -> None:
    rng, services = cluster(3)
    for step in range(5):                       # a table made of several transactions
        proxier.sync(generator.state(services))
        generator.mutate(rng, services, step)
    proxier.sync(generator.state(services))
    before = applied_view(proxier.previous)
    assert kernel_view() == before and proxier.intact()
    done = nft(*damage, FAMILY, TABLE)
    assert done.returncode == 0, done.stderr
    assert not proxier.intact()                 # the canary sees it
    proxier.reset()
    result = proxier.sync(generator.state(services))
    assert result.fresh and proxier.intact()
    assert kernel_view() == applied_view(proxier.previous) == before
    generator.mutate(rng, services, 99)         # and partial syncs go on from there
    proxier.sync(generator.state(services))
    assert kernel_view() == applied_view(proxier.previous)


def test_a_fresh_sync_onto_a_flushed_table_without_reset(proxier: Proxier) -> None:
    """A new kproxy (a restarted agent) meets a table someone flushed: the
    maps and sets are still there, the rules gone."""
    _, services = cluster(4)
    proxier.sync(generator.state(services))
    assert nft("flush", "table", FAMILY, TABLE).returncode == 0
    fresh = Proxier(proxier.netns, "nftables")
    assert fresh.sync(generator.state(services)).fresh
    assert kernel_view() == applied_view(fresh.previous) and fresh.intact()
