"""Shared fixtures: a CLI runner (real subprocesses) and a scratch project directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.tls import TlsMaterial, generate_tls

REPO = Path(__file__).resolve().parent.parent

#: Azurite, PostgreSQL and MariaDB fixtures, started on first use and stopped at session end.
pytest_plugins = ["tests.services.plugin"]

# A test run started in the background of a non-interactive shell inherits an ignored SIGINT, and so
# would every CLI it starts (Python keeps an inherited SIG_IGN): the Ctrl-C tests could not interrupt
# anything. A Python handler is reset to the default at exec, so the children get Ctrl-C back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus anything that would point reconciler or Azure elsewhere."""
    # GITHUB_*: a test run inside GitHub Actions must not write to the runner's job summary or outputs.
    ignored = ("RECONCILER_", "AZURE_", "MSI_", "IDENTITY_", "GITHUB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ignored)}
    env.pop("NO_COLOR", None)
    env["PYTHONPATH"] = str(REPO)
    # The tests' emulators and fakes listen on loopback: trusted explicitly, as README tells users
    # to (--allow-endpoint); a test of the boundary itself sets the variable to "".
    env["RECONCILER_ALLOW_ENDPOINTS"] = "127.0.0.1,localhost,[::1]"
    env.update(extra or {})
    return env


def modules_after(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> tuple[set[str], str]:
    """The modules a CLI run (``run(args)`` in a fresh interpreter) loaded, and its standard output.
    The run must exit 0."""
    code = (
        "import sys; from reconciler.cli import run; "
        "rc = run(sys.argv[1:]); print(rc, ' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=clean_env(env), cwd=cwd
    )
    rc, _, modules = out.stderr.strip().splitlines()[-1].partition(" ")
    assert rc == "0", out.stdout + out.stderr
    return set(modules.split()), out.stdout


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


class Project:
    """A temporary directory with manifests, a local workspace, and a way to run the CLI there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env: dict[str, str] = {}
        self.workspace = f"local:{root / '.reconciler' / 'workspace.db'}"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None, timeout: float = 120
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.root,
            env=clean_env({**self.env, **(env or {})}),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """One throw-away CA and server certificate for every HTTPS fake in the session."""
    return generate_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def cli(project: Project) -> Callable[..., Result]:
    return project.run
