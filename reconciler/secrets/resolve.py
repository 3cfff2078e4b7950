"""Resolve secret references to :class:`SecretValue` objects, each reference once per run.

Failures are returned as messages keyed like the requests, so the caller can report every
unresolvable reference at once with its file, line and field. Messages name the reference,
never a value.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.secrets.refs import SecretRef
from reconciler.secrets.value import SecretValue


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
        return ("file", str((request.base_dir / ref.target).resolve()))
    if ref.kind == "keyvault":
        return ("keyvault", ref.target.lower(), ref.secret.lower(), (ref.version or "").lower())
    if ref.kind == "storagekey":
        subscription, group = request.location or ("", "")
        return ("storagekey", subscription.lower(), group.lower(), ref.target, ref.secret)
    return (ref.kind, ref.target)


def read_env(name: str, environ: Mapping[str, str]) -> SecretValue | str:
    value = environ.get(name)
    if value is None:
        return f"environment variable {name} is not set"
    if value == "":
        return f"environment variable {name} is empty"
    return SecretValue(value)


def read_file(path: Path, shown: str) -> SecretValue | str:
    """The file's text without its trailing newline, like ``$(cat FILE)``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"secret file {shown} not found (paths are relative to the manifest)"
    except IsADirectoryError:
        return f"secret file {shown} is a directory"
    except OSError as exc:
        return f"cannot read secret file {shown}: {exc.strerror}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"secret file {shown} is not UTF-8 text"
    text = text.rstrip("\r\n")
    if not text:
        return f"secret file {shown} is empty"
    return SecretValue(text)


class SecretResolver:
    """Resolves env and file references itself and delegates Key Vault to a :class:`KeyVaultSource`."""

    def __init__(
        self,
        *,
        keyvault: KeyVaultSource | None = None,
        environ: Mapping[str, str] | None = None,
        storage_keys: StorageKeySource | None = None,
    ) -> None:
        self._keyvault = keyvault
        self._storage_keys = storage_keys
        self._environ = environ if environ is not None else os.environ

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
                outcome[identity] = read_file(request.base_dir / ref.target, ref.target)
            else:
                vault_refs[identity] = ref
        if vault_refs:
            if self._keyvault is None:
                for identity in vault_refs:
                    outcome[identity] = "Key Vault references cannot be resolved here"
            else:
                fetched = self._keyvault.fetch(list(vault_refs.values()))
                for identity, ref in vault_refs.items():
                    outcome[identity] = fetched.get(ref, f"{ref.text} was not fetched")
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


def check_local(requests: Sequence[SecretRequest], environ: Mapping[str, str] | None = None) -> dict[Hashable, str]:
    """Offline checks, reported with the manifest's other problems: every ``${file:...}`` exists and
    is readable; with ``environ`` (plan and apply, not validate) every ``${env:...}`` is set."""
    errors: dict[Hashable, str] = {}
    for request in requests:
        ref = request.ref
        if ref.kind == "file":
            path = request.base_dir / ref.target
            if not path.is_file():
                errors[request.key] = f"secret file {ref.target} not found (paths are relative to the manifest)"
            elif not os.access(path, os.R_OK):
                errors[request.key] = f"cannot read secret file {ref.target}"
        elif ref.kind == "env" and environ is not None:
            problem = read_env(ref.target, environ)
            if isinstance(problem, str):
                errors[request.key] = problem
    return errors
