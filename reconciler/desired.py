"""From validated manifests to the desired state the planner consumes."""

from __future__ import annotations

from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.manifest.load import DeclaredDatastore, ManifestSet
from reconciler.secrets.resolve import SecretRequest, SecretResolver
from reconciler.state import DesiredDatastore, DesiredState, Removal


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


def build_desired(manifests: ManifestSet, resolver: SecretResolver, workspace_uri: str | None = None) -> DesiredState:
    """Resolve every secret reference (all failures reported together) and build the desired state."""
    resolution = resolver.resolve(secret_requests(manifests, workspace_uri))
    if resolution.errors:
        raise ManifestError(_problems(manifests, resolution.errors))
    datastores = []
    for entry in manifests.datastores:
        model = entry.model
        key = model.name.lower()
        refs = model.secret_refs()
        datastores.append(
            DesiredDatastore(
                name=model.name,
                type=model.TYPE,
                settings=model.settings(manifests.owner),
                secrets={path: resolution.values[(key, path)] for path in refs},
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
    )
