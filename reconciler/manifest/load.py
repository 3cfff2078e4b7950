"""Read manifest files into validated models, collecting every problem before failing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import ManifestError, Problem, SourceLocation
from reconciler.manifest.messages import problems_from_validation
from reconciler.manifest.models import BUILTIN_DATASTORES, Datastore, Manifest
from reconciler.manifest.yamlsource import YamlDocument, parse_yaml, render_path

DEFAULT_MANIFEST = "datastores.yaml"
DEFAULT_OWNER = "default"


@dataclass(frozen=True)
class DeclaredDatastore:
    """A validated datastore entry and where it came from."""

    model: Datastore
    index: int
    doc: YamlDocument

    @property
    def file(self) -> str:
        return self.doc.file

    @property
    def base_dir(self) -> Path:
        return Path(self.doc.file).parent

    def path(self, *parts: str | int) -> tuple[str | int, ...]:
        return ("datastores", self.index, *parts)

    def locate(self, *parts: str | int) -> SourceLocation:
        return self.doc.locate(self.path(*parts))

    def field_name(self, dotted: str) -> str:
        return render_path(self.path(*dotted.split(".")))


@dataclass(frozen=True)
class ManifestSet:
    """All ``-f`` files, validated and merged."""

    files: tuple[str, ...]
    datastores: tuple[DeclaredDatastore, ...]
    owner: str
    workspace: str | None
    workspace_file: str | None
    default_datastore: str | None
    digest: str


def read_files(paths: Sequence[str]) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """Read each file; a missing or unreadable file is a problem, not an exception."""
    contents: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            contents.append((path, Path(path).read_bytes()))
        except FileNotFoundError:
            problems.append(Problem(f"{path}: manifest file not found"))
        except IsADirectoryError:
            problems.append(Problem(f"{path}: is a directory, expected a manifest file"))
        except OSError as exc:
            problems.append(Problem(f"{path}: cannot read manifest: {exc.strerror}"))
    return contents, problems


def digest_of(contents: Sequence[tuple[str, bytes]]) -> str:
    """A digest over the files' names (as given) and bytes, independent of the order of ``-f``.

    Paths as given, not absolute: a plan saved in one CI job verifies in another checkout.
    """
    hasher = hashlib.sha256()
    for path, data in sorted(contents):
        hasher.update(os.path.normpath(path).encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + hasher.hexdigest()


def _parse_one(path: str, data: bytes) -> tuple[YamlDocument, Manifest | None, list[Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return YamlDocument(path, None), None, [Problem(f"{path}: not UTF-8 text (byte {exc.start})")]
    doc, problems = parse_yaml(text, path)
    if problems and doc.data is None:
        return doc, None, problems
    if doc.data is None:
        return (
            doc,
            None,
            [Problem("empty manifest; expected 'version: 1' and 'datastores:'", SourceLocation(path, 1, 1))],
        )
    if not isinstance(doc.data, dict):
        return (
            doc,
            None,
            [Problem("a manifest must be a mapping with 'version' and 'datastores'", doc.locate(()))],
        )
    try:
        manifest = Manifest.model_validate(doc.data)
    except ValidationError as exc:
        return doc, None, problems + problems_from_validation(exc, doc)
    return doc, manifest, problems


def load_manifests(paths: Sequence[str]) -> ManifestSet:
    """Parse, validate and cross-check every file; raise one :class:`ManifestError` listing all problems."""
    contents, problems = read_files(paths)
    parsed: list[tuple[YamlDocument, Manifest]] = []
    for path, data in contents:
        doc, manifest, file_problems = _parse_one(path, data)
        problems.extend(file_problems)
        if manifest is not None and not file_problems:
            parsed.append((doc, manifest))
    result = _merge(parsed, problems, digest_of(contents))
    if problems:
        raise ManifestError(problems)
    return result


def _merge(parsed: list[tuple[YamlDocument, Manifest]], problems: list[Problem], digest: str) -> ManifestSet:
    declared: list[DeclaredDatastore] = []
    seen: dict[str, DeclaredDatastore] = {}
    for doc, manifest in parsed:
        for index, model in enumerate(manifest.datastores):
            entry = DeclaredDatastore(model, index, doc)
            key = model.name.lower()
            if key in BUILTIN_DATASTORES:
                problems.append(
                    Problem(
                        f"{model.name!r} is a built-in datastore of every workspace; reconciler never "
                        "changes built-ins (choose another name)",
                        entry.locate("name"),
                        entry.field_name("name"),
                    )
                )
                continue
            if key in seen:
                first = seen[key]
                problems.append(
                    Problem(
                        f"duplicate datastore name {model.name!r} (names are case-insensitive; first "
                        f"declared at {first.locate('name')})",
                        entry.locate("name"),
                        entry.field_name("name"),
                    )
                )
                continue
            seen[key] = entry
            declared.append(entry)

    owner = _agree(parsed, "owner", problems) or DEFAULT_OWNER
    workspace = _agree(parsed, "workspace", problems)
    default = _agree(parsed, "default_datastore", problems)
    workspace_file = next((doc.file for doc, m in parsed if m.workspace), None)
    return ManifestSet(
        files=tuple(doc.file for doc, _ in parsed),
        datastores=tuple(declared),
        owner=owner,
        workspace=workspace,
        workspace_file=workspace_file,
        default_datastore=default,
        digest=digest,
    )


def _agree(parsed: list[tuple[YamlDocument, Manifest]], field: str, problems: list[Problem]) -> str | None:
    """A top-level setting given in several files must have one value (case-insensitive for names)."""
    values: list[tuple[str, YamlDocument]] = [
        (getattr(m, field), doc) for doc, m in parsed if field in m.model_fields_set and getattr(m, field) is not None
    ]
    if not values:
        return None
    first, first_doc = values[0]
    for value, doc in values[1:]:
        same = value.lower() == first.lower() if field == "default_datastore" else value == first
        if not same:
            problems.append(
                Problem(
                    f"conflicts with {first!r} in {first_doc.file}: all manifests of one run must agree on {field}",
                    doc.locate((field,)),
                    field,
                )
            )
    return first
