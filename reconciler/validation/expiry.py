"""Expiry of the credentials a plan will rely on: SAS ``se=``, Key Vault ``exp``, certificate notAfter.

Pure: reads the resolved secrets in memory and makes no request. A SAS token is parsed as a
query string only to read ``se``; the token, its signature and the certificate are never part of
a finding, only the date. Client secrets of service principals expire in Entra ID, which only
Microsoft Graph can tell; they are not checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs

from reconciler.state import DesiredDatastore
from reconciler.validation.findings import Check, Finding, Severity

DEFAULT_WARNING_DAYS = 30
#: ``se`` as Azure Storage accepts it: a date, or a date and time (minutes or seconds) in UTC.
_SE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?Z?)?$")
#: A SAS token is short; anything much longer is not parsed (every input has a bound).
_MAX_SAS_LENGTH = 16 * 1024


def sas_expiry(token: str) -> datetime | None:
    """The ``se`` (signed expiry) of a SAS token, or None (no ``se``: a stored access policy decides)."""
    text = token.strip().lstrip("?")
    if len(text) > _MAX_SAS_LENGTH:
        return None
    values = parse_qs(text, keep_blank_values=False).get("se")
    if not values:
        return None
    match = _SE.match(values[0].strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None


def certificate_expiry(secret: str) -> datetime | None:
    """notAfter of a PEM certificate (the first in the file) or of a password-less base64 PKCS#12."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    text = secret.strip()
    try:
        if "-----BEGIN" in text:
            certificate: x509.Certificate | None = x509.load_pem_x509_certificates(text.encode())[0]
        else:
            certificate = pkcs12.load_key_and_certificates(base64.b64decode(text, validate=True), None)[1]
    except (ValueError, binascii.Error, IndexError, TypeError):
        return None
    return certificate.not_valid_after_utc if certificate is not None else None


def _expiries(item: DesiredDatastore) -> Iterable[tuple[str, str, datetime]]:
    """``(field, what, moment)`` for every expiry this datastore's secrets reveal."""
    for field, value in item.secrets.items():
        if value.expires_on is not None:
            yield field, "Key Vault secret", value.expires_on
        if field == "credentials.sas_token":
            moment = sas_expiry(value.reveal())
            if moment is not None:
                yield field, "SAS token", moment
        elif field == "credentials.certificate":
            moment = certificate_expiry(value.reveal())
            if moment is not None:
                yield field, "certificate", moment


def _day(moment: datetime) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).date()


def check_expiry(
    items: Iterable[DesiredDatastore], *, warning_days: int = DEFAULT_WARNING_DAYS, now: datetime | None = None
) -> list[Finding]:
    """An error for what has expired, a warning for what expires within ``warning_days``."""
    now = now or datetime.now(timezone.utc)
    horizon = now + timedelta(days=warning_days)
    findings: list[Finding] = []
    for item in items:
        for field, what, moment in _expiries(item):
            aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
            day = _day(aware).isoformat()
            if aware <= now:
                findings.append(
                    Finding(
                        item.name,
                        item.type,
                        Check.EXPIRY,
                        Severity.ERROR,
                        f"{field}: {what} expired on {day}",
                        field,
                        day,
                    )
                )
            elif aware <= horizon:
                days = (aware - now).days
                left = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
                findings.append(
                    Finding(
                        item.name,
                        item.type,
                        Check.EXPIRY,
                        Severity.WARNING,
                        f"{field}: {what} expires on {day} ({left})",
                        field,
                        day,
                    )
                )
    return findings
