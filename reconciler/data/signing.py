"""Shared Key signing of Blob service requests, on the standard library alone.

The documented canonical string (Blob service, 2009-09-19 and later), signed as the storage SDK
signs it (tests compare both for hostile names, markers and every header a hand-made request sets).
Used by the plain pipeline's policy (``pipeline.py``) and by the bare listing request, which is
sent before azure-core is loaded (``light.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, MutableMapping
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

#: The service version of the requests reconciler makes by hand: the one the storage SDK speaks (a test checks).
API_VERSION = "2026-10-06"

#: The standard headers in the string to sign, in order.
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def signature(account: str, key: bytes, method: str, url: str, headers: Mapping[str, str]) -> str:
    """The base64 HMAC-SHA256 of the string to sign for this request."""
    lowered = {name.lower(): value for name, value in headers.items() if value}
    if lowered.get("content-length") == "0":
        del lowered["content-length"]
    parts = urlsplit(url)
    canonical_headers = "".join(
        f"{name}:{value}\n" for name, value in sorted(lowered.items()) if name.startswith("x-ms-")
    )
    query: dict[str, list[str]] = {}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        query.setdefault(unquote(name).lower(), []).append(unquote(value))
    canonical_query = "".join(f"\n{name}:{','.join(sorted(query[name]))}" for name in sorted(query))
    text = (
        f"{method}\n"
        + "".join(f"{lowered.get(name, '')}\n" for name in _SIGNED_HEADERS)
        + canonical_headers
        + f"/{account}{parts.path}"
        + canonical_query
    )
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authorize(account: str, key: bytes, method: str, url: str, headers: MutableMapping[str, str]) -> None:
    """Date the request and set ``Authorization: SharedKey ACCOUNT:SIGNATURE`` on it."""
    headers["x-ms-date"] = formatdate(usegmt=True)
    headers["Authorization"] = f"SharedKey {account}:{signature(account, key, method, url, headers)}"
