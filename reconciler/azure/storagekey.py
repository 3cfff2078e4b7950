"""Resolve ``${storagekey:ACCOUNT[/key1|key2]}``: the account key, read live with ``listKeys``.

The key is read at every plan and apply, so a key rotated at the storage account shows as
``(sensitive value changed)`` on the next plan without any manifest change, and apply writes the
new one. Each account is read once per run (both keys come back together). Failures name the
account and the permission, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.azure.arm import ArmCallError, ArmReader, storage_account_id
from reconciler.secrets.resolve import StorageKey
from reconciler.secrets.value import SecretValue

LIST_KEYS = "Microsoft.Storage/storageAccounts/listkeys/action"


class StorageKeyFetcher:
    """A :class:`~reconciler.secrets.resolve.StorageKeySource` over azure-mgmt-storage's ``list_keys``."""

    def __init__(self, reader: Any = None) -> None:
        self._reader = reader
        #: ARM requests made (one per distinct account).
        self.requests = 0

    def fetch(self, keys: Sequence[StorageKey]) -> Mapping[StorageKey, SecretValue | str]:

        reader = self._reader or ArmReader()
        accounts: dict[tuple[str, str, str], dict[str, SecretValue] | str] = {}
        try:
            for subscription, group, account, _ in keys:
                where = (subscription.lower(), group.lower(), account)
                if where in accounts:
                    continue
                client = reader.storage_client(subscription)

                def list_keys(client: Any = client, group: str = group, account: str = account) -> Any:
                    return client.storage_accounts.list_keys(group, account)

                try:
                    listed = reader.call(list_keys)
                except ArmCallError as exc:
                    target = storage_account_id(subscription, group, account)
                    if exc.forbidden:
                        accounts[where] = f"cannot read the keys of {target}: needs {LIST_KEYS}"
                    elif exc.not_found:
                        accounts[where] = f"storage account {account} not found ({target})"
                    else:
                        accounts[where] = f"cannot read the keys of storage account {account}: {exc}"
                    continue
                # Newer azure-mgmt-storage models are mappings (``keys`` is then the mapping method).
                items = listed["keys"] if callable(getattr(listed, "keys", None)) else listed.keys
                accounts[where] = {str(k.key_name).lower(): SecretValue(k.value) for k in (items or []) if k.value}
        finally:
            self.requests += getattr(reader, "requests", 0)
            if self._reader is None:
                reader.close()
        out: dict[StorageKey, SecretValue | str] = {}
        for wanted in keys:
            subscription, group, account, name = wanted
            found = accounts[(subscription.lower(), group.lower(), account)]
            if isinstance(found, str):
                out[wanted] = found
            else:
                out[wanted] = found.get(name, f"storage account {account} has no key named {name}")
        return out
