"""Secret references: ``${env:NAME}``, ``${file:PATH}``, ``${keyvault:VAULT/SECRET[/VERSION]}``,
``${storagekey:ACCOUNT[/key1|key2]}`` (a storage account key read live through the management plane).

A reference is safe to print, store in a saved plan and commit to Git; the value it points
to is not. Parsing is offline and strict: a literal secret is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

RefKind = Literal["env", "file", "keyvault", "storagekey"]

_REF = re.compile(r"^\$\{(?P<kind>[A-Za-z]+):(?P<body>[^{}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VAULT_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,23}$")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9a-fA-F]{32}$")
_KINDS = ("env", "file", "keyvault", "storagekey")
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
STORAGE_KEYS = ("key1", "key2")

ALLOWED_FORMS = "${env:NAME}, ${file:PATH}, ${keyvault:VAULT/SECRET[/VERSION]} or ${storagekey:ACCOUNT[/key1|key2]}"


class RefSyntaxError(ValueError):
    """A string that should be a secret reference but is not a valid one."""


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference. ``text`` is the original spelling, shown in plans."""

    kind: RefKind
    text: str
    target: str  # env var name, file path, vault name / https:// URL, or storage account name
    secret: str = ""  # keyvault secret name, or the storage account key's name (key1, key2)
    version: str | None = None  # keyvault secret version

    def __str__(self) -> str:
        return self.text


def parse_ref(text: str) -> SecretRef:
    """Parse one reference; raise :class:`RefSyntaxError` with a message that never quotes the input.

    The input may be a pasted secret or a reference around one (``${env:<the key>}``), so
    messages say what is wrong and what is allowed, never what was written.
    """
    if not isinstance(text, str):
        raise RefSyntaxError(f"must be a secret reference: {ALLOWED_FORMS}")
    text = text.strip()
    match = _REF.match(text)
    if match is None:
        raise RefSyntaxError(_malformed(text))
    kind, body = match.group("kind"), match.group("body")
    if kind == "env":
        if not body:
            raise RefSyntaxError("${env:...} needs an environment variable name")
        if not _ENV_NAME.fullmatch(body):
            raise RefSyntaxError(
                "${env:...} variable name is invalid: letters, digits and underscores, not starting with a digit"
            )
        return SecretRef("env", text, body)
    if kind == "file":
        if not body.strip():
            raise RefSyntaxError("${file:...} needs a path (relative to the manifest)")
        return SecretRef("file", text, body)
    if kind == "keyvault":
        return _parse_keyvault(text, body)
    if kind == "storagekey":
        account, _, key = body.partition("/")
        if not _ACCOUNT_NAME.fullmatch(account):
            raise RefSyntaxError("${storagekey:...} account name is invalid: 3-24 lowercase letters and digits")
        if key and key not in STORAGE_KEYS:
            raise RefSyntaxError("${storagekey:...} key must be key1 or key2: ${storagekey:ACCOUNT[/key1|key2]}")
        return SecretRef("storagekey", text, account, key or "key1")
    if kind.lower() in _KINDS:
        raise RefSyntaxError(f"secret reference kinds are lowercase: {ALLOWED_FORMS}")
    raise RefSyntaxError(f"unknown secret reference kind; expected {ALLOWED_FORMS}")


def _malformed(text: str) -> str:
    """Why a value is not a reference at all, without quoting it."""
    if text.startswith("${"):
        if "}" not in text:
            return f"unterminated secret reference: missing the closing '}}'; expected {ALLOWED_FORMS}"
        if text.endswith("}") and ":" not in text:
            return f"secret reference without a kind; expected {ALLOWED_FORMS}"
        return f"malformed secret reference; expected {ALLOWED_FORMS}"
    if "${" in text:
        return f"a secret reference must be the whole value, with nothing around it: {ALLOWED_FORMS}"
    return f"literal secrets are not allowed in a manifest; use a reference: {ALLOWED_FORMS}"


def _parse_keyvault(text: str, body: str) -> SecretRef:
    if "/" not in body.removeprefix("https://").rstrip("/"):
        raise RefSyntaxError("${keyvault:...} needs a secret name: VAULT/SECRET or VAULT/SECRET/VERSION")
    if body.startswith("https://"):
        parts = urlsplit(body)
        if not parts.hostname:
            raise RefSyntaxError("${keyvault:...} vault URL has no host")
        if parts.query or parts.fragment:
            raise RefSyntaxError("${keyvault:...} vault URL must not have a query or fragment")
        vault_url, rest = f"https://{parts.netloc}", parts.path.removeprefix("/")
    else:
        vault, _, rest = body.partition("/")
        if not _VAULT_NAME.fullmatch(vault):
            raise RefSyntaxError(
                "${keyvault:...} vault name is invalid: 3-24 letters, digits and single hyphens, starting "
                "with a letter and ending with a letter or digit (or give the full https:// vault URL)"
            )
        vault_url = vault.lower()
    segments = rest.split("/")
    if "" in segments:
        raise RefSyntaxError("${keyvault:...} has an empty path segment; expected VAULT/SECRET[/VERSION]")
    if len(segments) > 2:
        raise RefSyntaxError("${keyvault:...} must be VAULT/SECRET or VAULT/SECRET/VERSION")
    secret = segments[0]
    version = segments[1] if len(segments) == 2 else None
    if not _SECRET_NAME.fullmatch(secret):
        raise RefSyntaxError("${keyvault:...} secret name is invalid: 1-127 letters, digits and hyphens")
    if version is not None and not _VERSION.fullmatch(version):
        raise RefSyntaxError("${keyvault:...} version must be 32 hexadecimal characters")
    return SecretRef("keyvault", text, vault_url, secret, version)
