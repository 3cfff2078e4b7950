"""YAML reading that remembers where every value came from.

PyYAML's composer (libyaml when available) gives nodes with positions; we build plain Python
values ourselves so that duplicate keys are errors and every path maps to a line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from reconciler.errors import Problem, SourceLocation

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """The plain data of one file plus the position of every key and value in it."""

    file: str
    data: Any
    values: dict[Path, SourceLocation] = field(default_factory=dict)
    keys: dict[Path, SourceLocation] = field(default_factory=dict)

    def locate(self, path: Path) -> SourceLocation:
        """The position of the deepest known prefix of ``path`` (a key's own line when known)."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return SourceLocation(self.file, 1, 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.doc = YamlDocument(file=file, data=None)
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")  # only for scalar resolution
        self._stack: set[int] = set()

    def loc(self, node: yaml.Node) -> SourceLocation:
        mark = node.start_mark
        return SourceLocation(self.doc.file, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.doc.values[path] = self.loc(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._stack:
            self.problems.append(Problem("recursive YAML alias", self.loc(node), _render_path(path)))
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        finally:
            self._stack.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, SourceLocation] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(Problem("YAML merge keys (<<) are not supported", self.loc(key_node)))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem("mapping keys must be plain strings", self.loc(key_node)))
                continue
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            here = self.loc(key_node)
            if key in seen:
                first = seen[key]
                self.problems.append(
                    Problem(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        here,
                        _render_path((*path, key)),
                    )
                )
                continue
            seen[key] = here
            self.doc.keys[(*path, key)] = here
            result[key] = self.build(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == "tag:yaml.org,2002:str":
            return node.value
        return self._constructor.construct_object(node, deep=True)


def _render_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


render_path = _render_path


def parse_yaml(text: str, file: str) -> tuple[YamlDocument, list[Problem]]:
    """Parse one YAML document; syntax errors come back as problems, never as exceptions.

    Messages are built from PyYAML's ``problem`` and mark only: its default text quotes the
    offending line, which may hold a secret.
    """
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        return YamlDocument(file=file, data=None), [Problem(f"YAML syntax error: {what}", where)]
    except yaml.YAMLError as exc:
        return YamlDocument(file=file, data=None), [
            Problem(f"YAML error: {type(exc).__name__}", SourceLocation(file, 1, 1))
        ]
    builder = _Builder(file)
    if root is None:
        return builder.doc, []
    try:
        builder.doc.data = builder.build(root, ())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
        builder.problems.append(Problem(f"YAML error: {getattr(exc, 'problem', None) or 'unsupported value'}", where))
    return builder.doc, builder.problems
