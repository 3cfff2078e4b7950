"""The one type that carries a secret value through the program.

Its ``str``, ``repr``, format, JSON (via pydantic) and log forms are all the mask, so no code
path can print the value by accident; only :meth:`SecretValue.reveal` returns it, and only
the backends and probes call that, at the moment of use.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, NoReturn

from reconciler.secrets import redact

MASK = redact.MASK


class SecretValue:
    """An immutable secret string whose every printable form is ``(sensitive)``."""

    __slots__ = ("_value", "expires_on")

    def __init__(self, value: str, *, expires_on: datetime | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError("a secret value must be a string")
        self._value = value
        #: When the source says the secret expires (Key Vault's ``exp`` attribute); not secret itself.
        self.expires_on = expires_on
        redact.register(value)

    def reveal(self) -> str:
        """The value itself: call only where it is handed to a client library."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValue):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> SecretValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretValue:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("secret values cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(
            cls, serialization=core_schema.plain_serializer_function_ser_schema(lambda _v: MASK)
        )
