"""A datastore's account key or SAS token as plain data, made an azure-core credential only when needed.

A run that only lists (a re-run with everything in place) signs its one request itself
(``signing.py``) and never loads azure-core; the SDK clients and the plain pipeline get the
azure-core credential (:func:`azure_credential`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.secrets.value import SecretValue


@dataclass(frozen=True)
class KeyCredential:
    """``kind`` "account_key" (with the account's name) or "sas_token"; the secret stays masked in reprs."""

    kind: str
    account: str
    secret: SecretValue

    def sas(self) -> str:
        """The SAS token without a leading ``?``."""
        return self.secret.reveal().strip().lstrip("?")


def azure_credential(credential: Any) -> Any:
    """The azure-core credential for a :class:`KeyCredential`; any other credential as it is."""
    if not isinstance(credential, KeyCredential):
        return credential
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

    if credential.kind == "account_key":
        return AzureNamedKeyCredential(credential.account, credential.secret.reveal())
    return AzureSasCredential(credential.sas())


def signs_requests(credential: Any) -> bool:
    """An account key or a SAS: requests made by hand can be signed with it (tokens go through the SDK)."""
    if isinstance(credential, KeyCredential):
        return True
    import sys

    if "azure.core.credentials" not in sys.modules:  # not loaded: it cannot be one of its credentials
        return False
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

    return isinstance(credential, (AzureNamedKeyCredential, AzureSasCredential))
