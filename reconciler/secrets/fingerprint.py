"""Salted fingerprints of secret values, priced by what the secret is.

Used where a workspace cannot give a secret back (ARM ``listSecrets`` forbidden): the
fingerprint of the last value written is kept beside the datastore, and a later plan
compares the desired value against it. Never a plain hash, never the value. A reader of the
fingerprint must not be able to guess the secret from it, so the cost of one guess has to
match how many guesses the secret allows (see docs/secrets.md, "Fingerprints"):

* ``hmac-sha256$salt$digest`` for secrets a machine generated: storage account keys (512 random
  bits), SAS tokens (their signature is a 256-bit HMAC), Entra client secrets and certificate
  private keys. Nobody can enumerate those however fast each guess is, so a salted keyed hash
  (HMAC-SHA256 keyed with a fresh random salt) is enough, and costs microseconds.
* ``scrypt$N$r$p$salt$digest`` (N=2^12, r=8, p=1: 4 MiB, ~15 ms) for everything a person may
  have chosen (SQL passwords, any field not listed above) and for a "machine" value shorter than
  :data:`MACHINE_MIN_LENGTH` characters, which is not what its field says it is.

The scheme and its parameters are stored in each fingerprint, so :func:`matches` reads
fingerprints written with other parameters too (including every scrypt one written before the
keyed scheme existed). scrypt work runs on :func:`pool` (hashlib's scrypt releases the GIL),
at most one per CPU at once, so it neither holds up the writers nor takes unbounded memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from reconciler.secrets.value import SecretValue

_N, _R, _P, _LEN = 2**12, 8, 1, 32
SCRYPT = "scrypt"
KEYED = "hmac-sha256"
#: Secret fields whose values a machine generates with at least 256 bits of entropy.
MACHINE_GENERATED = frozenset({"account_key", "sas_token", "client_secret", "certificate"})
#: Shorter than this, a "machine-generated" value is not one (Entra client secrets have 40
#: characters, account keys 88, SAS tokens and PEM certificates far more): it gets scrypt.
MACHINE_MIN_LENGTH = 32
_SALT = 16

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(value: SecretValue, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(value.reveal().encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=256 * 1024 * 1024)


def _keyed(value: SecretValue, salt: bytes) -> bytes:
    return hmac.new(salt, value.reveal().encode(), hashlib.sha256).digest()


def scheme_for(value: SecretValue, kind: str | None) -> str:
    """``hmac-sha256`` for a machine-generated secret (by field name and length), else ``scrypt``."""
    if kind in MACHINE_GENERATED and len(value.reveal()) >= MACHINE_MIN_LENGTH:
        return KEYED
    return SCRYPT


def fingerprint(value: SecretValue, *, kind: str | None = None, salt: bytes | None = None) -> str:
    """The fingerprint of ``value``, a secret of field ``kind`` (``account_key``, ``user_password``...).

    Without a ``kind`` the value is treated as chosen by a person (scrypt). A fresh random salt
    is used unless one is given.
    """
    salt = salt if salt is not None else os.urandom(_SALT)
    if scheme_for(value, kind) == KEYED:
        return f"{KEYED}${_b64(salt)}${_b64(_keyed(value, salt))}"
    digest = _scrypt(value, salt, _N, _R, _P)
    return f"{SCRYPT}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def pool() -> ThreadPoolExecutor:
    """The process's fingerprint workers: one per CPU, at most 8 (scrypt takes 4 MiB each)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, min(8, os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fingerprint")
        return _pool


def fingerprint_soon(value: SecretValue, *, kind: str | None = None) -> Future[str]:
    """:func:`fingerprint`, done on :func:`pool` when it is scrypt, immediately when it is keyed."""
    if scheme_for(value, kind) == KEYED:
        done: Future[str] = Future()
        done.set_result(fingerprint(value, kind=kind))
        return done
    return pool().submit(fingerprint, value, kind=kind)


def matches(value: SecretValue, stored: str) -> bool | None:
    """True or False when ``stored`` is a well-formed fingerprint, None when it cannot be read."""
    try:
        scheme, _, rest = stored.partition("$")
        if scheme == KEYED:
            salt, digest = rest.split("$")
            expected, raw_salt = _unb64(digest), _unb64(salt)
            if len(expected) != hashlib.sha256().digest_size or not raw_salt:
                return None
            actual = _keyed(value, raw_salt)
        elif scheme == SCRYPT:
            n, r, p, salt, digest = rest.split("$")
            n_i, r_i, p_i = int(n), int(r), int(p)
            if not (2**10 <= n_i <= 2**20 and 1 <= r_i <= 32 and 1 <= p_i <= 16):
                return None
            expected = _unb64(digest)
            actual = _scrypt(value, _unb64(salt), n_i, r_i, p_i)
        else:
            return None
    except (ValueError, TypeError):
        return None
    return hmac.compare_digest(expected, actual)
