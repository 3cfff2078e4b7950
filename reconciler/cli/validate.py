"""``reconciler validate``: offline checks of manifests."""

from __future__ import annotations

import click

from reconciler.cli.app import (
    EXIT_ERROR,
    EXIT_OK,
    FILES,
    OWNER,
    POLICY,
    Teardown,
    cli,
    console_of,
    global_options,
    pause_collection,
    policies,
)
from reconciler.cli.inputs import environment_options, run_inputs


@cli.command()
@global_options
@FILES
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: workflow-command annotations on the offending lines of a pull request.",
)
@POLICY
@OWNER
@environment_options
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], fmt: str, policy_file: str | None, owner: str | None) -> int:
    """Check manifests offline: schema, names, references, policy. No network, no workspace."""
    Teardown.skip = True  # validate leaves nothing open: the interpreter's teardown is only start-up cost
    pause_collection()  # and it allocates next to no garbage: no collection until it exits
    from reconciler.errors import ManifestError
    from reconciler.manifest.load import load_manifests, manifest_files

    console = console_of(ctx)
    inputs = run_inputs(ctx, files, None)
    try:
        manifests = load_manifests(
            manifest_files(inputs.files),
            policies=policies(policy_file),
            owner=owner,
            variables=inputs.variables,
            environment_owner=inputs.owner,
        )
    except ManifestError as exc:
        if fmt == "text":
            raise
        from reconciler.render.problems import render_problems_github, render_validation_json

        console.raw(render_validation_json(exc.problems) if fmt == "json" else render_problems_github(exc.problems))
        return EXIT_ERROR
    count = len(manifests.datastores)
    if fmt == "json":
        from reconciler.render.problems import render_validation_json

        console.raw(render_validation_json((), datastores=count, files=manifests.files, owner=manifests.owner))
    elif fmt == "text":
        noun = "datastore" if count == 1 else "datastores"
        paths = ", ".join(manifests.files)
        console.line(f"Valid: {count} {noun} in {paths} (owner: {manifests.owner}).", "green")
    return EXIT_OK
