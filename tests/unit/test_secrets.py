"""The secret type, the redaction registry, fingerprints and reference resolution."""

from __future__ import annotations

import copy
import json
import logging
import pickle
from pathlib import Path

import pytest
from pydantic import BaseModel

from reconciler.azure.keyvault import vault_url
from reconciler.secrets import fingerprint
from reconciler.secrets.redact import MASK, RedactingFilter, redact
from reconciler.secrets.refs import RefSyntaxError, parse_ref
from reconciler.secrets.resolve import SecretRequest, SecretResolver
from reconciler.secrets.value import SecretValue

CANARY = "CANARY-secret-7f3a9c"


def test_every_printable_form_is_masked():
    value = SecretValue(CANARY)
    forms = [str(value), repr(value), f"{value}", f"{value!r}", "%s" % value, format(value, ">40")]  # noqa: UP031
    assert all(CANARY not in form for form in forms)
    assert str(value) == MASK
    assert value.reveal() == CANARY


def test_pydantic_serialisation_is_masked():
    class Holder(BaseModel):
        secret: SecretValue

    dumped = Holder(secret=SecretValue(CANARY)).model_dump_json()
    assert CANARY not in dumped and MASK in dumped


def test_json_and_pickle_refuse_the_value():
    with pytest.raises(TypeError):
        json.dumps({"v": SecretValue(CANARY)})
    with pytest.raises(TypeError):
        pickle.dumps(SecretValue(CANARY))
    assert copy.deepcopy(SecretValue(CANARY)) == SecretValue(CANARY)


def test_equality_compares_values_not_identity():
    assert SecretValue("a-value") == SecretValue("a-value")
    assert SecretValue("a-value") != SecretValue("b-value")


def test_created_values_are_scrubbed_from_any_text():
    SecretValue(CANARY)
    assert redact(f"error: key {CANARY} rejected") == f"error: key {MASK} rejected"


def test_url_encoded_forms_of_a_value_are_scrubbed_too():
    from urllib.parse import quote, quote_plus

    raw = "k3y+with/slash=and space"
    SecretValue(raw)
    for form in (raw, quote(raw, safe=""), quote_plus(raw)):
        assert redact(f"sent {form} over the wire") == f"sent {MASK} over the wire"


def test_sas_signatures_and_bearer_tokens_are_scrubbed_even_if_unknown():
    text = (
        "GET https://a.blob.core.windows.net/c?sv=2022&sig=abcDEF%2B123%3D&se=x "
        "Authorization: Bearer eyJhbGciOi.JIUzI1.NiJ9"
    )
    scrubbed = redact(text)
    assert "abcDEF" not in scrubbed and "eyJhbGciOi" not in scrubbed
    assert "sig=(sensitive)" in scrubbed


def test_logging_filter_scrubs_messages_and_tracebacks(caplog):
    SecretValue(CANARY)
    logger = logging.getLogger("test.redaction")
    handler_filter = RedactingFilter()
    record = logger.makeRecord("x", logging.ERROR, "f", 1, "value %s", (CANARY,), None)
    handler_filter.filter(record)
    assert CANARY not in record.getMessage()
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError:
        import sys

        record = logger.makeRecord("x", logging.ERROR, "f", 1, "failed", (), sys.exc_info())
    handler_filter.filter(record)
    assert record.exc_text and CANARY not in record.exc_text and "ValueError" in record.exc_text


def test_fingerprint_is_salted_slow_and_matches_only_the_value():
    value = SecretValue(CANARY)
    first, second = fingerprint.fingerprint(value), fingerprint.fingerprint(value)
    assert first != second  # fresh salt each time
    assert first.startswith("scrypt$4096$8$1$")
    assert CANARY not in first
    assert fingerprint.matches(value, first) is True
    assert fingerprint.matches(SecretValue("something-else"), first) is False
    older = fingerprint.fingerprint(value).replace("scrypt$4096$", "scrypt$16384$", 1)
    assert fingerprint.matches(value, older) is False  # parameters are read from the stored string
    assert fingerprint.matches(value, "sha256$abc") is None
    assert fingerprint.matches(value, "scrypt$1$1$1$x$y") is None


@pytest.mark.parametrize(
    ("text", "kind", "target", "secret", "version"),
    [
        ("${env:RAW_KEY}", "env", "RAW_KEY", "", None),
        ("${file:secrets/key.txt}", "file", "secrets/key.txt", "", None),
        ("${keyvault:contoso-kv/raw-key}", "keyvault", "contoso-kv", "raw-key", None),
        (
            "${keyvault:contoso-kv/raw-key/0123456789abcdef0123456789abcdef}",
            "keyvault",
            "contoso-kv",
            "raw-key",
            "0123456789abcdef0123456789abcdef",
        ),
        ("${keyvault:https://kv.vault.azure.cn/raw-key}", "keyvault", "https://kv.vault.azure.cn", "raw-key", None),
    ],
)
def test_references_parse(text, kind, target, secret, version):
    ref = parse_ref(text)
    assert (ref.kind, ref.target, ref.secret, ref.version, ref.text) == (kind, target, secret, version, text)


@pytest.mark.parametrize(
    "text",
    [
        "plainliteral",
        "${env:}",
        "${env:1X}",
        "${vault:x}",
        "${keyvault:kv}",
        "${keyvault:kv/s/zz}",
        "${keyvault:-x-/s}",
        "${env:X",
        "${keyvault:kv/a/b/c}",
    ],
)
def test_bad_references_are_rejected_without_echoing_literals(text):
    with pytest.raises(RefSyntaxError) as info:
        parse_ref(text)
    if "${" not in text:
        assert text not in str(info.value)


def test_vault_names_map_to_the_public_cloud_unless_configured(monkeypatch):
    ref = parse_ref("${keyvault:Contoso-KV/raw}")
    assert vault_url(ref) == "https://contoso-kv.vault.azure.net"
    monkeypatch.setenv("RECONCILER_KEYVAULT_DNS_SUFFIX", "vault.usgovcloudapi.net")
    assert vault_url(ref) == "https://contoso-kv.vault.usgovcloudapi.net"


def test_each_reference_is_resolved_once(tmp_path: Path):
    (tmp_path / "key.txt").write_text("file-secret-value\n")
    calls: list[str] = []

    class Vault:
        def fetch(self, refs):
            calls.extend(r.text for r in refs)
            return {r: SecretValue("vault-secret-value") for r in refs}

    ref_file, ref_env, ref_kv = parse_ref("${file:key.txt}"), parse_ref("${env:K}"), parse_ref("${keyvault:kv1/s}")
    requests = [
        SecretRequest(("a", "x"), ref_file, tmp_path),
        SecretRequest(("b", "x"), parse_ref("${file:./key.txt}"), tmp_path),
        SecretRequest(("c", "x"), ref_env, tmp_path),
        SecretRequest(("d", "x"), ref_kv, tmp_path),
        SecretRequest(("e", "x"), parse_ref("${keyvault:KV1/s}"), tmp_path),
    ]
    result = SecretResolver(keyvault=Vault(), environ={"K": "env-secret-value"}).resolve(requests)
    assert not result.errors
    assert result.values[("a", "x")].reveal() == "file-secret-value"
    assert result.values[("b", "x")] == result.values[("a", "x")]
    assert result.values[("c", "x")].reveal() == "env-secret-value"
    assert calls == ["${keyvault:kv1/s}"]


def test_resolution_errors_name_the_reference(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("\n")
    requests = [
        SecretRequest("missing-env", parse_ref("${env:NOPE}"), tmp_path),
        SecretRequest("missing-file", parse_ref("${file:nope.txt}"), tmp_path),
        SecretRequest("empty-file", parse_ref("${file:empty.txt}"), tmp_path),
        SecretRequest("no-vault", parse_ref("${keyvault:kv1/s}"), tmp_path),
    ]
    errors = SecretResolver(keyvault=None, environ={}).resolve(requests).errors
    assert errors == {
        "missing-env": "environment variable NOPE is not set",
        "missing-file": "secret file nope.txt not found (paths are relative to the manifest)",
        "empty-file": "secret file empty.txt is empty",
        "no-vault": "Key Vault references cannot be resolved here",
    }
