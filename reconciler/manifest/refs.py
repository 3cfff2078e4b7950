"""Secret references: ``${env:NAME}``, ``${file:PATH}``, ``${keyvault:VAULT/SECRET[/VERSION]}``.

A reference is safe to print, store in a saved plan and commit to Git; the value it points
to is not. Parsing is offline and strict: a literal secret is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

RefKind = Literal["env", "file", "keyvault"]

_REF = re.compile(r"^\$\{(?P<kind>[a-z]+):(?P<body>[^{}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VAULT_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){2,23}$")
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9a-fA-F]{32}$")

ALLOWED_FORMS = "${env:NAME}, ${file:PATH} or ${keyvault:VAULT/SECRET[/VERSION]}"


class RefSyntaxError(ValueError):
    """A string that should be a secret reference but is not a valid one."""


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference. ``text`` is the original spelling, shown in plans."""

    kind: RefKind
    text: str
    target: str  # env var name, file path, or vault name / https:// URL
    secret: str = ""  # keyvault secret name
    version: str | None = None  # keyvault secret version

    def __str__(self) -> str:
        return self.text


def looks_like_reference(text: str) -> bool:
    return text.startswith("${") and text.endswith("}")


def parse_ref(text: str) -> SecretRef:
    """Parse one reference; raise :class:`RefSyntaxError` with a message that never quotes a literal."""
    if not isinstance(text, str):
        raise RefSyntaxError(f"must be a secret reference: {ALLOWED_FORMS}")
    match = _REF.match(text.strip())
    if match is None:
        if looks_like_reference(text.strip()):
            raise RefSyntaxError(f"malformed secret reference; expected {ALLOWED_FORMS}")
        raise RefSyntaxError(f"literal secrets are not allowed in a manifest; use a reference: {ALLOWED_FORMS}")
    kind, body = match.group("kind"), match.group("body")
    text = text.strip()
    if kind == "env":
        if not _ENV_NAME.match(body):
            raise RefSyntaxError(f"${{env:...}} needs an environment variable name, got {body!r}")
        return SecretRef("env", text, body)
    if kind == "file":
        if not body.strip():
            raise RefSyntaxError("${file:...} needs a path (relative to the manifest)")
        return SecretRef("file", text, body)
    if kind == "keyvault":
        return _parse_keyvault(text, body)
    raise RefSyntaxError(f"unknown secret reference kind {kind!r}; expected {ALLOWED_FORMS}")


def _parse_keyvault(text: str, body: str) -> SecretRef:
    if body.startswith("https://"):
        parts = urlsplit(body)
        if not parts.hostname:
            raise RefSyntaxError("${keyvault:...} vault URL has no host")
        segments = [s for s in parts.path.split("/") if s]
        vault_url = f"https://{parts.netloc}"
    else:
        vault, _, rest = body.partition("/")
        if not _VAULT_NAME.match(vault):
            raise RefSyntaxError(
                f"${{keyvault:...}} vault name {vault!r} is invalid: 3-24 letters, digits and "
                "hyphens, starting with a letter (or give the full https:// vault URL)"
            )
        segments = [s for s in rest.split("/") if s] if rest else []
        vault_url = vault.lower()
        if rest.endswith("/") or "//" in rest:
            raise RefSyntaxError("${keyvault:...} has an empty path segment; expected VAULT/SECRET[/VERSION]")
    if len(segments) not in (1, 2):
        raise RefSyntaxError("${keyvault:...} must be VAULT/SECRET or VAULT/SECRET/VERSION")
    secret = segments[0]
    version = segments[1] if len(segments) == 2 else None
    if not _SECRET_NAME.match(secret):
        raise RefSyntaxError(f"${{keyvault:...}} secret name {secret!r} is invalid: 1-127 letters, digits and hyphens")
    if version is not None and not _VERSION.match(version):
        raise RefSyntaxError("${keyvault:...} version must be 32 hexadecimal characters")
    return SecretRef("keyvault", text, vault_url, secret, version)
