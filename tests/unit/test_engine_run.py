"""The engine owns the run: a library caller gets the same probe-before-write rule and progress as the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.apply.applier import ApplyEvent, Status
from reconciler.cli.progress import JsonLinesReporter, LineReporter, TerminalReporter, reporter_for
from reconciler.console import Console
from reconciler.errors import ValidationFailedError
from reconciler.plan.model import PlanOptions
from reconciler.secrets.resolve import SecretResolver
from reconciler.validation import runner
from reconciler.validation.runner import ProbeFailure

MANIFEST = """\
version: 1
owner: team
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
"""


def _run(tmp_path: Path) -> engine.PlanRun:
    (tmp_path / "datastores.yaml").write_text(MANIFEST)
    return engine.compute_plan(
        [str(tmp_path / "datastores.yaml")],
        workspace_option=f"local:{tmp_path / 'ws.db'}",
        options=PlanOptions(),
        resolver=SecretResolver(),
        environ={},
    )


class Recorder(engine.Reporter):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def probes_started(self, count: int) -> None:
        self.calls.append(f"probes {count}")

    def probe_finished(self, result: Any) -> None:
        self.calls.append(f"probe {result.name} {result.outcome.value}")

    def apply_started(self, count: int) -> None:
        self.calls.append(f"apply {count}")

    def apply_event(self, event: ApplyEvent) -> None:
        self.calls.append(f"{event.name} {event.status.value}")


def test_apply_run_probes_first_and_refuses_before_any_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(item: Any, timeout: float) -> None:
        raise ProbeFailure("AuthorizationFailure: nope")

    monkeypatch.setattr(runner, "default_probes", lambda: {"azure_blob": refuses})
    run = _run(tmp_path)
    try:
        with pytest.raises(ValidationFailedError):
            engine.apply_run(run)  # the caller never probed: the engine does
        assert "raw" not in run.workspace.snapshot().by_key()
    finally:
        run.close()


def test_apply_run_reports_progress_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "default_probes", lambda: {"azure_blob": lambda item, timeout: None})
    run = _run(tmp_path)
    recorder = Recorder()
    try:
        report = engine.apply_run(run, reporter=recorder, approve=lambda r: recorder.calls.append("approved"))
        assert report.ok and "raw" in run.workspace.snapshot().by_key()
    finally:
        run.close()
    assert recorder.calls == ["probes 1", "probe raw ok", "approved", "apply 1", "raw started", "raw applied"]


def test_reporters_for_each_output() -> None:
    plain = Console(color=False, out=io.StringIO(), err=io.StringIO())
    coloured = Console(color=True, out=io.StringIO(), err=io.StringIO())
    assert isinstance(reporter_for(plain, "json"), JsonLinesReporter)
    assert isinstance(reporter_for(plain, "text", interactive=True), LineReporter)  # --no-color: no bar
    assert isinstance(reporter_for(coloured, "text", interactive=True), TerminalReporter)
    assert isinstance(reporter_for(coloured, "text", interactive=False), LineReporter)


def test_without_a_terminal_one_line_per_datastore_and_json_one_event_per_line() -> None:
    out = io.StringIO()
    console = Console(color=False, out=out, err=io.StringIO())
    lines = LineReporter(console)
    for status in (Status.STARTED, Status.APPLIED):
        lines.apply_event(ApplyEvent("raw", "create", status, seconds=0.5))
    assert out.getvalue() == "raw: created [0.50s]\n"
    out.seek(0), out.truncate()
    events = JsonLinesReporter(console)
    events.apply_event(ApplyEvent("raw", "create", Status.STARTED))
    events.apply_event(ApplyEvent("raw", "create", Status.FAILED, "denied", 0.25))
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows == [
        {"event": "started", "name": "raw", "action": "create"},
        {"event": "failed", "name": "raw", "action": "create", "message": "denied", "seconds": 0.25},
    ]
