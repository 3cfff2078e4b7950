"""Connections to a storage service on the standard library's ``http.client``, and one bare GET.

What the azure-core transport (``httpclient.py``) and the bare listing request (``light.py``,
sent before azure-core is loaded) share: a connection made directly or through an HTTP proxy
(absolute URLs for http, a CONNECT tunnel for https, the proxy's credentials from its URL), TLS
verified against the CA bundle requests would use, and failures worded as urllib3 words them.
"""

from __future__ import annotations

import base64
import functools
import http.client
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.data.network import Network


def supports(network: Network, url: str) -> bool:
    """Requests to ``url`` can go this way: directly, or through a plain ``http://`` proxy."""
    proxy = network.proxy_for(url)
    return proxy is None or urlsplit(proxy if "://" in proxy else f"http://{proxy}").scheme == "http"


def request_target(url: str, network: Network) -> str:
    """What the request line names: the absolute URL through a proxy (plain http), else path and query."""
    if url.startswith("http://") and network.proxy_for(url) is not None:
        return url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def open_connection(url: str, network: Network, timeout: float) -> http.client.HTTPConnection:
    """A connection for requests to ``url`` (not connected yet), directly or through the proxy."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    proxy = network.proxy_for(url)
    if proxy is None:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(network.verify))
        return http.client.HTTPConnection(host, port, timeout=timeout)
    via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = {}
    if via.username is not None:
        pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
        auth["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            via.hostname or "", via.port or 80, timeout=timeout, context=tls_context(network.verify)
        )
        connection.set_tunnel(host, port or 443, headers=auth)
        return connection
    connection = _ProxyConnection(via.hostname or "", via.port or 80, timeout=timeout)
    connection.proxy_headers = auth
    return connection


@functools.cache
def tls_context(verify: bool | str) -> Any:
    """TLS verified as requests verifies: the bundle (file or directory) named, else certifi's."""
    import os
    import ssl

    if isinstance(verify, str) and os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _ProxyConnection(http.client.HTTPConnection):
    """A plain-http request through an HTTP proxy: the absolute URL, with the proxy's credentials."""

    proxy_headers: dict[str, str] = {}

    def putrequest(self, method: str, url: str, skip_host: bool = False, skip_accept_encoding: bool = False) -> None:
        super().putrequest(method, url, skip_host=skip_host, skip_accept_encoding=skip_accept_encoding)
        for name, value in self.proxy_headers.items():
            self.putheader(name, value)


def failure_text(url: str, exc: BaseException) -> str:
    """The failure in urllib3's words (``host='h', port=p``), which ``validation.reasons`` reads."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, (TimeoutError, socket.timeout)):
        reason = "timed out"
    return f"{type(exc).__name__}(host='{parts.hostname}', port={port}): {reason}"


def bare_get(url: str, headers: Mapping[str, str], network: Network, timeout: float, max_bytes: int) -> bytes | None:
    """The body of a GET answered 200 within ``timeout`` and ``max_bytes``; None for anything else.

    No retries and no error of its own: whoever calls it sends the request again through the
    azure-core pipeline when this does not give a plain success."""
    connection = open_connection(url, network, timeout)
    try:
        connection.request("GET", request_target(url, network), headers=dict(headers))
        answer = connection.getresponse()
        if answer.status != 200:
            return None
        body = answer.read(max_bytes + 1)
        return body if len(body) <= max_bytes else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
