"""The fake's Microsoft.Storage and Microsoft.Authorization answers have the published examples' shape.

The examples in ``arm_examples/storage`` and ``arm_examples/authorization`` are copied from
Azure/azure-rest-api-specs; every key an example's body has at the levels the checks read must be in
the fake's body too, with the same JSON type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import arm_storage as fake

EXAMPLES = Path(__file__).parent / "arm_examples"
SUB, RG = "00000000-1111-2222-3333-444444444444", "rg"
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/contoso"


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())["responses"]["200"]["body"]


def served(method: str, path: str, query: list[tuple[str, str]] | None = None) -> Any:
    provider = fake.FakeStorageAndAuthorization()
    account = provider.account(SUB, RG, "contoso", containers={"raw"}, shares={"share"})
    provider.assign("p1", fake.BLOB_DATA_READER, account.id)
    reply = provider.handle(method, path, query or [], b"")
    assert reply is not None and reply.status == 200, reply and reply.body
    return reply.body


def same_shape(published: Any, ours: Any, where: str = "", skip: tuple[str, ...] = ()) -> None:
    if isinstance(published, dict):
        assert isinstance(ours, dict), where
        for key, value in published.items():
            if key in skip:
                continue
            assert key in ours, f"{where}.{key} missing"
            same_shape(value, ours[key], f"{where}.{key}", skip)
    elif isinstance(published, list) and published:
        assert isinstance(ours, list) and ours, where
        same_shape(published[0], ours[0], f"{where}[0]", skip)
    else:
        assert type(published) is type(ours) or {type(published), type(ours)} <= {int, float}, where


@pytest.mark.parametrize(
    ("name", "method", "path", "skip"),
    [
        # Geo-replication, routing and secondary-location fields describe features the fake's account lacks.
        (
            "storage/StorageAccountGetProperties.json",
            "GET",
            ACCOUNT,
            (
                "geoReplicationStats",
                "routingPreference",
                "secondaryLocation",
                "statusOfSecondary",
                "resourceAccessRules",
                "microsoftEndpoints",
                "internetEndpoints",
                "table",
                "file",
                "lastEnabledTime",
                "isSkuConversionBlocked",
                "accountMigrationInProgress",
                "tier",
                "key1",
                "key2",
            ),
        ),
        ("storage/StorageAccountListKeys.json", "POST", f"{ACCOUNT}/listKeys", ()),
        ("storage/BlobContainersGet.json", "GET", f"{ACCOUNT}/blobServices/default/containers/raw", ()),
        ("storage/FileSharesGet.json", "GET", f"{ACCOUNT}/fileServices/default/shares/share", ()),
        (
            "authorization/RoleAssignments_ListForScope.json",
            "GET",
            f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments",
            (),
        ),
        (
            "authorization/GetRoleDefinitionById.json",
            "GET",
            f"/providers/Microsoft.Authorization/roleDefinitions/{fake.BLOB_DATA_READER}",
            (),
        ),
    ],
)
def test_fake_bodies_have_the_published_shape(name: str, method: str, path: str, skip: tuple[str, ...]) -> None:
    same_shape(example(name), served(method, path), name, skip)


def test_forbidden_and_missing_answer_like_arm() -> None:
    provider = fake.FakeStorageAndAuthorization()
    provider.strict()
    missing = provider.handle("GET", ACCOUNT, [], b"")
    assert missing is not None and missing.status == 404 and missing.body["error"]["code"] == "ResourceNotFound"
    provider.forbid(fake.READ_ACCOUNT)
    denied = provider.handle("GET", ACCOUNT, [], b"")
    assert denied is not None and denied.status == 403 and denied.body["error"]["code"] == "AuthorizationFailed"
    assert fake.READ_ACCOUNT in denied.body["error"]["message"]
