"""Bounds: absurd sizes are refused early, with a clear message.

No timing assertions: each input is one an unbounded implementation could not
get through (a million pods, five million nodes, a billion-node YAML expansion,
a file of gigabytes), so reaching the assertion at all shows the bound worked.
"""
from __future__ import annotations

import copy
import os

import pytest
import yaml

from k8snet.api.validation import MAX_REPLICAS, validate
from k8snet.apiserver import apply
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.errors import Invalid
from k8snet.load import yamlsafe
from k8snet.load.documents import ManifestError, load_paths, parse_text
from k8snet.load.topofields import MAX_NODES
from k8snet.load.topofile import TopologyError, load, parse
from k8snet.load.yamlsafe import BoundedLoader

HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n"


def workload(kind: str, replicas: int) -> dict:
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}},
            "template": {"metadata": {"labels": {"app": "w"}},
                         "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = "w"
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}


def billion_laughs(levels: int = 9) -> str:
    """The classic: nine lists of nine aliases of the level below, 9**9 "lol"s."""
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        name, below = chr(ord("a") + i), chr(ord("a") + i - 1)
        lines.append(f"  {name}: &{name} [{','.join([f'*{below}'] * 9)}]")
    return HEAD + "data:\n" + "\n".join(lines) + "\n"


# --- replicas --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_a_million_replicas_is_refused_by_validation(kind):
    assert [str(e) for e in validate(workload(kind, 1_000_000))] == [
        "spec.replicas: Invalid value: 1000000: must be less than or equal to 5000 in this "
        "lab (one machine)"]


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_the_bound_itself_is_allowed(kind):
    assert MAX_REPLICAS == 5000
    assert validate(workload(kind, MAX_REPLICAS)) == []
    assert validate(workload(kind, MAX_REPLICAS + 1)) != []


def test_apply_and_scale_refuse_before_creating_anything():
    by_kind, default = strategies("10.96.0.0/12")
    store = Store(by_kind, default_strategy=default)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    text = yaml.safe_dump(workload("Deployment", 10**9))
    with pytest.raises(apply.ApplyError, match=r"t\.yaml:\d+: document 1: The Deployment"
                       r"\.apps \"w\" is invalid: spec\.replicas: Invalid value: 1000000000: "
                       r"must be less than or equal to 5000"):
        apply.apply(store, parse_text(text, "t.yaml"))
    assert store.list("Deployment") == [] and store.list("ReplicaSet") == []
    apply.apply(store, parse_text(yaml.safe_dump(workload("Deployment", 2)), "t.yaml"))
    scaled = copy.deepcopy(store.get("Deployment", "default", "w"))
    scaled["spec"]["replicas"] = 10**7
    with pytest.raises(Invalid, match="must be less than or equal to 5000"):
        store.update(scaled)
    assert store.get("Deployment", "default", "w")["spec"]["replicas"] == 2


# --- nodes -----------------------------------------------------------------------------


def test_topo_single_five_million_is_refused():
    with pytest.raises(TopologyError) as info:
        load("single,5000000")
    assert str(info.value) == (
        "topology 'single,5000000': 5000000 nodes is more than this lab's limit of 64 (each "
        "node is a Mininet host with its own kubelet and proxy, all on this one machine)")


def test_topo_count_of_a_million_digits_is_refused_without_converting_it():
    with pytest.raises(TopologyError, match="nodes is more than this lab's limit of 64"):
        load("single," + "9" * 1_000_000)


def test_node_bound_itself_is_allowed():
    assert len(load(f"single,{MAX_NODES}").nodes) == MAX_NODES
    with pytest.raises(TopologyError, match="limit of 64"):
        load(f"single,{MAX_NODES + 1}")


@pytest.mark.parametrize("nodes", [5_000_000, 10**18, [{"name": f"n{i}"} for i in range(65)]])
def test_node_counts_in_a_file_are_bounded(nodes):
    with pytest.raises(TopologyError, match=r"^t\.yaml: nodes: \d+ nodes is more than this "
                       "lab's limit of 64"):
        parse({"name": "t", "nodes": nodes}, "t.yaml")


# --- YAML ------------------------------------------------------------------------------


def test_billion_laughs_is_refused_naming_file_and_line():
    text = billion_laughs()
    assert len(text) < 700
    with pytest.raises(ManifestError) as info:
        parse_text(text, "bomb.yaml")
    message = str(info.value)
    assert message.startswith("bomb.yaml:"), message
    line = int(message.split(":")[1])
    assert 5 <= line <= 12
    assert "document 1: malformed YAML: document contains excessive aliasing" in message


def test_billion_laughs_file_and_topology_and_body_are_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    with pytest.raises(ManifestError, match="excessive aliasing"):
        load_paths([str(path)])
    with pytest.raises(yaml.YAMLError, match="excessive aliasing"):
        yamlsafe.load_one(billion_laughs())
    topo = tmp_path / "topo.yaml"
    topo.write_text("name: t\nnodes: 1\n" + billion_laughs().split("data:\n", 1)[1]
                    .replace("  ", "", 1).replace("\n  ", "\nx"))
    with pytest.raises(TopologyError, match=rf"^{topo}:\d+: malformed YAML: document contains "
                       "excessive aliasing"):
        load(str(topo))


def test_merge_key_bomb_is_refused():
    lines = [HEAD.rstrip(), "x0: &x0 {a: 1, b: 2}"]
    for i in range(1, 40):
        lines.append(f"x{i}: &x{i} {{<<: [*x{i - 1}, *x{i - 1}], y: *x{i - 1}, "
                     f"z: *x{i - 1}}}")
    with pytest.raises(ManifestError, match="excessive aliasing"):
        parse_text("\n".join(lines) + "\n", "merge.yaml")


def test_ordinary_anchors_still_work():
    text = HEAD + "data: &d {a: '1'}\nbinaryData: *d\nextra: {<<: *d, b: '2'}\n"
    (doc,) = parse_text(text, "ok.yaml")
    assert doc.obj["extra"] == {"a": "1", "b": "2"}


@pytest.mark.parametrize(("text", "problem"), [
    ("x: &x [*x]", "anchor 'x' value contains itself"),
    ("x: &x {y: *x}", "anchor 'x' value contains itself"),
    ("x: " + "[" * 50_000, "nesting deeper than 100 levels"),
    ("x: " + "{a: " * 5_000 + "1" + "}" * 5_000, "nesting deeper than 100 levels"),
    ("x: " + "1" * 100_000, "cannot read this int value"),
    ("x: 2024-13-45", "cannot read this timestamp value"),
    ("x: !!timestamp nonsense", "cannot read this timestamp value"),
])
def test_values_beyond_bounds_are_errors_with_a_line_not_tracebacks(text, problem):
    with pytest.raises(ManifestError) as info:
        parse_text(HEAD + text + "\n", "odd.yaml")
    assert str(info.value).startswith("odd.yaml:4: document 1: malformed YAML: " + problem)


def test_a_file_over_10_mib_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(8 * 1024**3)              # 8 GiB, sparse: reading it would not end well
    with pytest.raises(ManifestError) as info:
        load_paths([str(path)])
    assert str(info.value) == (f"{path}: the file is 8192.0 MiB, more than the lab's limit "
                               "of 10.0 MiB per file")


def test_a_fifo_is_read_only_up_to_the_bound(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    pid = os.fork()
    if pid == 0:                              # a writer that never stops
        try:
            with open(path, "wb") as f:
                while True:
                    f.write(b"#" * 65536)
        finally:
            os._exit(0)
    try:
        with pytest.raises(yamlsafe.TooLarge, match="more than the lab's limit of 10.0 MiB"):
            yamlsafe.read_text(path)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_text_over_10_mib_is_refused():
    with pytest.raises(ManifestError, match=r"^big\.yaml: the file is 10\.0 MiB, more than"):
        parse_text("#" * (yamlsafe.MAX_MANIFEST_BYTES + 1), "big.yaml")
    with pytest.raises(yaml.YAMLError, match="the document is"):
        yamlsafe.load_one(b"#" * (yamlsafe.MAX_MANIFEST_BYTES + 1))


def test_a_topology_file_over_1_mib_is_refused(tmp_path):
    path = tmp_path / "topo.yaml"
    path.write_text("name: t\n" + "#" * (1024 * 1024))
    with pytest.raises(TopologyError, match=rf"^{path}: the file is .* limit of 1\.0 MiB"):
        load(str(path))


def test_go_yaml_alias_ratio():
    assert yamlsafe.allowed_alias_ratio(1000) == 0.99
    assert yamlsafe.allowed_alias_ratio(4_000_000) == 0.10
    assert 0.10 < yamlsafe.allowed_alias_ratio(2_000_000) < 0.99


def test_yaml_booleans_are_go_yamls_as_kubectl_reads_them():
    """``ns: y`` is a boolean to kubectl (go-yaml v2, YAML 1.1): the lab reads
    it the same, so the manifest kubectl refuses is refused here too."""
    doc = yaml.load("a: y\nb: N\nc: yes\nd: 'y'\ne: yy\nf: [n]\n", Loader=BoundedLoader)
    assert doc == {"a": True, "b": False, "c": True, "d": "y", "e": "yy", "f": [False]}
    policy = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
              "metadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n"
              "  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n")
    from k8snet.load.documents import parse_text
    (obj,) = [d.obj for d in parse_text(policy, "p.yaml")]
    assert [str(e) for e in validate(obj)] == [
        "spec.ingress[0].from[0].namespaceSelector.matchLabels[ns]: Invalid value: true: "
        "must be a string"]


def test_an_integral_float_is_an_integer_as_kubectl_sends_it():
    """kubectl turns YAML into JSON (sigs.k8s.io/yaml) and Go writes 1.0 as 1:
    ``replicas: 1.0`` reaches the API server as the integer 1, so it must not
    be a type error here; 1.5 stays a float (and is one there too)."""
    from k8snet.api.validation.strict import type_errors
    from k8snet.load import documents
    [doc] = documents.parse_text("apiVersion: apps/v1\nkind: Deployment\n"
                                 "metadata: {name: a}\nspec: {replicas: 1.0}\n")
    assert doc.obj["spec"]["replicas"] == 1 and isinstance(doc.obj["spec"]["replicas"], int)
    assert type_errors(doc.obj) == []
    [doc] = documents.parse_text("apiVersion: apps/v1\nkind: Deployment\n"
                                 "metadata: {name: a}\nspec: {replicas: 1.5}\n")
    assert [where for where, _ in type_errors(doc.obj)] == ["spec.replicas"]
