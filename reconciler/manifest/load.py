"""Read manifest files into validated models, collecting every problem before failing."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import catalog
from reconciler.catalog import BUILTIN_DATASTORES
from reconciler.errors import ManifestError, Problem, SourceLocation
from reconciler.inputfile import read_input
from reconciler.manifest.cliv2 import CliV2Document, as_manifest, env_reference, is_cli_v2, own_field
from reconciler.manifest.records import DatastoreRecord, ManifestRecord
from reconciler.manifest.validate import accept, reference
from reconciler.manifest.values import NAME_PATTERN
from reconciler.manifest.variables import VariableInputs
from reconciler.manifest.yamlsource import YamlDocument, parse_yaml, render_path
from reconciler.secrets.resolve import SecretRequest, check_local
from reconciler.secrets.trust import TrustPolicy

if TYPE_CHECKING:
    from reconciler.manifest.rules import PolicySource

DEFAULT_MANIFEST = "datastores.yaml"


def manifest_files(files: Sequence[str]) -> list[str]:
    """The files given, or ``datastores.yaml`` when none is."""
    return list(files) if files else [DEFAULT_MANIFEST]


DEFAULT_OWNER = "default"
SECRET_FIELD_NAMES = frozenset(kind.secret for kind in catalog.CREDENTIAL_KINDS.values() if kind.secret)
OWNER_EXAMPLE = "owner: platform-team"


@dataclass(frozen=True)
class DeclaredDatastore:
    """A validated datastore entry and where it came from."""

    model: DatastoreRecord
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
        if isinstance(self.doc, CliV2Document):
            return dotted
        return render_path(self.path(*dotted.split(".")))


@dataclass(frozen=True)
class RemovedEntry:
    """A ``removed:`` item: stop managing ``name`` (release it, or with ``destroy`` delete it)."""

    name: str
    destroy: bool
    location: SourceLocation

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ManifestSet:
    """All ``-f`` files, validated and merged."""

    files: tuple[str, ...]
    datastores: tuple[DeclaredDatastore, ...]
    owner: str
    workspace: str | None
    default_datastore: str | None
    digest: str
    #: Where ``default_datastore`` is set, for located plan errors about it.
    default_location: SourceLocation | None = None
    #: Every policy of the run: the manifests' ``policy:`` sections and ``--policy`` files.
    policies: tuple[PolicySource, ...] = ()
    removed: tuple[RemovedEntry, ...] = ()
    #: The variables the manifests used, by name (recorded in a saved plan; never secrets).
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict)


#: Files ``-f DIR`` reads at most (an input size bound).
MAX_DIRECTORY_FILES = 1000


def expand_directories(paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """``-f DIR``: every ``*.yml`` / ``*.yaml`` regular file in it, sorted, not recursive."""
    out: list[str] = []
    problems: list[Problem] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(path)
                if entry.name.endswith((".yml", ".yaml")) and entry.is_file(follow_symlinks=False)
            )
        except OSError as exc:
            problems.append(Problem(f"{path}: cannot list the directory: {exc.strerror}"))
            continue
        if not names:
            problems.append(Problem(f"{path}: directory has no *.yml or *.yaml files (subdirectories are not read)"))
        elif len(names) > MAX_DIRECTORY_FILES:
            problems.append(Problem(f"{path}: more than {MAX_DIRECTORY_FILES} YAML files; split the directory"))
        else:
            out.extend(os.path.join(path, name) for name in names)
    return out, problems


def read_files(paths: Sequence[str]) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """Read each file (a directory gives its YAML files); a missing, unreadable or repeated file is a problem."""
    contents: list[tuple[str, bytes]] = []
    paths, problems = expand_directories(paths)
    given: dict[str, str] = {}
    for path in paths:
        real = os.path.realpath(path)
        if real in given:
            same = "" if given[real] == path else f" (the same file as {given[real]})"
            problems.append(Problem(f"{path}: given more than once{same}; give each manifest once"))
            continue
        given[real] = path
        try:
            data = read_manifest_bytes(path)
        except FileNotFoundError:
            problems.append(Problem(f"{path}: manifest file not found"))
        except IsADirectoryError:
            problems.append(Problem(f"{path}: is a directory, expected a manifest file"))
        except OSError as exc:
            problems.append(Problem(f"{path}: cannot read manifest: {exc.strerror}"))
        else:
            contents.append((path, data))
    return contents, problems


#: A manifest file is at most this large (an input bound; the YAML it expands to is bounded too).
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def read_manifest_bytes(path: str) -> bytes:
    """A manifest's bytes (see :func:`reconciler.inputfile.read_input`), at most 8 MiB."""
    return read_input(path, MAX_MANIFEST_BYTES)


def digest_of(contents: Sequence[tuple[str, bytes]]) -> str:
    """A digest over the files' names (as given) and bytes, independent of the order of ``-f``.

    Paths as given, not absolute: a plan saved in one CI job verifies in another checkout.
    """
    hasher = hashlib.sha256()
    for path, data in sorted(contents):
        hasher.update(os.path.normpath(path).encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + hasher.hexdigest()


def _not_utf8(path: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """Where the first undecodable byte is, as a line and column (columns count characters)."""
    before = data[: exc.start]
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8-sig", errors="replace")) + 1
    return Problem(
        "not UTF-8 text; save the manifest as UTF-8",
        SourceLocation(path, before.count(b"\n") + 1, column),
    )


def _under(problem: Problem, fields: list[str]) -> bool:
    """Whether a problem's field is at or below one of ``fields``."""
    field = problem.field or ""
    return any(field == f or field.startswith((f + ".", f + "[")) for f in fields)


def _parse_one(path: str, data: bytes) -> tuple[YamlDocument, list[Problem]]:
    """Read one file (a CLI v2 file in manifest shape); its ``data`` is a mapping only when it can be validated."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return YamlDocument(path, None), [_not_utf8(path, data, exc)]
    doc, problems = parse_yaml(text, path)
    if problems and doc.data is None:
        return doc, problems
    if doc.data is None:
        return doc, [Problem("empty manifest; expected 'version: 1' and 'datastores:'", SourceLocation(path, 1, 1))]
    if not isinstance(doc.data, dict):
        problem = Problem("a manifest must be a mapping with 'version' and 'datastores'", doc.locate(()))
        doc.data = None
        return doc, [problem]
    if is_cli_v2(doc.data):
        doc = as_manifest(doc)
        problems = [Problem(p.message, p.location, own_field(p.field)) for p in problems]
    return doc, problems


def _validate_one(doc: YamlDocument, problems: list[Problem]) -> tuple[ManifestRecord | None, list[Problem]]:
    manifest = accept(doc.data)
    if manifest is not None:
        return manifest, problems
    from pydantic_core import ValidationError  # only a manifest the plain checks do not accept

    try:
        manifest = reference(doc.data)
    except ValidationError as exc:
        from reconciler.manifest.messages import problems_from_validation  # only a manifest with problems

        # A value already rejected (by the YAML reader: a recursive alias, a bad tag; or an undefined
        # variable) is not reported twice.
        reported = [p.field for p in problems if p.field]
        found = [_suggest_reference(p, doc) for p in problems_from_validation(exc, doc)]
        if isinstance(doc, CliV2Document):
            found = [Problem(p.message, p.location, own_field(p.field)) for p in found]
        return None, problems + [p for p in found if not _under(p, reported)]
    return manifest, problems


_LITERAL = re.compile(r"^datastores\[(\d+)\]\.credentials\.(\w+)$")


def _suggest_reference(problem: Problem, doc: YamlDocument) -> Problem:
    """A literal secret's message names the exact reference to write instead (never the value)."""
    match = _LITERAL.match(problem.field or "")
    if match is None or not problem.message.startswith("literal secrets are not allowed"):
        return problem
    entries = doc.data.get("datastores") if isinstance(doc.data, dict) else None
    index = int(match.group(1))
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        return problem
    reference = env_reference(name, match.group(2))
    return Problem(
        f"literal secrets are not allowed; write {reference} instead and set that variable "
        "(or use ${file:PATH} or ${keyvault:VAULT/SECRET})",
        problem.location,
        problem.field,
    )


def load_manifests(
    paths: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    trust: TrustPolicy | None = None,
    policies: Sequence[PolicySource] = (),
    owner: str | None = None,
    variables: VariableInputs | None = None,
    environment_owner: tuple[str, str] | None = None,
) -> ManifestSet:
    """Parse, validate and cross-check every file; raise one :class:`ManifestError` listing all problems.

    Secret references are checked offline here too (files exist; with ``environ``, variables are
    set), and so is policy (``policies`` from ``--policy`` files, plus each manifest's own), so a
    plan reports them together with every other problem in the manifests.

    ``${var:NAME}`` references are substituted before validation (see
    :mod:`reconciler.manifest.variables`; ``variables`` gives the sources outside the manifests).
    ``environment_owner`` is an environment's owner and where it was set: a manifest without
    ``owner:`` takes it, one with another owner is an error.
    """
    contents, problems = read_files(paths)
    loaded = [_parse_one(path, data) for path, data in contents]
    if environment_owner is not None:
        for doc, doc_problems in loaded:
            doc_problems.extend(_apply_owner(doc, *environment_owner))
    used, variable_problems = _substitute_variables(
        [doc for doc, _ in loaded], variables or VariableInputs(environ=environ)
    )
    problems.extend(variable_problems.pop(None, []))
    docs: list[YamlDocument] = []
    parsed: list[tuple[YamlDocument, ManifestRecord]] = []
    for doc, doc_problems in loaded:
        docs.append(doc)
        found = variable_problems.get(doc.file, [])
        if isinstance(doc, CliV2Document):
            found = [Problem(p.message, p.location, own_field(p.field)) for p in found]
        doc_problems.extend(found)
        if doc.data is None:
            problems.extend(doc_problems)
            continue
        manifest, file_problems = _validate_one(doc, doc_problems)
        problems.extend(file_problems)
        if manifest is not None and not file_problems:
            parsed.append((doc, manifest))
    rejected = _check_names(docs, problems)
    result = _merge(parsed, rejected, problems, digest_of(contents))
    result = dataclasses.replace(result, variables=used)
    result = _owner_for_cli_v2(result, docs, parsed, owner, problems)
    if not result.owner and parsed and not any(isinstance(doc, CliV2Document) for doc in docs):
        problems.append(
            Problem(
                "missing required field 'owner': name who owns the datastores this manifest declares, e.g. "
                f"'{OWNER_EXAMPLE}' (reconciler deletes only what its owner registered; with a shared owner two "
                "manifests would delete each other's datastores)",
                SourceLocation(parsed[0][0].file, 1, 1),
                "owner",
            )
        )
    if trust is None or trust.resolve_secrets:
        problems.extend(_local_secret_problems(result.datastores, environ, trust))
    declared_policies = [*policies, *_manifest_policies(parsed)]
    if declared_policies:
        from reconciler.manifest.rules import evaluate

        result = dataclasses.replace(result, policies=tuple(declared_policies))
        problems.extend(evaluate(declared_policies, result.datastores))
    if problems:
        raise ManifestError(problems)
    return result


def _owner_for_cli_v2(
    result: ManifestSet,
    docs: Sequence[YamlDocument],
    parsed: Sequence[tuple[YamlDocument, ManifestRecord]],
    option: str | None,
    problems: list[Problem],
) -> ManifestSet:
    """CLI v2 files have no owner: it comes from a manifest of the run or from ``--owner``."""
    declared = next((m.owner for _, m in parsed if "owner" in m.model_fields_set), None)
    if option is not None:
        if declared is not None and declared != option:
            problems.append(Problem(f"--owner {option} differs from the manifests' owner {declared}; give one owner"))
            return result
        return dataclasses.replace(result, owner=option)
    if declared is None:
        for doc in docs:
            if isinstance(doc, CliV2Document):
                problems.append(
                    Problem(
                        "an az ml datastore file has no owner: add a manifest with 'owner:' to this run "
                        "(-f datastores.yaml) or pass --owner NAME",
                        doc.locate(("datastores", 0, "name")),
                    )
                )
                break  # once: the fix is the same for every file
    return result


def cli_v2_files(manifests: ManifestSet) -> list[str]:
    """The CLI v2 files among the run's inputs (their workspace must come from elsewhere)."""
    return sorted({d.file for d in manifests.datastores if isinstance(d.doc, CliV2Document)})


def _apply_owner(doc: YamlDocument, owner: str, where: str) -> list[Problem]:
    """An environment's owner: a manifest without ``owner:`` takes it; a different one is an error."""
    if not isinstance(doc.data, dict):
        return []
    given = doc.data.get("owner")
    if "owner" not in doc.data:
        doc.data["owner"] = owner
    elif given != owner:
        return [
            Problem(
                f"differs from the environment's owner set at {where}; a manifest of an environment has its "
                "owner, or none (then it takes the environment's)",
                doc.locate(("owner",)),
                "owner",
            )
        ]
    return []


def _substitute_variables(
    docs: Sequence[YamlDocument], inputs: VariableInputs
) -> tuple[dict[str, str], dict[str | None, list[Problem]]]:
    """Replace ``${var:NAME}`` in every document's data; problems by file (``None``: not in a manifest)."""
    from reconciler.manifest import variables as v

    problems: dict[str | None, list[Problem]] = {}
    defined: list[tuple[str, dict[str, v.Variable]]] = []
    for doc in docs:
        if isinstance(doc.data, dict) and "vars" in doc.data:
            found, found_problems = v.check_mapping(doc.data["vars"], doc.locate, doc.file, "vars:", ("vars",))
            problems.setdefault(doc.file, []).extend(found_problems)
            defined.append((doc.file, found))
            # Invalid entries are reported here once; the model then sees only the valid ones.
            doc.data["vars"] = {name: var.value for name, var in found.items()}
    values, collect_problems = v.collect(inputs, defined)
    problems.setdefault(None, []).extend(collect_problems)
    result = v.Substitution()
    for doc in docs:
        if not isinstance(doc.data, dict):
            continue
        before = len(result.problems)
        doc.data = {
            key: value
            if key in ("vars", "version")
            else v.substitute(value, values, doc.locate, _secret_path, result, (key,))
            for key, value in doc.data.items()
        }
        problems.setdefault(doc.file, []).extend(result.problems[before:])
    return result.used, problems


def _secret_path(path: tuple[str | int, ...]) -> bool:
    """``datastores[i].credentials.<secret field>``: the places a variable may never go."""
    return len(path) == 4 and path[0] == "datastores" and path[2] == "credentials" and path[3] in SECRET_FIELD_NAMES


def _manifest_policies(parsed: Sequence[tuple[YamlDocument, ManifestRecord]]) -> list[PolicySource]:
    declared = [(doc, m.policy) for doc, m in parsed if m.policy is not None]
    if not declared:  # the rules module only when there is a policy to evaluate
        return []
    from reconciler.manifest.rules import PolicySource

    return [PolicySource(policy, doc) for doc, policy in declared]


def _declared_names(doc: YamlDocument) -> list[tuple[int, str]]:
    """The well-formed names in a file's ``datastores`` list, even when other fields are invalid."""
    entries = doc.data.get("datastores") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        (index, entry["name"])
        for index, entry in enumerate(entries)
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and re.fullmatch(NAME_PATTERN, entry["name"])
    ]


def _check_names(docs: list[YamlDocument], problems: list[Problem]) -> set[tuple[str, int]]:
    """Built-in and duplicate names across all files; returns the (file, index) entries to leave out.

    Checked on the raw data, so that a duplicate is reported together with an invalid field elsewhere.
    """
    rejected: set[tuple[str, int]] = set()
    seen: dict[str, SourceLocation] = {}
    for doc in docs:
        for index, name in _declared_names(doc):
            path = ("datastores", index, "name")
            where, field = doc.locate(path), render_path(path)
            key = name.lower()
            if key in BUILTIN_DATASTORES:
                message = (
                    f"{key!r} is a built-in datastore of every workspace; reconciler never changes built-ins "
                    "(choose another name)"
                )
            elif key in seen:
                message = f"duplicate datastore name (names are case-insensitive; first declared at {seen[key]})"
            else:
                seen[key] = where
                continue
            problems.append(Problem(message, where, field))
            rejected.add((doc.file, index))
    return rejected


def _merge(
    parsed: list[tuple[YamlDocument, ManifestRecord]],
    rejected: set[tuple[str, int]],
    problems: list[Problem],
    digest: str,
) -> ManifestSet:
    declared = [
        DeclaredDatastore(model, index, doc)
        for doc, manifest in parsed
        for index, model in enumerate(manifest.datastores)
        if (doc.file, index) not in rejected
    ]
    owner = _agree(parsed, "owner", problems) or ""
    workspace = _agree(parsed, "workspace", problems)
    default = _agree(parsed, "default_datastore", problems)
    removed = _removed_entries(parsed, {d.model.name.lower() for d in declared}, problems)
    default_location = next(
        (doc.locate(("default_datastore",)) for doc, m in parsed if m.default_datastore is not None), None
    )
    return ManifestSet(
        files=tuple(doc.file for doc, _ in parsed),
        datastores=tuple(declared),
        owner=owner,
        workspace=workspace,
        default_datastore=default,
        digest=digest,
        removed=removed,
        default_location=default_location,
    )


def _removed_entries(
    parsed: list[tuple[YamlDocument, ManifestRecord]], declared: set[str], problems: list[Problem]
) -> tuple[RemovedEntry, ...]:
    """``removed:`` items of every file: never a declared name, a built-in, or the same name twice."""
    entries: list[RemovedEntry] = []
    seen: dict[str, SourceLocation] = {}
    for doc, manifest in parsed:
        for index, item in enumerate(manifest.removed):
            path = ("removed", index, "name")
            where, field = doc.locate(path), render_path(path)
            key = item.name.lower()
            if key in BUILTIN_DATASTORES:
                message = f"{key!r} is a built-in datastore; reconciler never manages, releases or deletes built-ins"
            elif key in declared:
                message = "is also declared under datastores; a datastore is either declared or removed, not both"
            elif key in seen:
                message = f"listed twice in removed (names are case-insensitive; first at {seen[key]})"
            else:
                seen[key] = where
                entries.append(RemovedEntry(item.name, item.destroy, where))
                continue
            problems.append(Problem(message, where, field))
    return tuple(entries)


def _local_secret_problems(
    declared: Sequence[DeclaredDatastore], environ: Mapping[str, str] | None, trust: TrustPolicy | None = None
) -> list[Problem]:
    """Missing ``${file:...}`` targets (and unset ``${env:...}``), located at their fields."""
    fields = {
        (i, path): (entry, ref) for i, entry in enumerate(declared) for path, ref in entry.model.secret_refs().items()
    }
    requests = [SecretRequest(key, ref, entry.base_dir) for key, (entry, ref) in fields.items()]
    errors = check_local(requests, environ, trust or TrustPolicy.from_options())
    problems = []
    for (i, path), (entry, _) in fields.items():
        if (i, path) in errors:
            problems.append(Problem(errors[(i, path)], entry.locate(*path.split(".")), entry.field_name(path)))
    return problems


def _agree(parsed: list[tuple[YamlDocument, ManifestRecord]], field: str, problems: list[Problem]) -> str | None:
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
                    f"differs from {first_doc.locate((field,))}; all manifests of one run must agree on {field} "
                    "(set it in one file, or to the same value everywhere)",
                    doc.locate((field,)),
                    field,
                )
            )
    return first
