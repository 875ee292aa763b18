"""Probe matrices: rendering, comparison and the JSON report."""
from __future__ import annotations

import json

import pytest

from k8snet.netpol.matrix import (
    REFUSED,
    REFUSED_LEGEND,
    Matrix,
    compare,
    describe,
    from_json,
    render,
    render_comparison,
    to_json,
)

PODS = ["x/a", "x/b", "y/c"]


def matrix(verdict, pods=PODS, port=80, protocol="TCP") -> Matrix:
    return Matrix.from_table(port, protocol, {(s, d): verdict(s, d) for s in pods for d in pods})


def cell(text: str, src: str, dst: str) -> str:
    """The mark under column ``dst`` in row ``src`` of a rendered grid."""
    lines = text.splitlines()
    header = lines[1]                               # lines[0] is the title
    row = next(line for line in lines if line.startswith(src + " "))
    end = header.index(" " + dst) + 1 + len(dst)   # headers are right-aligned
    return row[end - len(dst):end].strip()


def test_render_marks_each_cell():
    m = Matrix.from_table(80, "tcp", {("x/a", "x/b"): True, ("x/a", "y/c"): False,
                                      ("x/b", "x/b"): None}, PODS[:2], ["x/b", "y/c"])
    text = render(m)
    assert text.splitlines()[0] == "80/TCP"
    assert cell(text, "x/a", "x/b") == "."
    assert cell(text, "x/a", "y/c") == "X"
    assert cell(text, "x/b", "x/b") == "?"
    assert cell(text, "x/b", "y/c") == "?"        # missing from the table
    assert m.get("x/a", "y/c") is False and m.get("q/q", "x/a") is None


def test_render_asymmetric_grid():
    m = matrix(lambda s, d: s.startswith("x/") and d == "y/c")
    text = render(m)
    for s in PODS:
        for d in PODS:
            assert cell(text, s, d) == ("." if s.startswith("x/") and d == "y/c" else "X")


def test_from_table_orders_rows_and_columns_first_seen():
    m = Matrix.from_table("serve-80-tcp", "TCP", {("y/c", "x/a"): True, ("x/a", "x/a"): False})
    assert m.sources == ["y/c", "x/a"] and m.destinations == ["x/a"]
    assert m.title == "serve-80-tcp/TCP"


def test_compare_finds_exactly_the_differing_cells():
    expected = matrix(lambda s, d: s != d)
    observed = matrix(lambda s, d: s != d or s == "x/a")
    observed.cells[("y/c", "x/b")] = False
    observed.cells[("x/b", "y/c")] = None
    c = compare(expected, observed)
    assert not c.ok
    assert c.discrepancies == [("x/a", "x/a", False, True), ("x/b", "y/c", True, None),
                               ("y/c", "x/b", True, False)]
    assert (c.agree, c.total) == (6, 9)
    assert describe(c.discrepancies[0]) == "x/a -> x/a: expected blocked, got allowed"
    assert describe(c.discrepancies[1]) == "x/b -> y/c: expected allowed, got not probed"


def test_compare_ignores_unknown_expectations():
    expected = matrix(lambda s, d: None if s == "x/a" else True)
    observed = matrix(lambda s, d: s != "x/a")
    c = compare(expected, observed)
    assert c.ok and c.agree == c.total == 9


def test_render_comparison_side_by_side():
    expected = matrix(lambda s, d: True)
    observed = matrix(lambda s, d: d != "x/b")
    text = render_comparison(expected, observed)
    lines = text.splitlines()
    assert lines[0].startswith("expected 80/TCP") and "observed 80/TCP" in lines[0]
    assert "6/9 cells agree" in lines
    assert "x/a -> x/b: expected allowed, got blocked" in lines
    assert sum(line.startswith("y/c -> ") for line in lines) == 1
    assert max(len(line) for line in lines) <= 100


def test_render_comparison_stacks_wide_grids():
    pods = [f"namespace-{i}/pod-{i}" for i in range(6)]
    expected = matrix(lambda s, d: True, pods)
    observed = matrix(lambda s, d: True, pods)
    lines = render_comparison(expected, observed).splitlines()
    assert lines[0] == "expected 80/TCP"
    assert "observed 80/TCP" in lines
    assert "36/36 cells agree" in lines
    assert lines[-1] == "36/36 cells agree"


def test_json_shape_and_round_trip():
    expected = matrix(lambda s, d: s != d, port=81, protocol="UDP")
    observed = matrix(lambda s, d: True if s != "y/c" else None, port=81, protocol="UDP")
    plain = matrix(lambda s, d: False)
    data = to_json([observed, plain], [compare(expected, observed), None])
    data = json.loads(json.dumps(data))
    first, second = data["probes"]
    assert (first["port"], first["protocol"]) == (81, "UDP")
    assert first["observed"]["x/a"]["x/b"] is True
    assert first["observed"]["y/c"]["x/a"] is None
    assert first["expected"]["x/a"]["x/a"] is False
    assert {"from": "x/a", "to": "x/a", "expected": False, "observed": True} \
        in first["discrepancies"]
    assert "expected" not in second and "discrepancies" not in second
    (obs1, exp1), (obs2, exp2) = from_json(data)
    assert obs1 == observed and exp1 == expected
    assert obs2 == plain and exp2 is None
    assert to_json([obs1, obs2], [compare(exp1, obs1), None]) == data


def test_to_json_rejects_mismatched_comparisons():
    with pytest.raises(ValueError):
        to_json([matrix(lambda s, d: True)], [])


# --- refused cells: the packet reached the pod, nothing listened --------------------

def test_refused_cells_are_marked_r_and_count_as_reached():
    m = Matrix.from_table(8080, "TCP", {(s, d): False for s in PODS for d in PODS},
                          refused={("x/a", "x/b"), ("x/b", "x/b"), ("q/q", "x/a")},
                          not_run={("x/b", "x/b"): "why"})
    assert m.refused == {("x/a", "x/b")}           # not-run wins; outside cells dropped
    assert m.get("x/a", "x/b") is True and m.get("x/b", "x/b") is None
    text = render(m)
    assert cell(text, "x/a", "x/b") == REFUSED == "R"
    assert cell(text, "x/b", "x/b") == "-" and cell(text, "x/a", "y/c") == "X"


def test_refused_agrees_with_allowed_and_contradicts_blocked():
    expected = matrix(lambda s, d: d != "y/c")                  # y/c's ingress blocked
    observed = Matrix.from_table(8080, "TCP", {}, PODS, PODS,
                                 refused={(s, d) for s in PODS for d in PODS})
    c = compare(expected, observed)
    assert c.refused == 9 and (c.agree, c.total) == (6, 9)
    assert [d[:2] for d in c.discrepancies] == [("x/a", "y/c"), ("x/b", "y/c"), ("y/c", "y/c")]
    assert describe(c.discrepancies[0], refused=True) == \
        "x/a -> y/c: expected blocked, got refused: reached the pod"
    lines = render_comparison(expected, observed).splitlines()
    assert "6/9 cells agree; 9 refused (R)" in lines
    assert lines.count(REFUSED_LEGEND) == 1 and max(len(line) for line in lines) <= 100
    assert "y/c -> y/c: expected blocked, got refused: reached the pod" in lines


def test_no_refused_cells_no_legend():
    lines = render_comparison(matrix(lambda s, d: True), matrix(lambda s, d: True))
    assert REFUSED_LEGEND not in lines and "refused" not in lines


def test_json_round_trip_keeps_refused_cells():
    expected = matrix(lambda s, d: d != "y/c")
    observed = Matrix.from_table(80, "TCP", {(s, d): s != "y/c" for s in PODS for d in PODS},
                                 refused={("x/a", "y/c"), ("y/c", "x/a")})
    data = json.loads(json.dumps(to_json([observed], [compare(expected, observed)])))
    probe = data["probes"][0]
    assert probe["refused"] == [{"from": "x/a", "to": "y/c"}, {"from": "y/c", "to": "x/a"}]
    assert probe["observed"]["y/c"]["x/a"] is True
    assert {"from": "x/a", "to": "y/c", "expected": False, "observed": True,
            "refused": True} in probe["discrepancies"]
    assert {"from": "x/b", "to": "y/c", "expected": False, "observed": True} \
        in probe["discrepancies"]
    (back, exp), = from_json(data)
    assert back == observed and exp == expected
