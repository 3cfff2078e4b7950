"""Salted, deliberately slow fingerprints of secret values.

Used where a workspace cannot give a secret back (ARM ``listSecrets`` forbidden): the
fingerprint of the last value written is kept beside the datastore, and a later plan
compares the desired value against it. scrypt, never a plain hash, never the value.

Work factor: N=2^12, r=8 (4 MiB, ~15 ms per guess). The secrets Azure ML datastores hold are
machine-generated (account keys, SAS signatures, client secrets, certificates), so guessing is
already out of reach; the memory-hard work factor is defence in depth, kept low enough that a
fingerprint per secret written does not dominate an apply. The parameters are stored in each
fingerprint, so :func:`matches` reads fingerprints written with other parameters too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from reconciler.secrets.value import SecretValue

_N, _R, _P, _LEN = 2**12, 8, 1, 32
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(value: SecretValue, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(value.reveal().encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=256 * 1024 * 1024)


def fingerprint(value: SecretValue, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$digest``: a fresh random salt unless one is given."""
    salt = salt if salt is not None else os.urandom(16)
    digest = _derive(value, salt, _N, _R, _P)
    return f"{_PREFIX}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def matches(value: SecretValue, stored: str) -> bool | None:
    """True or False when ``stored`` is a well-formed fingerprint, None when it cannot be read."""
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return None
        n_i, r_i, p_i = int(n), int(r), int(p)
        if not (2**10 <= n_i <= 2**20 and 1 <= r_i <= 32 and 1 <= p_i <= 16):
            return None
        expected = _unb64(digest)
        actual = _derive(value, _unb64(salt), n_i, r_i, p_i)
    except (ValueError, TypeError):
        return None
    return hmac.compare_digest(expected, actual)
