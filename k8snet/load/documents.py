"""Multi-document YAML to Kubernetes objects, each with its file and the line
of every field, so an error can say where: ``app.yaml:24: document 2``.

Pure: text in, ``Document``s out; nothing is validated here beyond "a
document is a mapping with apiVersion, kind and metadata.name", which is what
kubectl itself checks before it sends anything (its messages).  Reading is
bounded (``k8snet.load.yamlsafe``): at most 10 MiB per file, no alias bombs,
no nesting deeper than 100 levels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from k8snet.errors import K8snetError
from k8snet.load.yamlsafe import BoundedLoader, TooLarge, read_text, size_problem, text_size

MAX_DEPTH = 64


class ManifestError(K8snetError):
    """A manifest that cannot even be read: malformed YAML, not an object."""


@dataclass
class Document:
    """One object of a manifest: ``obj`` as written, where it came from, and
    the line of each dotted field path (``spec.ports[1].nodePort``)."""

    source: str
    index: int
    line: int
    obj: dict
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.line

    def where(self, path: str = "") -> str:
        return f"{self.source}:{self.line_of(path)}: document {self.index}"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))


def _lines(node: yaml.Node, path: str, line: int, out: dict[str, int], where: str,
           depth: int = 0) -> None:
    """Record each dotted path's line; reject duplicate mapping keys as the
    API server's strict YAML decoder does."""
    if depth > MAX_DEPTH:
        return
    out.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise ManifestError(f"{where.format(line=key_line)}: malformed YAML: mapping "
                                    f'key "{key}" already defined at line {seen[key]}')
            seen[key] = key_line
            _lines(value_node, f"{path}.{key}" if path else key, key_line, out, where,
                   depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, f"{path}[{i}]", item.start_mark.line + 1, out, where, depth + 1)


def _check(doc: Document) -> list[str]:
    """kubectl's client-side checks: apiVersion, kind, metadata.name."""
    obj, missing = doc.obj, []
    if not isinstance(obj.get("apiVersion"), str) or not obj.get("apiVersion"):
        missing.append("apiVersion not set")
    if not isinstance(obj.get("kind"), str) or not obj.get("kind"):
        missing.append("kind not set")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        missing.append("metadata not set" if meta is None else
                       "metadata: expected a mapping")
    else:
        missing += _meta_types(str(obj.get("kind") or "Object"), meta)
        if not meta.get("name") and not meta.get("generateName"):
            missing.append("metadata.name: Required value: name or generateName is required")
    return missing


_OPENAPI_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
                  list: "array", dict: "object", type(None): "null"}
_META_FIELDS = {"name": str, "generateName": str, "namespace": str, "labels": dict,
                "annotations": dict}


def _meta_types(kind: str, meta: dict) -> list[str]:
    """ObjectMeta fields of the wrong type, in kubectl's schema-validation words
    (``ValidationError(Service.metadata.namespace): invalid type for
    io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.namespace: got "array",
    expected "string"``); label and annotation values must be strings."""
    out = []
    for name, want in _META_FIELDS.items():
        value = meta.get(name)
        if value is None:
            continue
        got = _OPENAPI_TYPES.get(type(value), "object")
        if not isinstance(value, want) or isinstance(value, bool):
            expected = "map" if want is dict else _OPENAPI_TYPES[want]
            out.append(f"ValidationError({kind}.metadata.{name}): invalid type for "
                       f"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.{name}: got "
                       f'"{got}", expected "{expected}"')
        elif want is dict:
            out += [f"ValidationError({kind}.metadata.{name}.{key}): invalid type for "
                    f"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.{name}: got "
                    f'"{_OPENAPI_TYPES.get(type(v), "object")}", expected "string"'
                    for key, v in value.items() if not isinstance(v, str)]
    return out


def _first_line(exc: Exception) -> str:
    return getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]


def parse_text(text: str, source: str = "<manifest>") -> list[Document]:
    """Every non-empty document of ``text``.  Raises ManifestError naming the
    file, line and document for malformed YAML, a document that is not a
    mapping, or one missing apiVersion/kind/name (every such cause at once), and
    for text over 10 MiB or YAML that aliases, nests or holds values beyond
    bounds (``k8snet.load.yamlsafe``)."""
    too_big = size_problem(text_size(text))
    if too_big:
        raise ManifestError(f"{source}: {too_big}")
    docs: list[Document] = []
    problems: list[str] = []
    try:
        loader = BoundedLoader(text)       # the reader refuses control characters here
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: document 1: malformed YAML: {_first_line(exc)}") \
            from None
    index = 0
    try:
        while True:
            try:
                if not loader.check_node():
                    break
                index += 1
                node = loader.get_node()
                data = loader.construct_document(node)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
                at = f"{source}:{mark.line + 1}" if mark else source
                raise ManifestError(f"{at}: document {max(index, 1)}: malformed YAML: "
                                    f"{_first_line(exc)}") from None
            if data is None:
                continue
            line = node.start_mark.line + 1
            if not isinstance(data, dict):
                problems.append(f"{source}:{line}: document {index}: expected a Kubernetes "
                                f"object (a mapping), got {type(data).__name__}")
                continue
            lines: dict[str, int] = {}
            _lines(node, "", line, lines, f"{source}:{{line}}: document {index}")
            doc = Document(source, index, line, data, lines)
            for cause in _check(doc):
                problems.append(f"{doc.where()}: error validating data: {cause}")
            docs.append(doc)
    finally:
        loader.dispose()
    if problems:
        raise ManifestError("\n".join(problems))
    return docs


def manifest_files(paths: Sequence[str]) -> list[Path]:
    """Files named, and the *.yaml/*.yml/*.json of directories named (sorted,
    not recursive), as ``kubectl apply -f`` takes them."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))
            if not found:
                raise ManifestError(f'error: no objects passed to apply: "{path}" has no '
                                    "*.yaml, *.yml or *.json files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f'error: the path "{name}" does not exist')
    return files


def load_paths(paths: Sequence[str]) -> list[Document]:
    """Read every object from files and directories."""
    docs: list[Document] = []
    for path in manifest_files(paths):
        try:
            text = read_text(path)
        except TooLarge as exc:
            raise ManifestError(str(exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read: {exc}") from None
        docs.extend(parse_text(text, str(path)))
    return docs
