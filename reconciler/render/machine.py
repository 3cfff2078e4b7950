"""The versioned JSON plan, and the markdown form for pull-request comments."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.plan.model import Plan

Validation = Sequence[Mapping[str, Any]]


def plan_document(
    plan: Plan, validation: Validation | None = None, checks: Sequence[Any] | None = None
) -> dict[str, Any]:
    """The JSON plan (``--format json`` and the ``--out`` file); see the CLI contract.

    ``validation`` (the storage probe results of this run, one object per probed datastore:
    name, type, outcome, message, seconds) is added only when probes ran; a saved plan never
    carries it, because it describes the run, not the decision. ``checks`` (expiry, storage
    account and access findings) becomes ``warnings`` (and ``errors``, when there are any) the same way.
    """
    from reconciler.plan.planfile import plan_to_document
    from reconciler.render.reasons import reason_text

    owner = plan.recorded.owner if plan.recorded is not None else None
    document = plan_to_document(plan, lambda change: reason_text(change, owner))
    if validation is not None:
        document["validation"] = [dict(row) for row in validation]
    if checks is not None:
        from reconciler.render.findings import findings_json

        warnings, errors = findings_json(checks)
        document["warnings"] = warnings
        if errors:
            document["errors"] = errors
    return document


def render_json(document: Any) -> str:
    """JSON with non-ASCII text kept readable, but terminal-unsafe characters as ``\\uXXXX`` escapes.

    They can only occur inside strings (JSON's own structure is ASCII), so escaping them in the
    text keeps every value as it was, and a log that shows the JSON shows no raw control.
    """
    from reconciler.render.escape import json_text

    return json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def render_markdown(plan: Plan, validation: Validation | None = None, **options: Any) -> str:
    """The markdown plan (pull-request comments, job summaries): see :mod:`reconciler.render.markdown`."""
    from reconciler.render.markdown import render_markdown as render

    return render(plan, validation, **options)
