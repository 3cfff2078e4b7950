"""Resolve secret references to :class:`SecretValue` objects, each reference once per run.

Failures are returned as messages keyed like the requests, so the caller can report every
unresolvable reference at once with its file, line and field. Messages name the reference,
never a value.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from reconciler.inputfile import read_input
from reconciler.secrets.refs import SecretRef
from reconciler.secrets.trust import TrustPolicy
from reconciler.secrets.value import SecretValue

#: A secret file is a key, a token or a certificate: anything larger is a mistake or an attack.
MAX_SECRET_FILE_BYTES = 64 * 1024
#: Shorter values cannot be masked safely in text from outside (an SDK error): refused.
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True)
class SecretRequest:
    """One secret field to resolve: ``key`` identifies it to the caller."""

    key: Hashable
    ref: SecretRef
    base_dir: Path
    #: ``(subscription, resource group)`` a ``${storagekey:...}`` account is looked up in: the
    #: datastore's own, else the ``azureml://`` workspace's; None when neither names one.
    location: tuple[str, str] | None = None


class KeyVaultSource(Protocol):
    """Fetches Key Vault references; returns a value or an error message per reference."""

    def fetch(self, refs: Sequence[SecretRef]) -> Mapping[SecretRef, SecretValue | str]: ...


#: One storage account key to read: (subscription, resource group, account, key name).
StorageKey = tuple[str, str, str, str]


class StorageKeySource(Protocol):
    """Reads storage account keys (``listKeys``); returns a value or an error message per key."""

    def fetch(self, keys: Sequence[StorageKey]) -> Mapping[StorageKey, SecretValue | str]: ...


@dataclass
class Resolution:
    values: dict[Hashable, SecretValue]
    errors: dict[Hashable, str]


def _identity(request: SecretRequest) -> tuple[str, ...]:
    """Requests with the same identity share one lookup (one file read, one vault call)."""
    ref = request.ref
    if ref.kind == "file":
        return ("file", os.path.normpath(request.base_dir / ref.target))
    if ref.kind == "keyvault":
        return ("keyvault", ref.target.lower(), ref.secret.lower(), (ref.version or "").lower())
    if ref.kind == "storagekey":
        subscription, group = request.location or ("", "")
        return ("storagekey", subscription.lower(), group.lower(), ref.target, ref.secret)
    return (ref.kind, ref.target)


def _checked(value: str, what: str, *, expires_on: datetime | None = None) -> SecretValue | str:
    """A value long enough to be masked wherever an SDK might echo it, or why not.

    ``expires_on`` carries what the source says about expiry (Key Vault's ``exp``) onto the checked value.
    """
    if len(value) < MIN_SECRET_LENGTH:
        return (
            f"{what} is shorter than {MIN_SECRET_LENGTH} characters; such a value cannot be masked safely "
            "in error messages and is refused (real keys, tokens and passwords are longer)"
        )
    return SecretValue(value, expires_on=expires_on)


def read_env(name: str, environ: Mapping[str, str]) -> SecretValue | str:
    value = environ.get(name)
    if value is None:
        return f"environment variable {name} is not set"
    if value == "":
        return f"environment variable {name} is empty"
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        # os.environ decodes undecodable bytes as lone surrogates; never say which or where
        return f"environment variable {name} is not valid UTF-8 text"
    return _checked(value, f"environment variable {name}")


def secret_file_path(base_dir: Path, target: str, root: Path) -> Path | str:
    """The resolved path of ``${file:target}``, or why it is refused (outside the secrets root).

    ``..`` and symlinks are resolved first, so neither can lead out of the root.
    """
    if "\0" in target:
        return f"secret file {target!r} is not a valid path"
    try:
        resolved = (base_dir / target).resolve()
    except (OSError, RuntimeError):
        return f"secret file {target} cannot be resolved (a symlink loop?)"
    if not resolved.is_relative_to(root):
        return (
            f"secret file {target} is outside the secrets root {root}; secret files are read only from the "
            "manifest's directory and below, unless you widen it with --secrets-root DIR (or RECONCILER_SECRETS_ROOT)"
        )
    return resolved


def _not_regular(mode: int, shown: str) -> str | None:
    if stat.S_ISDIR(mode):
        return f"secret file {shown} is a directory"
    if not stat.S_ISREG(mode):
        return f"secret file {shown} is not a regular file (a device, FIFO or socket is refused)"
    return None


def read_file(path: Path, shown: str) -> SecretValue | str:
    """The file's text without its trailing newline, like ``$(cat FILE)``; regular files up to 64 KiB."""
    try:
        data = read_input(path, MAX_SECRET_FILE_BYTES, follow_links=False)
    except FileNotFoundError:
        return f"secret file {shown} not found (paths are relative to the manifest)"
    except IsADirectoryError:
        return f"secret file {shown} is a directory"
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # read_input: a device, FIFO or socket
            return f"secret file {shown} is not a regular file (a device, FIFO or socket is refused)"
        if exc.errno == errno.EFBIG:
            return f"secret file {shown} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB; refused"
        return f"cannot read secret file {shown}: {exc.strerror}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"secret file {shown} is not UTF-8 text"
    text = text.rstrip("\r\n")
    if not text:
        return f"secret file {shown} is empty"
    return _checked(text, f"secret file {shown}")


class SecretResolver:
    """Resolves env and file references itself and delegates Key Vault to a :class:`KeyVaultSource`."""

    def __init__(
        self,
        *,
        keyvault: KeyVaultSource | None = None,
        environ: Mapping[str, str] | None = None,
        storage_keys: StorageKeySource | None = None,
        trust: TrustPolicy | None = None,
    ) -> None:
        self._keyvault = keyvault
        self._storage_keys = storage_keys
        self._environ = environ if environ is not None else os.environ
        self.trust = trust or TrustPolicy()

    def resolve(self, requests: Sequence[SecretRequest]) -> Resolution:
        outcome: dict[tuple[str, ...], SecretValue | str] = {}
        vault_refs: dict[tuple[str, ...], SecretRef] = {}
        storage_keys: dict[tuple[str, ...], StorageKey] = {}
        for request in requests:
            identity = _identity(request)
            if identity in outcome or identity in vault_refs or identity in storage_keys:
                continue
            ref = request.ref
            if ref.kind == "storagekey":
                if request.location is None:
                    outcome[identity] = (
                        f"{ref.text}: no subscription and resource group to find storage account {ref.target} in; "
                        "set subscription_id and resource_group on the datastore (or use an azureml:// workspace)"
                    )
                else:
                    storage_keys[identity] = (*request.location, ref.target, ref.secret)
            elif ref.kind == "env":
                outcome[identity] = read_env(ref.target, self._environ)
            elif ref.kind == "file":
                path = secret_file_path(request.base_dir, ref.target, self.trust.root_for(request.base_dir))
                outcome[identity] = path if isinstance(path, str) else read_file(path, ref.target)
            else:
                vault_refs[identity] = ref
        if vault_refs:
            if self._keyvault is None:
                for identity in vault_refs:
                    outcome[identity] = "Key Vault references cannot be resolved here"
            else:
                fetched = self._keyvault.fetch(list(vault_refs.values()))
                for identity, ref in vault_refs.items():
                    got = fetched.get(ref, f"{ref.text} was not fetched")
                    outcome[identity] = (
                        _checked(got.reveal(), ref.text, expires_on=got.expires_on)
                        if isinstance(got, SecretValue)
                        else got
                    )
        if storage_keys:
            if self._storage_keys is None:
                for identity in storage_keys:
                    outcome[identity] = "storage account keys cannot be resolved here"
            else:
                keys = self._storage_keys.fetch(list(storage_keys.values()))
                for identity, wanted in storage_keys.items():
                    outcome[identity] = keys.get(wanted, f"the key of storage account {wanted[2]} was not read")
        result = Resolution({}, {})
        for request in requests:
            value = outcome[_identity(request)]
            if isinstance(value, SecretValue):
                result.values[request.key] = value
            else:
                result.errors[request.key] = value
        return result


def check_local(
    requests: Sequence[SecretRequest], environ: Mapping[str, str] | None = None, trust: TrustPolicy | None = None
) -> dict[Hashable, str]:
    """Offline checks, reported with the manifest's other problems: every ``${file:...}`` is inside
    the secrets root, a regular readable file; with ``environ`` (plan and apply, not validate)
    every ``${env:...}`` is set."""
    trust = trust or TrustPolicy()
    errors: dict[Hashable, str] = {}
    for request in requests:
        ref = request.ref
        if ref.kind == "file":
            path = secret_file_path(request.base_dir, ref.target, trust.root_for(request.base_dir))
            if isinstance(path, str):
                errors[request.key] = path
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                errors[request.key] = f"secret file {ref.target} not found (paths are relative to the manifest)"
                continue
            problem = _not_regular(mode, ref.target)
            if problem:
                errors[request.key] = problem
            elif not os.access(path, os.R_OK):
                errors[request.key] = f"cannot read secret file {ref.target}"
        elif ref.kind == "env" and environ is not None:
            found = read_env(ref.target, environ)
            if isinstance(found, str):
                errors[request.key] = found
    return errors
