"""YAML reading with bounds: size, nesting, alias expansion, and no stray exceptions.

A 600-byte "billion laughs" document composes to a few dozen nodes but expands
to hundreds of millions once anything walks it (a deep copy, JSON, validation),
so the expansion is counted while composing, where it costs one integer per
node, and an excessive one is refused before anything is constructed.

The rule is go-yaml's (``gopkg.in/yaml.v2`` ``decode.go``: ``allowedAliasRatio``),
which the API server and kubectl use through ``sigs.k8s.io/yaml``: once more
than 100 nodes come from aliases and more than 1000 are decoded in all, at most
99% of them may come from aliases, falling to 10% between 400,000 and 4,000,000
decoded nodes.  A node here is a scalar, sequence or mapping, counted each time
an alias expands it, as go-yaml counts its decode operations.  As in go-yaml,
an alias inside the node it refers to ("``&a [*a]``") is refused too.

Beyond go-yaml: nesting deeper than :data:`MAX_NESTING` levels is refused
(Python's recursion would end it with a traceback), a value no constructor
can read (an integer of 5000 digits, ``2020-13-45``) is a ``YAMLError`` with
its line rather than a ``ValueError``, and :func:`read_text` refuses a file
larger than :data:`MAX_MANIFEST_BYTES` before reading it all.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from k8snet.errors import K8snetError

MAX_MANIFEST_BYTES = 10 * 1024 * 1024   # per file: a lab manifest is kilobytes, never this
MAX_NESTING = 100                       # levels of collections; real objects use under 20
_ALIAS_FLOOR, _DECODE_FLOOR = 100, 1000
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


class TooLarge(K8snetError):
    """A file over the size bound (the message names it and the bound)."""


def allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's ``allowedAliasRatio``: the share of decoded nodes aliases may supply."""
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def size_problem(size: int, limit: int = MAX_MANIFEST_BYTES) -> str | None:
    """Why ``size`` bytes is too much for one file, or None."""
    if size <= limit:
        return None
    return (f"the file is {_mib(size) if size > 1024 * 1024 else f'{size} bytes'}, more than "
            f"the lab's limit of {_mib(limit)} per file")


def text_size(text: str | bytes, limit: int = MAX_MANIFEST_BYTES) -> int:
    """The UTF-8 size of ``text``; past ``limit`` characters only their count,
    enough to refuse it without encoding a huge string."""
    if isinstance(text, bytes) or len(text) > limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def read_text(path: Path, limit: int = MAX_MANIFEST_BYTES) -> str:
    """The UTF-8 text of ``path``, reading at most ``limit`` + 1 bytes.

    Raises :class:`TooLarge` (``PATH: the file is ..., more than ...``) for a
    bigger file, whatever its size claims (a FIFO or /proc file included),
    and ``OSError`` / ``UnicodeDecodeError`` as ``open`` and ``decode`` do.
    """
    with open(path, "rb") as f:
        data = f.read(limit + 1)
        if len(data) > limit:
            try:
                size = max(len(data), path.stat().st_size)
            except OSError:
                size = len(data)
            raise TooLarge(f"{path}: {size_problem(size, limit)}")
    return data.decode("utf-8")


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses alias bombs, self-containing anchors and
    deep nesting while composing, and turns constructor crashes into
    ``ConstructorError`` (a ``YAMLError`` with the value's line).

    Booleans are go-yaml v2's (YAML 1.1, what kubectl and the API server read
    manifests with): ``y``, ``Y``, ``n`` and ``N`` too, which PyYAML reads as
    strings, so ``ns: y`` is refused here as kubectl refuses it (``Invalid
    value: true: must be a string``) rather than accepted."""

    bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._reset_bounds()

    def construct_yaml_float(self, node: Any) -> float | int:
        """A float, or an integer when it has no fraction: kubectl hands the
        API server JSON made from the YAML (sigs.k8s.io/yaml), and Go's
        encoding/json writes the float 1.0 as ``1``, so ``replicas: 1.0`` is
        the integer 1 there."""
        value = super().construct_yaml_float(node)
        return int(value) if value.is_integer() and abs(value) < 1e21 else value

    def _reset_bounds(self) -> None:
        self._sizes: dict[int, int] = {}    # id(node) -> its size with aliases expanded
        self._decoded = 0
        self._aliased = 0
        self._depth = 0

    def compose_document(self) -> Any:
        self._reset_bounds()
        try:
            return super().compose_document()
        finally:
            self._sizes = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise ComposerError(None, None, f"anchor '{event.anchor}' value contains "
                                    "itself", event.start_mark)
            self._count(size, size, event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise ComposerError(None, None, f"nesting deeper than {MAX_NESTING} levels",
                                event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in children)
        self._count(1, 0, event.start_mark)
        return node

    def _count(self, decoded: int, aliased: int, mark: Any) -> None:
        self._decoded += decoded
        self._aliased += aliased
        if (self._aliased > _ALIAS_FLOOR and self._decoded > _DECODE_FLOOR
                and self._aliased / self._decoded > allowed_alias_ratio(self._decoded)):
            raise ComposerError(None, None, "document contains excessive aliasing: its "
                                f"aliases expand to {self._aliased} nodes (a YAML bomb?)",
                                mark)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            kind = str(node.tag).rpartition(":")[2]
            why = (str(exc).split(";")[0] if isinstance(exc, ValueError | OverflowError)
                   else f"not a valid {kind}")
            raise ConstructorError(None, None, f"cannot read this {kind} value: {why}",
                                   node.start_mark) from None


def load_one(text: str | bytes) -> Any:
    """One YAML document, as ``yaml.safe_load`` but bounded (see the module).

    Raises ``yaml.YAMLError`` for malformed, oversized (more than
    :data:`MAX_MANIFEST_BYTES`), bomb-like or too deeply nested input.
    """
    problem = size_problem(text_size(text))
    if problem:
        raise yaml.YAMLError(problem.replace("the file is", "the document is"))
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"),
                                    list("yYnN"))
BoundedLoader.add_constructor("tag:yaml.org,2002:float", BoundedLoader.construct_yaml_float)
