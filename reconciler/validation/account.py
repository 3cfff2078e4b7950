"""The storage account behind each storage datastore, read through the management plane.

One ``StorageAccounts_GetProperties`` per distinct account, plus, for identity-based datastores,
one GET of the container, file share or filesystem. What fails at run time is an error: a missing
account or container, an ``azure_data_lake_gen2`` datastore on an account without hierarchical
namespace, an account key or shared-key SAS on an account with ``allowSharedKeyAccess: false``.
Disabled public network access is a hint (use ``skip_validation: true``). Without permission to
read, the check says which permission it needs instead of failing the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.state import DesiredDatastore
from reconciler.validation.findings import Check, Finding, Severity

if TYPE_CHECKING:  # the ARM client modules load only when an account is read (not for a local plan)
    from reconciler.azure.arm import ArmReader, Memo

#: Datastore types that live in a storage account, and the child resource they point at.
STORAGE_TYPES = {
    "azure_blob": ("container_name", "container", "blobServices/default/containers"),
    "azure_file": ("file_share_name", "file share", "fileServices/default/shares"),
    "azure_data_lake_gen2": ("filesystem", "filesystem", "blobServices/default/containers"),
}
READ_ACCOUNT = "Microsoft.Storage/storageAccounts/read"
READ_CHILD = {
    "azure_blob": "Microsoft.Storage/storageAccounts/blobServices/containers/read",
    "azure_file": "Microsoft.Storage/storageAccounts/fileServices/shares/read",
    "azure_data_lake_gen2": "Microsoft.Storage/storageAccounts/blobServices/containers/read",
}


@dataclass(frozen=True)
class StorageTarget:
    """Where a datastore's storage account is: the datastore's own subscription and group, else the workspace's."""

    subscription: str
    resource_group: str
    account: str

    @property
    def id(self) -> str:
        from reconciler.azure.arm import storage_account_id

        return storage_account_id(self.subscription, self.resource_group, self.account)

    def describe(self) -> str:
        return (
            f"storage account {self.account} (resource group {self.resource_group}, subscription {self.subscription})"
        )


def storage_target(item: DesiredDatastore, workspace: Any) -> StorageTarget | None:
    """The account's location, or None when neither the datastore nor an ``azureml://`` workspace names it."""
    subscription = item.settings.get("subscription_id") or getattr(workspace, "subscription_id", None)
    group = item.settings.get("resource_group") or getattr(workspace, "resource_group", None)
    account = item.settings.get("account_name")
    if not (subscription and group and account):
        return None
    return StorageTarget(str(subscription), str(group), str(account))


def identity_based(item: DesiredDatastore) -> bool:
    return bool(item.settings.get("credentials", {}).get("type", "none") == "none")


def _finding(item: DesiredDatastore, severity: Severity, message: str) -> Finding:
    return Finding(item.name, item.type, Check.ACCOUNT, severity, message)


def read_account(reader: ArmReader, memo: Memo, target: StorageTarget) -> Any:
    client = reader.storage_client(target.subscription)
    return memo.get(
        ("account", target.id.lower()),
        lambda: reader.call(lambda: client.storage_accounts.get_properties(target.resource_group, target.account)),
    )


def _user_delegation_sas(item: DesiredDatastore) -> bool:
    """A user-delegation SAS (``skoid=``) is signed with Entra ID, so it works without shared keys."""
    secret = item.secrets.get("credentials.sas_token")
    return secret is not None and "skoid=" in secret.reveal()


def check_account(item: DesiredDatastore, target: StorageTarget, reader: ArmReader, memo: Memo) -> list[Finding]:
    from reconciler.azure.arm import ArmCallError

    try:
        account = read_account(reader, memo, target)
    except ArmCallError as exc:
        if exc.forbidden:
            return [_finding(item, Severity.NOT_CHECKED, f"not checked: needs {READ_ACCOUNT} on {target.id}")]
        if exc.not_found:
            return [
                _finding(
                    item,
                    Severity.ERROR,
                    f"{target.describe()} does not exist (set resource_group and subscription_id on the datastore "
                    "when the account is not in the workspace's)",
                )
            ]
        return [_finding(item, Severity.NOT_CHECKED, f"not checked: {exc}")]
    findings: list[Finding] = []
    kind = item.settings.get("credentials", {}).get("type", "none")
    if item.type == "azure_data_lake_gen2" and account.is_hns_enabled is not True:
        findings.append(
            _finding(
                item,
                Severity.ERROR,
                f"storage account {target.account} has no hierarchical namespace (isHnsEnabled is false): an "
                "azure_data_lake_gen2 datastore needs one; declare it as azure_blob, or use an account with it",
            )
        )
    shared_key = kind == "account_key" or (kind == "sas_token" and not _user_delegation_sas(item))
    if shared_key and account.allow_shared_key_access is False:
        findings.append(
            _finding(
                item,
                Severity.ERROR,
                f"storage account {target.account} disallows shared key access (allowSharedKeyAccess: false): "
                f"the {kind} would be refused at run time; use identity-based access (no credentials) or a "
                "user-delegation SAS",
            )
        )
    access = account.public_network_access
    if str(getattr(access, "value", access) or "").lower() == "disabled" and not item.skip_validation:
        findings.append(
            _finding(
                item,
                Severity.HINT,
                f"public network access is disabled on storage account {target.account}: the probe and Azure ML's "
                "own check cannot reach it from outside its network; set skip_validation: true",
            )
        )
    if identity_based(item):
        findings += _check_child(item, target, reader)
    return findings


def _check_child(item: DesiredDatastore, target: StorageTarget, reader: ArmReader) -> list[Finding]:
    from reconciler.azure.arm import ArmCallError

    field, noun, _ = STORAGE_TYPES[item.type]
    name = str(item.settings.get(field))
    client = reader.storage_client(target.subscription)
    if item.type == "azure_file":
        operation = lambda: client.file_shares.get(target.resource_group, target.account, name)  # noqa: E731
    else:
        operation = lambda: client.blob_containers.get(target.resource_group, target.account, name)  # noqa: E731
    try:
        reader.call(operation)
    except ArmCallError as exc:
        if exc.forbidden:
            return [_finding(item, Severity.NOT_CHECKED, f"{noun} not checked: needs {READ_CHILD[item.type]}")]
        if exc.not_found:
            return [_finding(item, Severity.ERROR, f"{noun} {name} does not exist in storage account {target.account}")]
        return [_finding(item, Severity.NOT_CHECKED, f"{noun} not checked: {exc}")]
    return []
