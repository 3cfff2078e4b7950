"""The project file ``reconciler.yaml``: named environments that share one set of manifests.

```yaml
version: 1
environments:
  dev:
    workspace: local:.reconciler/dev.db
    files: [manifests/*.yaml]        # paths or globs, relative to this file
    owner: platform-dev
    var_files: [vars/dev.yaml]       # relative to this file; later files win
```

It is found from the current directory upward: the first ``reconciler.yaml``, looking no higher
than the Git work tree's root (the first directory with a ``.git``), so a file above the
repository never changes what a command in it does. Every problem is reported at once, located.
"""

from __future__ import annotations

import difflib
import errno
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import Problem, ProblemsError, ReconcilerError, SourceLocation

PROJECT_FILE = "reconciler.yaml"
MAX_PROJECT_BYTES = 1024 * 1024
MAX_ENVIRONMENTS = 100
MAX_FILES = 1000

ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_TOP_KEYS = ("version", "environments")
_ENV_KEYS = ("workspace", "files", "owner", "var_files")


class ProjectError(ProblemsError):
    """The project file is invalid, or names an environment it does not have."""

    headline = "invalid project file"


class ProjectLookupError(ReconcilerError):
    """No project file was found, or it has no environment of the given name."""


@dataclass(frozen=True)
class Environment:
    """One environment: what ``--env NAME`` runs with. Paths are ready to open from the current directory."""

    name: str
    workspace: str | None
    files: tuple[str, ...]
    owner: str | None
    var_files: tuple[str, ...]
    location: SourceLocation


@dataclass(frozen=True)
class Project:
    path: str
    environments: dict[str, Environment]

    def environment(self, name: str) -> Environment:
        """The named environment; an unknown name lists the known ones."""
        if name in self.environments:
            return self.environments[name]
        known = ", ".join(self.environments)
        close = difflib.get_close_matches(name, list(self.environments), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        shown = name if ENVIRONMENT_NAME.fullmatch(name) else "(invalid name)"
        raise ProjectLookupError(f"no environment {shown} in {self.path} (environments: {known}){hint}")


def find_project(start: Path | None = None) -> Path | None:
    """``reconciler.yaml`` in ``start`` or a parent, not above the Git root."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None


def require_project(start: Path | None = None) -> Project:
    """The project around the current directory, or a clear error saying where it was looked for."""
    path = find_project(start)
    if path is None:
        raise ProjectLookupError(
            f"no {PROJECT_FILE} found in the current directory or its parents (up to the Git root); "
            "--env and --all need a project file listing the environments"
        )
    return load_project(path)


def _display(path: Path) -> str:
    """A path as short as it can be from the current directory (messages and saved plans use it)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def load_project(path: Path) -> Project:
    from reconciler.inputfile import read_input
    from reconciler.manifest.yamlsource import parse_yaml

    shown = _display(path)
    try:
        data = read_input(str(path), MAX_PROJECT_BYTES)
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise ProjectError(
                [Problem(f"larger than {MAX_PROJECT_BYTES} bytes", SourceLocation(shown, 1, 1))]
            ) from None
        raise ProjectError([Problem(f"{shown}: cannot read project file: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProjectError([Problem("not UTF-8 text", SourceLocation(shown, 1, 1))]) from None
    doc, problems = parse_yaml(text, shown)
    if problems:
        raise ProjectError(problems)
    checker = _Checker(doc, path.parent)
    environments = checker.check()
    if checker.problems:
        problems = sorted(checker.problems, key=Problem.sort_key)
        raise ProjectError(problems)
    return Project(shown, environments)


class _Checker:
    def __init__(self, doc: Any, base: Path) -> None:
        self.doc = doc
        self.base = base
        self.problems: list[Problem] = []

    def problem(self, message: str, path: tuple[str | int, ...]) -> None:
        field = ".".join(str(p) for p in path) or None
        self.problems.append(Problem(message, self.doc.locate(path), field))

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], path: tuple[str | int, ...]) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                self.problem(f"unknown key (allowed: {', '.join(allowed)}){hint}", (*path, key))

    def check(self) -> dict[str, Environment]:
        data = self.doc.data
        if not isinstance(data, dict):
            self.problem("a project file is a mapping with 'environments:'", ())
            return {}
        self.unknown_keys(data, _TOP_KEYS, ())
        if "version" in data and (type(data["version"]) is not int or data["version"] != 1):
            self.problem("unsupported project file version; expected version: 1", ("version",))
        envs = data.get("environments")
        if not isinstance(envs, dict) or not envs:
            self.problem(
                "needs a mapping of environment names to {workspace, files, owner, var_files}", ("environments",)
            )
            return {}
        if len(envs) > MAX_ENVIRONMENTS:
            self.problem(f"more than {MAX_ENVIRONMENTS} environments", ("environments",))
            return {}
        out = {}
        for name, spec in envs.items():
            env = self.environment(str(name), spec)
            if env is not None:
                out[env.name] = env
        return out

    def environment(self, name: str, spec: Any) -> Environment | None:
        path: tuple[str | int, ...] = ("environments", name)
        before = len(self.problems)
        if not ENVIRONMENT_NAME.fullmatch(name):
            self.problems.append(
                Problem(
                    "environment name must be 1-63 letters, digits, '_', '.' and '-', starting with a letter or digit",
                    self.doc.locate(path),
                    "environments",
                )
            )
            return None
        if not isinstance(spec, dict):
            self.problem("an environment is a mapping: {workspace, files, owner, var_files}", path)
            return None
        self.unknown_keys(spec, _ENV_KEYS, path)
        workspace = self.workspace(spec.get("workspace"), (*path, "workspace"))
        owner = spec.get("owner")
        if owner is not None and not (isinstance(owner, str) and _OWNER.fullmatch(owner)):
            self.problem(
                "owner must be 1-63 letters, digits, '.', '_' and '-', starting with a letter or digit",
                (*path, "owner"),
            )
        if "files" not in spec:
            self.problem("needs files: the manifests (paths or globs, relative to the project file)", path)
            files: tuple[str, ...] = ()
        else:
            files = self.paths(spec["files"], (*path, "files"), globs=True)
        var_files = self.paths(spec.get("var_files", []), (*path, "var_files"), globs=False)
        if len(self.problems) > before:
            return None
        return Environment(name, workspace, files, owner, var_files, self.doc.locate(path))

    def workspace(self, value: Any, path: tuple[str | int, ...]) -> str | None:
        if value is None:
            return None
        from reconciler.backends import parse_workspace_uri
        from reconciler.errors import WorkspaceUriError
        from reconciler.registry import allowed_forms, invalid_uri_message

        if not isinstance(value, str):
            self.problem(f"workspace must be a string: {allowed_forms()}", path)
            return None
        try:
            parse_workspace_uri(value)
        except WorkspaceUriError:
            self.problem(invalid_uri_message(), path)
            return None
        if value.startswith("local:") and not os.path.isabs(value[len("local:") :]):
            # Relative to the project file, like every other path in it.
            return "local:" + _display(self.base / value[len("local:") :])
        return value

    def paths(self, value: Any, path: tuple[str | int, ...], *, globs: bool) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or (not items and globs):
            self.problem("must be a path or a list of paths" + (" (globs allowed)" if globs else ""), path)
            return ()
        out: list[str] = []
        for index, item in enumerate(items):
            where = (*path, index) if isinstance(value, list) else path
            if not isinstance(item, str) or not item.strip():
                self.problem("must be a path (a string)", where)
                continue
            full = item if os.path.isabs(item) else str(self.base / item)
            if globs and glob.has_magic(item):
                matches = sorted(m for m in glob.glob(full, recursive=True) if os.path.isfile(m))
                if not matches:
                    self.problem("matches no file (paths are relative to the project file)", where)
                out.extend(_display(Path(m)) for m in matches)
            elif not os.path.isfile(full):
                self.problem("file not found (paths are relative to the project file)", where)
            else:
                out.append(_display(Path(full)))
        unique = tuple(dict.fromkeys(out))
        if len(unique) > MAX_FILES:
            self.problem(f"more than {MAX_FILES} files", path)
        return unique
