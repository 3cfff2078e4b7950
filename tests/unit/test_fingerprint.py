"""Fingerprints priced by the secret: keyed hash for machine-generated secrets, scrypt otherwise."""

from __future__ import annotations

import time

import pytest

from reconciler.secrets import fingerprint
from reconciler.secrets.value import SecretValue

ACCOUNT_KEY = "q2fV0nY1v+8Lr0V7c4bKd3JmX9wz5tE6pA1sHgUoN4iRkC8yZlTjWx2eQfMaB7dP0hGuS3vIcO9nKrY6LwE1Jw=="
#: Written by earlier releases (fixed salt 00..0f), before the keyed scheme existed.
OLD_SCRYPT = {
    "scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw$11kKyiyYAc8G7rp3KmncMc44YlkdllIqxOa7pq0fMaU",
    "scrypt$4096$8$1$AAECAwQFBgcICQoLDA0ODw$0kAJcZMDMoI6NHVug-mGyKwmdluLX9KqpubH8OLxecs",
}


@pytest.mark.parametrize("kind", ["account_key", "sas_token", "client_secret", "certificate"])
def test_machine_generated_secrets_get_a_salted_keyed_hash(kind: str) -> None:
    value = SecretValue(ACCOUNT_KEY)
    first, second = fingerprint.fingerprint(value, kind=kind), fingerprint.fingerprint(value, kind=kind)
    assert first.startswith("hmac-sha256$") and first.count("$") == 2
    assert first != second, "a fresh salt each time"
    assert ACCOUNT_KEY not in first and ACCOUNT_KEY[:16] not in first
    assert fingerprint.matches(value, first) is True and fingerprint.matches(value, second) is True
    assert fingerprint.matches(SecretValue(ACCOUNT_KEY[:-3] + "x=="), first) is False


@pytest.mark.parametrize("kind", [None, "user_password", "password", "anything_else"])
def test_secrets_a_person_may_choose_keep_scrypt(kind: str | None) -> None:
    value = SecretValue("a-long-passphrase-somebody-typed-in-2026!")
    stored = fingerprint.fingerprint(value, kind=kind)
    assert stored.startswith("scrypt$4096$8$1$")
    assert fingerprint.matches(value, stored) is True
    assert fingerprint.matches(SecretValue("a-long-passphrase-somebody-typed-in-2025!"), stored) is False


def test_a_short_value_in_a_machine_field_is_not_machine_generated_and_keeps_scrypt() -> None:
    short = SecretValue("hunter2-hunter2")
    assert fingerprint.scheme_for(short, "client_secret") == "scrypt"
    assert fingerprint.fingerprint(short, kind="client_secret").startswith("scrypt$")
    assert fingerprint.scheme_for(SecretValue("x" * fingerprint.MACHINE_MIN_LENGTH), "sas_token") == "hmac-sha256"


@pytest.mark.parametrize("stored", sorted(OLD_SCRYPT))
def test_scrypt_fingerprints_written_before_stay_readable(stored: str) -> None:
    assert fingerprint.matches(SecretValue("correct horse battery staple"), stored) is True
    assert fingerprint.matches(SecretValue("correct horse battery stapler"), stored) is False


def test_a_keyed_fingerprint_costs_microseconds_and_scrypt_runs_on_the_pool() -> None:
    value = SecretValue(ACCOUNT_KEY)
    started = time.perf_counter()
    for _ in range(200):
        fingerprint.fingerprint(value, kind="account_key")
    assert (time.perf_counter() - started) / 200 < 0.002
    ready = fingerprint.fingerprint_soon(value, kind="account_key")
    assert ready.done()
    later = fingerprint.fingerprint_soon(SecretValue("typed by a person"), kind="user_password")
    stored = later.result(timeout=30)
    assert stored.startswith("scrypt$") and fingerprint.matches(SecretValue("typed by a person"), stored)


@pytest.mark.parametrize(
    "stored",
    [
        "sha256$abc",
        "hmac-sha256$onlyonepart",
        "hmac-sha256$$AAAA",
        "hmac-sha256$AAECAwQFBgcICQoLDA0ODw$tooshort",
        "scrypt$1$1$1$x$y",
        "",
    ],
)
def test_unreadable_fingerprints_are_unknown_not_different(stored: str) -> None:
    assert fingerprint.matches(SecretValue(ACCOUNT_KEY), stored) is None
