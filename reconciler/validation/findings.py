"""What the checks beyond the probes found (expiry, storage accounts, access): plain data.

The checks produce :class:`Finding` objects; only ``render/`` turns them into lines, markdown
or JSON. A finding names the datastore and says what is wrong or could not be checked; it never
carries a secret (expiry is a date, never the token).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """``error`` fails the plan; ``warning`` fails it only with ``--fail-on-expiry`` (expiry warnings)."""

    ERROR = "error"
    WARNING = "warning"
    HINT = "hint"
    NOT_CHECKED = "not checked"


class Check(str, Enum):
    EXPIRY = "expiry"
    ACCOUNT = "storage account"
    ACCESS = "access"


@dataclass(frozen=True)
class Finding:
    name: str
    type: str
    check: Check
    severity: Severity
    message: str
    #: The secret field an expiry finding is about (``credentials.sas_token``), else None.
    field: str | None = None
    #: ISO date (``YYYY-MM-DD``, UTC) an expiry finding is about, else None.
    expires: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "check": self.check.value,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.field is not None:
            out["field"] = self.field
        if self.expires is not None:
            out["expires"] = self.expires
        return out


@dataclass(frozen=True)
class CheckReport:
    """All findings of one run, in datastore order."""

    findings: tuple[Finding, ...] = ()
    #: ARM requests the checks made (for -v logging and the tests that count them).
    arm_requests: int = 0

    @classmethod
    def of(cls, findings: Iterable[Finding], arm_requests: int = 0) -> CheckReport:
        return cls(tuple(findings), arm_requests)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Everything that is not an error: warnings, hints and checks that could not be made."""
        return tuple(f for f in self.findings if f.severity is not Severity.ERROR)

    @property
    def expiry_warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.check is Check.EXPIRY and f.severity is Severity.WARNING)

    def merged(self, other: CheckReport) -> CheckReport:
        return CheckReport(self.findings + other.findings, self.arm_requests + other.arm_requests)
