"""``plan --all``: every environment of ``reconciler.yaml``, planned in parallel, shown one section each.

Each environment is planned into a console of its own; the sections are printed in the project
file's order once all are done, so parallel work never interleaves. One environment's error does
not hide the others' plans: it is shown in its section and the command exits 1 at the end.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler.cli.app import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.console import Console

#: Environments planned at once; each also probes in parallel, so keep this small.
MAX_PARALLEL_ENVIRONMENTS = 4


@dataclass
class Section:
    name: str
    workspace: str
    output: str = ""
    error: list[str] | None = None
    has_changes: bool = False
    warnings: str = ""


def plan_all(
    console: Console,
    fmt: str,
    plan_one: Callable[[Console, Any], Any],
    options: tuple[tuple[str, str], ...],
    var_files: tuple[str, ...],
) -> tuple[int, list[Section]]:
    """Plan every environment with ``plan_one(console, inputs) -> Plan``; returns the exit status and the sections."""
    from reconciler.cli.inputs import environment_inputs
    from reconciler.project import require_project

    project = require_project()
    environments = list(project.environments.values())

    def run(env: Any) -> Section:
        section = Section(env.name, env.workspace or "(from the manifests)")
        buffer, errors = io.StringIO(), io.StringIO()
        own = Console(color=console.color and fmt == "text", out=buffer, err=errors)
        try:
            plan = plan_one(own, environment_inputs(env, options, var_files))
        except Exception as exc:  # shown in the section; the boundary still decides the exit code
            section.error = _error_lines(exc)
        else:
            section.has_changes = bool(plan.has_changes)
            section.workspace = plan.workspace
        section.output = buffer.getvalue()
        # Warnings go to stderr, after the sections: a JSON or markdown document stays whole.
        section.warnings = errors.getvalue()
        return section

    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_ENVIRONMENTS, len(environments))) as pool:
        sections = list(pool.map(run, environments))
    _print(console, fmt, sections)
    for s in sections:
        if s.warnings:
            console.err.write(s.warnings)
            console.err.flush()
    if any(s.error is not None for s in sections):
        return EXIT_ERROR, sections
    return (EXIT_CHANGES if any(s.has_changes for s in sections) else EXIT_OK), sections


def _error_lines(exc: BaseException) -> list[str]:
    from reconciler.errors import ReconcilerError
    from reconciler.render.escape import github_line
    from reconciler.secrets.redact import redact

    if isinstance(exc, ReconcilerError):
        lines = exc.lines()
    else:
        lines = [f"Internal error: {type(exc).__name__}: {redact(str(exc))}"]
    return [github_line(f"Error: {t}" if i == 0 else t) for i, t in enumerate(lines)]


def _print(console: Console, fmt: str, sections: list[Section]) -> None:
    from reconciler.render.escape import code, markdown, text

    if fmt == "json":
        documents = [
            {
                "environment": s.name,
                "workspace": s.workspace,
                "plan": json.loads(s.output) if s.error is None and s.output.strip() else None,
                "errors": s.error or [],
            }
            for s in sections
        ]
        console.raw(json.dumps({"format_version": "1", "environments": documents}, indent=2) + "\n")
        return
    from reconciler.render.line import Line

    for index, s in enumerate(sections):
        if fmt == "markdown":
            console.raw(f"## Environment {code(s.name)}\n\n{s.output}")
            if s.error:
                console.raw("\n".join(f"> {markdown(line)}" for line in s.error) + "\n")
            console.raw("\n")
            continue
        header = f"=== Environment {s.name}: {text(s.workspace)} ==="
        console.lines([*([Line("")] if index else []), Line(header, "bold")])
        console.raw(s.output)
        if s.error:
            console.lines([Line(line, "red") for line in s.error])
    if fmt == "text":
        console.lines([Line(""), Line("All environments: " + "; ".join(_summary(s) for s in sections) + ".", "bold")])


def _summary(section: Section) -> str:
    if section.error is not None:
        return f"{section.name} failed"
    return f"{section.name} {'has changes' if section.has_changes else 'no changes'}"
