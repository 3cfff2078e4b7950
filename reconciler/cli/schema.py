"""``reconciler schema``: the manifest JSON Schema."""

from __future__ import annotations

import click

from reconciler.cli.app import EXIT_OK, cli, console_of, global_options


@cli.command()
@global_options
@click.pass_context
def schema(ctx: click.Context) -> int:
    """Print the manifest JSON Schema (for editors and CI checks)."""
    from reconciler.manifest.schema import schema_text

    console_of(ctx).raw(schema_text())
    return EXIT_OK
