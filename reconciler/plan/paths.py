"""Field paths: tuples of settings keys in the plan, one text form in the JSON plan.

The plan holds ``("credentials", "account_key")`` or ``("tags", "cost center")``; people and the
JSON plan read ``credentials.account_key`` and ``tags['cost center']``. :func:`path_text` and
:func:`parse_path` are exact inverses, so a saved plan reads back the tuples it was written from.
"""

from __future__ import annotations

import ast
import re

FieldPath = tuple[str, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:-]+")
#: One segment of the text form: ``.key``, a leading ``key``, or ``['any key']`` (a Python literal).
_SEGMENT = re.compile(r"""\.?([A-Za-z0-9_:-]+)|\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]""", re.DOTALL)


def path_text(path: FieldPath) -> str:
    """``tags.team``; a key that is not plain is quoted, so no key can pose as two segments."""
    out = ""
    for key in path:
        if _PLAIN_KEY.fullmatch(key):
            out += f".{key}" if out else key
        else:
            out += f"[{key!r}]"
    return out


def parse_path(text: str) -> FieldPath:
    """The tuple :func:`path_text` made ``text`` from; ``ValueError`` for anything else."""
    parts: list[str] = []
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None or (match.group(0).startswith(".") and not parts):
            raise ValueError(f"not a field path: {text!r}")
        plain, quoted = match.groups()
        parts.append(plain if plain is not None else ast.literal_eval(quoted))
        position = match.end()
    if not parts or path_text(tuple(parts)) != text:
        raise ValueError(f"not a field path: {text!r}")
    return tuple(parts)
