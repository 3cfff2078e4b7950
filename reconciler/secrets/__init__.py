"""Secret values: one redacted type from resolution to the backend write."""

from reconciler.secrets.value import MASK, SecretValue

__all__ = ["MASK", "SecretValue"]
