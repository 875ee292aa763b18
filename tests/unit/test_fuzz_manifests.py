"""Fuzzing manifests (hypothesis): bad input is an error, never a crash, never half-applied.

Two generators:
- mutations of the example manifests (examples/): one to four fields anywhere
  in a document replaced by a hostile value (wrong type, huge number, empty,
  shell and nginx metacharacters, deep nesting), or removed;
- raw text: YAML-ish fragments and arbitrary characters.

Properties, for every input: ``parse_text`` + ``apply`` either apply the
whole manifest or raise a ``K8snetError`` (ManifestError / ApplyError) whose
message names the file; the store then is exactly as before (no object,
no resourceVersion moved); and a manifest that applied re-applies as
``unchanged``.  ``make test`` runs a bounded sample; ``make fuzz``
(FUZZ_FULL=1) runs many more examples.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from k8snet.apiserver import apply
from k8snet.apiserver.registry import strategies
from k8snet.apiserver.store import Store
from k8snet.errors import K8snetError
from k8snet.load.documents import parse_text

ROOT = Path(__file__).resolve().parents[2]
FULL = os.environ.get("FUZZ_FULL") == "1"
EXAMPLES = 2000 if FULL else 150
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FULL,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _seeds() -> list[dict]:
    import yaml
    out = []
    for path in sorted(ROOT.glob("examples/**/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") and "cases" not in doc:
                out.append(doc)
    return out


SEEDS = _seeds()
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "-", "0", "65536", "-1", "1e9", "*", "a" * 300,
                     "a.example; location / { alias /; } #", "$(reboot)", "`id`",
                     "../../etc/passwd", "10.0.0.0/33", "256.1.1.1", "\x00", "é",
                     "TCP", "SCTP", "ICMP", "http", "None", "null", "~", "{}", "[]"]),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                         st.text(max_size=5), max_size=3),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=2), max_leaves=60),
)
REMOVE = object()


def _paths(obj, prefix=()) -> list[tuple]:
    """Every path into ``obj``: dict keys and list indexes."""
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, prefix + (i,))
    return out


def _set(obj, path: tuple, value):
    if not path:
        return value
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    if value is REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


def _near(doc: dict, path: tuple) -> st.SearchStrategy:
    """A value of the same type as the one there: a number off by a lot or a
    little, a string with one character changed."""
    here = doc
    try:
        for step in path:
            here = here[step]
    except (KeyError, IndexError, TypeError):
        return st.nothing()
    if isinstance(here, bool):
        return st.just(not here)
    if isinstance(here, int):
        return st.sampled_from([here + 1, here - 1, -here, here * 1000, 0, 65535, 65536])
    if isinstance(here, str):
        return st.sampled_from([here.upper(), here + "-", "-" + here, here + "/",
                                here.replace("-", "_"), here[:1], here * 20])
    return st.nothing()


@st.composite
def mutated(draw) -> str:
    import yaml
    docs = [copy.deepcopy(draw(st.sampled_from(SEEDS))) for _ in range(draw(
        st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 3))):
        doc = draw(st.sampled_from(docs))
        paths = _paths(doc)[1:] or [()]
        deep = [p for p in paths if len(p) > 1 and p[0] in ("spec", "data")]
        path = draw(st.sampled_from(deep if deep and draw(st.booleans()) else paths))
        near = _near(doc, path)
        value = draw(st.one_of(HOSTILE, st.just(REMOVE), near, near, near))
        try:
            _set(doc, path, value if path else {})
        except (KeyError, IndexError, TypeError):
            pass                      # an earlier mutation removed the way there
    return yaml.safe_dump_all(docs, allow_unicode=True)


RAW = st.one_of(st.text(max_size=300),
                st.lists(st.sampled_from(["apiVersion: v1", "kind: Service", "kind: Pod",
                                          "metadata:", "  name: x", "spec:", "  ports:",
                                          "  - port: 80", "---", "&a [*a]", "- *a", "{",
                                          "  selector: {app: web}", ":", "!!python/object:x",
                                          "\t", "kind: Deployment", "  replicas: 99999999"]),
                         max_size=20).map("\n".join))


def _store() -> Store:
    by_kind, default = strategies("10.96.0.0/12")
    s = Store(by_kind, default_strategy=default)
    for ns in ("default", "shop", "parcel", "x", "y", "z"):
        s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return s


def _state(store: Store) -> dict:
    return {kind: copy.deepcopy(store.list(kind)) for kind in store.kinds()}


def _check(text: str) -> None:
    """Apply ``text`` to a fresh store holding the examples' namespaces:
    all or nothing, errors as K8snetError naming the file."""
    store = _store()
    before = _state(store)
    try:
        docs = parse_text(text, "fuzz.yaml")
        done = apply.apply(store, docs)
    except K8snetError as exc:
        event("refused: " + type(exc).__name__)
        assert "fuzz.yaml" in str(exc) or str(exc).startswith("error:"), str(exc)
        assert "Internal error occurred" not in str(exc), str(exc)     # a bug, caught
        assert _state(store) == before, "a refused manifest changed the store"
        return
    event("applied")
    assert len(done.lines) == len(docs)
    again = apply.apply(store, parse_text(text, "fuzz.yaml")).lines
    assert all(line.endswith(("unchanged", "configured")) for line in again), again


@pytest.mark.skipif(not SEEDS, reason="no example manifests found")
@FUZZ
@given(mutated())
def test_mutated_examples_apply_whole_or_are_refused_whole(text):
    _check(text)


@FUZZ
@given(RAW)
def test_raw_text_is_read_or_refused_with_the_file_named(text):
    _check(text)
