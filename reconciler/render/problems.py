"""Manifest problems for machines: JSON, and GitHub Actions workflow-command annotations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.errors import Problem
from reconciler.render.escape import github_data, github_property


def problem_document(problem: Problem) -> dict[str, Any]:
    loc = problem.location
    return {
        "file": loc.file if loc else None,
        "line": loc.line if loc else None,
        "column": loc.column if loc else None,
        "field": problem.field,
        "message": problem.message,
    }


def render_validation_json(
    problems: Sequence[Problem], *, datastores: int = 0, files: Sequence[str] = (), owner: str | None = None
) -> str:
    document: dict[str, Any] = {"format_version": "1", "valid": not problems}
    if problems:
        document["problems"] = [problem_document(p) for p in problems]
    else:
        document.update(datastores=datastores, files=list(files), owner=owner)
    from reconciler.render.machine import render_json  # with the plan model: not on validate's text path

    return render_json(document)


def render_problems_github(problems: Sequence[Problem]) -> str:
    """One ``::error file=...,line=...,col=...::message`` per problem, shown inline on the pull request."""
    lines = []
    for problem in problems:
        loc = problem.location
        props = [f"title={github_property('reconciler validate')}"]
        if loc is not None:
            props = [
                f"file={github_property(loc.file)}",
                f"line={loc.line}",
                f"col={loc.column}",
                *props,
            ]
        message = f"{problem.field}: {problem.message}" if problem.field else problem.message
        lines.append(f"::error {','.join(props)}::{github_data(message)}")
    return "".join(f"{line}\n" for line in lines)
