"""The invalid-manifest corpus: every file in ``tests/data/invalid`` is rejected the way its header says.

Each corpus file starts with comment lines::

    # expect: FILE:LINE:COL: field: message   (a substring of stderr; repeatable)
    # expect-count: N                         (the number in "invalid manifest (N errors)")
    # command: plan                           (optional; default validate)
    # files: companions/other.yaml            (optional; more -f files, relative to the corpus)
    # env: NAME=value                         (optional; repeatable)

Every run must exit 1 with exactly the expected problems, never a traceback, never the
``LITERALCANARY`` planted in secret fields, and must leave the workspace exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.backends import open_workspace
from reconciler.render.show import render_show_json

CORPUS = Path(__file__).resolve().parent.parent / "data" / "invalid"
COMPANIONS = CORPUS / "companions"
CANARY = "LITERALCANARY"
HEADER_KEYS = frozenset({"expect", "expect-count", "command", "files", "env"})
WORKSPACE_FILES = ("ws.db", "ws.db.secrets")


@dataclass(frozen=True)
class Case:
    """One corpus file and what its header promises."""

    path: Path
    expects: tuple[str, ...]
    count: int
    command: str = "validate"
    files: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        """Validated alone, with no companions or environment: fit for the all-at-once run."""
        return self.command == "validate" and not self.files and not self.env


def read_header(path: Path) -> dict[str, list[str]]:
    """The ``# key: value`` lines at the top of a corpus file (bytes: one file is not UTF-8)."""
    header: dict[str, list[str]] = {}
    for raw in path.read_bytes().splitlines():
        line = raw.decode("utf-8", errors="replace")
        if not line.startswith("#"):
            break
        match = re.match(r"^# ([a-z-]+): (.*)$", line)
        assert match and match[1] in HEADER_KEYS, f"{path.name}: unrecognised header line {line!r}"
        header.setdefault(match[1], []).append(match[2].strip())
    return header


def load_case(path: Path) -> Case:
    header = read_header(path)
    (count,) = header.get("expect-count", ["-1"])
    env = dict(item.split("=", 1) for item in header.get("env", []))
    (command,) = header.get("command", ["validate"])
    files = tuple(f for line in header.get("files", []) for f in line.split())
    return Case(path, tuple(header.get("expect", [])), int(count), command, files, env)


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def clean_env(workspace: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """No RECONCILER_*/AZURE_* variable from the caller may point the run elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "AZURE_"))}
    env.update(extra or {})
    env["RECONCILER_WORKSPACE"] = workspace
    return env


def start(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def reconciler(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return finish(start(args, cwd, env))


def stage(case: Case, root: Path) -> list[str]:
    """Copy the manifest and the companions into ``root``; return the ``-f`` arguments (relative paths)."""
    shutil.copy2(case.path, root / case.path.name)
    shutil.copytree(COMPANIONS, root / COMPANIONS.name)
    return [arg for name in (case.path.name, *case.files) for arg in ("-f", name)]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: the workspace, the manifests, anything written."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def headline(count: int) -> str:
    return f"Error: invalid manifest ({count} {'error' if count == 1 else 'errors'}):"


def check_rejected(case: Case, proc: subprocess.CompletedProcess[str]) -> None:
    """Exit 1, the headline, one line per problem, every expected message; no traceback, no canary."""
    everything = proc.stdout + proc.stderr
    assert "Traceback" not in everything, proc.stderr
    assert CANARY not in everything, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == headline(case.count), proc.stderr
    assert len([line for line in lines[1:] if line.startswith("  ")]) == case.count, proc.stderr
    missing = [e for e in case.expects if e not in proc.stderr]
    assert not missing, f"not in stderr: {missing}\n{proc.stderr}"


@dataclass(frozen=True)
class Template:
    """A workspace made by ``reconciler show`` and what ``show --format json`` said about it."""

    files: dict[str, bytes]
    shown: dict[str, Any]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("workspace-template")
    uri = f"local:{root / 'ws.db'}"
    # show never creates a workspace (issue 7); apply's backend does, here in-process
    from reconciler.backends.local import LocalWorkspace

    LocalWorkspace(root / "ws.db", uri=uri, create=True).close()
    shown = reconciler(["show", "--format", "json"], root, clean_env(uri))
    assert shown.returncode == 0, shown.stderr
    return Template({name: (root / name).read_bytes() for name in WORKSPACE_FILES}, json.loads(shown.stdout))


def show_json(uri: str) -> dict[str, Any]:
    """What ``reconciler show --format json`` prints, computed in-process by the same two calls.

    A subprocess per check would double the corpus run time; the template fixture compares
    against the real command's output.
    """
    workspace = open_workspace(uri)
    try:
        result: dict[str, Any] = json.loads(render_show_json(workspace.snapshot()))
    finally:
        workspace.close()
    return result


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.stem)
def test_corpus_file_is_rejected(path: Path, tmp_path: Path, template: Template) -> None:
    """Against a workspace made by ``show``: rejected, nothing changed; validate also creates none."""
    case = load_case(path)
    with_workspace = tmp_path / "with-workspace"
    roots = [with_workspace, tmp_path / "without-workspace"] if case.command == "validate" else [with_workspace]
    started = []
    for root in roots:
        root.mkdir()
        args = [case.command, *stage(case, root)]
        if root == with_workspace:
            for name, data in template.files.items():
                (root / name).write_bytes(data)
                (root / name).chmod(0o600)  # a secrets file others can read is refused
        started.append((root, tree(root), start(args, root, clean_env(f"local:{root / 'ws.db'}", case.env))))
    finished = [(root, before, finish(proc)) for root, before, proc in started]

    for root, before, proc in finished:
        check_rejected(case, proc)
        assert tree(root) == before, f"{root.name}: a rejected command must change nothing, nor create a workspace"
    uri = f"local:{with_workspace / 'ws.db'}"
    assert show_json(uri) == {**template.shown, "workspace": uri}


def test_all_plain_files_at_once_report_every_problem(tmp_path: Path) -> None:
    """One validate over every plain file reports the sum of their problems: nothing stops at the first."""
    cases = [load_case(p) for p in corpus()]
    plain = [c for c in cases if c.plain]
    assert len(plain) >= 40
    args = ["validate"]
    for case in plain:
        shutil.copy2(case.path, tmp_path / case.path.name)
        args += ["-f", case.path.name]
    uri = f"local:{tmp_path / 'ws.db'}"
    proc = reconciler(args, tmp_path, clean_env(uri))
    total = sum(c.count for c in plain)
    check_rejected(Case(CORPUS, tuple(e for c in plain for e in c.expects), total), proc)
    assert not (tmp_path / "ws.db").exists()


def test_every_corpus_file_states_what_must_be_found() -> None:
    """No silent files: each has expect lines and a count, and every companion is used."""
    cases = [load_case(p) for p in corpus()]
    assert len(cases) >= 45
    for case in cases:
        assert case.expects, f"{case.path.name}: no '# expect:' line"
        assert case.count >= len(case.expects) > 0, f"{case.path.name}: '# expect-count:' missing or too small"
        assert re.match(r"^\d\d-[a-z0-9-]+\.yaml$", case.path.name), case.path.name
        assert case.command in ("validate", "plan"), case.path.name
    used = {Path(f).name for case in cases for f in case.files}
    unused = [p.name for p in COMPANIONS.iterdir() if p.name not in used]
    assert not unused, f"companions no corpus file uses: {unused}"
