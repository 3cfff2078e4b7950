"""A loopback fake of the GitHub REST API: the issue-comment endpoints a sticky plan comment uses.

It follows the published contract (https://docs.github.com/rest/issues/comments, API version
2022-11-28): list (``GET /repos/{owner}/{repo}/issues/{n}/comments``, ``per_page`` default 30,
at most 100, ``page``, a ``Link`` header with ``rel="next"`` and ``rel="last"``), create
(``POST`` to the same path, 201 with ``Location``), update (``PATCH
/repos/{owner}/{repo}/issues/comments/{id}``, 200). Errors are the documented JSON bodies:
401 "Bad credentials", 403 "Resource not accessible by integration" (a read-only token, as
pull requests from forks get), 404 "Not Found", 422 "Validation Failed" for a body over 65,536
characters; rate limits answer 403 or 429 with ``Retry-After`` or ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.https import ThreadedHTTPSServer

DOCS = "https://docs.github.com/rest/issues/comments"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
BODY_LIMIT = 65_536


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """Comments per (repository, issue number); ``token`` is the only credential accepted."""

    token: str = "ghs_fake-token"
    read_only: bool = False
    #: Answers to give before the real one: (status, headers, message), e.g. a rate limit.
    throttle: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    pulls: set[tuple[str, int]] = field(default_factory=set)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _next_id: int = 1000
    _server: ThreadedHTTPSServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ setup

    def add_pull(self, repository: str, number: int) -> None:
        self.pulls.add((repository, number))

    def seed(self, repository: str, number: int, body: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """A comment somebody else wrote (for pagination and for marker look-alikes)."""
        return self._create(repository, number, body, user or {"login": "octocat", "id": 1, "type": "User"})

    def on(self, repository: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["_key"] == (repository, number)]

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadedHTTPSServer(("127.0.0.1", 0), Handler, None)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-github").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ model

    def _create(self, repository: str, number: int, body: str, user: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            cid = self._next_id
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        comment = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "url": f"/repos/{repository}/issues/comments/{cid}",
            "html_url": f"https://github.com/{repository}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"/repos/{repository}/issues/{number}",
            "body": body,
            "user": user,
            "author_association": "NONE",
            "created_at": now,
            "updated_at": now,
            "_key": (repository, number),
        }
        self.comments[cid] = comment
        return comment


def public(comment: dict[str, Any], base: str) -> dict[str, Any]:
    out = {k: v for k, v in comment.items() if not k.startswith("_")}
    out["url"] = base + out["url"]
    out["issue_url"] = base + out["issue_url"]
    return out


class _Error(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra


_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        gh = self.github
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        gh.requests.append(Recorded(method, url.path, parse_qs(url.query), headers, body))
        try:
            status, payload, extra = self._route(method, url.path, parse_qs(url.query), headers, body)
        except _Error as exc:
            error = {"message": exc.message, "documentation_url": DOCS, "status": str(exc.status), **exc.extra}
            self._send(exc.status, error, exc.headers)
            return
        self._send(status, payload, extra)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        gh = self.github
        auth = headers.get("authorization", "")
        if auth not in (f"Bearer {gh.token}", f"token {gh.token}"):
            raise _Error(401, "Bad credentials")
        if gh.throttle:
            status, extra, message = gh.throttle.pop(0)
            raise _Error(status, message, extra)
        if (m := _LIST.match(path)) and method == "GET":
            repository, number = m.group(1), int(m.group(2))
            self._pull(repository, number)
            return self._list(repository, number, path, query)
        if (m := _LIST.match(path)) and method == "POST":
            repository, number = m.group(1), int(m.group(2))
            self._pull(repository, number)
            if gh.read_only:
                raise _Error(403, "Resource not accessible by integration")
            text = self._body(body)
            comment = gh._create(repository, number, text, BOT)
            location = f"{gh.url}/repos/{repository}/issues/comments/{comment['id']}"
            return 201, public(comment, gh.url), {"Location": location}
        if (m := _ONE.match(path)) and method == "PATCH":
            comment = gh.comments.get(int(m.group(2)))
            if comment is None or comment["_key"][0] != m.group(1):
                raise _Error(404, "Not Found")
            if gh.read_only or comment["user"] != BOT:
                raise _Error(403, "Resource not accessible by integration")
            comment["body"] = self._body(body)
            comment["updated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return 200, public(comment, gh.url), {}
        raise _Error(404, "Not Found")

    def _pull(self, repository: str, number: int) -> None:
        if (repository, number) not in self.github.pulls:
            raise _Error(404, "Not Found")

    @staticmethod
    def _body(body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            raise _Error(422, "Invalid request.\n\nFor 'properties/body', nil is not a string.")
        text = body["body"]
        if len(text) > BODY_LIMIT:
            raise _Error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {BODY_LIMIT} characters)",
                    }
                ],
            )
        return text

    def _list(
        self, repository: str, number: int, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        gh = self.github
        per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        items = sorted(gh.on(repository, number), key=lambda c: c["id"])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{gh.url}{path}?per_page={per_page}"
        if page < last:
            links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}&page=1>; rel="first"')
            links.append(f'<{base}&page={page - 1}>; rel="prev"')
        return 200, [public(c, gh.url) for c in chunk], ({"Link": ", ".join(links)} if links else {})

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def iter_bodies(fake: FakeGitHub, repository: str, number: int) -> Iterator[str]:
    for comment in fake.on(repository, number):
        yield comment["body"]
