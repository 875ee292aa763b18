"""The fault commands' pure parts: the loss table and the argument checks."""
from __future__ import annotations

import pytest

from k8snet.cluster import faults
from k8snet.errors import K8snetError


def test_loss_table_drops_a_share_both_ways():
    text = faults.loss_text(30)
    assert 'iifname "eth0" numgen random mod 100 < 30 counter drop' in text
    assert 'oifname "eth0" numgen random mod 100 < 30 counter drop' in text


def test_full_loss_needs_no_numgen_and_zero_removes_the_table():
    assert "numgen" not in faults.loss_text(100) and "counter drop" in faults.loss_text(100)
    assert faults.loss_text(0).strip().splitlines() == [
        f"add table ip {faults.FAULT_TABLE}", f"delete table ip {faults.FAULT_TABLE}"]


@pytest.mark.parametrize("bad", ["-1", "101", "2.5", "x", ""])
def test_loss_percent_is_checked(bad):
    with pytest.raises(K8snetError, match="PERCENT"):
        faults.parse_percent(bad)


@pytest.mark.parametrize("bad", ["100", "9001", "abc"])
def test_mtu_is_checked(bad):
    with pytest.raises(K8snetError, match="BYTES"):
        faults.parse_mtu(bad)
