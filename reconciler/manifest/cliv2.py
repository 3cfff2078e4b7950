"""Azure ML CLI v2 datastore files (``az ml datastore create --file``) read as manifest entries.

A CLI v2 file holds one datastore at the top level (``$schema``, ``name``, ``type`` and the
type's fields). Its field names are the manifest's own, so reading one is a change of shape,
not of vocabulary: the file becomes a one-entry manifest whose positions are the file's, and
the manifest models (the one declaration of each type) validate and normalise it. This module
reads the field lists from those models rather than restating them; :func:`field_table` is the
README's mapping table, generated the same way.

What azure-ai-ml accepts and the models normalise (see ``reconciler/manifest/models.py``):
``protocol`` ``wasbs``/``wasb`` (blob) and ``abfss``/``abfs`` (ADLS Gen2) besides ``https``/``http``,
any case; an ``endpoint`` written as a URL (``https://onelake.dfs.fabric.microsoft.com``) is the
host ARM stores; ``artifact.type`` ``lake_house`` or ``LakeHouse``; ``credentials.authority_uri``
(azure-ai-ml's older spelling) for ``authority_url``; the read-only ``id`` is ignored, as
azure-ai-ml ignores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reconciler.manifest.yamlsource import Path, YamlDocument

#: Keys azure-ai-ml reads but ignores on load (read-only): dropped before validation.
IGNORED_KEYS = frozenset({"id"})
#: Keys that only a manifest has: a mapping with any of them is a manifest, not a CLI v2 file.
_MANIFEST_KEYS = frozenset(
    {"version", "datastores", "removed", "owner", "workspace", "default_datastore", "policy", "vars"}
)


@dataclass
class CliV2Document(YamlDocument):
    """A CLI v2 file seen as a one-entry manifest; positions are still the file's own."""

    @property
    def entry(self) -> dict[str, Any]:
        datastores = self.data.get("datastores") if isinstance(self.data, dict) else None
        return datastores[0] if isinstance(datastores, list) and datastores else {}


def is_cli_v2(data: Any) -> bool:
    """One datastore at the top level (``name`` or ``type``, no manifest keys)."""
    return isinstance(data, dict) and not (_MANIFEST_KEYS & data.keys()) and bool({"name", "type"} & data.keys())


def as_manifest(doc: YamlDocument) -> CliV2Document:
    """The file as ``{version: 1, datastores: [entry]}``, every position moved under ``datastores[0]``."""
    entry = {k: v for k, v in doc.data.items() if k not in IGNORED_KEYS}
    prefix: Path = ("datastores", 0)
    return CliV2Document(
        file=doc.file,
        data={"version": 1, "datastores": [entry]},
        values={(*prefix, *path): where for path, where in doc.values.items()},
        keys={(*prefix, *path): where for path, where in doc.keys.items()},
    )


def own_field(field: str | None) -> str | None:
    """A problem's field as the CLI v2 file spells it (``credentials.account_key``, not ``datastores[0]...``)."""
    if field is None:
        return None
    if field == "datastores[0]":
        return None
    return field.removeprefix("datastores[0].")


def env_name(datastore: str, field: str) -> str:
    """The environment variable a literal secret should move to: ``blob_example`` + ``account_key``."""
    raw = f"{datastore}_{field.rsplit('.', 1)[-1]}"
    name = re.sub(r"[^A-Za-z0-9]+", "_", raw).strip("_").upper()
    if not name or name[0].isdigit():
        name = f"SECRET_{name}"
    return name[:128]


def env_reference(datastore: str, field: str) -> str:
    return "${env:" + env_name(datastore, field) + "}"


#: The types azure-ai-ml's ``load_datastore`` reads (its datastore schemas); the classic v1 types have none.
CLI_V2_TYPES = ("azure_blob", "azure_file", "azure_data_lake_gen1", "azure_data_lake_gen2", "one_lake")
#: Manifest fields azure-ai-ml's datastore schemas do not have (its loader refuses them): reconciler's own.
MANIFEST_ONLY = frozenset(
    {
        "properties",
        "skip_validation",
        "protect",
        "service_data_access_auth_identity",
        "resource_group",
        "subscription_id",
    }
)
#: Where azure-ai-ml accepts fewer credential kinds than ARM (its OneLake schema has no certificate).
_CLI_V2_CREDENTIALS = {"one_lake": ("service_principal",)}
#: The ``$schema`` azure-ai-ml's published files name, per type.
SCHEMA_URLS = {
    "azure_blob": "https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json",
    "azure_file": "https://azuremlschemas.azureedge.net/latest/azureFile.schema.json",
    "azure_data_lake_gen1": "https://azuremlschemas.azureedge.net/latest/azureDataLakeGen1.schema.json",
    "azure_data_lake_gen2": "https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json",
    "one_lake": "http://azureml/sdk-2-0/OneLakeDatastore.json",
}
#: CLI v2 spellings that differ from the manifest's (azure-ai-ml still reads them).
RENAMED = {"credentials.authority_uri": "credentials.authority_url", "id": "(ignored: read-only, as azure-ai-ml does)"}


def cli_v2_fields(type_name: str) -> tuple[str, ...]:
    """The type's own fields a CLI v2 file may carry (the catalog's, less reconciler's additions)."""
    from reconciler.catalog import TYPES

    return tuple(f for f in TYPES[type_name].field_names if f not in MANIFEST_ONLY)


def cli_v2_credentials(type_name: str) -> tuple[str, ...]:
    """Credential kinds azure-ai-ml accepts for the type."""
    from reconciler.catalog import TYPES

    return _CLI_V2_CREDENTIALS.get(type_name, TYPES[type_name].credentials)


def field_table() -> list[tuple[str, str, str]]:
    """``(CLI v2 field, manifest field, types)`` for every field of the CLI v2 types, from the catalog."""
    from reconciler.catalog import CREDENTIAL_KINDS

    rows: dict[str, list[str]] = {"$schema": [], "name": [], "type": [], "description": [], "tags": []}
    for type_name in CLI_V2_TYPES:
        for key in ("$schema", "name", "type", "description", "tags"):
            rows[key].append(type_name)
        for name in cli_v2_fields(type_name):
            rows.setdefault(name, []).append(type_name)
        for kind in cli_v2_credentials(type_name):
            for name in CREDENTIAL_KINDS[kind].field_names:
                types = rows.setdefault(f"credentials.{name}", [])
                if type_name not in types:
                    types.append(type_name)
    rows["credentials.authority_uri"] = list(rows["credentials.authority_url"])
    rows["id"] = list(CLI_V2_TYPES)
    return [(field, RENAMED.get(field, field), ", ".join(types)) for field, types in rows.items()]
