"""How an Azure failure reads, in one place: the first line of a message, without Entra ID's trace
noise, and which attempt of a credential chain to blame.

The ARM backend, Key Vault references and the storage probes all word sign-in failures with
:func:`credential_failure`, so the same failure reads the same wherever it happens.
"""

from __future__ import annotations

import re

_TRACE = re.compile(r"\s*Trace ID:.*$", re.S)
#: A credential of the chain that is merely not set up here (as opposed to one that was refused).
_UNAVAILABLE = re.compile(
    r"unavailable|not found on path|not installed|could not be found|requires the|no accounts were found", re.I
)


def first_line(text: object) -> str:
    """The first non-blank line of a message (SDK messages append bodies and stack details)."""
    stripped = str(text).strip()
    return stripped.splitlines()[0] if stripped else ""


def without_trace(text: str) -> str:
    """``AADSTS...`` messages without the Trace ID, Correlation ID and Timestamp Entra ID appends."""
    return _TRACE.sub("", text).strip()


def credential_failure(text: str) -> str:
    """The reason a DefaultAzureCredential chain failed, in one line.

    Its message is a headline plus one tab-indented line per credential tried. The chain stops
    at the first credential refused for a real reason (a rejected secret): that attempt is the
    reason. When every credential was merely unavailable, the reason names them all.
    """
    attempts = [line.strip() for line in text.splitlines() if line.startswith("\t") and ":" in line]
    if not attempts:
        return without_trace(first_line(text)) or "authentication failed"
    refused = [a for a in attempts if not _UNAVAILABLE.search(a)]
    if not refused:
        names = ", ".join(a.split(":", 1)[0] for a in attempts)
        return f"no Azure credential is available here (tried {names})"
    name, _, reason = refused[0].partition(": ")
    sentences = re.split(r"(?<=\.)\s", without_trace(reason))
    return f"{name}: {' '.join(sentences[:2])}"
