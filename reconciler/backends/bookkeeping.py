"""reconciler's bookkeeping on a registration (owner, protect, validated, secret fingerprint) as tags.

A service without fields of its own for these (Azure ML datastores have only ``tags``) stores
them as tags under the reserved ``reconciler:`` prefix, which manifests may not use. This codec
is the one definition of that form: keys, spellings and how odd values read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.catalog import RESERVED_TAG_PREFIX

OWNER_TAG = f"{RESERVED_TAG_PREFIX}owner"
PROTECT_TAG = f"{RESERVED_TAG_PREFIX}protect"
VALIDATED_TAG = f"{RESERVED_TAG_PREFIX}validated"
FINGERPRINT_TAG = f"{RESERVED_TAG_PREFIX}secret-fingerprint"


@dataclass(frozen=True)
class Bookkeeping:
    """What reconciler records about a registration it wrote."""

    owner: str | None = None
    protect: bool = False
    #: Whether reconciler's last write used server-side validation (None: not written by reconciler).
    validated: bool | None = None
    #: The salted fingerprint of the one secret written (see :mod:`reconciler.secrets.fingerprint`).
    fingerprint: str | None = None


def encode(bookkeeping: Bookkeeping) -> dict[str, str]:
    """The tags to add to the user's: owner and protect only when set, validated always."""
    tags: dict[str, str] = {}
    if bookkeeping.owner:
        tags[OWNER_TAG] = bookkeeping.owner
    if bookkeeping.protect:
        tags[PROTECT_TAG] = "true"
    if bookkeeping.validated is not None:
        tags[VALIDATED_TAG] = "true" if bookkeeping.validated else "false"
    if bookkeeping.fingerprint:
        tags[FINGERPRINT_TAG] = bookkeeping.fingerprint
    return tags


def split_tags(tags: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """User tags (sorted by key) and the reserved ones (keys lower-cased); never raises on odd input."""
    user: dict[str, Any] = {}
    reserved: dict[str, str] = {}
    for key, value in (tags or {}).items() if isinstance(tags, Mapping) else ():
        if str(key).lower().startswith(RESERVED_TAG_PREFIX):
            reserved[str(key).lower()] = str(value)
        else:
            user[str(key)] = value
    return dict(sorted(user.items())), reserved


def decode(tags: Any) -> tuple[dict[str, Any], Bookkeeping]:
    """User tags and the bookkeeping a registration's tags carry (any case, surrounding blanks ignored)."""
    user, reserved = split_tags(tags)
    flag = {"true": True, "false": False}
    return user, Bookkeeping(
        owner=reserved.get(OWNER_TAG) or None,
        protect=(reserved.get(PROTECT_TAG) or "").strip().lower() == "true",
        validated=flag.get((reserved.get(VALIDATED_TAG) or "").strip().lower()),
        fingerprint=reserved.get(FINGERPRINT_TAG) or None,
    )
