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

#: Values built again through ``*alias`` references before the document counts as an alias bomb.
MAX_ALIAS_EXPANSIONS = 100_000
#: Characters of scalar text the document may expand to (aliases count each time they repeat):
#: a few aliases of a long string must not become gigabytes of plan output.
MAX_EXPANDED_CHARS = 8 * 1024 * 1024
_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_UNSUPPORTED_TAG = "unsupported YAML tag; use plain strings, numbers, booleans, lists and mappings"


class _AliasBomb(Exception):
    """Raised inside the builder when aliases expand beyond :data:`MAX_ALIAS_EXPANSIONS`."""

    def __init__(self, node: yaml.Node, message: str = "") -> None:
        super().__init__()
        self.node = node
        self.message = (
            message or f"YAML aliases expand to more than {MAX_ALIAS_EXPANSIONS} values; write the values out instead"
        )


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
        self._built: set[int] = set()
        self._expansions = 0
        self._chars = 0

    def loc(self, node: yaml.Node) -> SourceLocation:
        mark = node.start_mark
        return SourceLocation(self.doc.file, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.doc.values[path] = self.loc(node)
        if id(node) in self._built:
            self._expansions += 1
            if self._expansions > MAX_ALIAS_EXPANSIONS:
                raise _AliasBomb(node)
        self._built.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._stack:
            self.problems.append(Problem("recursive YAML alias", self.loc(node), render_path(path)))
            return None
        if node.tag not in _PLAIN_COLLECTION_TAGS:
            self.problems.append(Problem(_UNSUPPORTED_TAG, self.loc(node), render_path(path) or None))
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
                self.problems.append(
                    Problem("YAML merge keys (<<) are not supported; write the fields out", self.loc(key_node))
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem("mapping keys must be plain strings", self.loc(key_node)))
                continue
            key = self._scalar(key_node, path)
            if not isinstance(key, str):
                key = str(key)
            here = self.loc(key_node)
            if key in seen:
                first = seen[key]
                self.problems.append(
                    Problem(
                        f"duplicate key {key!r} (first defined at line {first.line})",
                        here,
                        render_path((*path, key)),
                    )
                )
                continue
            seen[key] = here
            key_path = (*path, key)
            self.doc.keys[key_path] = here
            result[key] = self.build(value_node, key_path)
        return result

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        self._chars += len(node.value) if isinstance(node.value, str) else 0
        if self._chars > MAX_EXPANDED_CHARS:
            raise _AliasBomb(
                node,
                f"the manifest expands to more than {MAX_EXPANDED_CHARS // (1024 * 1024)} MiB of text "
                "(YAML aliases repeat their value each time); write shorter values or fewer aliases",
            )
        if node.tag == "tag:yaml.org,2002:str":
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            # Its message quotes the tag and the value: report only where.
            self.problems.append(Problem(_UNSUPPORTED_TAG, self.loc(node), render_path(path) or None))
            return None


def render_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _char_at(text: str, mark: yaml.Mark | None) -> str:
    lines = text.split("\n")
    if mark is None or mark.line >= len(lines) or mark.column >= len(lines[mark.line]):
        return ""
    return lines[mark.line][mark.column]


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """A message from PyYAML's fixed ``problem`` and ``context`` texts and marks only.

    PyYAML's own rendering quotes the offending line, which may hold a secret.
    """
    problem, context = exc.problem or "", exc.context or ""
    mark, context_mark = exc.problem_mark or exc.context_mark, exc.context_mark

    def at(m: yaml.Mark | None) -> SourceLocation:
        return SourceLocation(file, m.line + 1, m.column + 1) if m is not None else SourceLocation(file, 1, 1)

    if _char_at(text, exc.problem_mark) == "\t":
        return Problem("YAML syntax error: tab character; indent with spaces, not tabs", at(mark))
    if problem == "but found another document":
        return Problem("YAML syntax error: a manifest is one YAML document; remove the second '---'", at(mark))
    if context_mark is not None and problem == "second occurrence":
        first = at(context_mark)
        return Problem(f"YAML syntax error: duplicate anchor (first defined at line {first.line})", at(mark))
    if context_mark is not None and "quoted scalar" in context and "end of stream" in problem:
        return Problem("YAML syntax error: unterminated quoted string", at(context_mark))
    what, hint = problem or context or "invalid YAML", ""
    if problem.startswith("mapping values are not allowed"):
        hint = "; quote values that contain ': '"
    elif problem.startswith("found character that cannot start any token"):
        hint = "; quote values that start with a special character"
    elif problem == "found undefined alias":
        what = "undefined alias: '*NAME' needs an '&NAME' anchor earlier in the file"
    elif problem in ("did not find expected '-' indicator", "did not find expected key"):
        hint = "; check the indentation"
    opened = at(context_mark)
    if problem and context and context_mark is not None and opened != at(mark):
        what += f" ({context} that starts at line {opened.line}, column {opened.column})"
    what += hint
    return Problem(f"YAML syntax error: {what}", at(mark))


def parse_yaml(text: str, file: str) -> tuple[YamlDocument, list[Problem]]:
    """Parse one YAML document; syntax errors come back as problems, never as exceptions."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        return YamlDocument(file=file, data=None), [_syntax_problem(exc, text, file)]
    except yaml.reader.ReaderError as exc:
        # libyaml reports a byte offset; the character itself is never allowed anywhere, so find it.
        found = text.find(chr(exc.character)) if isinstance(exc.character, int) else -1
        line, column = _position(text, found if found >= 0 else exc.position)
        return YamlDocument(file=file, data=None), [
            Problem(
                f"YAML error: control character U+{exc.character:04X} is not allowed; use only printable text",
                SourceLocation(file, line, column),
            )
        ]
    except yaml.YAMLError as exc:
        return YamlDocument(file=file, data=None), [
            Problem(f"YAML error: {type(exc).__name__}", SourceLocation(file, 1, 1))
        ]
    builder = _Builder(file)
    if root is None:
        return builder.doc, []
    try:
        builder.doc.data = builder.build(root, ())
    except _AliasBomb as bomb:
        builder.doc.data = None
        builder.problems.append(Problem(bomb.message, builder.loc(bomb.node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file, 1, 1)
        builder.problems.append(Problem(f"YAML error: {getattr(exc, 'problem', None) or 'unsupported value'}", where))
    return builder.doc, builder.problems
