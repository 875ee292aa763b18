"""Tests for k8snet.node.ipam: host-local style pod IP allocation and node CIDR carving."""

from __future__ import annotations

import ipaddress

import pytest

from k8snet.errors import K8snetError
from k8snet.node.ipam import NodeIpam, PoolExhausted, node_pod_cidrs


def test_first_allocation_skips_network_and_gateway() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/24")
    assert ipam.allocate("default/a") == "10.244.1.2"
    assert ipam.allocate("default/b") == "10.244.1.3"


def test_capacity_excludes_network_gateway_and_broadcast() -> None:
    assert NodeIpam("node1", "10.244.1.0/24").capacity == 253
    assert NodeIpam("node1", "10.244.1.0/29").capacity == 5
    # /30: network, gateway, one pod address, broadcast.
    assert NodeIpam("node1", "10.244.1.0/30").capacity == 1


def test_full_pool_never_hands_out_reserved_addresses() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/28")
    ips = [ipam.allocate(f"default/p{i}") for i in range(ipam.capacity)]
    assert "10.244.1.0" not in ips  # network
    assert "10.244.1.1" not in ips  # the pods' gateway (on their veths)
    assert "10.244.1.15" not in ips  # broadcast
    assert ips == [f"10.244.1.{i}" for i in range(2, 15)]


def test_never_hands_out_a_live_ip_twice() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/27")
    ips = [ipam.allocate(f"default/p{i}") for i in range(ipam.capacity)]
    assert len(set(ips)) == len(ips) == ipam.capacity
    for ip in ips:
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.244.1.0/27")


def test_owner_and_in_use_track_allocations() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/24")
    ip = ipam.allocate("default/web")
    assert ipam.owner(ip) == "default/web"
    assert ipam.in_use() == {ip: "default/web"}
    # in_use returns a copy: mutating it must not free the address.
    ipam.in_use().clear()
    assert ipam.owner(ip) == "default/web"


def test_release_frees_the_address() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/24")
    ip = ipam.allocate("default/a")
    ipam.release(ip)
    assert ipam.owner(ip) is None
    assert ipam.in_use() == {}


def test_release_of_unknown_ip_is_a_no_op() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/24")
    ip = ipam.allocate("default/a")
    ipam.release("10.244.1.200")
    assert ipam.in_use() == {ip: "default/a"}


def test_released_ip_is_not_reused_at_once() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/24")
    first = ipam.allocate("default/a")
    ipam.release(first)
    second = ipam.allocate("default/b")
    assert second != first
    assert second == "10.244.1.3"


def test_released_ip_is_reused_only_after_wrap_around() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/29")  # pool .2 .. .6
    ips = [ipam.allocate(f"default/p{i}") for i in range(3)]
    assert ips == ["10.244.1.2", "10.244.1.3", "10.244.1.4"]
    ipam.release("10.244.1.2")
    # Next-after-last: .5 and .6 first, then wrap around to the freed .2.
    assert ipam.allocate("default/x") == "10.244.1.5"
    assert ipam.allocate("default/y") == "10.244.1.6"
    assert ipam.allocate("default/z") == "10.244.1.2"
    assert ipam.owner("10.244.1.2") == "default/z"


def test_wrap_around_skips_addresses_still_in_use() -> None:
    ipam = NodeIpam("node1", "10.244.1.0/29")  # pool .2 .. .6
    for i in range(ipam.capacity):
        ipam.allocate(f"default/p{i}")
    ipam.release("10.244.1.4")
    assert ipam.allocate("default/new") == "10.244.1.4"


def test_exhaustion_raises_pool_exhausted_naming_node_and_cidr() -> None:
    ipam = NodeIpam("node7", "10.244.7.0/29")
    for i in range(ipam.capacity):
        ipam.allocate(f"default/p{i}")
    with pytest.raises(PoolExhausted) as info:
        ipam.allocate("default/one-too-many")
    message = str(info.value)
    assert "node7" in message
    assert "10.244.7.0/29" in message
    assert "default/one-too-many" in message
    assert "\n" not in message
    # A failed allocation leaves the pool unchanged.
    assert len(ipam.in_use()) == ipam.capacity


def test_pool_exhausted_is_a_k8snet_error() -> None:
    assert issubclass(PoolExhausted, K8snetError)


def test_node_pod_cidrs_default_layout() -> None:
    assert node_pod_cidrs("10.244.0.0/16", 24, 3) == [
        "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]


@pytest.mark.parametrize("i", [1, 5, 42, 255])
def test_node_i_gets_subnet_i(i: int) -> None:
    assert node_pod_cidrs("10.244.0.0/16", 24, i)[i - 1] == f"10.244.{i}.0/24"


def test_node_pod_cidrs_other_mask() -> None:
    assert node_pod_cidrs("10.244.0.0/16", 30, 2) == ["10.244.0.4/30", "10.244.0.8/30"]


def test_node_pod_cidrs_zero_nodes_is_empty() -> None:
    assert node_pod_cidrs("10.244.0.0/16", 24, 0) == []


@pytest.mark.parametrize("mask", [8, 15, 31, 32])
def test_node_pod_cidrs_invalid_mask(mask: int) -> None:
    with pytest.raises(K8snetError) as info:
        node_pod_cidrs("10.244.0.0/16", mask, 1)
    message = str(info.value)
    assert f"nodeCIDRMaskSize {mask}" in message
    assert "between 16 and 30" in message
    assert "10.244.0.0/16" in message


def test_node_pod_cidrs_mask_equal_to_prefix_has_no_room() -> None:
    # Subnet 0 is skipped, so /16 split into /16 leaves nothing.
    with pytest.raises(K8snetError, match="room for 0 nodes, 1 requested"):
        node_pod_cidrs("10.244.0.0/16", 16, 1)


def test_node_pod_cidrs_no_room() -> None:
    assert len(node_pod_cidrs("10.244.0.0/16", 24, 255)) == 255
    with pytest.raises(K8snetError) as info:
        node_pod_cidrs("10.244.0.0/16", 24, 256)
    message = str(info.value)
    assert "room for 255 nodes" in message
    assert "256 requested" in message
    assert "10.244.0.0/16" in message
