"""The canary sweep with hostile canaries (issue 7, section 7).

Secrets that are regular-expression metacharacters, non-ASCII text, multi-line, a SAS token with
its leading ``?``, the JSON words ``false`` and ``null``, and a value that is also a description:
through validate, plan in every format, a saved plan, apply, show and -vv logs. No form of a
secret may appear; JSON stays valid; a description equal to a secret is shown as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import Project, Result

REGEX = "Can4ry.*+?[a-z]{2}(x|y)^$\\d|\\"
UNICODE = "Canäry-密钥-🔑-ñ-ZWJ‍x"
NEWLINE = "canary-first-line\ncanary-second-line"
QMARK = "?sv=2024-01-01&ss=b&sp=rl&sig=CanaryQmarkSig0123%2B"
DESCRIBED = "Canary-Also-A-Description-42"
HOSTILE = (REGEX, UNICODE, NEWLINE, QMARK, DESCRIBED)

MANIFEST = """
version: 1
owner: hostile
datastores:
  - name: raw
    type: azure_blob
    description: {description}
    account_name: contosoraw
    container_name: raw
    skip_validation: true
    protect: false
    credentials:
      {field}: ${{env:SECRET}}
"""


def forms(secret: str) -> set[str]:
    parts = {secret, secret.lstrip("?"), *(line for line in secret.splitlines() if len(line) >= 8)}
    out: set[str] = set()
    for part in parts:
        out |= {part, quote(part), quote(part, safe=""), quote_plus(part), json.dumps(part)[1:-1]}
    return out


def _write(project: Project, secret: str) -> None:
    description = json.dumps(DESCRIBED if secret == DESCRIBED else "plain text")
    field = "sas_token" if secret.startswith("?") else "account_key"
    project.write("datastores.yaml", MANIFEST.format(description=description, field=field))


def _clean(result: Result, secret: str, *, allow_description: bool = False) -> None:
    assert "Traceback" not in result.all and "Internal error" not in result.all
    text = result.all
    if allow_description:
        text = text.replace(f'"{DESCRIBED}"', "").replace(DESCRIBED, "", text.count(DESCRIBED))
    for form in forms(secret):
        assert form not in text, f"{form!r} leaked"


@pytest.mark.parametrize("secret", HOSTILE, ids=["regex", "unicode", "newline", "qmark", "described"])
def test_hostile_canaries_never_leak(project: Project, secret: str) -> None:
    _write(project, secret)
    env = {"SECRET": secret}
    described = secret == DESCRIBED
    for args in (("validate",), ("plan",), ("plan", "--format", "json"), ("plan", "--format", "markdown")):
        result = project.run(*args, env=env)
        assert result.code == 0, result.all
        _clean(result, secret, allow_description=described)
        if "json" in args:
            document = json.loads(result.out)
            after = document["changes"][0]["after"]
            assert after["credentials"][("sas_token" if secret.startswith("?") else "account_key")] == "(sensitive)"
            assert after["protect"] is False
            if described:
                assert after["description"] == DESCRIBED  # a description is shown, never masked
    saved = project.run("plan", "--out", "plan.json", env=env)
    assert saved.code == 0
    plan_text = (project.root / "plan.json").read_text()
    json.loads(plan_text)
    for form in forms(secret):
        assert form not in plan_text.replace(f'"{DESCRIBED}"', "") if described else form not in plan_text
    applied = project.run("-vv", "apply", "plan.json", env=env)
    assert applied.code == 0, applied.all
    _clean(applied, secret, allow_description=described)
    workspace = (project.root / ".reconciler" / "workspace.db").read_bytes()
    for form in forms(secret):
        if not described:
            assert form.encode() not in workspace
    for args in (("show",), ("show", "--format", "json"), ("-vv", "plan")):
        result = project.run(*args, env=env)
        assert result.code == 0, result.all
        _clean(result, secret, allow_description=described)
    rotated = project.run("-vv", "plan", env={"SECRET": secret + "-rotated"})
    assert "credentials." in rotated.out and "(sensitive value changed)" in rotated.out
    _clean(rotated, secret, allow_description=described)


@pytest.mark.parametrize("secret", ["false", "null", "true", "12345"])
def test_short_canaries_are_refused_and_json_stays_valid(project: Project, secret: str) -> None:
    _write(project, secret)
    result = project.run("plan", "--format", "json", env={"SECRET": secret})
    assert result.code == 1
    assert "datastores.yaml:12:" in result.err and "shorter than 8 characters" in result.err
    assert result.out == ""
    project.write(
        "datastores.yaml", (project.root / "datastores.yaml").read_text().replace("${env:SECRET}", "${env:OK}")
    )
    ok = project.run("plan", "--format", "json", env={"SECRET": secret, "OK": "a-long-enough-secret"})
    assert ok.code == 0, ok.all
    assert json.loads(ok.out)["changes"][0]["after"]["protect"] is False


def test_the_sweep_covers_every_hostile_kind() -> None:
    assert any(c in REGEX for c in ".*+?[]{}()|^$\\")
    assert any(ord(c) > 127 for c in UNICODE) and "\n" in NEWLINE and QMARK.startswith("?")
    assert Path(__file__).name == "test_hostile_canaries.py"
