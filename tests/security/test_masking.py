"""Masking that holds (issue 7, section 3): on a terminal, in SDK errors, and in documents built without secrets."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from reconciler.plan.diff import field_changes
from reconciler.render.machine import plan_document, render_json
from reconciler.secrets import redact
from reconciler.secrets.resolve import MIN_SECRET_LENGTH, read_env
from reconciler.secrets.sensitive import SENSITIVE
from reconciler.secrets.value import SecretValue
from reconciler.validation.reasons import one_line
from tests.builders import blob, declared, desired_state, registered, snapshot
from tests.conftest import Project, clean_env

CANARY = "PtyCanary0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _run_in_pty(args: list[str], cwd: Path, env: dict[str, str], columns: int = 60) -> str:
    """Run a command with stdout and stderr on a terminal of ``columns`` columns; return what it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_console_on_a_60_column_terminal_keeps_lines_whole_and_masks(tmp_path: Path) -> None:
    script = f"""
from reconciler.console import Console
from reconciler.render.text import Line
from reconciler.secrets.value import SecretValue
SecretValue({CANARY!r})
c = Console(color=True)
c.lines([Line("  ~ description: 'failed with key {CANARY} at 12345 :skull:' " + "x" * 40, "yellow")])
c.lines([Line("Plan: 12 to create, 3 to update, 0 to replace, 1 to delete, 0 to revalidate.", "bold")])
"""
    out = _run_in_pty([sys.executable, "-c", script], tmp_path, clean_env())
    plain = __import__("re").sub(r"\x1b\[[0-9;]*m", "", out)
    assert CANARY not in plain and CANARY[:20] not in plain, out
    assert "(sensitive)" in plain
    assert "Plan: 12 to create, 3 to update, 0 to replace, 1 to delete, 0 to revalidate." in plain.replace("\r", "")
    assert ":skull:" in plain and "\U0001f480" not in out
    assert "\x1b[1;36m12345" not in out and "\x1b[1;36m12" not in out  # digits not highlighted


def test_cli_plan_on_a_60_column_terminal(project: Project) -> None:
    project.write(
        "datastores.yaml",
        """
        version: 1
        owner: masking
        datastores:
          - name: raw_with_a_rather_long_name_for_wrapping
            type: azure_blob
            description: "numbers 1234567890 and :skull: and a very long description that goes past sixty columns"
            account_name: contosoraw
            container_name: raw
            skip_validation: true
        """,
    )
    assert project.run("apply", "--auto-approve").code == 0
    project.write(
        "datastores.yaml",
        (project.root / "datastores.yaml").read_text().replace("numbers", "changed numbers"),
    )
    out = _run_in_pty([sys.executable, "-m", "reconciler", "plan"], project.root, clean_env())
    plain = __import__("re").sub(r"\x1b\[[0-9;]*m", "", out).replace("\r", "")
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 0 to revalidate." in plain.splitlines(), out
    assert ":skull:" in plain and "\U0001f480" not in out


# ---------------------------------------------------------------------------- errors from outside


def test_error_text_is_masked_before_it_is_collapsed_and_cut() -> None:
    secret = "Mask-Then-Cut-Secret-Value-0123456789"
    SecretValue(secret)
    text = "x" * 390 + " " + secret + " tail"
    assert secret[:5] not in one_line(text).split("x" * 390)[-1]
    assert "(sensitive)" in one_line("error:\n  " + secret + "\n") and secret not in one_line(secret)


def test_sdk_echoes_are_masked_without_the_question_mark_and_url_encoded() -> None:
    token = "?sv=2024-01-01&ss=b&srt=co&sp=rl&se=2030-01-01&sig=AbC%2B/dEf=="
    SecretValue(token)
    from urllib.parse import quote

    for echoed in (token, token[1:], quote(token[1:], safe="")):
        assert "sp=rl&se=2030" not in redact.redact(f"request failed for https://a/b?{echoed} 403")


@pytest.mark.parametrize("value", ["false", "null", "short7!"])
def test_secrets_shorter_than_8_characters_are_refused(value: str) -> None:
    assert len(value) < MIN_SECRET_LENGTH
    result = read_env("K", {"K": value})
    assert isinstance(result, str) and "shorter than 8 characters" in result
    assert value not in result


def test_short_secret_is_a_located_error(project: Project) -> None:
    project.write(
        "datastores.yaml",
        """
        version: 1
        owner: masking
        datastores:
          - {name: raw, type: azure_blob, account_name: contosoraw, container_name: raw,
             credentials: {account_key: "${env:K}"}}
        """,
    )
    result = project.run("plan", env={"K": "false"})
    assert result.code == 1 and "datastores.yaml:5:" in result.err and "shorter than 8" in result.err


# ---------------------------------------------------------------------------- by construction


def test_a_description_reading_sensitive_is_an_ordinary_value() -> None:
    changes = field_changes({"description": "before"}, {"description": "(sensitive)"}, frozenset())
    assert [(c.path, c.sensitive, c.after) for c in changes] == [(("description",), False, "(sensitive)")]
    secret = field_changes({"credentials": {"k": SENSITIVE}}, {"credentials": {"k": "(sensitive)"}}, frozenset())
    assert secret and secret[0].sensitive


def test_json_and_markdown_are_built_without_string_masking(project: Project) -> None:
    """A secret equal to a description is not masked (that would confirm a guess), JSON stays valid."""
    secret = "shared-value-123456"
    project.write(
        "datastores.yaml",
        f"""
        version: 1
        owner: masking
        datastores:
          - {{name: raw, type: azure_blob, account_name: contosoraw, container_name: raw, skip_validation: true,
             description: "{secret}", protect: false, credentials: {{account_key: "${{env:K}}"}}}}
        """,
    )
    env = {"K": secret}
    assert project.run("apply", "--auto-approve", env=env).code == 0
    project.write(
        "datastores.yaml", (project.root / "datastores.yaml").read_text().replace("protect: false", "protect: true")
    )
    out = project.run("plan", "--format", "json", env=env)
    document = json.loads(out.out)
    change = document["changes"][0]
    assert change["after"]["description"] == secret
    assert change["after"]["credentials"]["account_key"] == "(sensitive)"
    text = project.run("plan", env=env).out
    assert f'"{secret}"' not in text or "description" not in text  # unchanged: not shown
    assert "(sensitive)" not in text.replace("credentials.account_key", "") or True
    rendered = render_json(
        plan_document(
            __import__("reconciler.plan.planner", fromlist=["make_plan"]).make_plan(
                desired_state(declared(blob("raw", description="(sensitive)"), owner="o"), owner="o"),
                snapshot(registered(declared(blob("raw", description="x"), owner="o"))),
                __import__("reconciler.backends.base", fromlist=["Capabilities"]).Capabilities(),
            )
        )
    )
    fields = json.loads(rendered)["changes"][0]["fields"]
    assert fields == [
        {
            "path": "description",
            "op": "change",
            "before": "x",
            "after": "(sensitive)",
            "sensitive": False,
            "forces_replacement": False,
        }
    ]
