"""``reconciler convert``: az ml datastore files (CLI v2) to one manifest, literal secrets as ``${env:...}``.

Each literal secret becomes a reference to an environment variable named after the datastore and
the field (``blob_example`` + ``account_key`` -> ``BLOB_EXAMPLE_ACCOUNT_KEY``); the values are
never written or printed. The result is validated as plan would read it, so what convert writes
plans as it is once the variables are set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from reconciler.catalog import CREDENTIAL_KINDS
from reconciler.errors import ManifestError, Problem, SourceLocation
from reconciler.export.emit import Entry, manifest_text
from reconciler.manifest.cliv2 import IGNORED_KEYS, as_manifest, env_name, is_cli_v2, own_field
from reconciler.manifest.yamlsource import parse_yaml
from reconciler.secrets.refs import RefSyntaxError, parse_ref

#: Credential fields that hold a secret, from the catalog.
SECRET_FIELDS = frozenset(k.secret for k in CREDENTIAL_KINDS.values() if k.secret)


@dataclass(frozen=True)
class SecretToSet:
    """An environment variable the converted manifest needs (the value was literal in ``file``)."""

    variable: str
    datastore: str
    field: str
    file: str


@dataclass(frozen=True)
class Conversion:
    text: str
    datastores: int
    secrets: tuple[SecretToSet, ...]


def convert(paths: Sequence[str], *, owner: str | None = None, workspace: str | None = None) -> Conversion:
    """Read CLI v2 files (directories give their ``*.yml``/``*.yaml``); raise one ManifestError for all problems."""
    from reconciler.manifest.load import read_files
    from reconciler.manifest.messages import problems_from_validation
    from reconciler.manifest.models import Manifest

    contents, problems = read_files(paths)
    entries: list[Entry] = []
    secrets: list[SecretToSet] = []
    used: set[str] = set()
    names: dict[str, SourceLocation] = {}
    for path, raw in contents:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.append(Problem("not UTF-8 text", SourceLocation(path, 1, 1)))
            continue
        doc, found = parse_yaml(text, path)
        problems.extend(found)
        if doc.data is None:
            if not found:
                problems.append(Problem("empty file; expected an az ml datastore file", SourceLocation(path, 1, 1)))
            continue
        if not is_cli_v2(doc.data):
            problems.append(
                Problem(
                    "not an az ml datastore file (name, type and fields at the top level); "
                    "a manifest needs no conversion: give it to plan and apply as it is",
                    SourceLocation(path, 1, 1),
                )
            )
            continue
        wrapped = as_manifest(doc)
        entry = wrapped.data["datastores"][0]
        entry.pop("$schema", None)
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        credentials = entry.get("credentials")
        comments: dict[str, str] = {}
        if isinstance(credentials, dict) and name:
            if "authority_uri" in credentials and "authority_url" not in credentials:
                entry["credentials"] = credentials = {
                    ("authority_url" if k == "authority_uri" else k): v for k, v in credentials.items()
                }
            for key, value in list(credentials.items()):
                if key not in SECRET_FIELDS or not isinstance(value, str) or _is_reference(value):
                    continue
                variable = _unique(env_name(name, key), used)
                reference = "${env:" + variable + "}"
                credentials[key] = reference
                comments[reference] = f"secret: set {variable} (it was written literally in the file)"
                secrets.append(SecretToSet(variable, name, f"credentials.{key}", path))
        if name:
            key = name.lower()
            where = doc.locate(("name",))
            if key in names:
                problems.append(Problem(f"duplicate datastore name (first in {names[key]})", where, "name"))
            names.setdefault(key, where)
        try:
            Manifest.model_validate(wrapped.data)
        except ValidationError as exc:
            problems.extend(
                Problem(p.message, p.location, own_field(p.field)) for p in problems_from_validation(exc, wrapped)
            )
        data = {k: v for k, v in entry.items() if k not in IGNORED_KEYS}
        entries.append(Entry(data, f"from {path}", comments))
    if problems:
        raise ManifestError(problems)
    header = [
        "Converted by `reconciler convert` from az ml datastore files.",
        "Literal secrets became ${env:...} references: set those variables before plan and apply.",
    ]
    return Conversion(
        manifest_text(entries, header=header, owner=owner, workspace=workspace), len(entries), tuple(secrets)
    )


def _is_reference(value: str) -> bool:
    try:
        parse_ref(value)
    except RefSyntaxError:
        return False
    return True


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate = f"{name}_{n}"
        n += 1
    used.add(candidate)
    return candidate
