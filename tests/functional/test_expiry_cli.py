"""``plan --expiry-warning DAYS`` and ``--fail-on-expiry`` through the CLI: text, JSON, markdown, exit codes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Project
from tests.fakes.aad import FakeAad
from tests.fakes.keyvault import DEFAULT_TENANT_ID as VAULT_TENANT
from tests.fakes.keyvault import FakeKeyVault
from tests.fakes.tls import TlsMaterial

CANARY = "EXPIRYCANARYSIG"


def sas(days: int) -> tuple[str, str]:
    day = (datetime.now(timezone.utc) + timedelta(days=days)).date().isoformat()
    return f"sv=2022-11-02&sr=c&sp=rl&se={day}&spr=https&sig={CANARY}", day


def manifest(ref: str = "${env:RAW_SAS}") -> str:
    return f"""\
version: 1
owner: platform
datastores:
  - name: raw
    type: azure_blob
    account_name: contosoraw
    container_name: raw
    skip_validation: true
    credentials:
      sas_token: {ref}
"""


def test_soon_is_a_warning_in_every_format_and_fail_on_expiry_exits_1(project: Project) -> None:
    token, day = sas(10)
    project.env["RAW_SAS"] = token
    project.write("datastores.yaml", manifest())
    text = project.run("plan")
    assert text.code == 0, text.all
    assert f"warning     raw (azure_blob): expiry: credentials.sas_token: SAS token expires on {day}" in text.out
    assert text.out.strip().splitlines()[-1].startswith("Plan: 1 to create")
    document = json.loads(project.run("plan", "--format", "json").out)
    assert [
        (w["name"], w["check"], w["severity"], w["expires"]) for w in document["warnings"] if w["check"] == "expiry"
    ] == [("raw", "expiry", "warning", day)]
    markdown = project.run("plan", "--format", "markdown").out
    unescaped = markdown.replace("\\", "")
    assert "**Checks**" in markdown and "| ⚠️ | `raw` | expiry | warning: " in markdown
    assert f"credentials.sas_token: SAS token expires on {day}" in unescaped
    assert project.run("plan", "--expiry-warning", "5").out.count("expires on") == 0
    failing = project.run("plan", "--fail-on-expiry")
    assert failing.code == 1
    assert "checks failed" in failing.err and f"expires on {day}" in failing.err
    for result in (text, failing):
        assert CANARY not in result.all


def test_expired_is_a_plan_error_and_apply_refuses(project: Project) -> None:
    token, day = sas(-1)
    project.env["RAW_SAS"] = token
    project.write("datastores.yaml", manifest())
    result = project.run("plan")
    assert result.code == 1
    assert f"ERROR       raw (azure_blob): expiry: credentials.sas_token: SAS token expired on {day}" in result.out
    assert f"raw (azure_blob): credentials.sas_token: SAS token expired on {day}" in result.err
    applied = project.run("apply", "--auto-approve")
    assert applied.code == 1 and "expired" in applied.err
    assert CANARY not in result.all + applied.all


@pytest.fixture
def vault(tls: TlsMaterial) -> Iterator[tuple[FakeKeyVault, FakeAad]]:
    with FakeAad(tls=tls) as aad:
        fake = FakeKeyVault(name="kv", tls=tls, token_validator=aad.validate_token).start()
        try:
            yield fake, aad
        finally:
            fake.stop()


def test_key_vault_exp_attribute_is_a_warning(project: Project, vault: tuple[FakeKeyVault, FakeAad]) -> None:
    fake, aad = vault
    expires = int(time.time()) + 7 * 86400
    fake.set_secret("raw-sas", f"sv=2022-11-02&sr=c&sp=rl&spr=https&sig={CANARY}", expires=expires)
    project.env = {**aad.environment(tenant_id=VAULT_TENANT), "RECONCILER_WORKSPACE": project.workspace}
    project.write("datastores.yaml", manifest("${keyvault:" + fake.url + "/raw-sas}"))
    result = project.run("plan")
    assert result.code == 0, result.all
    day = datetime.fromtimestamp(expires, timezone.utc).date().isoformat()
    assert f"credentials.sas_token: Key Vault secret expires on {day}" in result.out
    assert CANARY not in result.all
