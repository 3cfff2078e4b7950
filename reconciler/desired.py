"""From validated manifests to the desired state the planner consumes."""

from __future__ import annotations

from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.manifest.load import DeclaredDatastore, ManifestSet
from reconciler.secrets.resolve import SecretRequest, SecretResolver
from reconciler.state import DesiredDatastore, DesiredState, Removal


def secret_requests(manifests: ManifestSet) -> list[SecretRequest]:
    return [
        SecretRequest((entry.model.name.lower(), path), ref, entry.base_dir)
        for entry in manifests.datastores
        for path, ref in entry.model.secret_refs().items()
    ]


def _problems(manifests: ManifestSet, errors: dict[Any, str]) -> list[Problem]:
    entries = {entry.model.name.lower(): entry for entry in manifests.datastores}
    problems = []
    for (key, path), message in errors.items():
        entry: DeclaredDatastore = entries[key]
        parts = path.split(".")
        problems.append(Problem(message, entry.locate(*parts), entry.field_name(path)))
    return problems


def build_desired(manifests: ManifestSet, resolver: SecretResolver) -> DesiredState:
    """Resolve every secret reference (all failures reported together) and build the desired state."""
    resolution = resolver.resolve(secret_requests(manifests))
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
