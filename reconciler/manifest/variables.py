"""Manifest variables: ``${var:NAME}`` in any non-secret string field.

One set of manifests serves several environments; what differs (an account name, a workspace,
a tag) comes from variables. Values come from, lowest precedence first:

1. ``vars:`` in the manifests (all files of a run share one set; a name defined twice must agree),
2. ``RECONCILER_VAR_NAME`` environment variables,
3. the ``var_files`` of the selected environment in ``reconciler.yaml`` (later files win),
4. ``--var-file FILE`` (later files win),
5. ``--var NAME=VALUE`` (later options win).

A variable is never a way to pass a secret: secret fields take references only, and a
``${var:...}`` there is an error. Variables are substituted into the raw YAML data before the
models validate it, so a bad value is reported at the manifest line that used it. Every input is
size-bounded, and messages name variables but never quote their values.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import Problem, SourceLocation

ENV_PREFIX = "RECONCILER_VAR_"
#: Bounds: variables are manifest input, and manifest input is bounded.
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 4096
MAX_VARIABLES = 1000
MAX_VAR_FILE_BYTES = 1024 * 1024
MAX_SUBSTITUTED_LENGTH = 65536

NAME_RULE = f"letters, digits and underscores, not starting with a digit, at most {MAX_NAME_LENGTH} characters"
_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME_LENGTH - 1}}}")
_REF = re.compile(r"\$\{var:([^{}]*)\}")
_OPEN = "${var:"
_SOURCES = "vars:, --var-file, --var NAME=VALUE or RECONCILER_VAR_NAME"


class VariableError(ValueError):
    """A malformed ``--var`` option; the CLI reports it as a usage error."""


@dataclass(frozen=True)
class Variable:
    """A value and where it was defined (for messages; the value itself is never quoted)."""

    value: str
    origin: str
    location: SourceLocation | None = None


@dataclass(frozen=True)
class VariableInputs:
    """The variable sources outside the manifests, as the CLI (or a saved plan) gives them."""

    options: tuple[tuple[str, str], ...] = ()
    var_files: tuple[str, ...] = ()
    project_var_files: tuple[str, ...] = ()
    environ: Mapping[str, str] | None = None
    #: A saved plan's recorded values: used instead of every other source, so the apply sees what the plan saw.
    fixed: Mapping[str, str] | None = None


@dataclass
class Substitution:
    """The result of substituting one run's manifests: which variables were used, and the problems."""

    used: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def parse_var_option(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` from ``--var``; the message never quotes the value."""
    name, sep, value = text.partition("=")
    if not sep:
        raise VariableError("expected NAME=VALUE")
    if not valid_name(name):
        raise VariableError(f"variable name must be {NAME_RULE}")
    if len(value) > MAX_VALUE_LENGTH:
        raise VariableError(f"value of {name} is longer than {MAX_VALUE_LENGTH} characters")
    if _has_control(value):
        raise VariableError(f"value of {name} contains a control character or line break")
    return name, value


def _has_control(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def _scalar_text(value: Any) -> str | None:
    """Strings and numbers become text; booleans, nulls and collections are not variable values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def check_mapping(
    data: Any, locate: Any, file: str, what: str, path: tuple[str | int, ...] = ()
) -> tuple[dict[str, Variable], list[Problem]]:
    """Validate a ``name: value`` mapping (a manifest's ``vars:`` or a variable file) into variables.

    ``locate(path)`` gives the location of a path inside the file.
    """
    problems: list[Problem] = []
    out: dict[str, Variable] = {}
    field_name = ".".join(str(p) for p in path) or None
    if not isinstance(data, dict):
        problems.append(Problem(f"{what} must be a mapping of NAME: value", locate(path), field_name))
        return out, problems
    if len(data) > MAX_VARIABLES:
        problems.append(Problem(f"{what} defines more than {MAX_VARIABLES} variables", locate(path), field_name))
        return out, problems
    for name, raw in data.items():
        where = locate((*path, name))
        shown = (f"{field_name}.{name}" if field_name else name) if valid_name(name) else field_name
        if not valid_name(name):
            problems.append(Problem(f"variable name must be {NAME_RULE}", where, field_name))
            continue
        text = _scalar_text(raw)
        if text is None:
            problems.append(
                Problem(
                    "a variable value must be a string or a number (quote booleans and dates)",
                    locate((*path, name)),
                    shown,
                )
            )
        elif len(text) > MAX_VALUE_LENGTH:
            problems.append(Problem(f"value is longer than {MAX_VALUE_LENGTH} characters", where, shown))
        elif _has_control(text):
            problems.append(Problem("value contains a control character or line break", where, shown))
        else:
            out[name] = Variable(text, file, where)
    return out, problems


def read_var_file(path: str) -> tuple[dict[str, Variable], list[Problem]]:
    """A YAML file of ``NAME: value`` pairs, bounded in size; problems are located."""
    from reconciler.inputfile import read_input
    from reconciler.manifest.yamlsource import parse_yaml

    try:
        data = read_input(path, MAX_VAR_FILE_BYTES)
    except FileNotFoundError:
        return {}, [Problem(f"{path}: variable file not found")]
    except IsADirectoryError:
        return {}, [Problem(f"{path}: is a directory, expected a variable file (YAML)")]
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            too_large = f"variable file is larger than {MAX_VAR_FILE_BYTES} bytes"
            return {}, [Problem(too_large, SourceLocation(path, 1, 1))]
        return {}, [Problem(f"{path}: cannot read variable file: {exc.strerror}")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return {}, [Problem("not UTF-8 text; save the variable file as UTF-8", SourceLocation(path, 1, 1))]
    doc, problems = parse_yaml(text, path)
    if problems:
        return {}, problems
    if doc.data is None:
        return {}, []
    return check_mapping(doc.data, doc.locate, path, "a variable file")


def collect(
    inputs: VariableInputs, manifest_vars: Sequence[tuple[str, dict[str, Variable]]]
) -> tuple[dict[str, Variable], list[Problem]]:
    """Merge every source by precedence (see the module docstring); problems are all reported."""
    problems: list[Problem] = []
    if inputs.fixed is not None:
        return {name: Variable(value, "the saved plan") for name, value in inputs.fixed.items()}, problems
    values: dict[str, Variable] = {}
    for _file, defined in manifest_vars:
        for name, var in defined.items():
            first = values.get(name)
            if first is not None and first.value != var.value:
                problems.append(
                    Problem(
                        f"variable {name} is defined differently at {first.location}; all manifests of one run "
                        "share one set of vars: (define it once)",
                        var.location,
                        f"vars.{name}",
                    )
                )
            elif first is None:
                values[name] = var
    environ = os.environ if inputs.environ is None else inputs.environ
    for key in sorted(environ):
        if key.startswith(ENV_PREFIX) and valid_name(key[len(ENV_PREFIX) :]):
            value = environ[key]
            if len(value) > MAX_VALUE_LENGTH or _has_control(value):
                problems.append(
                    Problem(f"{key}: value is longer than {MAX_VALUE_LENGTH} characters or has a control character")
                )
                continue
            values[key[len(ENV_PREFIX) :]] = Variable(value, key)
    for path in (*inputs.project_var_files, *inputs.var_files):
        defined, file_problems = read_var_file(path)
        problems.extend(file_problems)
        values.update(defined)
    for name, value in inputs.options:
        values[name] = Variable(value, "--var")
    return values, problems


def substitute(
    data: Any,
    values: Mapping[str, Variable],
    locate: Any,
    secret_paths: Any,
    result: Substitution,
    path: tuple[str | int, ...] = (),
) -> Any:
    """``data`` with every ``${var:NAME}`` replaced; problems (located with ``locate``) go to ``result``.

    ``secret_paths(path)`` says whether a path is a secret field: a variable there is an error and
    the value is left as it is (the secret-reference check then rejects it as well, never quoting it).
    """
    if isinstance(data, dict):
        return {
            key: substitute(value, values, locate, secret_paths, result, (*path, key)) for key, value in data.items()
        }
    if isinstance(data, list):
        return [substitute(value, values, locate, secret_paths, result, (*path, i)) for i, value in enumerate(data)]
    if not isinstance(data, str) or _OPEN not in data:
        return data
    field_name = _render(path)
    if secret_paths(path):
        result.problems.append(
            Problem(
                "a secret field takes a secret reference (${env:...}, ${file:...}, ${keyvault:...}), never a "
                "variable: variables are not secrets",
                locate(path),
                field_name,
            )
        )
        return data
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if not valid_name(name):
            problems.append(f"invalid variable reference: ${{var:NAME}} with NAME {NAME_RULE}")
            return match.group(0)
        var = values.get(name)
        if var is None:
            problems.append(f"undefined variable {name}: define it with {_SOURCES}")
            return match.group(0)
        result.used[name] = var.value
        return var.value

    out = _REF.sub(replace, data)
    if _OPEN in _REF.sub("", data):
        problems.append("unterminated or malformed ${var:NAME} reference (a variable name has no braces)")
    if not problems and len(out) > MAX_SUBSTITUTED_LENGTH:
        problems.append(f"longer than {MAX_SUBSTITUTED_LENGTH} characters after substituting variables")
    where = locate(path)
    result.problems.extend(Problem(message, where, field_name) for message in problems)
    return out


def references(data: Any) -> Iterable[str]:
    """The variable names a value refers to (for tests and tools)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from references(value)
    elif isinstance(data, list):
        for value in data:
            yield from references(value)
    elif isinstance(data, str):
        yield from (m.group(1) for m in _REF.finditer(data))


def _render(path: tuple[str | int, ...]) -> str | None:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def project_relative(paths: Iterable[str], base: Path) -> tuple[str, ...]:
    """Variable files named in a project file are relative to it."""
    return tuple(str(base / p) if not os.path.isabs(p) else p for p in paths)


#: What a string with a variable reference looks like to the JSON Schema (checked for real after substitution).
_SCHEMA_WITH_VARIABLE = {
    "type": "string",
    "pattern": r"\$\{var:[A-Za-z_][A-Za-z0-9_]*\}",
    "description": "contains ${var:NAME}; the value after substitution must fit the field",
}
_STRING_CONSTRAINTS = ("pattern", "minLength", "maxLength", "format", "enum")


def allow_variables_in_schema(node: Any, *, inside_vars: bool = False) -> Any:
    """The manifest JSON Schema with every constrained string also accepting a ``${var:NAME}`` reference.

    Editors then accept ``account_name: st${var:env}raw``. Secret references keep their own schema
    (a variable is never allowed there), and so do ``const`` discriminators (``type``) and ``vars:``.
    """
    if isinstance(node, list):
        return [allow_variables_in_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: allow_variables_in_schema(prop, inside_vars=name == "vars") for name, prop in value.items()
            }
        elif inside_vars:
            out[key] = value
        else:
            out[key] = allow_variables_in_schema(value)
    is_secret = str(node.get("description", "")).startswith("A secret reference")
    constrained = node.get("type") == "string" and any(k in node for k in _STRING_CONSTRAINTS)
    if inside_vars or is_secret or not constrained:
        return out
    described = {k: v for k, v in out.items() if k in ("title", "description", "default")}
    schema = {k: v for k, v in out.items() if k not in ("title", "description", "default")}
    return {**described, "anyOf": [schema, _SCHEMA_WITH_VARIABLE]}
