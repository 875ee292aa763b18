"""Tests for k8snet.load.topofile: built-in topologies and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8snet.errors import K8snetError
from k8snet.load.topofile import TopologyError, builtin_topologies, load, parse


def write(tmp_path: Path, data: dict | str, name: str = "topo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def load_error(tmp_path: Path, data: dict | str) -> tuple[str, Path]:
    """Load ``data`` from a temp file; return the one-line error and the file."""
    path = write(tmp_path, data)
    with pytest.raises(TopologyError) as info:
        load(str(path))
    message = str(info.value)
    assert isinstance(info.value, K8snetError)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message
    return message, path


def minimal(**extra) -> dict:
    data = {"name": "t", "nodes": 2}
    data.update(extra)
    return data


# --- built-in topologies ---------------------------------------------------


def test_builtin_topologies_listed() -> None:
    names = builtin_topologies()
    assert "single" in names
    assert "leafspine" in names


def test_single_loads() -> None:
    spec = load("single")
    assert spec.name == "single"
    assert spec.fabric.kind == "single"
    assert (spec.fabric.spines, spec.fabric.leaves) == (0, 1)
    assert len(spec.nodes) == 3
    assert [n.name for n in spec.nodes] == ["node1", "node2", "node3"]
    for i, node in enumerate(spec.nodes, start=1):
        assert node.index == i
        assert node.ip == f"172.18.0.{10 + i}"
        assert node.pod_cidr == f"10.244.{i}.0/24"
        assert node.pod_gateway == f"10.244.{i}.1"
    assert spec.source.endswith("single.yaml")


def test_leafspine_loads() -> None:
    spec = load("leafspine")
    assert spec.fabric.kind == "leafspine"
    assert spec.fabric.spines == 2
    assert spec.fabric.leaves == 2
    assert len(spec.nodes) == 4
    for i, node in enumerate(spec.nodes, start=1):
        assert node.ip == f"172.18.0.{10 + i}"
        assert node.pod_cidr == f"10.244.{i}.0/24"


def test_network_defaults() -> None:
    net = load("single").network
    assert net.pod_cidr == "10.244.0.0/16"
    assert net.service_cidr == "10.96.0.0/12"
    assert net.node_cidr_mask_size == 24


def test_node_count_override() -> None:
    spec = load("single,5")
    assert len(spec.nodes) == 5
    assert spec.nodes[-1].name == "node5"
    assert spec.nodes[-1].ip == "172.18.0.15"
    assert spec.nodes[-1].pod_cidr == "10.244.5.0/24"


def test_override_count_must_be_a_number() -> None:
    with pytest.raises(TopologyError, match="'x' is not a number"):
        load("single,x")


def test_load_from_path(tmp_path: Path) -> None:
    path = write(tmp_path, minimal())
    spec = load(str(path))
    assert spec.name == "t"
    assert spec.source == str(path)
    assert len(spec.nodes) == 2


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, {"nodes": 1}, name="mylab.yaml")
    assert load(str(path)).name == "mylab"


# --- bad input ---------------------------------------------------------------


def test_unknown_topology_name_lists_known_ones() -> None:
    with pytest.raises(TopologyError) as info:
        load("nosuchtopo")
    message = str(info.value)
    assert "\n" not in message
    assert "nosuchtopo" in message
    assert "leafspine" in message
    assert "single" in message


def test_missing_topology_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TopologyError, match="not found") as info:
        load(str(missing))
    assert str(missing) in str(info.value)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    text = "name: t\nfabric:\n  kind: single\nnodes: 1: 2\npods: []\n"
    message, path = load_error(tmp_path, text)
    assert f"{path}:4:" in message
    assert "malformed YAML" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, "- a\n- b\n")
    assert "mapping" in message


def test_pod_cidr_overlapping_service_cidr(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(network={"podCIDR": "10.96.0.0/16"}))
    assert "network" in message
    assert "podCIDR 10.96.0.0/16" in message
    assert "serviceCIDR 10.96.0.0/12" in message
    assert "overlaps" in message


@pytest.mark.parametrize("nodes", [0, []])
def test_zero_nodes(tmp_path: Path, nodes) -> None:
    message, _ = load_error(tmp_path, minimal(nodes=nodes))
    assert "nodes" in message
    assert "at least one node" in message


def test_zero_nodes_override() -> None:
    with pytest.raises(TopologyError, match="at least one node"):
        load("single,0")


def test_unknown_top_level_field(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, minimal(podz=[]))
    assert message.startswith(f"{path}: podz: unknown field")
    assert "links" in message


@pytest.mark.parametrize("field", ["pods", "services", "ingresses"])
def test_workloads_belong_in_manifests(tmp_path: Path, field: str) -> None:
    message, path = load_error(tmp_path, minimal(**{field: []}))
    assert message.startswith(f"{path}: {field}: a topology describes the network only")
    assert "apply it with -f" in message


def test_unknown_network_field(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(network={"podCidr": "10.244.0.0/16"}))
    assert "network.podCidr" in message
    assert "unknown field" in message


def test_unknown_switch_layout_kind(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(fabric={"kind": "torus"}))
    assert "fabric.kind" in message
    assert "'torus'" in message


def test_too_many_spines(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(fabric={"kind": "leafspine", "spines": 9}))
    assert "spines must be 1-8" in message


def test_invalid_mask_is_reported_as_topology_error(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(network={"nodeCIDRMaskSize": 31}))
    assert "nodes" in message
    assert "nodeCIDRMaskSize 31" in message


def test_duplicate_node_name(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(nodes=[{"name": "a"}, {"name": "a"}]))
    assert "nodes[1].name" in message
    assert "'a'" in message


def test_parse_accepts_a_dict_directly() -> None:
    spec = parse({"name": "x", "nodes": 1, "network": {"nodeCIDRMaskSize": 30}})
    assert spec.nodes[0].pod_cidr == "10.244.0.4/30"


# --- inputs that once crashed or were wrongly accepted ---------------------------


def test_non_numeric_mask_is_a_topology_error() -> None:
    with pytest.raises(TopologyError):
        parse({"name": "x", "nodes": 1, "network": {"nodeCIDRMaskSize": "abc"}})


def test_invalid_gateway_ip_is_a_topology_error() -> None:
    with pytest.raises(TopologyError):
        parse({"name": "x", "nodes": 1, "network": {"fabricGateway": "zzz"}})


def test_boolean_container_port_is_rejected() -> None:
    with pytest.raises(TopologyError):
        parse({"name": "x", "nodes": 1, "pods": [
            {"name": "a", "containers": [{"name": "c", "ports": [{"containerPort": True}]}]}]})
