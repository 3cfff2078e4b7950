"""``reconciler export``: a workspace's datastores as a manifest (or az ml datastore files)."""

from __future__ import annotations

import click

from reconciler.cli.app import EXIT_OK, WORKSPACE, cli, console_of, global_options


@cli.command(name="export")
@global_options
@WORKSPACE
@click.option("--name", "names", multiple=True, metavar="NAME", help="Only this datastore; repeatable.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only datastores of this type; repeatable.")
@click.option("--owner", metavar="OWNER", help="The manifest's owner (default: the one owner found, or a placeholder).")
@click.option("--out", "out", metavar="FILE", help="Write here (cli-v2: a directory) instead of standard output.")
@click.option("--format", "fmt", type=click.Choice(["manifest", "cli-v2"]), default="manifest", show_default=True)
@click.option(
    "--secrets-from", "secrets_from", metavar="keyvault:VAULT", help="Secret placeholders as Key Vault references."
)
@click.pass_context
def export_command(
    ctx: click.Context,
    workspace: str | None,
    names: tuple[str, ...],
    types: tuple[str, ...],
    owner: str | None,
    out: str | None,
    fmt: str,
    secrets_from: str | None,
) -> int:
    """Write what the workspace holds as a manifest to bring it under management.

    Built-ins are left out; secrets are never read: each becomes a reference placeholder with a
    comment naming the secret to provide. To standard output this reads only.
    """
    from pathlib import Path

    from reconciler.backends import LocalWorkspaceUri, open_workspace, parse_workspace_uri
    from reconciler.engine import resolve_workspace_uri
    from reconciler.errors import ReconcilerError
    from reconciler.export.workspace import cli_v2_documents, export, manifest_document, parse_secrets_from
    from reconciler.render.escape import message, text

    console = console_of(ctx)
    vault = parse_secrets_from(secrets_from)
    if owner is not None:
        from pydantic import TypeAdapter, ValidationError

        from reconciler.manifest.models import OwnerName

        try:
            TypeAdapter(OwnerName).validate_python(owner)
        except ValidationError:
            raise ReconcilerError("--owner: letters, digits, '.', '_' and '-', at most 63 characters") from None
    uri = resolve_workspace_uri(workspace, None)
    parsed = parse_workspace_uri(uri)
    if isinstance(parsed, LocalWorkspaceUri) and not Path(parsed.path).is_file():
        raise ReconcilerError(f"no local workspace at {text(parsed.path)}; export reads an existing workspace")
    ws = open_workspace(uri)
    try:
        snapshot = ws.snapshot()
    finally:
        ws.close()
    result = export(snapshot, names=names, types=types, owner=owner, vault=vault)
    notes = list(result.notes)
    if fmt == "manifest":
        document = manifest_document(result)
        if out:
            from reconciler.outfile import write_text

            write_text(out, document)
        else:
            console.raw(document)
        written = len(result.entries)
    else:
        files, more = cli_v2_documents(result)
        notes += more
        if out:
            _write_directory(out, files)
        else:
            console.raw("---\n".join(files.values()))
        written = len(files)
    for note in notes:
        console.line(f"Note: {message(note)}", err=True)
    noun = "datastore" if written == 1 else "datastores"
    where = f" to {text(out)}" if out else ""
    console.line(f"Exported {written} {noun} from {text(result.workspace)}{where}.", err=not out)
    return EXIT_OK


def _write_directory(out: str, files: dict[str, str]) -> None:
    """``--format cli-v2 --out DIR``: one NAME.yml per datastore in a directory (created if new)."""
    import os

    from reconciler.errors import ReconcilerError
    from reconciler.outfile import write_text
    from reconciler.render.escape import text

    if not out:
        raise ReconcilerError("--out needs a directory name")
    if os.path.lexists(out) and (os.path.islink(out) or not os.path.isdir(out)):
        raise ReconcilerError(f"refusing to write into {text(out)}: --format cli-v2 writes a directory of files")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise ReconcilerError(f"cannot create {text(out)}: {exc.strerror}") from None
    for name, body in files.items():
        write_text(os.path.join(out, name), body)
