"""Helpers for the probe tests: manifests built from dicts, and what a local workspace holds."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from reconciler.backends.local import LocalWorkspace
from reconciler.state import RegisteredDatastore
from tests.conftest import Project, Result

#: The line every failing probe plan prints on stderr before the list of failures.
FAILED_HEADLINE = "Error: validation failed: these datastores cannot reach their storage; nothing was applied"


def unique(prefix: str) -> str:
    """A storage-safe unique name (lowercase letters and digits)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def write_manifest(project: Project, *entries: dict[str, Any], owner: str = "probes") -> None:
    document = {"version": 1, "owner": owner, "datastores": list(entries)}
    project.write("datastores.yaml", yaml.safe_dump(document, sort_keys=False))


def blob_entry(name: str, container: str, endpoint: str, credentials: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "azure_blob",
        "account_name": "devstoreaccount1",
        "container_name": container,
        "endpoint": endpoint,
        "protocol": "http",
        "credentials": credentials,
        **fields,
    }


def registered(project: Project) -> dict[str, RegisteredDatastore]:
    """The non-built-in datastores of the project's local workspace, by name."""
    workspace = LocalWorkspace(project.workspace.removeprefix("local:"))
    try:
        return {d.name: d for d in workspace.snapshot().datastores if not d.builtin}
    finally:
        workspace.close()


def failures(result: Result) -> dict[str, str]:
    """``name (type): reason`` lines of the validation error on stderr, as {name: reason}."""
    lines = result.err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(FAILED_HEADLINE))
    out = {}
    for line in lines[start + 1 :]:
        head, _, reason = line.strip().partition(": ")
        out[head.split(" (")[0]] = reason
    return out


def probe_line(result: Result, name: str) -> str:
    """The text plan's validation line about one datastore, whitespace collapsed: ``ok raw (azure_blob) [..]``."""
    lines = result.out.splitlines()
    start = lines.index("Validation (storage probes before any write):")
    for index, line in enumerate(lines[start + 1 :], start + 1):
        if not line.strip():
            break
        if f" {name} (" in line:
            # A long "not probed" reason continues on lines indented under it (80 columns).
            following = []
            for more in lines[index + 1 :]:
                if not more.startswith(" " * 14):
                    break
                following.append(more)
            return " ".join(" ".join([line, *following]).split())
    raise AssertionError(f"no validation line for {name} in:\n{result.out}")
