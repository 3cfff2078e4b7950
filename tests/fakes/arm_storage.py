"""Microsoft.Storage and Microsoft.Authorization for the fake ARM: what the plan's checks read.

Served by every :class:`tests.fakes.arm.FakeArm` as ``arm.storage`` (one of ``arm.providers``):

    GET  .../providers/Microsoft.Storage/storageAccounts/{a}                              StorageAccounts_GetProperties
    POST .../providers/Microsoft.Storage/storageAccounts/{a}/listKeys                     StorageAccounts_ListKeys
    GET  .../storageAccounts/{a}/blobServices/default/containers/{c}                      BlobContainers_Get
    GET  .../storageAccounts/{a}/fileServices/default/shares/{s}                          FileShares_Get
    GET  {scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{id}'
                                                                                          RoleAssignments_ListForScope
    GET  [/subscriptions/{s}]/providers/Microsoft.Authorization/roleDefinitions/{id}      RoleDefinitions_GetById

Bodies follow the published examples copied into ``arm_examples/storage`` and
``arm_examples/authorization`` (Azure/azure-rest-api-specs, storage 2023-05-01 and 2018-02-01/07-01,
authorization 2022-04-01); ``test_arm_storage_fake.py`` checks the shapes against them. Choices where
the examples are silent:

* ``allowSharedKeyAccess`` is omitted unless set (the service's null means true);
  ``publicNetworkAccess`` is always present.
* ListForScope with a ``principalId`` filter returns the principal's assignments at, above and below
  the scope (the documented semantics of ``$filter=principalId eq``); without a filter, all of them.
* ``forbid(action)`` makes the matching requests answer 403 ``AuthorizationFailed`` naming that action.
* Permissive by default, so tests about other things plan cleanly: an account nobody declared exists
  (StorageV2, hierarchical namespace on, shared keys allowed, public access enabled, every container and
  share present), and every principal holds Storage Blob Data Owner and Storage File Data Privileged
  Reader at the subscription. ``strict()`` (or declaring an account or an assignment) turns that off.
* The built-in role definitions carry their real ids and data actions (Azure built-in roles reference).
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .arm import FAKE_PRINCIPAL, _error, _Reply

STORAGE = "Microsoft.Storage"
AUTHORIZATION = "Microsoft.Authorization"

READ_ACCOUNT = "Microsoft.Storage/storageAccounts/read"
LIST_KEYS = "Microsoft.Storage/storageAccounts/listkeys/action"
READ_CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers/read"
READ_SHARE = "Microsoft.Storage/storageAccounts/fileServices/shares/read"
READ_ROLE_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments/read"
READ_ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions/read"
READ_WORKSPACE = "Microsoft.MachineLearningServices/workspaces/read"

BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"


def _role(role_id: str, name: str, actions: list[str], data_actions: list[str]) -> dict[str, Any]:
    return {
        "id": f"/providers/{AUTHORIZATION}/roleDefinitions/{role_id}",
        "name": role_id,
        "type": f"{AUTHORIZATION}/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": name,
            "assignableScopes": ["/"],
            "permissions": [{"actions": actions, "notActions": [], "dataActions": data_actions, "notDataActions": []}],
        },
    }


BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
FILE_DATA_PRIVILEGED_READER = "b8eda974-7b85-4f76-af95-65846b26df6d"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"

BUILTIN_ROLES = {
    r["name"]: r
    for r in (
        _role(
            BLOB_DATA_READER,
            "Storage Blob Data Reader",
            ["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
            [BLOB_READ],
        ),
        _role(
            BLOB_DATA_CONTRIBUTOR,
            "Storage Blob Data Contributor",
            ["Microsoft.Storage/storageAccounts/blobServices/containers/*"],
            [
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                BLOB_READ,
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
            ],
        ),
        _role(
            BLOB_DATA_OWNER,
            "Storage Blob Data Owner",
            ["Microsoft.Storage/storageAccounts/blobServices/containers/*"],
            ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
        ),
        _role(
            FILE_DATA_PRIVILEGED_READER,
            "Storage File Data Privileged Reader",
            [],
            [
                "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/read",
                "Microsoft.Storage/storageAccounts/fileServices/readFileBackupSemantics/action",
            ],
        ),
        _role(OWNER, "Owner", ["*"], []),
        _role(CONTRIBUTOR, "Contributor", ["*"], []),
    )
}


class _Everything(set):  # type: ignore[type-arg]
    """The containers (or shares) of an account in permissive mode: any name exists."""

    def __contains__(self, item: object) -> bool:
        return True


def _key() -> str:
    return base64.b64encode(os.urandom(64)).decode()


@dataclass
class FakeStorageAccount:
    subscription: str
    resource_group: str
    name: str
    hns: bool = False
    allow_shared_key_access: bool | None = None
    public_network_access: str = "Enabled"
    containers: set[str] = field(default_factory=set)
    shares: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=lambda: {"key1": _key(), "key2": _key()})

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{STORAGE}/storageAccounts/{self.name}"
        )

    def rotate(self, key: str = "key1") -> str:
        """Regenerate one key (what ``az storage account keys renew`` does); returns the new value."""
        self.keys[key] = _key()
        return self.keys[key]

    def body(self) -> dict[str, Any]:
        endpoints = {s: f"https://{self.name}.{s}.core.windows.net/" for s in ("web", "dfs", "blob", "file", "queue")}
        properties: dict[str, Any] = {
            "keyCreationTime": {"key1": "2026-01-01T00:00:00.0000000Z", "key2": "2026-01-01T00:00:00.0000000Z"},
            "isHnsEnabled": self.hns,
            "creationTime": "2026-01-01T00:00:00.0000000Z",
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "ipRules": [],
                "virtualNetworkRules": [],
            },
            "primaryEndpoints": endpoints,
            "primaryLocation": "eastus",
            "provisioningState": "Succeeded",
            "encryption": {
                "services": {"blob": {"keyType": "Account", "enabled": True}},
                "keySource": "Microsoft.Storage",
            },
            "statusOfPrimary": "available",
            "supportsHttpsTrafficOnly": True,
            "publicNetworkAccess": self.public_network_access,
        }
        if self.allow_shared_key_access is not None:
            properties["allowSharedKeyAccess"] = self.allow_shared_key_access
        return {
            "id": self.id,
            "kind": "StorageV2",
            "location": "eastus",
            "name": self.name,
            "properties": properties,
            "sku": {"name": "Standard_LRS", "tier": "Standard"},
            "tags": {},
            "type": f"{STORAGE}/storageAccounts",
        }


@dataclass(frozen=True)
class RoleAssignment:
    principal_id: str
    role_definition: str  # the role definition's GUID
    scope: str
    name: str = field(default_factory=lambda: str(uuid.uuid4()))

    def body(self) -> dict[str, Any]:
        """``roleDefinitionId`` is subscription-scoped, as ARM returns it for assignments in a subscription."""
        segments = self.scope.strip("/").split("/")
        prefix = f"/subscriptions/{segments[1]}" if len(segments) > 1 and segments[0].lower() == "subscriptions" else ""
        return {
            "properties": {
                "roleDefinitionId": f"{prefix}/providers/{AUTHORIZATION}/roleDefinitions/{self.role_definition}",
                "principalId": self.principal_id,
                "principalType": "ServicePrincipal",
                "scope": self.scope,
            },
            "id": f"{self.scope.rstrip('/')}/providers/{AUTHORIZATION}/roleAssignments/{self.name}",
            "type": f"{AUTHORIZATION}/roleAssignments",
            "name": self.name,
        }


_ACCOUNT = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.storage/storageaccounts/(?P<account>[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_ASSIGNMENTS = re.compile(r"^(?P<scope>.*)/providers/microsoft\.authorization/roleassignments/?$", re.IGNORECASE)
_DEFINITION = re.compile(
    r"^(?:/subscriptions/[^/]+)?/providers/microsoft\.authorization/roledefinitions/(?P<id>[^/]+)$", re.IGNORECASE
)
_WORKSPACE = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.machinelearningservices/workspaces/[^/]+$",
    re.IGNORECASE,
)
_PRINCIPAL_FILTER = re.compile(r"^\s*(?:principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))\s*$", re.IGNORECASE)


class FakeStorageAndAuthorization:
    """Storage accounts, role assignments and role definitions behind the fake ARM."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str, str], FakeStorageAccount] = {}
        self.assignments: list[RoleAssignment] = []
        self.roles: dict[str, dict[str, Any]] = {k.lower(): v for k, v in BUILTIN_ROLES.items()}
        self.forbidden: set[str] = set()
        self.permissive = True

    def reset(self) -> None:
        self.accounts.clear()
        self.assignments.clear()
        self.forbidden.clear()
        self.permissive = True

    def strict(self) -> FakeStorageAndAuthorization:
        """Only declared accounts and assignments exist from now on."""
        self.permissive = False
        return self

    def account(self, subscription: str, resource_group: str, name: str, **options: Any) -> FakeStorageAccount:
        self.permissive = False
        account = FakeStorageAccount(subscription, resource_group, name, **options)
        self.accounts[(subscription.lower(), resource_group.lower(), name.lower())] = account
        return account

    def assign(self, principal_id: str, role_definition: str, scope: str) -> RoleAssignment:
        self.permissive = False
        assignment = RoleAssignment(principal_id, role_definition, scope)
        self.assignments.append(assignment)
        return assignment

    def forbid(self, *actions: str) -> None:
        self.forbidden.update(a.lower() for a in actions)

    # ------------------------------------------------------------------ serving

    def _denied(self, action: str, scope: str) -> _Reply | None:
        if action.lower() not in self.forbidden:
            return None
        return _error(
            403,
            "AuthorizationFailed",
            f"The client '{FAKE_PRINCIPAL}' with object id '{uuid.UUID(int=9)}' does not have authorization to "
            f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
            "granted, please refresh your credentials.",
        )

    def handle(self, method: str, path: str, pairs: list[tuple[str, str]], raw: bytes) -> _Reply | None:
        path = unquote(path).rstrip("/")
        if _WORKSPACE.match(path) and method == "GET":
            return self._denied(READ_WORKSPACE, path)
        match = _ASSIGNMENTS.match(path)
        if match and method == "GET":
            return self._list_assignments(match["scope"] or "/", dict(pairs))
        match = _DEFINITION.match(path)
        if match and method == "GET":
            return self._definition(path, match["id"])
        match = _ACCOUNT.match(path)
        if match:
            return self._storage(method, match, path)
        return None

    def _storage(self, method: str, match: re.Match[str], path: str) -> _Reply:
        key = (match["sub"].lower(), match["rg"].lower(), match["account"].lower())
        rest = (match["rest"] or "").lower()
        account_id = path[: len(path) - len(match["rest"] or "")]
        action = {"": READ_ACCOUNT, "/listkeys": LIST_KEYS}.get(rest)
        if action is None:
            action = READ_CONTAINER if rest.startswith("/blobservices/") else READ_SHARE
        denied = self._denied(action, path)
        if denied is not None:
            return denied
        account = self.accounts.get(key)
        if account is None and self.permissive:
            account = FakeStorageAccount(match["sub"], match["rg"], match["account"], hns=True)
            account.containers = _Everything()
            account.shares = _Everything()
        if account is None:
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource '{STORAGE}/storageAccounts/{match['account']}' under resource group "
                f"'{match['rg']}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        if rest == "" and method == "GET":
            return _Reply(200, account.body())
        if rest == "/listkeys" and method == "POST":
            return _Reply(
                200, {"keys": [{"keyName": k, "permissions": "Full", "value": v} for k, v in account.keys.items()]}
            )
        parts = rest.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:3] == ["blobservices", "default", "containers"]:
            name = path.rsplit("/", 1)[1]
            if not _has(account.containers, name):
                return _error(404, "ContainerNotFound", "The specified container does not exist.")
            return _Reply(200, self._child(account_id, "blobServices", "containers", name))
        if method == "GET" and len(parts) == 4 and parts[:3] == ["fileservices", "default", "shares"]:
            name = path.rsplit("/", 1)[1]
            if not _has(account.shares, name):
                return _error(404, "ShareNotFound", "The specified share does not exist.")
            return _Reply(200, self._child(account_id, "fileServices", "shares", name))
        return _error(404, "NotFound", f"No HTTP resource was found that matches the request URI '{path}'.")

    @staticmethod
    def _child(account_id: str, service: str, kind: str, name: str) -> dict[str, Any]:
        properties: dict[str, Any] = {"lastModifiedTime": "2026-01-01T00:00:00Z"}
        if kind == "containers":
            properties.update(publicAccess="None", leaseStatus="Unlocked", leaseState="Available")
            properties.update(hasImmutabilityPolicy=False, hasLegalHold=False)
        else:
            properties["shareQuota"] = 1024
        return {
            "id": f"{account_id}/{service}/default/{kind}/{name}",
            "name": name,
            "type": f"{STORAGE}/storageAccounts/{service}/{kind}",
            "etag": '"0x8D592D74CC20EBA"',
            "properties": properties,
        }

    def _list_assignments(self, scope: str, query: dict[str, str]) -> _Reply:
        denied = self._denied(READ_ROLE_ASSIGNMENTS, scope)
        if denied is not None:
            return denied
        principal = None
        if query.get("$filter"):
            match = _PRINCIPAL_FILTER.match(query["$filter"])
            if match is None:
                return _error(400, "UnsupportedQuery", "The filter is not supported by the fake.")
            principal = (match.group(1) or match.group(2)).lower()
        wanted = scope.lower().rstrip("/")

        def related(other: str) -> bool:
            other = other.lower().rstrip("/")
            return wanted.startswith(other + "/") or other.startswith(wanted + "/") or other == wanted or other == ""

        assignments = list(self.assignments)
        if self.permissive and principal is not None:
            subscription = "/".join(wanted.split("/")[:3])
            assignments += [
                RoleAssignment(principal, BLOB_DATA_OWNER, subscription, name=str(uuid.UUID(int=11))),
                RoleAssignment(principal, FILE_DATA_PRIVILEGED_READER, subscription, name=str(uuid.UUID(int=12))),
            ]
        values = [
            a.body()
            for a in assignments
            if related(a.scope) and (principal is None or a.principal_id.lower() == principal)
        ]
        return _Reply(200, {"value": values})

    def _definition(self, path: str, role_id: str) -> _Reply:
        denied = self._denied(READ_ROLE_DEFINITIONS, path)
        if denied is not None:
            return denied
        body = self.roles.get(role_id.lower())
        if body is None:
            return _error(404, "RoleDefinitionDoesNotExist", "The specified role definition does not exist.")
        return _Reply(200, json.loads(json.dumps(body)))


def _has(names: set[str], name: str) -> bool:
    return isinstance(names, _Everything) or name.lower() in {n.lower() for n in names}
