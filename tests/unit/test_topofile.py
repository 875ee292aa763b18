"""Tests for k8snet.load.topofile: built-in topologies and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8snet.api.model import Container, ContainerPort, Pod
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


def test_single_pods_and_containers() -> None:
    spec = load("single")
    assert [p.name for p in spec.pods] == [
        "web-1", "web-2", "web-3", "app-sidecar", "iperf-server", "client"]
    assert all(isinstance(p, Pod) for p in spec.pods)
    web1 = spec.pods[0]
    assert web1.namespace == "default"
    assert web1.key == "default/web-1"
    assert web1.node_name == "node1"
    assert web1.labels == (("app", "web"),)
    assert web1.containers == (Container(
        name="web", image="registry.k8s.io/e2e-test-images/agnhost:2.47",
        ports=(ContainerPort(8080, "TCP", "http"),)),)

    sidecar = spec.pods[3]
    assert [c.name for c in sidecar.containers] == ["app", "proxy"]
    app = sidecar.containers[0]
    assert app.command == ("python3", "-m", "http.server", "9000", "--bind", "127.0.0.1")
    assert app.ports == ()
    assert sidecar.containers[1].ports == (ContainerPort(8080, "TCP", "http"),)

    iperf = spec.pods[4]
    assert iperf.containers[0].command == ("iperf3", "-s")
    assert iperf.containers[0].ports == (ContainerPort(5201),)


def test_leafspine_loads() -> None:
    spec = load("leafspine")
    assert spec.fabric.kind == "leafspine"
    assert spec.fabric.spines == 2
    assert spec.fabric.leaves == 2
    assert len(spec.nodes) == 4
    for i, node in enumerate(spec.nodes, start=1):
        assert node.ip == f"172.18.0.{10 + i}"
        assert node.pod_cidr == f"10.244.{i}.0/24"
    assert len(spec.pods) == 6
    web4 = next(p for p in spec.pods if p.name == "web-4")
    assert web4.node_name == "node4"
    # ``ports: [8080]`` is shorthand for one TCP containerPort.
    assert web4.containers == (Container(name="web", ports=(ContainerPort(8080),)),)
    client = next(p for p in spec.pods if p.name == "client-1")
    assert client.containers == (Container(name="shell"),)


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
    assert len(spec.pods) == 6


def test_smaller_override_unpins_pods_on_missing_nodes() -> None:
    spec = load("single,1")
    assert len(spec.nodes) == 1
    by_name = {p.name: p for p in spec.pods}
    assert by_name["web-1"].node_name == "node1"
    assert by_name["web-2"].node_name == ""
    assert by_name["client"].node_name == ""


def test_override_count_must_be_a_number() -> None:
    with pytest.raises(TopologyError, match="'x' is not a number"):
        load("single,x")


def test_load_from_path(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(pods=[{"name": "a", "node": "node2"}]))
    spec = load(str(path))
    assert spec.name == "t"
    assert spec.source == str(path)
    assert len(spec.nodes) == 2
    assert spec.pods[0].node_name == "node2"
    # A pod without containers gets one named after the pod.
    assert spec.pods[0].containers == (Container(name="a"),)


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, {"nodes": 1}, name="mylab.yaml")
    assert load(str(path)).name == "mylab"


def test_node_name_alias(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(pods=[{"name": "a", "nodeName": "node1"}]))
    assert load(str(path)).pods[0].node_name == "node1"


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


def test_duplicate_pod_name_in_one_namespace(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(pods=[{"name": "a"}, {"name": "a"}]))
    assert "pods[1].name" in message
    assert "duplicate pod default/a" in message


def test_same_pod_name_in_two_namespaces_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(pods=[{"name": "a"},
                                         {"name": "a", "namespace": "other"}]))
    spec = load(str(path))
    assert [p.key for p in spec.pods] == ["default/a", "other/a"]


@pytest.mark.parametrize("nodes", [0, []])
def test_zero_nodes(tmp_path: Path, nodes) -> None:
    message, _ = load_error(tmp_path, minimal(nodes=nodes))
    assert "nodes" in message
    assert "at least one node" in message


def test_zero_nodes_override() -> None:
    with pytest.raises(TopologyError, match="at least one node"):
        load("single,0")


def test_unknown_node_in_pod(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(pods=[{"name": "a", "node": "node9"}]))
    assert "pods[0].node" in message
    assert "unknown node 'node9'" in message
    assert "node1, node2" in message


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "web-", "a..b", ""])
def test_invalid_pod_name(tmp_path: Path, name: str) -> None:
    message, _ = load_error(tmp_path, minimal(pods=[{"name": name}]))
    assert "pods[0].name" in message
    assert "DNS-1123" in message


def test_dotted_pod_name_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, minimal(pods=[{"name": "web.v1"}]))
    pod = load(str(path)).pods[0]
    assert pod.name == "web.v1"
    assert pod.containers[0].name == "web"


@pytest.mark.parametrize("port", [0, 65536, -1, "http"])
def test_bad_port_number(tmp_path: Path, port) -> None:
    data = minimal(pods=[{"name": "a", "containers": [
        {"name": "c", "ports": [{"containerPort": port}]}]}])
    message, _ = load_error(tmp_path, data)
    assert "pods[0].containers[0].ports[0].containerPort" in message
    assert "1-65535" in message


def test_bad_protocol(tmp_path: Path) -> None:
    data = minimal(pods=[{"name": "a", "containers": [
        {"name": "c", "ports": [{"containerPort": 80, "protocol": "SCTP"}]}]}])
    message, _ = load_error(tmp_path, data)
    assert "pods[0].containers[0].ports[0].protocol" in message
    assert "'SCTP'" in message


def test_udp_port_is_accepted(tmp_path: Path) -> None:
    data = minimal(pods=[{"name": "a", "containers": [
        {"name": "c", "ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"}]}]}])
    pod = load(str(write(tmp_path, data))).pods[0]
    assert pod.containers[0].ports == (ContainerPort(53, "UDP", "dns"),)


def test_duplicate_container_ports_in_pod(tmp_path: Path) -> None:
    data = minimal(pods=[{"name": "a", "containers": [
        {"name": "c1", "ports": [8080]}, {"name": "c2", "ports": [8080]}]}])
    message, _ = load_error(tmp_path, data)
    assert "pods[0].containers[1]" in message
    assert "8080/TCP" in message
    assert "already used" in message


def test_same_port_number_different_protocol_is_fine(tmp_path: Path) -> None:
    data = minimal(pods=[{"name": "a", "containers": [
        {"name": "c1", "ports": [53]},
        {"name": "c2", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}])
    pod = load(str(write(tmp_path, data))).pods[0]
    assert [c.ports[0].protocol for c in pod.containers] == ["TCP", "UDP"]


def test_duplicate_container_name(tmp_path: Path) -> None:
    data = minimal(pods=[{"name": "a", "containers": [{"name": "c"}, {"name": "c"}]}])
    message, _ = load_error(tmp_path, data)
    assert "pods[0].containers[1].name" in message
    assert "duplicate container name 'c'" in message


def test_unknown_top_level_field(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, minimal(podz=[]))
    assert message.startswith(f"{path}: podz: unknown field")
    assert "pods" in message


def test_unknown_network_field(tmp_path: Path) -> None:
    message, _ = load_error(tmp_path, minimal(network={"podCidr": "10.244.0.0/16"}))
    assert "network.podCidr" in message
    assert "unknown field" in message


@pytest.mark.parametrize("name", ["node1", "gw", "ext"])
def test_pod_name_clashing_with_host_name(tmp_path: Path, name: str) -> None:
    message, _ = load_error(tmp_path, minimal(pods=[{"name": name}]))
    assert "pods[0].name" in message
    assert f"'{name}' clashes with a host name" in message


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
