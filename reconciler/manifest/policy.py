"""The ``policy:`` section of a manifest (or a ``--policy FILE``): rules every datastore must follow.

Only the shape lives here, so the JSON Schema covers it; :mod:`reconciler.manifest.rules` evaluates it.
Patterns are regular expressions matched against the whole name; each is at most
:data:`MAX_PATTERN_LENGTH` characters and a policy holds at most :data:`MAX_PATTERNS` of them, so
a hostile policy cannot make matching expensive (names themselves are at most 255 characters).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from reconciler._startup import empty_dict, empty_list

MAX_PATTERN_LENGTH = 200
MAX_PATTERNS = 50
#: Nested quantifiers such as ``(a+)+`` backtrack exponentially; refused outright.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")

CredentialKind = Literal["account_key", "sas_token", "service_principal", "certificate", "sql_user"]


def _compilable(pattern: str) -> str:
    if _NESTED_QUANTIFIER.search(pattern):
        raise ValueError("nested quantifiers such as (a+)+ are not allowed in policy patterns")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
    return pattern


Pattern = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PATTERN_LENGTH),
    AfterValidator(_compilable),
]


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, regex_engine="python-re")


class RequireProtect(_PolicyModel):
    """Datastores whose name matches one of ``names`` or that carry all of ``tags`` must set ``protect: true``."""

    names: list[Pattern] = Field(default_factory=empty_list, max_length=MAX_PATTERNS)
    tags: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], str] = Field(
        default_factory=empty_dict, max_length=MAX_PATTERNS
    )


class Policy(_PolicyModel):
    """Organisation rules, checked offline by ``validate`` and by every ``plan``."""

    forbidden_credentials: list[CredentialKind] = Field(
        default_factory=empty_list,
        description="Credential kinds no datastore may use (for example account_key).",
    )
    require_identity_based: StrictBool = Field(
        default=False,
        description="Storage datastores (blob, file, ADLS Gen1/Gen2, OneLake) must not carry credentials.",
    )
    require_https: StrictBool = Field(default=False, description="protocol must be https (the default).")
    allowed_account_names: list[Pattern] = Field(
        default_factory=empty_list,
        max_length=MAX_PATTERNS,
        description="Regular expressions (whole-name match); a storage account name must match one.",
    )
    require_protect: RequireProtect | None = Field(
        default=None, description="Datastores that must set protect: true, by name pattern or tags."
    )
    forbid_skip_validation: StrictBool = Field(default=False, description="No datastore may set skip_validation.")


class PolicyFile(_PolicyModel):
    """A ``--policy FILE``: the same ``policy:`` section a manifest may hold, alone."""

    policy: Policy
