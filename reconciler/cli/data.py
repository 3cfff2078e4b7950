"""``reconciler data ls|upload|download``: parse, run the operation, render. Nothing imported at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.cli.app import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FILES,
    WORKSPACE,
    Teardown,
    cli,
    console_of,
    global_options,
    pause_collection,
    resolver,
    resume_collection,
)

_ALLOW = click.option(
    "--allow-endpoint",
    "allow_endpoints",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Trust this storage endpoint with the credential (besides Azure's own); repeatable.",
)
_CONCURRENCY = click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Files and chunks in flight at once.",
)
_OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace destination files that differ.")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Show what would be transferred; change nothing.")


@cli.group()
def data() -> None:
    """List, upload and download files on a datastore's storage (azureml://datastores/NAME/paths/PATH)."""
    # Every command below closes its store and joins its workers in ``finally`` blocks, and a download's
    # temporary files are removed the same way: nothing is left for the interpreter's teardown.
    Teardown.skip = True
    # No cycle collection while the manifest models and the SDKs load (tens of thousands of long-lived
    # objects, next to no garbage): about a tenth of a quick run's CPU. Resumed in _open.
    pause_collection()


def _open(
    uri_text: str, files: tuple[str, ...], workspace: str | None, allow: tuple[str, ...], concurrency: int
) -> Any:
    from reconciler.data.ops import open_store
    from reconciler.data.resolve import allowed_endpoints, resolve_target
    from reconciler.data.uri import parse_data_uri

    uri = parse_data_uri(uri_text)
    target = resolve_target(
        uri, files=files, workspace_option=workspace, resolver=resolver(), allowed=allowed_endpoints(allow)
    )
    store, pool = open_store(target, concurrency)
    resume_collection()
    return uri, target, store, pool


@data.command("ls")
@global_options
@click.argument("uri")
@click.option("--recursive", "-r", is_flag=True, help="Everything below the path, not one level.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@FILES
@WORKSPACE
@_ALLOW
@click.pass_context
def ls(
    ctx: click.Context,
    uri: str,
    recursive: bool,
    fmt: str,
    files: tuple[str, ...],
    workspace: str | None,
    allow_endpoints: tuple[str, ...],
) -> int:
    """List files under URI: names, sizes, last modified. Reads only."""
    from reconciler.data.ops import list_entries
    from reconciler.render.data import render_listing_json, render_listing_text

    parsed, target, store, pool = _open(uri, files, workspace, allow_endpoints, 1)
    try:
        entries = list_entries(parsed, target, store, recursive=recursive)
    finally:
        store.close()
        pool.close()
    console = console_of(ctx)
    if fmt == "json":
        console.raw(render_listing_json(uri, target.name, entries))
    else:
        console.lines(render_listing_text(entries))
    return EXIT_OK


@data.command()
@global_options
@click.argument("local_path", metavar="LOCAL_PATH")
@click.argument("uri")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching; repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out files matching; repeatable.")
@_OVERWRITE
@_DRY_RUN
@_CONCURRENCY
@FILES
@WORKSPACE
@_ALLOW
@click.pass_context
def upload(
    ctx: click.Context,
    local_path: str,
    uri: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    overwrite: bool,
    dry_run: bool,
    concurrency: int,
    files: tuple[str, ...],
    workspace: str | None,
    allow_endpoints: tuple[str, ...],
) -> int:
    """Upload a file or a directory tree (relative paths kept) to URI."""
    from reconciler.data.ops import upload_tasks
    from reconciler.data.paths import MAX_PATTERNS, Filters
    from reconciler.errors import ReconcilerError

    if len(include) + len(exclude) > MAX_PATTERNS:
        raise ReconcilerError(f"at most {MAX_PATTERNS} --include and --exclude patterns")
    source = Path(local_path)
    if not source.exists():
        raise ReconcilerError(f"{local_path} does not exist")
    try:
        parsed, target, store, pool = _open(uri, files, workspace, allow_endpoints, concurrency)
        try:
            tasks, tree = upload_tasks(source, parsed, target, store, Filters(include, exclude))
            return _transfer(ctx, "upload", target, store, tasks, overwrite, dry_run, concurrency, tree.left_out)
        finally:
            store.close()
            pool.close()
    except KeyboardInterrupt:
        console_of(ctx).line("Interrupted before anything was transferred.", err=True)
        return EXIT_INTERRUPTED


@data.command()
@global_options
@click.argument("uri")
@click.argument("local_path", metavar="LOCAL_PATH")
@_OVERWRITE
@_DRY_RUN
@_CONCURRENCY
@FILES
@WORKSPACE
@_ALLOW
@click.pass_context
def download(
    ctx: click.Context,
    uri: str,
    local_path: str,
    overwrite: bool,
    dry_run: bool,
    concurrency: int,
    files: tuple[str, ...],
    workspace: str | None,
    allow_endpoints: tuple[str, ...],
) -> int:
    """Download the file or everything under the directory URI names into LOCAL_PATH."""
    from reconciler.data.ops import download_tasks
    from reconciler.errors import ReconcilerError

    dest = Path(local_path)
    if not dest.parent.is_dir() and not dest.is_dir():
        raise ReconcilerError(f"{dest.parent} does not exist")
    try:
        parsed, target, store, pool = _open(uri, files, workspace, allow_endpoints, concurrency)
        try:
            tasks = download_tasks(parsed, dest, target, store)
            return _transfer(ctx, "download", target, store, tasks, overwrite, dry_run, concurrency, ())
        finally:
            store.close()
            pool.close()
    except KeyboardInterrupt:
        console_of(ctx).line("Interrupted before anything was transferred.", err=True)
        return EXIT_INTERRUPTED


def _transfer(
    ctx: click.Context,
    direction: str,
    target: Any,
    store: Any,
    tasks: list[Any],
    overwrite: bool,
    dry_run: bool,
    concurrency: int,
    left_out: Any,
) -> int:
    from urllib.parse import urlsplit

    from reconciler.data.ops import describe
    from reconciler.data.transfer import Engine, Options
    from reconciler.render.data import render_summary

    console = console_of(ctx)
    netloc = urlsplit(target.account_url).netloc
    engine = Engine(
        store,
        Options(overwrite=overwrite, dry_run=dry_run, concurrency=concurrency),
        _progress(console, "dry run" if dry_run else direction),
        lambda exc: describe(exc, netloc),
    )
    summary = engine.upload(tasks) if direction == "upload" else engine.download(tasks)
    console.lines(render_summary(summary, left_out))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_ERROR


def _progress(console: Any, verb: str) -> Any:
    """A live bar on a terminal, a line every few seconds otherwise (on standard error)."""
    from reconciler.data.progress import LineProgress, RichProgress

    stream = console.err
    if stream.isatty():
        return RichProgress(stream, verb)
    return LineProgress(stream, verb)
