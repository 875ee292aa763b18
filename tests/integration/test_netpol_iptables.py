"""The upstream NetworkPolicy cases with kproxy in iptables mode.

Policies are judged after kproxy's DNAT whichever mode wrote it; ``make
test`` runs every sixth upstream case here, ``make netpol-full`` all.
"""
from __future__ import annotations

import pytest

from tests.integration.test_netpol import FULL, UPSTREAM, model_cluster, run_live

CASES = UPSTREAM if FULL else UPSTREAM[::6]


@pytest.fixture(scope="module")
def lab_iptables():
    c = model_cluster("iptables")
    yield c
    c.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_case_live_iptables_mode(lab_iptables, case):
    run_live(lab_iptables, case)
