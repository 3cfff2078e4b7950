"""``reconciler github comment``: the saved plan as one sticky pull-request comment.

Only click is imported here: the command list is built at start-up, and the GitHub client
(``requests``) loads when the command runs.
"""

from __future__ import annotations

import os

import click

from reconciler.cli.app import EXIT_OK, cli, console_of, global_options


@cli.group()
def github() -> None:
    """GitHub integration for pull-request pipelines."""


@github.command()
@global_options
@click.option("--plan", "plan_file", required=True, metavar="PLANFILE", help="The saved plan (plan --out).")
@click.option("--pr", "pr", type=click.IntRange(min=1), help="Pull request number (default: from GITHUB_EVENT_PATH).")
@click.option(
    "--key",
    default="default",
    show_default=True,
    metavar="NAME",
    help="Separates the comments of several plans on one pull request (for example the environment).",
)
@click.option(
    "--artifact", metavar="NAME", help="The artifact holding the full plan, named when the comment is shortened."
)
@click.pass_context
def comment(ctx: click.Context, plan_file: str, pr: int | None, key: str, artifact: str | None) -> int:
    """Post the plan on the pull request, or update the comment posted before.

    Uses GITHUB_TOKEN, GITHUB_API_URL and GITHUB_REPOSITORY, as GitHub Actions sets them. A token
    that may not write (pull requests from forks) is a warning, not a failure.
    """
    from reconciler.github import (
        COMMENT_BUDGET,
        CommentForbidden,
        GitHubClient,
        comment_markdown,
        marker,
        read_plan,
        target_from_env,
        upsert_comment,
        workflow_message,
    )

    console = console_of(ctx)
    head = marker(key)
    saved = read_plan(plan_file)
    target = target_from_env(os.environ, pr)
    body = comment_markdown(saved, target, key=key, artifact=artifact, budget=COMMENT_BUDGET - len(head) - 1)
    client = GitHubClient(target.api_url, os.environ.get("GITHUB_TOKEN", ""))
    try:
        outcome = upsert_comment(client, target, body, key=key)
    except CommentForbidden as exc:
        message = f"{exc}; the plan itself is fine, it just was not posted."
        if os.environ.get("GITHUB_ACTIONS") == "true":
            console.raw(f"::warning title=reconciler github comment::{workflow_message(message)}\n")
        console.line(f"Warning: {message}", "yellow", err=True)
        return EXIT_OK
    finally:
        client.close()
    done = {"created": "Created", "updated": "Updated", "unchanged": "Already up to date:"}[outcome.action]
    console.line(f"{done} the plan comment on pull request #{target.pull_request}: {outcome.url}")
    return EXIT_OK
