"""The CLI's start-up trimming stays correct: across pydantic upgrades, and without changing what validation decides."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pydantic.plugin._schema_validator as schema_validator

from tests.conftest import clean_env, modules_after


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


REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "datastores.yaml"


# --------------------------------------------------------------------------- what start-up loads


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(prefixes))


OTHER_COMMANDS = tuple(f"reconciler.cli.{name}" for name in ("apply", "convert", "data", "export", "github", "show"))
NEVER_AT_START_UP = (
    "rich",
    "jsonschema",
    "azure.",
    "msal",
    "requests",
    "deepdiff",
    "reconciler.apply",
    # Making pydantic model classes costs more than the rest of a start-up, and importing
    # pydantic-core a sixth of it: a valid manifest is checked by the plain checks of
    # manifest/validate.py and the plan is dataclasses (see ARCHITECTURE.md).
    "pydantic_core",
    "pydantic.main",
    "pydantic.fields",
    "annotated_types",
    "reconciler.manifest.models",
    "reconciler.manifest.policy",
)


def test_validate_loads_only_what_checking_a_manifest_needs(tmp_path: Path) -> None:
    """``benchmarks/bench_startup.py`` measures the cost; this keeps the modules it avoids avoided."""
    modules, _ = modules_after(["validate", "-f", str(QUICKSTART)], tmp_path)
    heavy = (
        *NEVER_AT_START_UP,
        *OTHER_COMMANDS,
        "reconciler.cli.plan",
        "reconciler.engine",
        "reconciler.plan",
        "reconciler.backends",
        "reconciler.azure",
        "reconciler.validation",
        "reconciler.render.machine",
        "reconciler.manifest.messages",
        "reconciler.manifest.rules",
        "sqlite3",
    )
    assert _loaded(modules, heavy) == []


def test_a_local_plan_loads_neither_the_applier_nor_the_arm_clients(tmp_path: Path) -> None:
    workspace = f"local:{tmp_path / 'ws.db'}"
    modules, _ = modules_after(["plan", "-f", str(QUICKSTART), "--workspace", workspace], tmp_path)
    heavy = (
        *NEVER_AT_START_UP,
        *OTHER_COMMANDS,
        "reconciler.azure.arm",
        "reconciler.azure.storagekey",
        "reconciler.render.machine",
        "reconciler.render.apply",
        "reconciler.manifest.messages",
    )
    assert _loaded(modules, heavy) == []
    assert not (tmp_path / "ws.db").exists()
