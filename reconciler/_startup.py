"""Start-up trimming for the CLI process (never applied when reconciler is imported as a library),
and helpers that keep the models cheap to build.

pydantic discovers third-party plugins through package entry points, which imports
``importlib.metadata`` (email, zipfile, csv, ...) and scans every installed distribution: 40-60 ms,
a fifth of the CLI's 0.3 s budget. The CLI wants no validation plugins, so it disables them and
registers an empty loader before pydantic is imported. ``tests/unit/test_startup.py`` checks that
pydantic still imports only ``get_plugins`` from that module, so an upgrade that changes it fails
a test instead of a user.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

PLUGIN_LOADER = "pydantic.plugin._loader"


def skip_pydantic_plugin_discovery() -> None:
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    if "pydantic" in sys.modules or PLUGIN_LOADER in sys.modules:
        return
    loader = types.ModuleType(PLUGIN_LOADER, "No pydantic plugins in the reconciler CLI.")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[PLUGIN_LOADER] = loader


def empty_list() -> list[Any]:
    """``default_factory`` for pydantic fields, instead of ``list``: pydantic inspects each factory's
    signature when it builds a validator, and a builtin's costs a parse of its text signature
    (the first one also compiles the tokenizer's patterns: milliseconds at every start-up)."""
    return []


def empty_dict() -> dict[Any, Any]:
    """``default_factory`` for pydantic fields, instead of ``dict`` (see :func:`empty_list`)."""
    return {}
