"""Does the identity an identity-based datastore uses hold a data role on its storage?

Azure ML registers an identity-based datastore without checking access; a job fails later when
the identity has no data role (hashicorp/terraform-provider-azurerm#21443, Azure/bicep-types-az#2468).
Through ARM: the workspace's identity (workspace GET), the role assignments of that principal that
apply to the container or share (one ``RoleAssignments_ListForScope`` per account with a
``principalId`` filter returns those at, above and below the account, container ones included),
and each assigned role's definition (once per role), whose *data* actions must allow reading.
Owner and Contributor hold no data actions, so they do not count. No permission to read
assignments or definitions: "could not check", with the permission named.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from reconciler.azure.arm import AUTHORIZATION_API_VERSION, WORKSPACE_API_VERSION, ArmCallError, ArmReader, Memo
from reconciler.state import DesiredDatastore
from reconciler.validation.account import StorageTarget, identity_based
from reconciler.validation.findings import Check, Finding, Severity

BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
FILE_READ = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/read"
#: The data action that reading a datastore needs, the child scope it is checked at, and the role to suggest.
NEEDS = {
    "azure_blob": (BLOB_READ, "blobServices/default/containers", "container_name", "Storage Blob Data Reader"),
    "azure_data_lake_gen2": (BLOB_READ, "blobServices/default/containers", "filesystem", "Storage Blob Data Reader"),
    "azure_file": (
        FILE_READ,
        "fileServices/default/fileshares",
        "file_share_name",
        "Storage File Data Privileged Reader",
    ),
}
BROADER = {
    "Storage Blob Data Reader": "Storage Blob Data Reader, Contributor or Owner",
    "Storage File Data Privileged Reader": "Storage File Data Privileged Reader or Contributor",
}
READ_WORKSPACE = "Microsoft.MachineLearningServices/workspaces/read"
READ_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments/read"
READ_DEFINITIONS = "Microsoft.Authorization/roleDefinitions/read"


def _finding(item: DesiredDatastore, severity: Severity, message: str) -> Finding:
    return Finding(item.name, item.type, Check.ACCESS, severity, message)


def workspace_path(workspace: Any) -> str:
    return (
        f"/subscriptions/{workspace.subscription_id}/resourceGroups/{workspace.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace.workspace}"
    )


def _principal(item: DesiredDatastore, body: Any) -> tuple[str | None, str]:
    """``(principal id, who)`` of the identity this datastore uses, from the workspace GET."""
    identity = body.get("identity") if isinstance(body, dict) else None
    identity = identity if isinstance(identity, dict) else {}
    if item.settings.get("service_data_access_auth_identity") == "workspace_user_assigned_identity":
        assigned = identity.get("userAssignedIdentities") or {}
        primary = str((body.get("properties") or {}).get("primaryUserAssignedIdentity") or "")
        chosen = next((v for k, v in assigned.items() if k.lower() == primary.lower()), None)
        if chosen is None and len(assigned) == 1:
            chosen = next(iter(assigned.values()))
        principal = chosen.get("principalId") if isinstance(chosen, dict) else None
        return (str(principal) if principal else None), "the workspace's user-assigned identity"
    principal = identity.get("principalId")
    return (str(principal) if principal else None), "the workspace's system-assigned identity"


def _grants(definition: Any, action: str) -> bool:
    """Whether any permission block of a role definition allows the data action (wildcards, notDataActions)."""
    properties = definition.get("properties") if isinstance(definition, dict) else None
    wanted = action.lower()
    for block in (properties or {}).get("permissions") or []:
        allowed = any(fnmatchcase(wanted, str(p).lower()) for p in block.get("dataActions") or [])
        denied = any(fnmatchcase(wanted, str(p).lower()) for p in block.get("notDataActions") or [])
        if allowed and not denied:
            return True
    return False


def _applies(assignment_scope: str, scope: str) -> bool:
    """An assignment at the scope or above it (account, group, subscription, root) applies to it."""
    above = assignment_scope.lower().rstrip("/")
    below = scope.lower().rstrip("/")
    return above == "" or below == above or below.startswith(above + "/")


def check_access(
    item: DesiredDatastore, target: StorageTarget, workspace: Any, reader: ArmReader, memo: Memo
) -> list[Finding]:
    if not identity_based(item) or item.type not in NEEDS or workspace is None:
        return []
    action, child, field, role = NEEDS[item.type]
    try:
        body = memo.get("workspace", lambda: reader.get(workspace_path(workspace), WORKSPACE_API_VERSION))
    except ArmCallError as exc:
        why = f"needs {READ_WORKSPACE} to read the workspace's identity" if exc.forbidden else str(exc)
        return [_finding(item, Severity.NOT_CHECKED, f"could not check: {why}")]
    principal, who = _principal(item, body)
    if principal is None:
        severity = Severity.NOT_CHECKED
        if item.settings.get("service_data_access_auth_identity") != "none":
            severity = Severity.ERROR
        return [_finding(item, severity, f"the workspace has no {who.removeprefix('the workspace')[3:]}")]
    scope = f"{target.id}/{child}/{item.settings.get(field)}"
    try:
        # At the account scope, the principalId filter returns the assignments at, above and below it:
        # one request per account serves every container and share in it.
        listed = memo.get(
            ("assignments", target.id.lower(), principal.lower()),
            lambda: reader.get(
                f"{target.id}/providers/Microsoft.Authorization/roleAssignments",
                AUTHORIZATION_API_VERSION,
                {"$filter": f"principalId eq '{principal}'"},
            ),
        )
    except ArmCallError as exc:
        why = f"needs {READ_ASSIGNMENTS} on {target.id}" if exc.forbidden else str(exc)
        return [_finding(item, Severity.NOT_CHECKED, f"could not check: {why}")]
    assignments = [
        a.get("properties") or {}
        for a in (listed.get("value") if isinstance(listed, dict) else None) or []
        if isinstance(a, dict)
    ]
    applicable = [
        a
        for a in assignments
        if str(a.get("principalId", "")).lower() == principal.lower() and _applies(str(a.get("scope", "")), scope)
    ]
    unreadable = False
    for assignment in applicable:
        definition_id = str(assignment.get("roleDefinitionId", ""))
        if not definition_id:
            continue
        try:
            definition = memo.get(
                ("role", definition_id.lower()),
                lambda path=definition_id: reader.get(path, AUTHORIZATION_API_VERSION),  # type: ignore[misc]
            )
        except ArmCallError:
            unreadable = True
            continue
        if _grants(definition, action):
            return []
    if unreadable:
        return [_finding(item, Severity.NOT_CHECKED, f"could not check: needs {READ_DEFINITIONS}")]
    return [
        _finding(
            item,
            Severity.ERROR,
            f"{who} (principal {principal}) holds no data role on {child.rsplit('/', 1)[1][:-1]} "
            f"{item.settings.get(field)} of storage account {target.account}: assign {BROADER[role]} at the "
            f"account or container scope ({target.id}); Owner and Contributor do not grant data access",
        )
    ]
