"""The ``azureml://`` workspace: Azure ML datastores through the ARM REST API.

Versions and "changed since plan": ARM datastores have no ETag and PUT overwrites
unconditionally; ``systemData.lastModifiedAt`` is the only version signal. Before each update,
replace or delete the datastore is therefore read (GET) and the write refused with
:class:`ChangedSincePlanError` when ``lastModifiedAt`` differs from what the plan saw, or the
datastore vanished. Check and write are two requests, so a change landing between them is not
seen (ARM has no If-Match). Creates are not pre-checked: that would double the requests of the
most common bulk operation, and the only risk is that a datastore someone registered between plan
and apply under the same name is overwritten with the manifest's settings (which declare it).

Replace is DELETE then PUT, not atomic (``atomic_replace=False``): the planner refuses to replace
the default datastore, and a failed PUT after the DELETE is reported as such so a re-run creates it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from reconciler.azure.cloud import ArmConfig
from reconciler.backends.azureml.client import ArmDatastoreClient
from reconciler.backends.azureml.errors import ArmResponseError, Target, backend_error
from reconciler.backends.azureml.mapping import (
    ARM_TYPE_NAMES,
    ARM_TYPES,
    MappingError,
    keep_service_spelling,
    registered_from_arm,
    secret_from_arm,
    to_arm_body,
)
from reconciler.backends.base import Capabilities, WriteRequest
from reconciler.backends.bookkeeping import FINGERPRINT_TAG, split_tags
from reconciler.backends.guards import DELETED_AFTER_PLAN, NO_LONGER_REGISTERED, check_unchanged, refuse_default
from reconciler.catalog import secret_path
from reconciler.errors import BackendError
from reconciler.guards import refuse_builtin
from reconciler.registry import AzureMLWorkspaceUri
from reconciler.secrets import fingerprint
from reconciler.secrets.value import SecretValue
from reconciler.state import RegisteredDatastore, SecretObservation, WorkspaceSnapshot

log = logging.getLogger(__name__)

#: Read in the planner's messages after "not supported by this workspace: " and "cannot make X the default: ".
LIMITATION = (
    "Azure ML over ARM (azureml://) has neither the classic v1 types azure_sql_database, azure_postgresql, "
    "azure_mysql and dbfs (only the v1 SDK azureml-core had them; its support ended on 2026-06-30) nor a way "
    "to change the default datastore (isDefault is read-only in ARM, for every client)"
)
CAPABILITIES = Capabilities(
    supported_types=ARM_TYPES,
    can_set_default=False,
    secrets_readable=True,
    atomic_replace=False,
    limitation=LIMITATION,
    max_parallelism=64,
)
#: ListSecrets calls in flight at once during a plan.
SECRET_READERS = 16
_FORBIDDEN = object()


class AzureMLWorkspace:
    """One Azure ML workspace's datastores; see the module docstring for the version semantics."""

    def __init__(
        self,
        uri: AzureMLWorkspaceUri,
        *,
        credential: Any = None,
        config: ArmConfig | None = None,
        connection_verify: bool | str | None = None,
    ) -> None:
        self.uri = str(uri)
        self.capabilities = CAPABILITIES
        self.config = config or ArmConfig.from_env()
        self._target = Target(uri.subscription_id, uri.resource_group, uri.workspace, self.config.endpoint)
        if credential is None:
            from reconciler.azure.auth import default_credential

            credential = default_credential()
        self._client = ArmDatastoreClient(
            self.config,
            uri.subscription_id,
            uri.resource_group,
            uri.workspace,
            credential,
            connection_verify=connection_verify,
        )
        self._told_about_fingerprints = False

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> WorkspaceSnapshot:
        """One listing (all pages); never a GET per datastore."""
        found: dict[str, RegisteredDatastore] = {}
        pages = 0
        with self._translate():
            for page in self._client.list_pages():
                pages += 1
                for resource in page:
                    item = registered_from_arm(resource)
                    found[item.key] = item
        log.debug("listed %d datastores of %s in %d page(s)", len(found), self.uri, pages)
        datastores = tuple(found[key] for key in sorted(found))
        default = next((d.name for d in datastores if d.is_default), None)
        return WorkspaceSnapshot(uri=self.uri, datastores=datastores, default_datastore=default)

    def read_secrets(self, names: Sequence[str]) -> dict[str, dict[str, SecretObservation]]:
        """ListSecrets in parallel; where it is forbidden (403) the snapshot's fingerprints stand.

        Independent of any earlier :meth:`snapshot`: the caller names the datastores whose secrets it
        wants (those with a secret-carrying credential kind); one without secrets reads as absent.
        """
        wanted: dict[str, str] = {}
        for name in names:
            wanted.setdefault(name.lower(), name)
        if not wanted:
            return {}
        workers = min(SECRET_READERS, len(wanted))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="list-secrets") as pool:
            results = list(pool.map(self._read_secret, wanted.values()))
        observed: dict[str, dict[str, SecretObservation]] = {}
        forbidden = 0
        for key, result in zip(wanted, results, strict=True):
            if result is _FORBIDDEN:
                forbidden += 1
            elif isinstance(result, tuple):
                path, value = result
                observed[key] = {path: value}
        if forbidden and not self._told_about_fingerprints:
            self._told_about_fingerprints = True
            log.info(
                "listSecrets is not permitted (403) for %d datastore(s) of %s; comparing secrets with the "
                "fingerprints reconciler keeps in the %s tag instead (a secret changed outside reconciler "
                "is not visible this way)",
                forbidden,
                self.uri,
                FINGERPRINT_TAG,
            )
        return observed

    def _read_secret(self, name: str) -> object:
        from azure.core.exceptions import AzureError

        try:
            body = self._client.list_secrets(name)
        except ArmResponseError as exc:
            if exc.status == 403:
                return _FORBIDDEN
            if exc.status in (400, 404) and not exc.missing_parent:
                return None  # no secrets (identity-based access) or deleted since the listing
            raise backend_error(exc, self._target, datastore=name) from None
        except AzureError as exc:
            raise backend_error(exc, self._target, datastore=name) from None
        return secret_from_arm(body)

    # ------------------------------------------------------------------ writing

    def write(self, request: WriteRequest) -> str:
        name = request.name
        refuse_builtin(name)
        if request.type not in ARM_TYPE_NAMES:
            raise BackendError(
                f"registration of {name} rejected: {request.type} datastores do not exist in Azure ML over ARM",
            )
        path = secret_path(request.settings)
        value = request.secrets.get(path) if path else None
        # A keyed fingerprint is ready at once; a scrypt one runs on the fingerprint pool while the
        # version check below is on the network, and the PUT waits for it.
        pending = (
            fingerprint.fingerprint_soon(value, kind=path.rsplit(".", 1)[-1]) if value is not None and path else None
        )
        try:
            body = to_arm_body(
                request.type, request.settings, request.secrets, validated=request.validate, fingerprint=None
            )
        except MappingError as exc:
            raise BackendError(f"registration of {name} rejected: {exc}") from None
        with self._translate(name):
            if request.expected_version is not None:
                current = self._check_unchanged(name, request.expected_version)
                if request.replace:
                    refuse_default(name, _is_default(current), "replaced", "ARM replaces by deleting first")
                if not request.replace:
                    body = keep_service_spelling(body, request.settings, current)
            if request.replace:
                self._client.delete(name)
        if pending is not None:
            body["properties"]["tags"][FINGERPRINT_TAG] = pending.result()
        try:
            with self._translate(name):
                written = self._client.put(name, body, skip_validation=not request.validate)
        except BackendError as exc:
            if not request.replace:
                raise
            raise BackendError(
                f"{str(exc).rstrip('.')}; it was deleted for the replacement and is not registered now: "
                "run apply again to register it",
            ) from None
        return str((written.get("systemData") or {}).get("lastModifiedAt") or "")

    def delete(self, name: str, *, expected_version: str) -> None:
        refuse_builtin(name, "deleted")
        with self._translate(name):
            current = self._check_unchanged(name, expected_version, gone=NO_LONGER_REGISTERED)
            refuse_default(name, _is_default(current))
            self._client.delete(name)

    def release(self, name: str, *, expected_version: str) -> str:
        """PUT the registration back as it is, without reconciler's tags.

        ARM takes the secret with every PUT, so a datastore with a secret is read back through
        ListSecrets first; the value stays a :class:`SecretValue` until the request is sent.
        """
        refuse_builtin(name)
        with self._translate(name):
            current = self._check_unchanged(name, expected_version, gone=NO_LONGER_REGISTERED)
            properties = {k: v for k, v in (current.get("properties") or {}).items() if k != "isDefault"}
            properties["tags"] = split_tags(properties.get("tags"))[0]
            credentials = dict(properties.get("credentials") or {"credentialsType": "None"})
            if str(credentials.get("credentialsType") or "None").lower() != "none":
                credentials["secrets"] = self._secrets_for_release(name)
            properties["credentials"] = credentials
            written = self._client.put(name, {"properties": properties}, skip_validation=True)
        return str((written.get("systemData") or {}).get("lastModifiedAt") or "")

    def _secrets_for_release(self, name: str) -> dict[str, Any]:
        try:
            body = self._client.list_secrets(name)
        except ArmResponseError as exc:
            if exc.status == 403:
                raise BackendError(
                    f"cannot release {name}: ARM needs the datastore's secret with every write, and listSecrets "
                    "is not permitted (403); grant Microsoft.MachineLearningServices/workspaces/datastores/"
                    "listSecrets/action, or release it by hand (remove its reconciler:* tags)",
                ) from None
            raise
        if not isinstance(body, dict):
            raise BackendError(f"cannot release {name}: listSecrets returned no secrets")
        return {k: (v if k == "secretsType" or not isinstance(v, str) else SecretValue(v)) for k, v in body.items()}

    def set_default(self, name: str, *, expected_default: str | None) -> None:
        raise BackendError(
            f"cannot make {name} the default datastore: isDefault is read-only in Azure ML over ARM, so no "
            "client can change the default of an azureml:// workspace",
        )

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ plumbing

    def _check_unchanged(self, name: str, expected: str, *, gone: str = DELETED_AFTER_PLAN) -> dict[str, Any]:
        """GET the datastore and compare ``lastModifiedAt`` with the plan's (ARM has no If-Match)."""
        current = self._client.get(name)
        version = None if current is None else str((current.get("systemData") or {}).get("lastModifiedAt") or "")
        detail = f" (last modified {version or 'at an unknown time'}; the plan saw {expected or 'no time'})"
        check_unchanged(name, expected, version, gone=gone, detail=detail)
        assert current is not None
        return current

    @contextmanager
    def _translate(self, datastore: str | None = None) -> Iterator[None]:
        """Azure SDK and ARM failures become one-line BackendErrors (no traceback, no body)."""
        from azure.core.exceptions import AzureError

        try:
            yield
        except (ArmResponseError, AzureError) as exc:
            raise backend_error(exc, self._target, datastore=datastore) from None


def _is_default(resource: dict[str, Any]) -> bool:
    return (resource.get("properties") or {}).get("isDefault") is True
