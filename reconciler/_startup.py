"""Start-up trimming for the CLI process (never applied when reconciler is imported as a library).

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

PLUGIN_LOADER = "pydantic.plugin._loader"


def skip_pydantic_plugin_discovery() -> None:
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    if "pydantic" in sys.modules or PLUGIN_LOADER in sys.modules:
        return
    loader = types.ModuleType(PLUGIN_LOADER, "No pydantic plugins in the reconciler CLI.")
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[PLUGIN_LOADER] = loader
