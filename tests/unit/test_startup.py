"""The CLI's start-up trimming stays correct across pydantic upgrades."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pydantic.plugin._schema_validator as schema_validator

from tests.conftest import clean_env


def test_pydantic_only_needs_get_plugins_from_the_loader():
    source = inspect.getsource(schema_validator)
    imports = [line.strip() for line in source.splitlines() if "_loader" in line and "import" in line]
    assert imports == ["from ._loader import get_plugins"], imports


def test_cli_process_validates_without_plugin_discovery(tmp_path):
    code = (
        "import sys; from reconciler.cli import run; "
        "rc = run(['schema']); "
        "print('importlib.metadata' in sys.modules, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "False 0", out.stderr
