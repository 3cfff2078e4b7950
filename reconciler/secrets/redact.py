"""Defence in depth: scrub every known secret value from text that leaves the process.

:class:`~reconciler.secrets.value.SecretValue` registers its value here when it is created, so
log records, error messages and CLI output can be passed through :func:`redact` even when the
text came from a third-party library (an SDK error that quotes a URL with a SAS signature).
Log records also lose URL query strings beyond known-safe parameters (:func:`redact_log`).
"""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

MASK = "(sensitive)"
#: Shorter values are refused as secrets (resolve.MIN_SECRET_LENGTH): masking them would mangle text.
_MIN_LENGTH = 8

_lock = threading.Lock()
_values: dict[str, None] = {}  # an insertion-ordered set; registration must stay O(1)
_longest_first: list[str] = []
_dirty = False

# SAS signatures and bearer tokens that were never registered (e.g. built by an SDK).
_ALWAYS = re.compile(r"(?i)(\bsig=)[^&\s\"']+|(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")


def register(value: str) -> None:
    """Remember a secret value (and its URL-encoded forms) so that :func:`redact` hides it."""
    if len(value) < _MIN_LENGTH:
        return
    global _dirty
    # the forms an SDK echoes: URL-encoded, stripped, and a SAS token without its leading '?'
    bare = value.strip().lstrip("?")
    forms = (
        value,
        quote(value, safe=""),
        quote_plus(value),
        value.strip(),
        bare,
        quote(bare, safe=""),
        quote_plus(bare),
    )
    with _lock:
        for form in forms:
            if len(form) >= _MIN_LENGTH and form not in _values:
                _values[form] = None
                _dirty = True


def _ordered() -> list[str]:
    """Longest first, so a value that contains another registered value is masked whole."""
    global _longest_first, _dirty
    with _lock:
        if _dirty:
            _longest_first = sorted(_values, key=len, reverse=True)
            _dirty = False
        return _longest_first


def redact(text: str) -> str:
    """Replace every registered secret value, SAS signature and bearer token with the mask.

    Plain substring search (C speed, no regex to rebuild): thousands of registered values cost
    microseconds per line of output.
    """
    for value in _ordered():
        if value in text:
            text = text.replace(value, MASK)
    return _ALWAYS.sub(lambda m: (m.group(1) or m.group(2)) + MASK, text)


#: Query parameters that never carry credentials; in logs every other one is masked, name and value.
SAFE_QUERY_NAMES = frozenset(
    {
        "api-version",
        "authorization_endpoint",
        "comp",
        "delimiter",
        "include",
        "maxresults",
        "recursive",
        "resource",
        "restype",
        "timeout",
        "$skiptoken",
        "$top",
    }
)
_QUERY = re.compile(r"(?<=[\w/.\-])\?([\w$%.~+\-][^\s'\"#<>]*)")


def _mask_query(match: re.Match[str]) -> str:
    parts = match.group(1).split("&")
    return "?" + "&".join(p if p.partition("=")[0].lower() in SAFE_QUERY_NAMES else MASK for p in parts)


def redact_log(text: str) -> str:
    """:func:`redact`, and URL query strings cut down to known-safe parameters.

    A SAS token handed to a storage SDK becomes the query of every request URL, and SDK HTTP
    logging quotes those URLs with only the *values* masked: a token that is not of the form
    ``name=value&...`` then shows up as a parameter name, a fragment no registry can match.
    Logs need the path and the api-version, never the rest.
    """
    return _QUERY.sub(_mask_query, redact(text))


class RedactingFilter(logging.Filter):
    """A logging filter that formats the record, then scrubs the message and any traceback (:func:`redact_log`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact_log(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            import traceback

            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact_log(text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_log(record.stack_info)
        return True


class RedactingStream(io.TextIOBase):
    """A text stream wrapper that scrubs each write: the last line of defence for CLI output."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
