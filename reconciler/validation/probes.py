"""Storage probes per datastore type (filled in by the validation work)."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.validation.runner import Probe

PROBES: Mapping[str, Probe] = {}
