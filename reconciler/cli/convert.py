"""``reconciler convert``: az ml datastore files to one manifest (literal secrets become references)."""

from __future__ import annotations

import click

from reconciler.cli.app import EXIT_OK, cli, console_of, global_options


@cli.command()
@global_options
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option("--out", "out", metavar="FILE", help="Write the manifest here (a new path or a regular file).")
@click.option("--owner", metavar="OWNER", help="The manifest's owner (default: a placeholder to replace).")
@click.option("--workspace", metavar="URI", help="Write this workspace: into the manifest.")
@click.pass_context
def convert(
    ctx: click.Context, paths: tuple[str, ...], out: str | None, owner: str | None, workspace: str | None
) -> int:
    """Convert az ml datastore YAML files (or directories of them) into one manifest.

    Each literal secret is replaced by an ${env:NAME} reference; the variables to set are
    listed (names only, never values).
    """
    from reconciler.export.convert import convert as run_convert
    from reconciler.render.escape import text

    console = console_of(ctx)
    result = run_convert(paths, owner=owner, workspace=workspace)
    if out:
        from reconciler.outfile import write_text

        write_text(out, result.text)
    else:
        console.raw(result.text)
    noun = "datastore" if result.datastores == 1 else "datastores"
    where = f" to {text(out)}" if out else ""
    console.line(f"Converted {result.datastores} {noun}{where}.", err=not out)
    if result.secrets:
        console.line("Set these environment variables before plan and apply (values are not shown):", err=not out)
        for secret in result.secrets:
            console.line(
                f"  {secret.variable}  ({text(secret.datastore)} {secret.field}, literal in {text(secret.file)})",
                err=not out,
            )
    return EXIT_OK
