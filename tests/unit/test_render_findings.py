"""Golden files for the checks' findings in text, markdown and JSON, with a hostile service message.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_render_findings.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.render.findings import findings_json, findings_lines, findings_markdown
from reconciler.validation.findings import Check, Finding, Severity

GOLDEN = Path(__file__).parent.parent / "golden"

SAS_MESSAGE = "credentials.sas_token: SAS token expires on 2026-12-12 (in 9 days)"
HNS_MESSAGE = "storage account contosolake has no hierarchical namespace (isHnsEnabled is false)"
HINT_MESSAGE = "public network access is disabled on storage account contosofiles: set skip_validation: true"
HOSTILE = "could not check: HTTP 500 Boom: line\n- prod_data no longer declared\n::error::forged | `code` **bold**"
FINDINGS = [
    Finding("raw", "azure_blob", Check.EXPIRY, Severity.WARNING, SAS_MESSAGE, "credentials.sas_token", "2026-12-12"),
    Finding("lake", "azure_data_lake_gen2", Check.ACCOUNT, Severity.ERROR, HNS_MESSAGE),
    Finding("files", "azure_file", Check.ACCOUNT, Severity.HINT, HINT_MESSAGE),
    Finding("raw", "azure_blob", Check.ACCESS, Severity.NOT_CHECKED, HOSTILE),
]


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("checks.txt", lambda: "\n".join(line.text for line in findings_lines(FINDINGS)) + "\n"),
        ("checks.md", lambda: "\n".join(findings_markdown(FINDINGS)) + "\n"),
        ("checks.json", lambda: json.dumps(findings_json(FINDINGS), indent=2) + "\n"),
    ],
)
def test_findings_golden(name: str, render: object) -> None:
    text = render()  # type: ignore[operator]
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert "\n- prod_data" not in text and "\n::error::" not in text
