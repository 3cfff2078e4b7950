"""Where requests to one storage account go: its proxy and the CA bundle that verifies it.

Read once per run from the environment, by the rules requests follows (``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` with host suffixes, ports and IPv4 networks,
``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``), without importing requests: a re-run that lists and
moves nothing must not pay for loading it. Both ways to the service use this one decision: the
standard-library listing transport (``httpclient.py``) and the requests session the SDK gets (a
test holds it equal to requests' own reading for a matrix of settings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Network:
    """``proxies`` as a requests session takes them (by scheme); ``verify`` True or a CA bundle path."""

    proxies: dict[str, str] = field(default_factory=dict)
    verify: bool | str = True

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through (requests' ``select_proxy``), or None."""
        parts = urlsplit(url)
        keys = [f"{parts.scheme}://{parts.hostname}", parts.scheme, f"all://{parts.hostname}", "all"]
        return next((self.proxies[key] for key in keys if key in self.proxies), None)


def network_for(account_url: str) -> Network:
    """The proxies and CA bundle for requests to ``account_url``, from the environment."""
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return Network({}, verify)  # what the reading below gives without *_proxy variables, without loading it
    import urllib.request

    proxies = {} if _bypass(account_url) else urllib.request.getproxies()
    return Network(proxies, verify)


def _bypass(url: str) -> bool:
    """``NO_PROXY`` names the host (requests' ``should_bypass_proxies``): lower-case variables first."""
    import urllib.request

    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    parts = urlsplit(url)
    hostname = parts.hostname
    if hostname is None:
        return True
    if no_proxy:
        entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
        if _is_ipv4(hostname):
            if any(_in_network(hostname, entry) if "/" in entry else hostname == entry for entry in entries):
                return True
        else:
            with_port = f"{hostname}:{parts.port}" if parts.port else hostname
            for entry in entries:
                entry = entry.lstrip(".")
                if entry in (hostname, with_port):
                    return True
                if hostname.endswith("." + entry) or with_port.endswith("." + entry):
                    return True
    try:
        return bool(urllib.request.proxy_bypass(hostname))
    except (TypeError, OSError):
        return False


def _is_ipv4(host: str) -> bool:
    import socket

    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _in_network(ip: str, cidr: str) -> bool:
    """``ip`` is in the IPv4 network ``cidr`` (``10.0.0.0/8``); a malformed one matches nothing, as in requests."""
    import socket

    address, _, bits = cidr.partition("/")
    try:
        prefix = int(bits)
    except ValueError:
        return False
    if "/" in bits or not 1 <= prefix <= 32 or not _is_ipv4(address):
        return False
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return (int.from_bytes(socket.inet_aton(ip), "big") ^ int.from_bytes(socket.inet_aton(address), "big")) & mask == 0
