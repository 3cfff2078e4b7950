"""The sticky pull-request comment against the loopback fake of the GitHub REST API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.github import (
    CommentForbidden,
    GitHubClient,
    GitHubError,
    Target,
    marker,
    target_from_env,
    upsert_comment,
)
from tests.conftest import Project
from tests.fakes.github import FakeGitHub

REPO = "octo/datastores"
TOKEN = "ghs_CANARY_9f8e7d6c5b4a_token"


@pytest.fixture
def github():
    fake = FakeGitHub(token=TOKEN)
    fake.add_pull(REPO, 7)
    with fake:
        yield fake


def _client(github: FakeGitHub, sleeps: list[float] | None = None, **kwargs) -> GitHubClient:
    recorded = [] if sleeps is None else sleeps
    return GitHubClient(github.url, TOKEN, sleep=recorded.append, **kwargs)


def _target(github: FakeGitHub) -> Target:
    return Target(github.url, REPO, 7)


# ---------------------------------------------------------------------------- the client


def test_created_once_then_updated_never_duplicated(github):
    for i in range(260):  # three pages of other people's comments, two carrying the marker
        body = {5: f"{marker()} pasted by a human", 6: f"quoting {marker()}"}.get(i, f"looks good {i}")
        github.seed(REPO, 7, body)
    client = _client(github)
    first = upsert_comment(client, _target(github), "plan one")
    second = upsert_comment(client, _target(github), "plan two")
    third = upsert_comment(client, _target(github), "plan two")
    assert (first.action, second.action, third.action) == ("created", "updated", "unchanged")
    ours = [c for c in github.on(REPO, 7) if c["body"].startswith(marker()) and c["user"]["type"] == "Bot"]
    assert len(ours) == 1 and ours[0]["body"] == f"{marker()}\nplan two"
    assert first.url == second.url == ours[0]["html_url"]
    pages = [r.query.get("page", ["1"])[0] for r in github.requests if r.method == "GET"]
    assert pages[:3] == ["1", "2", "3"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in github.requests)


def test_separate_keys_keep_separate_comments(github):
    client = _client(github)
    upsert_comment(client, _target(github), "dev plan", key="dev")
    upsert_comment(client, _target(github), "prod plan", key="prod")
    upsert_comment(client, _target(github), "dev plan 2", key="dev")
    assert sorted(c["body"].splitlines()[1] for c in github.on(REPO, 7)) == ["dev plan 2", "prod plan"]


def test_read_only_token_is_forbidden_not_an_error(github):
    github.read_only = True
    with pytest.raises(CommentForbidden, match="read-only tokens"):
        upsert_comment(_client(github), _target(github), "plan")
    assert github.on(REPO, 7) == []


@pytest.mark.parametrize(
    ("status", "headers", "message"),
    [
        (429, {"Retry-After": "1"}, "Too many requests"),
        (403, {"Retry-After": "2"}, "You have exceeded a secondary rate limit"),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"}, "API rate limit exceeded"),
        (502, {}, "Server Error"),
    ],
)
def test_rate_limits_and_5xx_are_retried_with_their_wait(github, status, headers, message):
    github.throttle = [(status, headers, message)] * 2
    sleeps: list[float] = []
    outcome = upsert_comment(_client(github, sleeps), _target(github), "plan")
    assert outcome.action == "created" and len(github.on(REPO, 7)) == 1
    expected = {"Retry-After": [1.0, 1.0]} if "Retry-After" in headers and headers["Retry-After"] == "1" else None
    assert len(sleeps) == 2
    if expected:
        assert sleeps == expected["Retry-After"]
    if headers.get("Retry-After") == "2":
        assert sleeps == [2.0, 2.0]


def test_retries_are_bounded(github):
    github.throttle = [(429, {"Retry-After": "0"}, "Too many requests")] * 10
    with pytest.raises(GitHubError, match="kept answering rate limited"):
        upsert_comment(_client(github), _target(github), "plan")
    assert len(github.requests) == 4


def test_a_long_retry_after_fails_instead_of_hanging(github):
    github.throttle = [(403, {"Retry-After": "3600"}, "You have exceeded a secondary rate limit")]
    started = time.monotonic()
    with pytest.raises(GitHubError, match="asked to wait 3600 s"):
        upsert_comment(GitHubClient(github.url, TOKEN), _target(github), "plan")
    assert time.monotonic() - started < 5


def test_bad_token_and_missing_pull_request(github):
    with pytest.raises(GitHubError, match="did not accept GITHUB_TOKEN") as bad:
        upsert_comment(GitHubClient(github.url, "ghs_wrong_token_value"), _target(github), "plan")
    assert "ghs_wrong" not in str(bad.value)
    with pytest.raises(GitHubError, match="404"):
        upsert_comment(_client(github), Target(github.url, REPO, 8), "plan")


def test_the_token_goes_only_to_https_or_loopback():
    for url in ("http://api.example.com", "ftp://x", "file:///etc/passwd", "https://"):
        with pytest.raises(GitHubError, match="must be an https"):
            GitHubClient(url, TOKEN)
    GitHubClient("https://ghe.example.com/api/v3", TOKEN).close()
    GitHubClient("http://127.0.0.1:1", TOKEN).close()


def test_pagination_is_followed_only_on_the_same_host(github):
    client = _client(github)
    with pytest.raises(GitHubError, match="another host"):
        client._next_link('<https://evil.example/repos/o/r/issues/7/comments?page=2>; rel="next"')


def test_target_from_the_pull_request_event(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 12, "pull_request": {"number": 12, "head": {"sha": "a" * 40}}}))
    env = {
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_RUN_ID": "99",
    }
    target = target_from_env(env)
    assert target == Target("https://api.github.com", REPO, 12, f"https://github.com/{REPO}/actions/runs/99", "a" * 40)
    assert target_from_env(env, pr=3).pull_request == 3
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    with pytest.raises(GitHubError, match="pass --pr N"):
        target_from_env({**env, "GITHUB_EVENT_NAME": "push"})
    with pytest.raises(GitHubError, match="GITHUB_REPOSITORY"):
        target_from_env({"GITHUB_EVENT_PATH": str(event)}, pr=1)


# ---------------------------------------------------------------------------- the command

MANIFEST = """
    version: 1
    owner: platform
    datastores:
      - name: raw
        type: azure_blob
        account_name: contosoraw
        container_name: raw
        skip_validation: true
"""


def _github_env(github: FakeGitHub, project: Project, **extra: str) -> dict[str, str]:
    event = project.write("event.json", json.dumps({"pull_request": {"number": 7, "head": {"sha": "b" * 40}}}))
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request",
        **extra,
    }


def test_command_posts_then_updates_and_never_prints_the_token(github, project: Project):
    project.write("datastores.yaml", MANIFEST)
    assert project.run("plan", "--out", "plan.json").code == 0
    env = _github_env(github, project, GITHUB_ACTIONS="true")
    first = project.run("github", "comment", "--plan", "plan.json", env=env)
    assert first.code == 0, first.all
    assert "Created the plan comment" in first.out
    project.write("datastores.yaml", MANIFEST.replace("type: azure_blob", "type: azure_blob\n        description: new"))
    assert project.run("plan", "--out", "plan.json").code == 0
    second = project.run("github", "comment", "--plan", "plan.json", "--artifact", "reconciler-plan", env=env)
    assert second.code == 0 and "Updated the plan comment" in second.out, second.all
    third = project.run("github", "comment", "--plan", "plan.json", env=env)
    assert third.code == 0 and "Already up to date: the plan comment" in third.out, third.all
    (comment,) = github.on(REPO, 7)
    assert '+   description: "new"' in comment["body"]
    assert comment["body"].startswith(marker() + "\n### reconciler plan for ")
    assert "Planned for commit `bbbbbbbbbbbb`" in comment["body"]
    assert TOKEN not in first.all + second.all + third.all


def test_command_on_a_fork_warns_and_exits_0(github, project: Project):
    github.read_only = True
    project.write("datastores.yaml", MANIFEST)
    project.run("plan", "--out", "plan.json")
    env = _github_env(github, project, GITHUB_ACTIONS="true")
    result = project.run("github", "comment", "--plan", "plan.json", env=env)
    assert result.code == 0, result.all
    assert "::warning title=reconciler github comment::" in result.out
    assert "read-only tokens" in result.err and "the plan itself is fine, it just was not posted" in result.err
    assert TOKEN not in result.all


def test_command_errors_are_one_line_without_the_token(github, project: Project):
    project.write("datastores.yaml", MANIFEST)
    project.run("plan", "--out", "plan.json")
    env = _github_env(github, project)
    missing = project.run("github", "comment", "--plan", "nope.json", env=env)
    assert missing.code == 1 and "plan file nope.json not found" in missing.err
    no_token = project.run("github", "comment", "--plan", "plan.json", env={**env, "GITHUB_TOKEN": ""})
    assert no_token.code == 1 and "GITHUB_TOKEN is not set" in no_token.err
    github.token = "another"
    refused = project.run("github", "comment", "--plan", "plan.json", "--pr", "7", env=env)
    assert refused.code == 1 and "401" in refused.err and "Traceback" not in refused.err
    assert TOKEN not in missing.all + no_token.all + refused.all
