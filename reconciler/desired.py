"""From validated manifests to the desired state the planner consumes."""

from __future__ import annotations

from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.manifest.load import DeclaredDatastore, ManifestSet
from reconciler.secrets.resolve import SecretRequest, SecretResolver
from reconciler.secrets.sensitive import NOT_RESOLVED, is_sensitive
from reconciler.secrets.trust import TrustPolicy, untrusted_message
from reconciler.state import DesiredDatastore, DesiredState, Removal
from reconciler.validation.destinations import untrusted


def secret_requests(manifests: ManifestSet, workspace_uri: str | None = None) -> list[SecretRequest]:
    """One request per secret field; ``${storagekey:...}`` ones carry where to find the account."""
    workspace = _azureml_location(workspace_uri)
    requests = []
    for entry in manifests.datastores:
        for path, ref in entry.model.secret_refs().items():
            location = None
            if ref.kind == "storagekey":
                subscription = getattr(entry.model, "subscription_id", None) or (workspace or ("", ""))[0]
                group = getattr(entry.model, "resource_group", None) or (workspace or ("", ""))[1]
                location = (subscription, group) if subscription and group else None
            requests.append(SecretRequest((entry.model.name.lower(), path), ref, entry.base_dir, location))
    return requests


def _azureml_location(uri: str | None) -> tuple[str, str] | None:
    if not uri or not uri.startswith("azureml://"):
        return None
    from reconciler.registry import AzureMLWorkspaceUri, parse_workspace_uri

    parsed = parse_workspace_uri(uri)
    return (parsed.subscription_id, parsed.resource_group) if isinstance(parsed, AzureMLWorkspaceUri) else None


def _problems(manifests: ManifestSet, errors: dict[Any, str]) -> list[Problem]:
    entries = {entry.model.name.lower(): entry for entry in manifests.datastores}
    problems = []
    for (key, path), message in errors.items():
        entry: DeclaredDatastore = entries[key]
        parts = path.split(".")
        problems.append(Problem(message, entry.locate(*parts), entry.field_name(path)))
    return problems


def _unresolved(settings: dict[str, Any]) -> dict[str, Any]:
    """``plan --no-secrets``: secret fields read ``(not resolved)``."""
    credentials = settings.get("credentials")
    if isinstance(credentials, dict):
        settings["credentials"] = {k: NOT_RESOLVED if is_sensitive(v) else v for k, v in credentials.items()}
    return settings


def destination_problems(manifests: ManifestSet, trust: TrustPolicy) -> list[Problem]:
    """Datastores whose credentials would go to a host the user has not trusted, located at the field."""
    problems = []
    for entry in manifests.datastores:
        if not entry.model.secret_refs():
            continue  # identity-based access: no secret leaves
        for destination in untrusted(entry.model.settings(manifests.owner), trust):
            parts = destination.field.split(".")
            problems.append(
                Problem(untrusted_message(destination), entry.locate(*parts), entry.field_name(destination.field))
            )
    return problems


def build_desired(manifests: ManifestSet, resolver: SecretResolver, workspace_uri: str | None = None) -> DesiredState:
    """Check where secrets would go, then resolve every reference (all failures reported together).

    Nothing is resolved when any destination is untrusted, or at all with ``plan --no-secrets``
    (the desired state then has the references but no values).
    """
    trust = resolver.trust
    if trust.resolve_secrets:
        refused = destination_problems(manifests, trust)
        if refused:
            raise ManifestError(refused)
        resolution = resolver.resolve(secret_requests(manifests, workspace_uri))
        if resolution.errors:
            raise ManifestError(_problems(manifests, resolution.errors))
        values = resolution.values
    else:
        values = {}
    unresolved = not trust.resolve_secrets
    datastores = []
    for entry in manifests.datastores:
        model = entry.model
        key = model.name.lower()
        refs = model.secret_refs()
        datastores.append(
            DesiredDatastore(
                name=model.name,
                type=model.TYPE,
                settings=_unresolved(model.settings(manifests.owner))
                if unresolved
                else model.settings(manifests.owner),
                secrets={path: values[(key, path)] for path in refs if (key, path) in values},
                secret_refs={path: ref.text for path, ref in refs.items()},
                skip_validation=model.skip_validation,
                location=entry.locate(),
            )
        )
    return DesiredState(
        datastores=tuple(datastores),
        owner=manifests.owner,
        default_datastore=manifests.default_datastore,
        manifest_digest=manifests.digest,
        files=manifests.files,
        removed=tuple(Removal(r.name, r.destroy, r.location) for r in manifests.removed),
        default_location=manifests.default_location,
        variables=dict(manifests.variables),
    )
