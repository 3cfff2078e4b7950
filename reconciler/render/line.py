"""One line of output with a style hint: what every text renderer returns and the console prints.

Its own module so that the console (on the CLI's start-up path) does not import the plan model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    text: str
    style: str | None = None
