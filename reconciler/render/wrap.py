"""Long explanatory lines wrapped to a terminal of 80 columns, with a hanging indent."""

from __future__ import annotations

import textwrap

WIDTH = 80


def hanging(prefix: str, body: str, width: int = WIDTH) -> list[str]:
    """``prefix + body`` wrapped at word boundaries; continuation lines align under the body.

    Words are never split (a long URL stays whole), so only a single over-long word can exceed ``width``.
    """
    return textwrap.wrap(
        body,
        width=width,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_long_words=False,
        break_on_hyphens=False,
    ) or [prefix.rstrip()]
