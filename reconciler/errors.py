"""Errors the user can act on.

Everything below :class:`ReconcilerError` is printed by the CLI's single error boundary as a
message (never a traceback) and exits 1. Errors are data until that boundary: a
:class:`ManifestError` carries every problem found, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SourceLocation:
    """A position in a manifest file; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where, which field, and what is allowed."""

    message: str
    location: SourceLocation | None = None
    field: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        field = f"{self.field}: " if self.field else ""
        return f"{prefix}{field}{self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.message) if loc else ("", 0, 0, self.message)


class ReconcilerError(Exception):
    """Base of every error the CLI reports as a message with exit code 1."""

    def lines(self) -> list[str]:
        return [str(self)]


class ProblemsError(ReconcilerError):
    """An error made of several independent problems, all reported together."""

    headline = "invalid input"

    def __init__(self, problems: Iterable[Problem | str], headline: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(p if isinstance(p, Problem) else Problem(p) for p in problems)
        if headline is not None:
            self.headline = headline
        super().__init__(self._summary())

    def _summary(self) -> str:
        count = len(self.problems)
        noun = "error" if count == 1 else "errors"
        return f"{self.headline} ({count} {noun})"

    def lines(self) -> list[str]:
        return [f"{self._summary()}:", *(f"  {p}" for p in self.problems)]


class ManifestError(ProblemsError):
    """The manifest is invalid: syntax, schema, semantics or unresolvable secret references."""

    headline = "invalid manifest"

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        super().__init__(sorted(problems, key=lambda p: p.sort_key() if isinstance(p, Problem) else ("", 0, 0, p)))


class PlanError(ProblemsError):
    """The plan cannot be made: ownership conflicts, protected datastores, backend limits."""

    headline = "cannot plan"


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the manifests or the workspace."""


class WorkspaceUriError(ReconcilerError):
    """A workspace URI no registered backend accepts (see :mod:`reconciler.registry`)."""


class BackendError(ReconcilerError):
    """A workspace operation failed (the message names the datastore and says what to do)."""


class ChangedSincePlanError(BackendError):
    """The datastore was modified after the plan was made, so the write was refused."""


class ValidationFailedError(ProblemsError):
    """Storage probes failed: the credentials or the storage do not work."""

    headline = "validation failed"


class ApplyRefusedError(ReconcilerError):
    """The user (or a missing terminal) did not approve the apply."""


def join_names(names: Sequence[str]) -> str:
    """``a, b and c``: for messages that list datastores."""
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
