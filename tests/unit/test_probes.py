"""Probe behaviour that needs no service: what is not probed and why, reasons as one line, the report."""

from __future__ import annotations

import time

import pytest

from reconciler.errors import ValidationFailedError
from reconciler.render.machine import plan_document, render_markdown
from reconciler.render.probes import probe_lines
from reconciler.validation.probes import PROBES
from reconciler.validation.reasons import network_reason, sign_in_reason
from reconciler.validation.runner import Outcome, ProbeFailure, ProbeResult, probe_datastores, probe_report
from reconciler.validation.sql import mysql_reason, postgres_reason, sqlserver_reason
from tests.builders import blob, declared
from tests.fakes.aad import client_certificate

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "3b1f2c9d-8e4a-4f6b-9c2d-1a2b3c4d5e6f"
SP = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "${env:SP}"}


def test_every_datastore_type_has_a_probe() -> None:
    from reconciler.manifest.models import DATASTORE_TYPES

    assert set(PROBES) == set(DATASTORE_TYPES)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (blob(), "identity-based access"),
        ({"name": "f", "type": "azure_file", "account_name": "contoso", "file_share_name": "share"}, "identity-based"),
        ({"name": "l", "type": "azure_data_lake_gen2", "account_name": "contoso", "filesystem": "fs1"}, "identity"),
        ({"name": "g1", "type": "azure_data_lake_gen1", "store_name": "contoso", "credentials": SP}, "retired"),
        (
            {"name": "o", "type": "one_lake", "one_lake_workspace_name": "ws", "artifact": {"name": "lh"}},
            "Microsoft Fabric workspace 'ws'",
        ),
        ({"name": "d", "type": "dbfs"}, "nothing to probe"),
        (
            {"name": "s", "type": "azure_sql_database", "server_name": "srv", "database_name": "db", "credentials": SP},
            "Entra ID token",
        ),
        ({"name": "s", "type": "azure_sql_database", "server_name": "srv", "database_name": "db"}, "identity-based"),
    ],
)
def test_what_cannot_be_probed_says_why_without_any_network(entry: dict[str, object], says: str) -> None:
    item = declared(entry)
    [result] = probe_datastores([item], timeout=0.5)
    assert result.outcome is Outcome.NOT_PROBED
    assert says in result.message


def test_a_certificate_whose_thumbprint_does_not_match_fails_before_any_sign_in() -> None:
    pem, thumbprint = client_certificate()
    wrong = "0" * 40
    entry = {
        "name": "lake",
        "type": "azure_data_lake_gen2",
        "account_name": "contosolake",
        "filesystem": "curated",
        "credentials": {"tenant_id": TENANT, "client_id": CLIENT, "certificate": "${env:C}", "thumbprint": wrong},
    }
    item = declared(entry, secrets={"credentials.certificate": pem.decode()})
    [result] = probe_datastores([item], timeout=0.5)
    assert result.outcome is Outcome.FAILED
    assert result.message == (
        f"credentials.thumbprint {wrong} does not match the certificate, whose thumbprint is {thumbprint}"
    )
    assert "PRIVATE KEY" not in result.message


def test_a_certificate_that_is_not_one_fails_clearly() -> None:
    entry = {
        "name": "lake",
        "type": "azure_data_lake_gen2",
        "account_name": "contosolake",
        "filesystem": "curated",
        "credentials": {"tenant_id": TENANT, "client_id": CLIENT, "certificate": "${env:C}", "thumbprint": "A" * 40},
    }
    [result] = probe_datastores([declared(entry, secrets={"credentials.certificate": "not a cert"})], timeout=0.5)
    assert result.outcome is Outcome.FAILED
    assert result.message.startswith("credentials.certificate is neither a PEM certificate")


def test_an_unusable_account_key_fails_with_the_sdk_reason_and_no_secret() -> None:
    entry = blob(endpoint="127.0.0.1:9", credentials={"account_key": "${env:K}"})
    [result] = probe_datastores([declared(entry, secrets={"credentials.account_key": "bad-key"})], timeout=0.5)
    assert result.outcome is Outcome.FAILED
    assert "invalid shared key" in result.message and "bad-key" not in result.message


def test_a_probe_that_overruns_its_timeout_fails_and_the_others_still_report() -> None:
    import threading

    release = threading.Event()

    def hangs(item: object, timeout: float) -> None:
        release.wait(5)

    def refuses(item: object, timeout: float) -> None:
        raise ProbeFailure("AuthorizationFailure: nope")

    items = [declared(blob("slow")), declared(blob("denied", container_name="other"))]
    table = {
        "azure_blob": lambda item, timeout: hangs(item, timeout) if item.name == "slow" else refuses(item, timeout)
    }
    try:
        results = probe_datastores(items, probes=table, timeout=0.5, grace=0.5)
    finally:
        release.set()
    assert [(r.name, r.outcome, r.message) for r in results] == [
        ("slow", Outcome.FAILED, "no answer within 0.5 s"),
        ("denied", Outcome.FAILED, "AuthorizationFailure: nope"),
    ]


def test_report_lines_json_and_error_list_every_failure() -> None:
    results = [
        ProbeResult("raw", "azure_blob", Outcome.OK, seconds=0.12),
        ProbeResult("lake", "azure_data_lake_gen2", Outcome.NOT_PROBED, "identity-based access"),
        ProbeResult("pub", "azure_blob", Outcome.FAILED, "ContainerNotFound: The specified container does not exist."),
        ProbeResult("pg", "azure_postgresql", Outcome.FAILED, 'password authentication failed for user "reader"'),
    ]
    report = probe_report(results)
    assert [line.text for line in probe_lines(report.results)] == [
        "Validation (storage probes before any write):",
        "  ok          raw (azure_blob) [0.12s]",
        "  not probed  lake (azure_data_lake_gen2): identity-based access",
        "  FAILED      pub (azure_blob): ContainerNotFound: The specified container does not exist.",
        '  FAILED      pg (azure_postgresql): password authentication failed for user "reader"',
        "",
    ]
    assert isinstance(report.error, ValidationFailedError)
    assert report.error.lines()[1:] == [
        "  pub (azure_blob): ContainerNotFound: The specified container does not exist.",
        '  pg (azure_postgresql): password authentication failed for user "reader"',
    ]
    assert report.json() == [r.to_json() for r in results]
    assert report.json()[0] == {"name": "raw", "type": "azure_blob", "outcome": "ok", "message": "", "seconds": 0.12}
    assert probe_report([]).json() is None and probe_report([]).error is None


def test_a_long_not_probed_reason_wraps_within_80_columns() -> None:
    reason = (
        "identity-based access (no credentials): reconciler cannot act as the workspace's or the job's "
        "identity; Azure ML checks that identity's access itself"
    )
    report = probe_report([ProbeResult("training_data", "azure_blob", Outcome.NOT_PROBED, reason)])
    assert [line.text for line in probe_lines(report.results)] == [
        "Validation (storage probes before any write):",
        "  not probed  training_data (azure_blob): identity-based access (no",
        "              credentials): reconciler cannot act as the workspace's or the",
        "              job's identity; Azure ML checks that identity's access itself",
        "",
    ]
    assert max(len(line.text) for line in probe_lines(report.results)) <= 80


def test_the_json_plan_carries_validation_only_when_probes_ran() -> None:
    from reconciler.plan.model import Plan

    plan = Plan(workspace="local:test.db")
    assert "validation" not in plan_document(plan)
    rows = [{"name": "raw", "type": "azure_blob", "outcome": "failed", "message": "AuthorizationFailure: x|y"}]
    assert plan_document(plan, validation=rows)["validation"] == rows
    markdown = render_markdown(plan, validation=rows)
    assert "| `raw` | `azure_blob` | AuthorizationFailure: x\\|y |" in markdown
    assert "Validation" not in render_markdown(plan)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: "
            "[Errno 111] Connection refused",
            "Connection refused",
        ),
        ("HTTPSConnection(host='x', port=443): Failed to resolve 'x' ([Errno -2] Name or service not known)", None),
        ("Read timed out. (read timeout=2.0)", "timed out"),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate "
            "chain (_ssl.c:1006)",
            "TLS: certificate verify failed: self-signed certificate in certificate chain",
        ),
        (
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
            "Remote end closed connection without response",
        ),
    ],
)
def test_network_reason(text: str, reason: str | None) -> None:
    assert network_reason(text) == (reason or "Name or service not known")


def test_sign_in_reason_keeps_entra_ids_message_without_trace_ids() -> None:
    error = Exception(
        "Authentication failed: AADSTS7000215: Invalid client secret provided. Trace ID: 1 Correlation ID: 2 "
        "Timestamp: 2026-01-01 00:00:00Z"
    )
    assert sign_in_reason(error, 5) == "AADSTS7000215: Invalid client secret provided."


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "Authentication failed: HTTPSConnection(host='login.microsoftonline.com', port=443): Failed to resolve "
            "'login.microsoftonline.com' ([Errno -2] Name or service not known)",
            "cannot connect to login.microsoftonline.com: Name or service not known",
        ),
        (
            "Authentication failed: HTTPSConnectionPool(host='login.microsoftonline.com', port=443): Read timed out. "
            "(read timeout=1.0)",
            "no answer from login.microsoftonline.com within 1 s",
        ),
    ],
)
def test_sign_in_network_failures_say_which_host(text: str, reason: str) -> None:
    assert sign_in_reason(Exception(text), 1.0) == reason


def test_postgres_reason_is_the_servers_fatal_message() -> None:
    text = (
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "x" does not exist'
    )
    assert postgres_reason(text) == 'database "x" does not exist'
    assert postgres_reason("connection failed: refused\n\tIs the server running?") == "connection failed: refused"


def test_mysql_reason_keeps_the_servers_message_and_code() -> None:
    from reconciler.validation.addressing import SqlAddress

    address = SqlAddress("127.0.0.1", 3306, emulator=True)
    denied = (1045, "Access denied for user 'reader'@'127.0.0.1' (using password: YES)")
    assert mysql_reason(denied, address, 5) == (
        "Access denied for user 'reader'@'127.0.0.1' (using password: YES) (MySQL error 1045)"
    )
    refused = (2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")
    assert mysql_reason(refused, address, 5) == "cannot connect to 127.0.0.1:3306: Connection refused"


def test_sqlserver_reason_drops_freetds_banners_and_repeats() -> None:
    detail = (
        b"DB-Lib error message 20009, severity 9:\nUnable to connect: TDS server is unavailable or does not exist "
        b"(127.0.0.1)\nNet-Lib error during Connection refused (111)\nDB-Lib error message 20009, severity 9:\n"
        b"Unable to connect: TDS server is unavailable or does not exist (127.0.0.1)\n"
    )
    assert sqlserver_reason(((20009, detail),)) == (
        "Unable to connect: TDS server is unavailable or does not exist (127.0.0.1); "
        "Net-Lib error during Connection refused (111)"
    )
    login = b"Login failed for user 'reader'.DB-Lib error message 20018, severity 14:\nGeneral SQL Server error"
    assert sqlserver_reason(((18456, login),)) == "Login failed for user 'reader'.; General SQL Server error"


@pytest.mark.parametrize(
    ("credentials", "endpoint", "authority"),
    [
        (
            {"authority_url": "https://login.microsoftonline.us/"},
            "core.windows.net",
            "https://login.microsoftonline.us",
        ),
        ({"authority_url": "https://127.0.0.1:8443/some/path"}, None, "https://127.0.0.1:8443"),
        ({}, "core.chinacloudapi.cn", "https://login.chinacloudapi.cn"),
        ({}, "core.usgovcloudapi.net", "https://login.microsoftonline.us"),
        ({}, "core.windows.net", None),
        ({}, "127.0.0.1:10000", None),
    ],
)
def test_the_sign_in_authority(credentials: dict[str, str], endpoint: str | None, authority: str | None) -> None:
    from reconciler.validation.principal import authority_for

    assert authority_for(credentials, endpoint) == authority


def test_probes_waiting_for_a_worker_are_not_blamed_for_the_ones_ahead() -> None:
    def slowish(item: object, timeout: float) -> None:
        time.sleep(0.3)

    items = [declared(blob("first")), declared(blob("second", container_name="other"))]
    results = probe_datastores(items, probes={"azure_blob": slowish}, timeout=0.3, parallelism=1, grace=0.1)
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
