"""``reconciler show`` fits a terminal of 80 columns: a golden file from a snapshot built by hand.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_show_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.render.show import WIDTH, render_show_text
from reconciler.render.text import plain
from reconciler.secrets.value import MASK
from reconciler.state import RegisteredDatastore, WorkspaceSnapshot

GOLDEN = Path(__file__).parent.parent / "golden" / "show.txt"
GUID = "75a497b97c6749fb8af72011597ab739"


def _blob(account: str, container: str, **settings: object) -> dict[str, object]:
    return {"type": "azure_blob", "account_name": account, "container_name": container, **settings}


def snapshot() -> WorkspaceSnapshot:
    """The quickstart after apply, beside the built-ins and one datastore of a type reconciler does not manage."""
    return WorkspaceSnapshot(
        uri="local:.reconciler/workspace.db",
        default_datastore="training_data",
        datastores=(
            RegisteredDatastore(
                "feature_lake",
                "azure_data_lake_gen2",
                {
                    "type": "azure_data_lake_gen2",
                    "account_name": "contosolake",
                    "filesystem": "features",
                    "owner": "quickstart",
                },
                validated=True,
            ),
            RegisteredDatastore(
                "reporting_db",
                "azure_postgresql",
                {
                    "type": "azure_postgresql",
                    "server_name": "contoso-reporting",
                    "database_name": "reporting",
                    "owner": "quickstart",
                    "credentials": {"type": "sql_user", "user_id": "reader", "user_password": MASK},
                },
                validated=False,
            ),
            RegisteredDatastore(
                "training_data",
                "azure_blob",
                _blob("contosomlstorage", "training", owner="quickstart", protect=True),
                validated=True,
                is_default=True,
            ),
            RegisteredDatastore(
                "workspaceblobstore",
                "azure_blob",
                _blob("reconcilerlocal", f"azureml-blobstore-{GUID}"),
                builtin=True,
            ),
            RegisteredDatastore("legacy_hdfs", "Hdfs", {"owner": "platform"}, known_type=False),
        ),
    )


def test_show_matches_the_golden_file_and_fits_80_columns():
    rendered = plain(render_show_text(snapshot()))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(rendered, encoding="utf-8")
    assert rendered == GOLDEN.read_text(encoding="utf-8")
    assert WIDTH == 80
    too_wide = [line for line in rendered.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide


def test_a_value_too_long_to_align_makes_only_its_own_line_longer():
    long = WorkspaceSnapshot(
        uri="local:x.db",
        default_datastore=None,
        datastores=(
            RegisteredDatastore("a", "azure_blob", _blob("x" * 24, "c" * 63)),
            RegisteredDatastore("b", "azure_blob", _blob("short", "raw")),
        ),
    )
    lines = plain(render_show_text(long)).splitlines()
    assert "    short/raw  none" in lines
