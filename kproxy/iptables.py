"""Render a node's proxy state as ``iptables-restore --noflush`` input: kproxy's iptables mode.

Modelled on kube-proxy's iptables mode: KPROXY-SERVICES matches each
service IP and port in turn (so lookup cost grows with the number of
services, which the benchmarks show), ``statistic --mode random`` picks an
endpoint, ``recent`` keeps ClientIP affinity.  ``kproxy.iptables_plan``
holds the rules of one Service port, ``kproxy.iptables_sync`` the full and
partial restores (KEP-3453).  Jumps from the built-in chains are ensured
separately (``jump_rules``), as kube-proxy does, so no built-in chain is
ever flushed.
"""
from __future__ import annotations

from kproxy.iptables_plan import (
    DROP_MARK,
    FILTER_STATIC,
    MASQ_MARK,
    NAT_STATIC,
    chain,
)
from kproxy.iptables_sync import Ruleset, plan
from kproxy.state import NodeProxyState

__all__ = ["DROP_MARK", "FILTER_STATIC", "JUMPS", "MASQ_MARK", "NAT_STATIC", "Ruleset", "chain",
           "cleanup_script", "jump_rules", "render"]

# (table, built-in chain, kproxy chain) jumps installed once per node.
JUMPS = [
    ("nat", "PREROUTING", "KPROXY-SERVICES"),
    ("nat", "OUTPUT", "KPROXY-SERVICES"),
    ("nat", "POSTROUTING", "KPROXY-POSTROUTING"),
    ("filter", "INPUT", "KPROXY-EXTERNAL-SERVICES"),
    ("filter", "INPUT", "KPROXY-SERVICES"),
    ("filter", "FORWARD", "KPROXY-SERVICES"),
    ("filter", "OUTPUT", "KPROXY-SERVICES"),
    ("filter", "FORWARD", "KPROXY-FIREWALL"),
    ("filter", "INPUT", "KPROXY-FIREWALL"),
    ("filter", "OUTPUT", "KPROXY-FIREWALL"),
]


def render(state: NodeProxyState, previous: Ruleset | set[str] | None = None
           ) -> tuple[str, Ruleset]:
    """The restore text for ``state``, and the ruleset to pass next time.

    ``previous`` is what the last restore applied (a partial restore of what
    changed), or the set of KPROXY nat chains found in the kernel, or None
    (a full restore; chains in the set that are no longer wanted are
    flushed and deleted in it).  ``previous`` itself is not changed.
    """
    if isinstance(previous, Ruleset):
        delta = plan(previous.copy(), state)
    else:
        delta = plan(None, state, frozenset(previous or ()))
    return delta.text, delta.commit()


def jump_rules() -> list[list[str]]:
    """``iptables`` argument lists for the jumps from built-in chains."""
    return [["-t", table, builtin, "-m", "comment", "--comment", "kproxy", "-j", target]
            for table, builtin, target in JUMPS]


def cleanup_script(chains_present: list[str]) -> str:
    """Flush then delete every KPROXY chain given (after the jumps are removed)."""
    nat = [c for c in chains_present if c.startswith("nat:")]
    flt = [c for c in chains_present if c.startswith("filter:")]
    out = []
    for table, names in (("nat", nat), ("filter", flt)):
        names = [n.split(":", 1)[1] for n in names]
        out.append(f"*{table}")
        out += [f":{n} - [0:0]" for n in names]
        out += [f"-X {n}" for n in names]
        out.append("COMMIT")
    return "\n".join(out) + "\n"
