"""Escaping for every output format: a manifest or a remote service must not be able to forge output.

Any string that came from a manifest (names, tag keys, descriptions, file names) or from a
service (error text, registered names) passes through one of these before it is written:

- :func:`quote` / :func:`text` for plain text and terminals: control characters, newlines,
  ANSI escapes and invisible bidirectional marks become JSON-style escapes, so a value can
  never start a new line, recolour the terminal or hide text.
- :func:`markdown` and :func:`code` for markdown (pull-request comments): markdown syntax,
  HTML and ``@mentions`` are escaped; inline code uses a fence no value can close.
- :func:`github_data` / :func:`github_property` for GitHub Actions workflow commands, and
  :func:`github_line` for any line that reaches a CI log: no value can start or inject a
  workflow command (``::error::``, ``::add-mask::``, legacy ``##[...]``).

Pure functions over ``str``; no imports beyond the standard library (the CLI start-up path).
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, and the invisible characters that reorder or hide text (bidi
#: overrides and isolates, zero-width marks, line and paragraph separators, BOM).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
#: What may be shown without quotes in text output: identifiers, paths, hosts, URIs.
_BARE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,:/@+=~%-]*$")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _SHORT.get(char) or f"\\u{ord(char):04x}"


def escape_controls(value: str) -> str:
    """``value`` with every control and invisible formatting character as a JSON-style escape.

    ``##[`` (the Actions runner's legacy command marker, honoured anywhere in a log line) is
    written ``#\u0023[``: still the same value when read back as a JSON string.
    """
    return _UNSAFE.sub(_escape_char, value).replace("##[", "#\\u0023[")


def json_text(document: str) -> str:
    """A finished JSON document with terminal-unsafe characters inside its strings as escapes.

    ``json.dumps`` already escapes C0 controls, so every raw newline left is structure and is
    kept; C1 controls, bidi marks and line separators (legal raw in JSON) become ``\\uXXXX``.
    """
    return _UNSAFE.sub(lambda m: "\n" if m.group(0) == "\n" else _escape_char(m), document).replace("##[", "#\\u0023[")


def quote(value: str) -> str:
    """``value`` as a JSON string literal (quotes included) that is safe on a terminal.

    Like ``json.dumps(value, ensure_ascii=False)``, but C1 controls, bidi overrides and
    line separators are escaped too: JSON allows them raw, terminals act on them.
    """
    return '"' + escape_controls(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def text(value: object) -> str:
    """A name or word for text output: bare when it is a plain identifier, else :func:`quote`."""
    string = value if isinstance(value, str) else str(value)
    if _BARE.fullmatch(string) and not string.startswith("::"):
        return string
    return quote(string)


def message(value: object) -> str:
    """Free text (an error message from a service) on one line: controls escaped, no quotes added."""
    return escape_controls(value if isinstance(value, str) else str(value))


# ------------------------------------------------------------------------------ markdown

#: Inline markdown syntax; the line-start markers (#, -, +, 1.) never start a line here: every
#: escaped value sits after a table pipe or a prefix of ours.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "@": "&#64;"}
_MD_COLON = re.compile(r":(?=[\w+-]+:|//)")


def markdown(value: object) -> str:
    """Text that renders literally in GitHub-flavoured markdown, on one line, inside a table cell.

    Inline markdown punctuation is backslash-escaped, ``<``/``&`` become entities (no HTML),
    ``@`` an entity (no mentions), the ``:`` of ``:emoji:`` and ``scheme://`` an entity (no
    shortcodes, no autolinks), and control characters are escaped.
    """
    string = _MD_SPECIAL.sub(r"\\\1", escape_controls(value if isinstance(value, str) else str(value)))
    # entities last, so their own characters are not escaped; no :emoji: shortcodes, no scheme:// links
    string = re.sub("[&<>@]", lambda m: _MD_ENTITIES[m.group(0)], string)
    return _MD_COLON.sub("&#58;", string)


def code(value: object) -> str:
    """An inline code span holding ``value`` literally: a fence longer than any backtick run inside.

    Pipes are escaped because GitHub tables split cells on them even inside code spans.
    """
    string = escape_controls(value if isinstance(value, str) else str(value)).replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", string)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if string.startswith("`") or string.endswith("`") or not string.strip() else ""
    return f"{fence}{pad}{string}{pad}{fence}"


def fence(body: str) -> str:
    """A code-block fence longer than any backtick run in ``body``, so no line can close it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


# ------------------------------------------------------------------------------ GitHub Actions


def github_data(value: object) -> str:
    """The message part of a workflow command (``::error ...::DATA``): %, CR and LF encoded."""
    string = value if isinstance(value, str) else str(value)
    string = string.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escape_controls(string)


def github_property(value: object) -> str:
    """A property value of a workflow command (``file=VALUE``): also ``:`` and ``,`` encoded."""
    return github_data(value).replace(":", "%3A").replace(",", "%2C")


_COMMAND_START = re.compile(r"^(\s*):")


def github_line(line: str) -> str:
    """A line for a CI log that the Actions runner cannot read as a workflow command.

    The runner treats a line as a command when, after leading whitespace, it starts with
    ``::`` (a zero-width space breaks it), and (legacy form) when it contains ``##[``
    (escaped by :func:`escape_controls`).
    """
    return _COMMAND_START.sub("\\1\u200b:", escape_controls(line))


def one_line(value: object, limit: int | None = None) -> str:
    """Free text collapsed to one escaped line, optionally shortened (callers mask *before* this)."""
    string = " ".join((value if isinstance(value, str) else str(value)).split())
    string = escape_controls(string)
    if limit is not None and len(string) > limit:
        string = string[: max(0, limit - 3)] + "..."
    return string
