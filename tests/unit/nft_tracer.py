"""The nftables packet tracer the kproxy tests use: now product code.

It lives in ``k8snet.trace.nftsim`` (``trace --simulate`` walks a node's
ruleset with it); this module only re-exports it under its old name.
"""
from __future__ import annotations

from k8snet.trace.nftsim import (
    ACCEPT,
    DROP,
    HOOK_PATHS,
    REJECT,
    Chain,
    NftError,
    NftSyntaxError,
    NftTraceError,
    NftTransactionError,
    Rule,
    Table,
    TraceResult,
    check_jump_targets,
    load,
    parse_rule,
    reachable,
    trace,
    trace_all,
    unreferenced_chains,
)

__all__ = [
    "ACCEPT", "DROP", "HOOK_PATHS", "REJECT", "Chain", "NftError", "NftSyntaxError",
    "NftTraceError", "NftTransactionError", "Rule", "Table", "TraceResult",
    "check_jump_targets", "load", "parse_rule", "reachable", "trace", "trace_all",
    "unreferenced_chains",
]
