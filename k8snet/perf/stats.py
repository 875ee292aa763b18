"""Pure arithmetic for the reports: percentiles, repeat summaries, ratios, targets.

Nothing here invents a number: a missing or failed input gives ``None``
(and a target gives "failed"), never 0.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MET, NOT_MET, FAILED = "met", "not met", "failed"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100), as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(values: Sequence[float | None]) -> dict | None:
    """Median, min and max of the measured values; ``None`` if none was measured.

    ``None`` entries are failed repeats: they are counted, never averaged in.
    """
    ok = [v for v in values if v is not None]
    if not ok:
        return None
    return {"median": statistics.median(ok), "min": min(ok), "max": max(ok),
            "n": len(ok), "failed": len(values) - len(ok)}


def ratio(value: float | None, against: float | None) -> float | None:
    """``value / against``, or ``None`` when either was not measured."""
    if value is None or against is None or against <= 0:
        return None
    return value / against


def evaluate(measured: float | None, threshold: float, higher_is_better: bool = True) -> str:
    """"met", "not met", or "failed" when there is no measured ratio."""
    if measured is None:
        return FAILED
    ok = measured >= threshold if higher_is_better else measured <= threshold
    return MET if ok else NOT_MET
