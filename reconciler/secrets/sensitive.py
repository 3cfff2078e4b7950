"""The typed "sensitive" marker: where a secret field sits in settings and plans, never its value.

Settings, plans and saved plans hold :data:`SENSITIVE` (a secret is set) or
:data:`NOT_RESOLVED` (``plan --no-secrets``: the reference was not resolved) in place of a
secret. Only renderers turn a marker into text, so a description that happens to read
``(sensitive)`` stays an ordinary value: it compares, diffs and prints as what it is.

A marker is a ``str`` subclass so that the JSON plan (pydantic, ``json``) writes it as its text
without special cases; it equals only another marker of the same text.
"""

from __future__ import annotations

from typing import Any

from reconciler.secrets.redact import MASK


class Sensitive(str):
    """A placeholder for a secret value; equal only to a marker with the same text."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Sensitive({str.__str__(self)!r})"


SENSITIVE = Sensitive(MASK)
NOT_RESOLVED = Sensitive("(not resolved)")


def is_sensitive(value: Any) -> bool:
    return isinstance(value, Sensitive)


def marker_of(value: Any) -> Any:
    """The marker a stored text stands for (in a field known to be sensitive), else the value."""
    if isinstance(value, str) and not isinstance(value, Sensitive):
        for marker in (SENSITIVE, NOT_RESOLVED):
            if str.__eq__(value, marker):
                return marker
    return value
