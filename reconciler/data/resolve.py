"""Which storage a data URI names, and with which credential.

The datastore comes from the manifests when they declare it (its secret references resolved, and
only its own), otherwise from the workspace: the registration's settings, and its secret through
listSecrets where the caller may read it. Without a secret (identity-based datastores, or
listSecrets not permitted) the caller's own identity signs in through ``DefaultAzureCredential``.
Every credential goes only to an endpoint the user trusts (:func:`check_endpoint`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.data.uri import DataUri
from reconciler.errors import ManifestError, Problem, ReconcilerError
from reconciler.secrets.value import SecretValue
from reconciler.state import DesiredDatastore

log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("azure_blob", "azure_data_lake_gen2", "azure_file")
#: Seconds for one sign-in attempt of a service principal.
SIGN_IN_TIMEOUT = 30.0
ALLOW_ENDPOINTS_ENV = "RECONCILER_ALLOW_ENDPOINTS"


@dataclass(frozen=True)
class DataTarget:
    """A container, filesystem or share, its account URL, and the credential to reach it with."""

    name: str
    type: str
    account_url: str
    container: str
    credential: Any
    #: "account_key", "sas_token", "service_principal", "certificate" or "identity" (the caller's own).
    credential_kind: str
    #: Where the datastore came from, for messages: a manifest location or the workspace URI.
    source: str
    #: ``resource_url`` of a Gen2 service principal (the token audience), when declared.
    audience: str | None = None

    @property
    def service(self) -> str:
        return "file" if self.type == "azure_file" else "blob"


class DatastoreNotFound(ReconcilerError):
    """The URI names a datastore that is neither declared nor registered."""


def check_endpoint(url: str, allowed: Sequence[str], *, authority: bool = False) -> None:
    """A credential goes only to a cloud's own storage hosts (or sign-in hosts, for ``authority``) or to a
    ``HOST[:PORT]`` the user allowed: the trust boundary's own check (:mod:`reconciler.secrets.trust`).

    The one place a data command decides whether an endpoint may receive a credential.
    """
    from reconciler.secrets.trust import Destination, TrustPolicy

    split = urlsplit(url)
    host = (split.hostname or "").lower()
    port = split.port
    service = "aad" if authority else ("file" if ".file." in f".{host}" else "blob")
    policy = TrustPolicy.from_options(allow_endpoints=[e for e in allowed if e.strip()], environ={})
    if policy.trusts(Destination(service, host, port, split.scheme or "https")):
        return
    shown = f"{host}:{port}" if port else host
    what = "a sign-in authority" if authority else "a storage endpoint"
    raise ReconcilerError(
        f"refusing to send the credential to {shown}: it is not {what} of an Azure cloud; "
        f"if you trust it, pass --allow-endpoint {shown} (or set {ALLOW_ENDPOINTS_ENV})"
    )


def allowed_endpoints(option: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """``--allow-endpoint`` values and the comma- or space-separated ``RECONCILER_ALLOW_ENDPOINTS``."""
    raw = (os.environ if environ is None else environ).get(ALLOW_ENDPOINTS_ENV, "")
    return [*option, *raw.replace(",", " ").split()]


def resolve_target(
    uri: DataUri,
    *,
    files: Sequence[str],
    workspace_option: str | None,
    resolver: Any,
    allowed: Sequence[str],
) -> DataTarget:
    """The storage behind ``uri``; see the module docstring for where it comes from."""
    from reconciler.manifest.load import DEFAULT_MANIFEST, load_manifests

    paths = list(files) if files else ([DEFAULT_MANIFEST] if Path(DEFAULT_MANIFEST).is_file() else [])
    manifests = load_manifests(paths) if paths else None
    if manifests is not None and uri.workspace is None:
        for entry in manifests.datastores:
            if entry.model.name.lower() == uri.datastore.lower():
                item = _declared(entry, manifests.owner, resolver)
                return _target(item, str(entry.locate()), allowed)
    if uri.workspace and workspace_option and uri.workspace.lower() != workspace_option.lower():
        raise ReconcilerError(f"the URI names the workspace {uri.workspace}, but --workspace is {workspace_option}")
    from reconciler.engine import resolve_workspace_uri  # only now: the engine and backends are not needed above

    workspace_uri = resolve_workspace_uri(uri.workspace or workspace_option, manifests)
    item = _registered(uri.datastore, workspace_uri, declared_in=paths)
    return _target(item, workspace_uri, allowed)


def _declared(entry: Any, owner: str, resolver: Any) -> DesiredDatastore:
    """A declared datastore with its own secret references resolved (the others are left alone)."""
    from reconciler.secrets.resolve import SecretRequest

    model = entry.model
    refs = model.secret_refs()
    resolution = resolver.resolve([SecretRequest(path, ref, entry.base_dir) for path, ref in refs.items()])
    if resolution.errors:
        raise ManifestError(
            [
                Problem(message, entry.locate(*path.split(".")), entry.field_name(path))
                for path, message in resolution.errors.items()
            ]
        )
    return DesiredDatastore(
        name=model.name,
        type=model.TYPE,
        settings=model.settings(owner),
        secrets={path: resolution.values[path] for path in refs},
    )


def _registered(name: str, workspace_uri: str, *, declared_in: Sequence[str]) -> DesiredDatastore:
    """A registered datastore and, where listSecrets is permitted, its secret."""
    from reconciler.backends import LocalWorkspaceUri, open_workspace, parse_workspace_uri

    parsed = parse_workspace_uri(workspace_uri)
    if isinstance(parsed, LocalWorkspaceUri) and not Path(parsed.path).exists():  # never create one here
        raise _not_found(name, workspace_uri, declared_in, " (the workspace does not exist)")
    workspace = open_workspace(workspace_uri)
    try:
        found = workspace.snapshot().by_key().get(name.lower())
        if found is None:
            raise _not_found(name, workspace_uri, declared_in)
        secrets: dict[str, SecretValue] = {}
        kind = found.settings.get("credentials", {}).get("type", "none")
        if kind != "none":
            observed = workspace.read_secrets([found.name]).get(found.key, {})
            secrets = {path: value for path, value in observed.items() if isinstance(value, SecretValue)}
            if not secrets:
                log.warning(
                    "the %s secret of %s cannot be read from %s (listSecrets not permitted); using your own "
                    "identity instead",
                    kind,
                    found.name,
                    workspace_uri,
                )
        return DesiredDatastore(name=found.name, type=found.type, settings=found.settings, secrets=secrets)
    finally:
        workspace.close()


def _not_found(name: str, workspace_uri: str, declared_in: Sequence[str], why: str = "") -> DatastoreNotFound:
    if declared_in:
        files = ", ".join(declared_in)
        return DatastoreNotFound(
            f"datastore {name} is neither declared in {files} nor registered in {workspace_uri}{why}"
        )
    return DatastoreNotFound(f"datastore {name} is not registered in {workspace_uri} (no manifest declares it){why}")


def _target(item: DesiredDatastore, source: str, allowed: Sequence[str]) -> DataTarget:
    from reconciler.validation.addressing import storage_account_url

    if item.type not in SUPPORTED_TYPES:
        raise ReconcilerError(
            f"data commands are not supported for {item.type} (datastore {item.name}); "
            f"they work on {', '.join(SUPPORTED_TYPES)}"
        )
    settings = item.settings
    account_url = storage_account_url(settings, "file" if item.type == "azure_file" else "blob")
    check_endpoint(account_url, allowed)
    container = {
        "azure_blob": "container_name",
        "azure_data_lake_gen2": "filesystem",
        "azure_file": "file_share_name",
    }[item.type]
    authority_url = (settings.get("credentials") or {}).get("authority_url")
    if authority_url and item.type == "azure_data_lake_gen2":
        check_endpoint(str(authority_url), allowed, authority=True)
    kind, credential = _credential(item)
    creds = settings.get("credentials") or {}
    audience = creds.get("resource_url") if item.type == "azure_data_lake_gen2" else None
    return DataTarget(
        name=item.name,
        type=item.type,
        account_url=account_url,
        container=str(settings[container]),
        credential=credential,
        credential_kind=kind,
        source=source,
        audience=str(audience).rstrip("/") if audience else None,
    )


def _credential(item: DesiredDatastore) -> tuple[str, Any]:
    kind = (item.settings.get("credentials") or {}).get("type", "none")
    if kind in ("account_key", "sas_token") and f"credentials.{kind}" in item.secrets:
        from reconciler.data.credentials import KeyCredential

        return kind, KeyCredential(kind, str(item.settings["account_name"]), item.secrets[f"credentials.{kind}"])
    if kind in ("service_principal", "certificate") and item.secrets:
        from reconciler.validation.principal import service_principal_credential
        from reconciler.validation.runner import ProbeFailure

        try:
            return kind, service_principal_credential(item, SIGN_IN_TIMEOUT)
        except ProbeFailure as exc:
            raise ReconcilerError(f"{item.name}: {exc}") from None
    from reconciler.azure.auth import default_credential

    return "identity", default_credential()
