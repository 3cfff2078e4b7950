"""``reconciler export``: what a workspace holds, written as a manifest (or as az ml datastore files).

Like Terraform's ``-generate-config-out`` and aztfexport: a pure function of a workspace snapshot.
Built-ins and types reconciler does not manage are left out; so is what another owner manages.
Secrets are never read: each secret field becomes a reference placeholder (``${env:NAME}``, or
``${keyvault:VAULT/NAME}`` with ``--secrets-from``) with a comment saying which secret it needs.
Plan on the result, once the secrets are provided, adopts each datastore with no field change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.catalog import BUILTIN_DATASTORES, CREDENTIAL_KINDS, DATASTORE_TYPES, TYPES
from reconciler.errors import ReconcilerError
from reconciler.export.emit import Entry, manifest_text
from reconciler.manifest.cliv2 import (
    CLI_V2_TYPES,
    SCHEMA_URLS,
    cli_v2_credentials,
    cli_v2_fields,
    env_name,
)
from reconciler.state import RegisteredDatastore, WorkspaceSnapshot

_VAULT = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_SECRET_WORDS = {
    "account_key": "storage account key",
    "sas_token": "SAS token",
    "client_secret": "service principal's client secret",
    "certificate": "service principal's certificate (PEM)",
    "user_password": "SQL password",
}
#: At most this many ``--name`` / ``--type`` selectors (an input size bound).
MAX_SELECTORS = 1000


@dataclass
class Exported:
    """One datastore as a manifest entry, with the secret it needs."""

    name: str
    type: str
    data: dict[str, Any]
    secret_comments: dict[str, str] = field(default_factory=dict)


@dataclass
class Export:
    entries: list[Exported]
    notes: list[str]
    owner: str | None
    workspace: str


def secret_reference(datastore: str, secret_field: str, vault: str | None) -> tuple[str, str]:
    """The placeholder for a secret and the comment that says what to provide."""
    what = _SECRET_WORDS.get(secret_field, secret_field)
    if vault is None:
        variable = env_name(datastore, secret_field)
        return "${env:" + variable + "}", f"secret: set {variable} to this datastore's {what}"
    secret = re.sub(r"[^A-Za-z0-9-]+", "-", f"{datastore}-{secret_field}").strip("-")[:127]
    return (
        "${keyvault:" + f"{vault}/{secret}" + "}",
        f"secret: store this datastore's {what} in Key Vault {vault} as {secret}",
    )


def parse_secrets_from(option: str | None) -> str | None:
    """``keyvault:VAULT`` -> VAULT (a Key Vault name: 3-24 letters, digits and hyphens)."""
    if option is None:
        return None
    kind, _, vault = option.partition(":")
    if kind != "keyvault" or not _VAULT.fullmatch(vault):
        raise ReconcilerError(
            "--secrets-from expects keyvault:VAULT (a Key Vault name: 3-24 letters, digits and hyphens)"
        )
    return vault


def export(
    snapshot: WorkspaceSnapshot,
    *,
    names: Sequence[str] = (),
    types: Sequence[str] = (),
    owner: str | None = None,
    vault: str | None = None,
) -> Export:
    """Select and convert; raise when a ``--name`` or ``--type`` selects nothing that exists."""
    if len(names) + len(types) > MAX_SELECTORS:
        raise ReconcilerError(f"at most {MAX_SELECTORS} --name and --type selectors")
    unknown_types = sorted({t for t in types if t not in DATASTORE_TYPES})
    if unknown_types:
        raise ReconcilerError(f"--type {', '.join(unknown_types)}: not a datastore type ({', '.join(DATASTORE_TYPES)})")
    registered = {d.key: d for d in snapshot.datastores}
    missing = sorted({n for n in names if n.lower() not in registered})
    if missing:
        raise ReconcilerError(f"--name {', '.join(missing)}: no datastore of that name is registered")
    wanted = {n.lower() for n in names}
    owners = {d.owner for d in snapshot.datastores if d.owner is not None}
    effective = owner or (next(iter(owners)) if len(owners) == 1 else None)
    notes: list[str] = []
    entries: list[Exported] = []
    for d in sorted(snapshot.datastores, key=lambda d: d.key):
        if (wanted and d.key not in wanted) or (types and d.type not in types):
            continue
        if d.builtin or d.key in BUILTIN_DATASTORES:
            if wanted:
                notes.append(f"{d.name}: a built-in datastore; left out (reconciler never manages built-ins)")
            continue
        if not d.known_type or d.type not in TYPES:
            notes.append(f"{d.name}: type {d.type!r} is not managed by reconciler; left out")
            continue
        if d.owner is not None and d.owner != effective:
            notes.append(f"{d.name}: managed by owner {d.owner!r}; left out (export with --owner {d.owner})")
            continue
        entry = _entry(d, vault)
        if entry is None:
            notes.append(f"{d.name}: credentials of kind {d.settings.get('credentials')!r} are not supported; left out")
            continue
        entries.append(entry)
    return Export(entries, notes, effective, snapshot.uri)


def _entry(d: RegisteredDatastore, vault: str | None) -> Exported | None:
    spec = TYPES[d.type]
    s = d.settings
    data: dict[str, Any] = {"name": d.name, "type": d.type}
    if s.get("description"):
        data["description"] = s["description"]
    if s.get("tags"):
        data["tags"] = dict(s["tags"])
    if s.get("properties"):
        data["properties"] = dict(s["properties"])
    for f in spec.fields:
        value = s.get(f.name)
        if value is None or value == f.default:
            continue
        data[f.name] = dict(value) if isinstance(value, dict) else value
    comments: dict[str, str] = {}
    credentials = s.get("credentials") or {"type": "none"}
    kind_name = str(credentials.get("type", "none"))
    if kind_name != "none":
        kind = CREDENTIAL_KINDS.get(kind_name)
        if kind is None or kind_name not in spec.credentials:
            return None
        out: dict[str, Any] = {}
        for name in kind.field_names:
            if name == kind.secret:
                reference, comment = secret_reference(d.name, name, vault)
                out[name] = reference
                comments[reference] = comment
            elif credentials.get(name) is not None:
                out[name] = credentials[name]
        data["credentials"] = out
    if d.validated is False:
        data["skip_validation"] = True
    if d.protected:
        data["protect"] = True
    return Exported(d.name, d.type, data, comments)


# ---------------------------------------------------------------------------- output


def manifest_document(result: Export) -> str:
    header = [
        f"Exported by `reconciler export` from {result.workspace}.",
        "Provide every secret named in the comments, then `reconciler plan`: it adopts these datastores.",
    ]
    entries = [Entry(e.data, None, e.secret_comments) for e in result.entries]
    return manifest_text(entries, header=header, owner=result.owner, workspace=result.workspace)


def cli_v2_documents(result: Export) -> tuple[dict[str, str], list[str]]:
    """One az ml datastore file per datastore (file name -> text), and notes on what it cannot say."""
    import yaml

    from reconciler.render.escape import message

    files: dict[str, str] = {}
    notes: list[str] = []
    for e in result.entries:
        if e.type not in CLI_V2_TYPES:
            notes.append(f"{e.name}: {e.type} has no az ml datastore file (a classic v1 type); left out")
            continue
        credentials = e.data.get("credentials")
        kind = _kind_of(credentials)
        if kind is not None and kind not in cli_v2_credentials(e.type):
            notes.append(f"{e.name}: azure-ai-ml does not accept {kind} credentials for {e.type}; left out")
            continue
        data: dict[str, Any] = {"$schema": SCHEMA_URLS[e.type], "name": e.name, "type": e.type}
        for key in ("description", "tags"):
            if key in e.data:
                data[key] = e.data[key]
        for key in cli_v2_fields(e.type):
            if key in e.data:
                data[key] = e.data[key]
        if e.type == "one_lake" and "endpoint" not in data:
            data["endpoint"] = TYPES["one_lake"].defaults["endpoint"]  # required by azure-ai-ml's schema
        if credentials:
            data["credentials"] = credentials
        lines = [f"# Exported by `reconciler export` from {message(result.workspace)}."]
        left = {k: v for k, v in e.data.items() if k not in data and k not in ("skip_validation", "protect")}
        if left:
            lines.append("# Not expressible in an az ml datastore file (azure-ai-ml refuses these fields):")
            lines += [f"#   {message(k)}: {message(str(v))}" for k, v in left.items()]
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
        for line in body.rstrip("\n").split("\n"):
            for reference, comment in e.secret_comments.items():
                if line.rstrip().endswith((reference, f"'{reference}'")):
                    line += f"  # {message(comment)}"
                    break
            lines.append(line)
        files[f"{e.name}.yml"] = "\n".join(lines) + "\n"
    return files, notes


def _kind_of(credentials: Any) -> str | None:
    if not isinstance(credentials, dict):
        return None
    from reconciler.manifest.values import credential_kind

    return credential_kind(credentials)
