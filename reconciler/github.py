"""One sticky pull-request comment with the plan, through GitHub's REST API.

The comment is found again by a hidden HTML marker on its first line, so every run of the
pipeline updates the same comment instead of adding one. The token goes only to the API
URL the runner gave (``GITHUB_API_URL``, https, or loopback for tests), never into output.
A 403 that is not a rate limit (pull requests from forks get read-only tokens) is
:class:`CommentForbidden`, which the CLI reports as a warning: it is not a failure of the plan.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import ReconcilerError
from reconciler.secrets.redact import redact, register

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
#: Pages of 100 comments read at most while looking for the marker (a bound, not a real limit).
MAX_PAGES = 50
MAX_ATTEMPTS = 4
#: Longest wait for a rate limit; a longer Retry-After fails the command instead of hanging CI.
MAX_WAIT_SECONDS = 60.0
EVENT_FILE_LIMIT = 16 * 1024 * 1024
#: The whole comment body, marker included, stays under GitHub's 65,536 characters with a margin.
COMMENT_BUDGET = 65_000
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class GitHubError(ReconcilerError):
    """The GitHub API refused or failed; the message never carries the token."""


class CommentForbidden(GitHubError):
    """403 that is not a rate limit: the token may read but not write (a pull request from a fork)."""


def marker(key: str = "default") -> str:
    """The hidden first line that identifies the comment; ``key`` separates several plans on one PR."""
    if not _KEY.match(key):
        raise ReconcilerError(f"comment key {key!r} is not allowed: 1-64 of A-Z a-z 0-9 _ . -")
    return f"<!-- reconciler:plan-comment key={key} -->"


@dataclass(frozen=True)
class Target:
    """Where the comment goes: the API, the repository (``owner/name``) and the pull request."""

    api_url: str
    repository: str
    pull_request: int
    run_url: str | None = None
    head_sha: str | None = None


def target_from_env(environ: Mapping[str, str], pr: int | None = None) -> Target:
    """The runner's variables: ``GITHUB_API_URL``, ``GITHUB_REPOSITORY``, and the PR from ``--pr`` or the event."""
    api_url = (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
    check_api_url(api_url)
    repository = environ.get("GITHUB_REPOSITORY", "")
    if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", repository):
        raise GitHubError("GITHUB_REPOSITORY must be set to OWNER/NAME (GitHub Actions sets it)")
    head_sha = None
    event = _read_event(environ.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
    if pull is not None:
        head = pull.get("head")
        if isinstance(head, dict) and isinstance(head.get("sha"), str) and re.match(r"^[0-9a-f]{7,64}$", head["sha"]):
            head_sha = head["sha"]
    if pr is None:
        number = pull.get("number") if pull is not None else None
        issue = event.get("issue")
        if number is None and isinstance(issue, dict) and "pull_request" in issue:
            number = issue.get("number")  # issue_comment on a pull request
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise GitHubError(
                "no pull request to comment on: this is not a pull_request event "
                f"({environ.get('GITHUB_EVENT_NAME') or 'no GITHUB_EVENT_PATH'}); pass --pr N"
            )
        pr = number
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = environ.get("GITHUB_RUN_ID", "")
    run_url = f"{server}/{repository}/actions/runs/{run_id}" if run_id.isdigit() else None
    return Target(api_url, repository, pr, run_url, head_sha)


def _read_event(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, "rb") as handle:
            raw = handle.read(EVENT_FILE_LIMIT + 1)
    except OSError as exc:
        raise GitHubError(f"cannot read GITHUB_EVENT_PATH {path}: {exc.strerror}") from None
    if len(raw) > EVENT_FILE_LIMIT:
        raise GitHubError(f"GITHUB_EVENT_PATH {path} is larger than {EVENT_FILE_LIMIT // (1024 * 1024)} MiB")
    try:
        data = json.loads(raw)
    except ValueError:
        raise GitHubError(f"GITHUB_EVENT_PATH {path} is not JSON") from None
    return data if isinstance(data, dict) else {}


def check_api_url(url: str) -> None:
    """The token is sent only over https, or plain http to this machine (the tests' fake)."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not parts.hostname or parts.scheme not in ("https", "http") or (parts.scheme == "http" and not loopback):
        raise GitHubError(f"GITHUB_API_URL must be an https:// URL, not {redact(url)!r}")


@dataclass(frozen=True)
class Outcome:
    action: str  # created | updated | unchanged
    url: str


class GitHubClient:
    """The three calls a sticky comment needs, with bounded retries for rate limits and 5xx."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT_SECONDS,
        attempts: int = MAX_ATTEMPTS,
    ) -> None:
        import requests

        check_api_url(api_url)
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set: give the job a token (permissions: pull-requests: write)")
        register(token)  # any accidental echo of the token is masked like every other secret
        self._base = api_url.rstrip("/")
        self._origin = urlsplit(self._base)[:2]
        # Proxy and CA-bundle variables still apply (GitHub Enterprise behind a corporate proxy);
        # the explicit auth object keeps a ~/.netrc entry from replacing the token's header.
        self._session = session or requests.Session()
        self._auth = _Bearer(token)
        self._sleep, self._max_wait, self._attempts = sleep, max_wait, attempts

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ calls

    def comments(self, repository: str, number: int) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self._base}/repos/{repository}/issues/{number}/comments?per_page=100"
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._request("GET", url, what=f"listing the comments of pull request #{number}")
            items = response.json()
            if not isinstance(items, list):
                raise GitHubError("GitHub answered the comment list with something that is not a list")
            yield from (c for c in items if isinstance(c, dict))
            url = self._next_link(response.headers.get("Link", ""))

    def create(self, repository: str, number: int, body: str) -> dict[str, Any]:
        url = f"{self._base}/repos/{repository}/issues/{number}/comments"
        return dict(self._request("POST", url, body={"body": body}, what="creating the plan comment").json())

    def update(self, repository: str, comment_id: int, body: str) -> dict[str, Any]:
        url = f"{self._base}/repos/{repository}/issues/comments/{comment_id}"
        return dict(self._request("PATCH", url, body={"body": body}, what="updating the plan comment").json())

    # ------------------------------------------------------------------ plumbing

    def _next_link(self, header: str) -> str | None:
        """The ``rel="next"`` page, followed only on the same origin: the token never leaves it."""
        for part in header.split(","):
            m = re.match(r'\s*<([^>]+)>\s*;\s*rel="next"', part)
            if m:
                if urlsplit(m.group(1))[:2] != self._origin:
                    raise GitHubError("GitHub's pagination pointed to another host; refusing to follow it")
                return m.group(1)
        return None

    def _request(self, method: str, url: str, *, what: str, body: Any = None) -> Any:
        import requests

        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "reconciler",
        }
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            try:
                response = self._session.request(
                    method, url, headers=headers, json=body, auth=self._auth, timeout=(10, 60), allow_redirects=False
                )
            except requests.RequestException as exc:
                if last:
                    raise GitHubError(f"{what}: cannot reach {self._base} ({type(exc).__name__})") from None
                self._sleep(min(2.0**attempt, self._max_wait))
                continue
            status = response.status_code
            if status < 300:
                return response
            message = _message(response)
            wait = _rate_limit_wait(response, message)
            if wait is not None or status >= 500:
                wait = 2.0**attempt if wait is None else wait
                if last or wait > self._max_wait:
                    reason = "rate limited" if status in (403, 429) else f"HTTP {status}"
                    raise GitHubError(
                        f"{what}: GitHub kept answering {reason} ({message}); try again later"
                        + (f" (asked to wait {wait:.0f} s)" if wait > self._max_wait else "")
                    )
                self._sleep(wait)
                continue
            if status == 403:
                raise CommentForbidden(
                    f"{what}: GitHub refused it (403 {message}). The token cannot write comments: pull "
                    "requests from forks get read-only tokens, or the job lacks `permissions: pull-requests: write`"
                )
            if status == 401:
                raise GitHubError(f"{what}: GitHub did not accept GITHUB_TOKEN (401 {message})")
            if status == 404:
                raise GitHubError(f"{what}: not found (404 {message}); check GITHUB_REPOSITORY and the PR number")
            raise GitHubError(f"{what}: GitHub answered HTTP {status} ({message})")
        raise AssertionError("unreachable")


class _Bearer:
    """``Authorization: Bearer TOKEN`` as a requests auth callable (never a header built into a message)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _message(response: Any) -> str:
    """GitHub's own error message (and field errors), one line, bounded, never the request."""
    try:
        data = response.json()
    except ValueError:
        return response.reason or "no message"
    if not isinstance(data, dict):
        return "no message"
    text = str(data.get("message") or response.reason or "no message")
    errors = data.get("errors")
    if isinstance(errors, list):
        details = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
        if details:
            text += ": " + "; ".join(details)
    return redact(" ".join(text.split()))[:300]


def _rate_limit_wait(response: Any, message: str) -> float | None:
    """Seconds to wait for a 429 or a rate-limit 403, as GitHub documents it; None when it is not one."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
            except (TypeError, ValueError):
                return 60.0
    if headers.get("x-ratelimit-remaining") == "0" and (headers.get("x-ratelimit-reset") or "").isdigit():
        return max(0.0, int(headers["x-ratelimit-reset"]) - time.time())
    if response.status_code == 429 or "rate limit" in message.lower():
        return 60.0  # GitHub: "wait for at least one minute before retrying"
    return None


def find_comments(comments: Iterator[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Comments whose body starts with the marker (quoting it elsewhere does not count), bots first.

    Anyone can paste the marker into a comment; the one this tool wrote is by a bot (the Actions
    token's identity) unless a personal token is used, and editing somebody else's comment fails.
    """
    head = marker(key)
    found = [
        c
        for c in comments
        if isinstance(c.get("body"), str) and c["body"].startswith(head) and isinstance(c.get("id"), int)
    ]
    return sorted(found, key=lambda c: not (isinstance(c.get("user"), dict) and c["user"].get("type") == "Bot"))


def upsert_comment(client: GitHubClient, target: Target, body_markdown: str, key: str = "default") -> Outcome:
    """Update the sticky comment in place, or create it when there is none; never a second one."""
    body = f"{marker(key)}\n{body_markdown}"
    for existing in find_comments(client.comments(target.repository, target.pull_request), key)[:3]:
        if existing.get("body") == body:
            return Outcome("unchanged", str(existing.get("html_url", "")))
        try:
            updated = client.update(target.repository, int(existing["id"]), body)
        except CommentForbidden:
            continue  # somebody else's comment carrying the marker; a read-only token fails on create too
        return Outcome("updated", str(updated.get("html_url", "")))
    created = client.create(target.repository, target.pull_request, body)
    return Outcome("created", str(created.get("html_url", "")))


def comment_markdown(plan: Any, target: Target, *, key: str, artifact: str | None, budget: int) -> str:
    """The plan as the comment's markdown: title, pointer to the full plan, and the commit it is for."""
    from reconciler.render.markdown import full_plan_link, md_code, render_markdown

    footer = ""
    if target.head_sha:
        footer = f"\n<sub>Planned for commit {md_code(target.head_sha[:12], in_table=False)}.</sub>\n"
    text = render_markdown(
        plan,
        budget=budget - len(footer.encode("utf-8")),
        title=None if key == "default" else key,
        full_plan=full_plan_link(target.run_url, artifact),
    )
    return text + footer


def workflow_message(text: str) -> str:
    """A workflow-command message (``::warning::...``) that cannot end early or start another command."""
    from reconciler.render.escape import github_data

    return github_data(text)


#: GitHub's limit for one step's summary; the markdown plan is far below it, a full file is left alone.
STEP_SUMMARY_LIMIT = 1024 * 1024


def append_step_summary(path: str, markdown: str) -> str | None:
    """Append to the job summary file the runner created; never create, truncate or replace a file.

    Returns a warning when it could not (the plan itself does not fail for it).
    """
    data = ("\n" + markdown).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return f"cannot append the plan to GITHUB_STEP_SUMMARY ({exc.strerror}); the plan is unaffected"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "GITHUB_STEP_SUMMARY is not a regular file; the plan was not added to the job summary"
        if info.st_size + len(data) > STEP_SUMMARY_LIMIT:
            return "the job summary is full (1 MiB); the plan was not added to it"
        os.write(fd, data)
    except OSError as exc:
        return f"cannot append the plan to GITHUB_STEP_SUMMARY ({exc.strerror}); the plan is unaffected"
    finally:
        os.close(fd)
    return None


def summary_pointer(out: str | None, environ: Mapping[str, str]) -> str | None:
    """Where a shortened job summary's reader finds the full plan: the saved plan, and the run's page."""
    from reconciler.render.markdown import md_code

    parts = []
    if out:
        parts.append(f"the saved plan {md_code(os.path.basename(out), in_table=False)}")
    server, repository, run_id = (
        environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server.startswith("https://") and re.match(r"^[\w.-]+/[\w.-]+$", repository) and run_id.isdigit():
        parts.append(f"(artifacts of [this workflow run]({server.rstrip('/')}/{repository}/actions/runs/{run_id}))")
    return " ".join(parts) or None


def read_plan(path: str) -> Any:
    """The saved plan (``plan --out``): the comment shows exactly what apply will do."""
    if not Path(path).is_file():
        raise ReconcilerError(f"plan file {path} not found")
    from reconciler.engine import read_plan_file

    return read_plan_file(path)
