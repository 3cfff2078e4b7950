"""``reconciler show``: what is registered now (secrets never shown)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from reconciler.cli.app import EXIT_OK, FILES, WORKSPACE, cli, console_of, global_options
from reconciler.errors import ReconcilerError


@cli.command()
@global_options
@FILES
@WORKSPACE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def show(ctx: click.Context, files: tuple[str, ...], workspace: str | None, fmt: str) -> int:
    """List the datastores registered in the workspace now (secrets never shown)."""
    from reconciler.backends import open_workspace
    from reconciler.engine import resolve_workspace_uri
    from reconciler.render.show import render_show_json, render_show_text

    uri = resolve_workspace_uri(workspace or _peek_workspace(files), None)
    ws = open_workspace(uri, create=False)
    try:
        snapshot = ws.snapshot()
    finally:
        ws.close()
    console = console_of(ctx)
    if fmt == "json":
        console.raw(render_show_json(snapshot))
    else:
        console.lines(render_show_text(snapshot))
    return EXIT_OK


def _peek_workspace(files: Sequence[str]) -> str | None:
    """The manifest's ``workspace:`` without validating the rest (show must work with a broken manifest)."""
    from reconciler.manifest.load import expand_directories, manifest_files, read_manifest_bytes
    from reconciler.manifest.yamlsource import parse_yaml

    paths, _ = expand_directories(manifest_files(files))  # -f DIR: its files (az ml files name no workspace)
    for path in paths:
        try:
            text = read_manifest_bytes(path).decode("utf-8-sig")
        except FileNotFoundError:
            if files:
                raise ReconcilerError(f"{path}: manifest file not found") from None
            continue
        except OSError as exc:
            raise ReconcilerError(f"{path}: cannot read manifest: {exc.strerror}") from None
        except UnicodeDecodeError:
            continue  # not this command's business: validate reports it
        doc, _ = parse_yaml(text, path)
        if isinstance(doc.data, dict) and isinstance(doc.data.get("workspace"), str):
            return str(doc.data["workspace"])
    return None
