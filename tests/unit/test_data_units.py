"""The data commands' pure parts: URIs, local path safety, filters, escaping, progress lines, the byte budget."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.data.chunks import ByteBudget
from reconciler.data.paths import Filters, UnsafeName, check_relative_name, download_target, local_tree
from reconciler.data.progress import LineProgress, human_bytes
from reconciler.data.resolve import check_endpoint
from reconciler.data.store import Cancelled, RemoteDirectory, RemoteFile
from reconciler.data.transfer import Outcome, Result, Summary, Task
from reconciler.data.uri import DataUri, DataUriError, parse_data_uri
from reconciler.errors import ReconcilerError
from reconciler.render.data import render_listing_json, render_listing_text, render_summary

LONG = "azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg/workspaces/ws"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("azureml://datastores/raw/paths/a/b.csv", DataUri("raw", "a/b.csv")),
        ("azureml://datastores/raw/paths/a//b/", DataUri("raw", "a/b/")),
        ("azureml://datastores/raw/paths/", DataUri("raw", "")),
        ("azureml://datastores/raw/paths", DataUri("raw", "")),
        ("AZUREML://Datastores/raw/Paths/x", DataUri("raw", "x")),
        (
            f"{LONG}/datastores/raw/paths/x/",
            DataUri(
                "raw",
                "x/",
                "azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/workspaces/ws",
            ),
        ),
    ],
)
def test_data_uris(text: str, expected: DataUri) -> None:
    assert parse_data_uri(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("azureml://datastores/raw", "is not a data URI"),
        ("https://acct.blob.core.windows.net/c/x", "is not a data URI"),
        ("azureml://datastores/-bad/paths/x", "is not a datastore name"),
        ("azureml://datastores/raw/paths/a/../b", "'.' and '..' are not allowed"),
        ("azureml://datastores/raw/paths/a\\b", "paths use '/'"),
        ("azureml://datastores/raw/paths/a\nb", "control character"),
        ("azureml://datastores/raw/paths/" + "x" * 1025, "longer than 1024"),
        ("azureml://datastores/raw/paths/" + "x" * 3000, "longer than 2048"),
    ],
)
def test_malformed_data_uris(text: str, message: str) -> None:
    with pytest.raises(DataUriError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_data_uri(text)


def test_directory_uris_and_prefixes() -> None:
    assert parse_data_uri("azureml://datastores/raw/paths/a").prefix == "a/"
    assert parse_data_uri("azureml://datastores/raw/paths/").prefix == ""
    assert not parse_data_uri("azureml://datastores/raw/paths/a").is_directory


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../up.txt", "'..' path segment"),
        ("a/../../up.txt", "'..' path segment"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/x", "drive letter"),
        ("c:x", "drive letter"),
        ("a\\b", "backslash"),
        ("a//b", "empty"),
        ("bell\x07", "control character"),
        ("x" * 256, "longer than 255 bytes"),
        ("", "empty name"),
    ],
)
def test_unsafe_remote_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(UnsafeName, match=reason.replace(".", r"\.")):
        check_relative_name(name)


def test_a_download_target_never_leads_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "link").symlink_to(outside)
    (root / "file").write_text("x")
    assert download_target(root, "real/new/a.txt") == root / "real" / "new" / "a.txt"
    with pytest.raises(UnsafeName, match="symbolic link"):
        download_target(root, "link/a.txt")
    with pytest.raises(UnsafeName, match="symbolic link"):
        download_target(root, "link")
    with pytest.raises(UnsafeName, match="a parent of it is a file"):
        download_target(root, "file/a.txt")


def test_filters_and_the_local_tree(tmp_path: Path) -> None:
    for rel in ("a.csv", "b.txt", "logs/c.csv", "logs/d.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "linked").symlink_to(tmp_path / "a.csv")
    (tmp_path / "linkdir").symlink_to(tmp_path / "logs")
    tree = local_tree(tmp_path, Filters())
    assert [f.rel for f in tree.files] == ["a.csv", "b.txt", "logs/c.csv", "logs/d.log"]
    assert sorted(tree.left_out) == [
        ("linkdir", "symbolic link (not followed)"),
        ("linked", "symbolic link (not followed)"),
    ]
    picked = local_tree(tmp_path, Filters(include=("*.csv", "logs/*"), exclude=("*.log",)))
    assert [f.rel for f in picked.files] == ["a.csv", "logs/c.csv"]
    single = local_tree(tmp_path / "b.txt", Filters())
    assert [(f.rel, f.size) for f in single.files] == [("b.txt", 5)]


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("https://acct.blob.core.windows.net", [], True),
        ("https://acct.file.core.chinacloudapi.cn", [], True),
        ("https://acct.blob.core.windows.net.evil.example", [], False),
        ("https://evilcore.windows.net", [], False),
        ("http://127.0.0.1:10000/devstoreaccount1", [], False),
        ("http://127.0.0.1:10000/devstoreaccount1", ["127.0.0.1:10000"], True),
        ("http://127.0.0.1:10001/devstoreaccount1", ["127.0.0.1:10000"], False),
        ("https://storage.internal/acct", ["storage.internal"], True),
    ],
)
def test_credentials_go_only_to_trusted_endpoints(url: str, allowed: list[str], ok: bool) -> None:
    if ok:
        check_endpoint(url, allowed)
    else:
        with pytest.raises(ReconcilerError, match="refusing to send the credential"):
            check_endpoint(url, allowed)


def test_a_service_principal_signs_in_only_at_a_cloud_authority() -> None:
    check_endpoint("https://login.microsoftonline.com/tenant", [], authority=True)
    with pytest.raises(ReconcilerError, match="not a sign-in authority"):
        check_endpoint("https://login.microsoftonline.com.evil.example/", [], authority=True)
    with pytest.raises(ReconcilerError, match="not a sign-in authority"):
        check_endpoint("https://acct.blob.core.windows.net", [], authority=True)
    check_endpoint("https://127.0.0.1:8443", ["127.0.0.1:8443"], authority=True)


def test_listings_escape_hostile_names() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    entries = [RemoteDirectory("d/"), RemoteFile("a\nPlan: 0 to create\x1b[31m", 1234, b"\x00" * 16, when)]
    lines = [line.text for line in render_listing_text(entries)]
    assert lines == [
        f"{'DIR':>14}  {'':19}  d/",
        f'{"1,234":>14}  2026-01-02 03:04:05  "a\\nPlan: 0 to create\\u001b[31m"',
    ]
    document = render_listing_json("azureml://datastores/x/paths/", "x", entries)
    assert "\n  " in document and "\x1b" not in document and "\\n" in document


def _summary(outcomes: list[tuple[str, Outcome, str]], *, dry_run: bool = False, interrupted: bool = False) -> Summary:
    summary = Summary("upload", dry_run, seconds=2.0, interrupted=interrupted)
    for name, outcome, message in outcomes:
        summary.results.append(Result(Task(name, Path(name), name, 1000, None), outcome, message))
    return summary


def test_transfer_summaries() -> None:
    done = _summary([("a", Outcome.TRANSFERRED, ""), ("b", Outcome.SKIPPED, "")])
    assert [line.text for line in render_summary(done)] == [
        "Uploaded 1 file (1.0 KB) in 2.00 s (500 B/s); skipped 1 identical (1.0 KB), 0 conflicts, 0 failed."
    ]
    assert done.ok
    failed = _summary([("x\r", Outcome.FAILED, "Boom\nforged line"), ("c", Outcome.CONFLICT, "differs")])
    assert [line.text for line in render_summary(failed, [("l", "symbolic link (not followed)")])] == [
        "  left out  l: symbolic link (not followed)",
        "  conflict  c: differs",
        '  failed    "x\\r": Boom\\nforged line',
        "Uploaded 0 files (0 B) in 2.00 s (0 B/s); skipped 0 identical (0 B), 1 conflicts, 1 failed.",
    ]
    assert not failed.ok
    stopped = _summary([("a", Outcome.TRANSFERRED, ""), ("b", Outcome.NOT_STARTED, "")], interrupted=True)
    assert render_summary(stopped)[-1].text.startswith(
        "Interrupted: uploaded 1 file (1.0 KB) before the interruption, 1 not transferred"
    )


def test_progress_lines_without_a_terminal() -> None:
    import io

    stream = io.StringIO()
    progress = LineProgress(stream, "upload", interval=0.05)
    progress.start(3, 3_000_000)
    progress.advance(1_000_000)
    progress.finished(Result(Task("a", Path("a"), "a", 1_000_000, None), Outcome.TRANSFERRED))
    threading.Event().wait(0.2)
    progress.stop()
    first = stream.getvalue().splitlines()[0]
    assert first.startswith("upload: 1/3 files, 1.0 MB of 3.0 MB, ") and "/s, ETA " in first
    assert human_bytes(999) == "999 B" and human_bytes(1_500_000) == "1.5 MB"


def test_the_byte_budget_bounds_memory_and_honours_cancellation() -> None:
    budget = ByteBudget(10)
    cancel = threading.Event()
    budget.acquire(6, cancel)
    budget.acquire(4, cancel)
    got = threading.Event()

    def third() -> None:
        budget.acquire(5, cancel)
        got.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not got.wait(0.1)
    budget.release(6)
    assert got.wait(1)
    worker.join()
    cancel.set()
    with pytest.raises(Cancelled):
        budget.acquire(10, cancel)
