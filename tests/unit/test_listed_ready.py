"""A terminating pod's drain counts from when no EndpointSlice lists it ready."""
from __future__ import annotations

from k8snet.node.runtime import listed_ready


def _slice(*endpoints: tuple[str, bool | None]) -> dict:
    out = []
    for ip, ready in endpoints:
        ep = {"addresses": [ip]}
        if ready is not None:
            ep["conditions"] = {"ready": ready, "serving": True, "terminating": not ready}
        out.append(ep)
    return {"kind": "EndpointSlice", "endpoints": out}


def test_ready_unset_and_true_count_false_does_not():
    slices = [_slice(("10.244.1.5", True)), _slice(("10.244.2.7", None), ("10.244.2.8", False))]
    assert listed_ready(slices, "10.244.1.5")
    assert listed_ready(slices, "10.244.2.7")          # unset: ready (discovery.k8s.io/v1)
    assert not listed_ready(slices, "10.244.2.8")      # terminating, serving: not ready
    assert not listed_ready(slices, "10.244.9.9")
    assert not listed_ready([{"kind": "EndpointSlice", "endpoints": None}], "10.244.1.5")
