"""Evaluate organisation policy against the declared datastores: pure, offline, located.

A policy comes from a manifest's ``policy:`` section or from ``--policy FILE``; every policy
applies to every datastore of the run. Violations are :class:`~reconciler.errors.Problem` objects
located at the offending field, reported with the manifest's other problems (``validate``, and
``plan`` before it touches the workspace), so ``validate --format github`` turns them into
pull-request annotations.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.catalog import TYPES
from reconciler.errors import ManifestError, Problem, SourceLocation
from reconciler.manifest.policy import Policy
from reconciler.manifest.records import CredentialsRecord

if TYPE_CHECKING:
    from reconciler.manifest.load import DeclaredDatastore
    from reconciler.manifest.yamlsource import YamlDocument

#: Types whose storage can be reached with the workspace's identity (no credentials).
IDENTITY_CAPABLE_TYPES = frozenset(
    t for t, spec in TYPES.items() if "service_data_access_auth_identity" in spec.field_names
)
#: A policy file is small; anything bigger is refused before parsing.
MAX_POLICY_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class PolicySource:
    """A policy and where it was declared (for "violates the rule declared at FILE:LINE:COL")."""

    policy: Policy
    doc: YamlDocument | None = None

    def locate(self, rule: str) -> SourceLocation | None:
        return self.doc.locate(("policy", rule)) if self.doc is not None else None


def _where(source: PolicySource, rule: str) -> str:
    location = source.locate(rule)
    return f" (policy rule {rule}" + (f" at {location})" if location else ")")


def _matches(patterns: Iterable[str], value: str) -> bool:
    return any(re.fullmatch(p, value) for p in patterns)


def evaluate(sources: Sequence[PolicySource], declared: Sequence[DeclaredDatastore]) -> list[Problem]:
    """Every violation of every policy by every declared datastore, located at the offending field."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()

    def report(entry: DeclaredDatastore, parts: tuple[str, ...], message: str) -> None:
        located = entry.locate(*parts)
        field = entry.field_name(".".join(parts)) if parts else None
        key = (str(located), message)
        if key not in seen:
            seen.add(key)
            problems.append(Problem(message, located, field))

    for source in sources:
        rules = source.policy
        for entry in declared:
            model = entry.model
            name: str = model.name
            creds: CredentialsRecord | None = getattr(model, "credentials", None)
            if creds is not None and creds.KIND in rules.forbidden_credentials:
                report(
                    entry,
                    ("credentials", creds.SPEC.secret or creds.KIND),
                    f"{creds.KIND} credentials are forbidden by policy" + _where(source, "forbidden_credentials"),
                )
            if rules.require_identity_based and model.TYPE in IDENTITY_CAPABLE_TYPES and creds is not None:
                report(
                    entry,
                    ("credentials",),
                    "policy requires identity-based access: remove credentials and grant the workspace's "
                    "identity a data role on the storage" + _where(source, "require_identity_based"),
                )
            if rules.require_https and getattr(model, "protocol", None) == "http":
                report(entry, ("protocol",), "policy requires https" + _where(source, "require_https"))
            if rules.allowed_account_names:
                for attr in ("account_name", "store_name"):
                    account = getattr(model, attr, None)
                    if isinstance(account, str) and not _matches(rules.allowed_account_names, account):
                        report(
                            entry,
                            (attr,),
                            f"storage account name {account!r} matches none of the allowed patterns"
                            + _where(source, "allowed_account_names"),
                        )
            protect_rule = rules.require_protect
            if protect_rule is not None and not model.protect:
                by_name = _matches(protect_rule.names, name)
                by_tags = bool(protect_rule.tags) and all(model.tags.get(k) == v for k, v in protect_rule.tags.items())
                if by_name or by_tags:
                    why = "its name" if by_name else "its tags"
                    at = ("protect",) if "protect" in model.model_fields_set else ("name",)
                    report(
                        entry,
                        at,
                        f"policy requires protect: true for this datastore ({why} match)"
                        + _where(source, "require_protect"),
                    )
            if rules.forbid_skip_validation and model.skip_validation:
                report(
                    entry,
                    ("skip_validation",),
                    "skip_validation is forbidden by policy" + _where(source, "forbid_skip_validation"),
                )
    return problems


def load_policy_file(path: str) -> PolicySource:
    """Read ``--policy FILE`` (YAML with a top-level ``policy:`` mapping); problems raise located."""
    from pydantic import ValidationError

    from reconciler.inputfile import read_input
    from reconciler.manifest.messages import problems_from_validation
    from reconciler.manifest.policy import PolicyFile
    from reconciler.manifest.yamlsource import parse_yaml

    try:
        text = read_input(str(path), MAX_POLICY_FILE_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        raise ManifestError([Problem(f"{path}: policy file not found")]) from None
    except UnicodeDecodeError:
        raise ManifestError([Problem(f"{path}: policy file is not UTF-8 text")]) from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            too_large = f"{path}: policy file is larger than {MAX_POLICY_FILE_BYTES // 1024} KiB"
            raise ManifestError([Problem(too_large)]) from None
        raise ManifestError([Problem(f"{path}: cannot read policy file: {exc.strerror}")]) from None
    doc, problems = parse_yaml(text, path)
    if problems:
        raise ManifestError(problems)
    if not isinstance(doc.data, dict) or "policy" not in doc.data:
        raise ManifestError([Problem("a policy file must be a mapping with a 'policy:' key", doc.locate(()))])
    try:
        parsed = PolicyFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ManifestError(problems_from_validation(exc, doc)) from None
    return PolicySource(parsed.policy, doc)
