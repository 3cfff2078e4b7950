"""Storage probe results as lines of the text plan (the results themselves are data in validation/)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.render.escape import message, text
from reconciler.render.line import Line
from reconciler.render.wrap import hanging
from reconciler.validation.runner import Outcome, ProbeResult


def probe_lines(results: Sequence[ProbeResult]) -> list[Line]:
    """The "Validation" block: one line per probed datastore; nothing when nothing was probed."""
    if not results:
        return []
    lines = [Line("Validation (storage probes before any write):")]
    for r in results:
        name = f"{text(r.name)} ({r.type})"
        if r.outcome is Outcome.OK:
            lines.append(Line(f"  ok          {name} [{r.seconds:.2f}s]", "green"))
        elif r.outcome is Outcome.NOT_PROBED:  # long reasons wrap under the datastore, within 80 columns
            lines.extend(Line(part, "dim") for part in hanging("  not probed  ", f"{name}: {message(r.message)}"))
        else:
            lines.append(Line(f"  FAILED      {name}: {message(r.message)}", "red"))
    lines.append(Line(""))
    return lines
