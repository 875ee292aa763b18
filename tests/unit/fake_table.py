"""The fake OpenFlow pipeline the fabric planner's tests use: now product code.

It lives in ``k8snet.trace.ofsim`` (``trace --simulate`` walks the fabric's
flows with it); this module only re-exports it under its old name.
"""
from __future__ import annotations

from k8snet.trace.ofsim import (
    MAX_HOPS,
    AmbiguousMatch,
    FakeFabric,
    FakeSwitch,
    ForwardingLoop,
    Packet,
    SwitchHop,
    bucket_index,
    field_matches,
    flow_matches,
)

__all__ = [
    "MAX_HOPS", "AmbiguousMatch", "FakeFabric", "FakeSwitch", "ForwardingLoop", "Packet",
    "SwitchHop", "bucket_index", "field_matches", "flow_matches",
]
