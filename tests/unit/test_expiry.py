"""Expiry of SAS tokens, Key Vault secrets and certificates: dates only, never the secret."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from reconciler.render.findings import findings_json, findings_lines, findings_markdown
from reconciler.secrets.value import SecretValue
from reconciler.state import DesiredDatastore
from reconciler.validation.checks import CheckOptions, check_error
from reconciler.validation.expiry import certificate_expiry, check_expiry, sas_expiry
from reconciler.validation.findings import CheckReport, Severity

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
CANARY = "sig=EXPIRYCANARY%2Bsignature"


def sas(se: str) -> str:
    return f"?sv=2022-11-02&ss=b&srt=co&sp=rl&se={se}&st=2026-01-01T00:00:00Z&spr=https&{CANARY}"


@pytest.mark.parametrize(
    ("se", "expected"),
    [
        ("2026-12-20", datetime(2026, 12, 20, tzinfo=timezone.utc)),
        ("2026-12-20T08:30Z", datetime(2026, 12, 20, 8, 30, tzinfo=timezone.utc)),
        ("2026-12-20T08:30:15Z", datetime(2026, 12, 20, 8, 30, 15, tzinfo=timezone.utc)),
        ("2026-12-20T08%3A30%3A15Z", datetime(2026, 12, 20, 8, 30, 15, tzinfo=timezone.utc)),
        ("2026-13-40", None),
        ("soon", None),
    ],
)
def test_sas_expiry_reads_se_in_every_form_storage_accepts(se: str, expected: datetime | None) -> None:
    assert sas_expiry(sas(se)) == expected


def test_a_sas_without_se_has_no_expiry_of_its_own() -> None:
    assert sas_expiry("sv=2022-11-02&si=policy1&sr=c&sig=abc") is None


def blob(secret: SecretValue, field: str = "credentials.sas_token") -> DesiredDatastore:
    return DesiredDatastore("raw", "azure_blob", {}, secrets={field: secret})


def test_expired_is_an_error_soon_is_a_warning_later_is_nothing() -> None:
    findings = check_expiry(
        [
            blob(SecretValue(sas("2026-12-01"))),
            DesiredDatastore(
                "soon", "azure_blob", {}, secrets={"credentials.sas_token": SecretValue(sas("2026-12-12"))}
            ),
            DesiredDatastore(
                "later", "azure_blob", {}, secrets={"credentials.sas_token": SecretValue(sas("2027-06-01"))}
            ),
        ],
        warning_days=30,
        now=NOW,
    )
    assert [(f.name, f.severity, f.message) for f in findings] == [
        ("raw", Severity.ERROR, "credentials.sas_token: SAS token expired on 2026-12-01"),
        ("soon", Severity.WARNING, "credentials.sas_token: SAS token expires on 2026-12-12 (in 9 days)"),
    ]
    assert check_expiry([blob(SecretValue(sas("2026-12-12")))], warning_days=5, now=NOW) == []


def test_key_vault_exp_attribute_counts_for_any_secret() -> None:
    secret = SecretValue("account-key-value", expires_on=NOW + timedelta(days=3))
    (finding,) = check_expiry([blob(secret, "credentials.account_key")], now=NOW)
    assert finding.message == "credentials.account_key: Key Vault secret expires on 2026-12-05 (in 3 days)"
    assert finding.expires == "2026-12-05"


def _certificate(not_after: datetime) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reconciler-test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (cert.public_bytes(serialization.Encoding.PEM) + pem_key).decode()


def test_certificate_not_after_is_read_from_the_pem() -> None:
    pem = _certificate(datetime(2026, 12, 24, tzinfo=timezone.utc))
    assert certificate_expiry(pem) == datetime(2026, 12, 24, tzinfo=timezone.utc)
    (finding,) = check_expiry([blob(SecretValue(pem), "credentials.certificate")], now=NOW)
    assert finding.message == "credentials.certificate: certificate expires on 2026-12-24 (in 21 days)"
    assert certificate_expiry("not a certificate") is None


def test_rendered_findings_never_carry_the_token_and_fail_on_expiry_turns_warnings_into_errors() -> None:
    findings = check_expiry([blob(SecretValue(sas("2026-12-12")))], now=NOW)
    report = CheckReport.of(findings)
    rendered = [line.text for line in findings_lines(findings)] + findings_markdown(findings)
    rendered.append(str(findings_json(findings)))
    assert not any("EXPIRYCANARY" in text for text in rendered)
    assert (
        "  warning     raw (azure_blob): expiry: credentials.sas_token: SAS token expires on 2026-12-12" in rendered[1]
    )
    assert check_error(report, CheckOptions()) is None
    failed = check_error(report, CheckOptions(fail_on_expiry=True))
    assert failed is not None and "SAS token expires on 2026-12-12" in "\n".join(failed.lines())
    assert findings_json(findings)[0][0]["expires"] == "2026-12-12"
