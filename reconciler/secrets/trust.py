"""The trust boundary for secrets: which files may be read as secrets, which hosts may receive them.

A pull request can change the manifest, so a manifest alone must not be able to read an
arbitrary file (``${file:/proc/self/environ}``) or send a credential to a host of its choosing
(``endpoint: 127.0.0.1:8080``). Two rules, widened only by the person running reconciler:

- ``${file:PATH}`` stays inside the *secrets root* (default: the manifest's directory) after
  ``..`` and symlinks are resolved (``--secrets-root DIR`` / ``RECONCILER_SECRETS_ROOT``).
- A secret goes only to hosts under the cloud's own suffixes for the service (public and
  sovereign clouds, on the service's port); any other host (loopback, private, an
  emulator, anything else) needs ``--allow-endpoint HOST[:PORT]`` / ``RECONCILER_ALLOW_ENDPOINTS``.

Every piece of code that sends a secret (probes, ``data`` commands, storage checks) asks
:func:`check_destination` or :meth:`TrustPolicy.trusts` first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.clouds import service_suffixes
from reconciler.errors import ReconcilerError

SECRETS_ROOT_ENV = "RECONCILER_SECRETS_ROOT"
ALLOW_ENDPOINTS_ENV = "RECONCILER_ALLOW_ENDPOINTS"

#: The DNS suffixes each service has in the public and sovereign clouds (China, US Government).
CLOUD_SUFFIXES: dict[str, tuple[str, ...]] = service_suffixes()
#: Services spoken over TLS on a fixed port: a cloud host on another port is not the service.
_HTTPS_SERVICES = frozenset({"blob", "file", "dfs", "adls_gen1", "onelake", "aad", "keyvault"})

_ENTRY = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+|[0-9A-Fa-f:]+))(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class Destination:
    """Where a secret (or a token obtained with it) is sent for one datastore."""

    service: str
    host: str
    port: int | None = None
    scheme: str = "https"
    #: The manifest field that decides the host (for a located error).
    field: str = "endpoint"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host


def parse_endpoint_entry(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[IPV6]:PORT`` as (lower-case host, port or None for any port)."""
    entry = text.strip()
    match = _ENTRY.fullmatch(entry)
    if match is None or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        raise ReconcilerError(f"--allow-endpoint {entry!r}: expected HOST or HOST:PORT (IPv6 as [ADDR]:PORT)")
    host = (match.group("v6") or match.group("host") or "").lower().rstrip(".")
    if ":" in host and match.group("host"):  # a bare IPv6 address: no port can follow unbracketed
        return host, None
    return host, int(match.group("port")) if match.group("port") else None


@dataclass(frozen=True)
class TrustPolicy:
    """What the person running reconciler trusts beyond the defaults."""

    #: Where ``${file:...}`` may read; None: each manifest's own directory.
    secrets_root: Path | None = None
    allowed_endpoints: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)
    #: False for ``plan --no-secrets``: no reference is resolved, nothing is probed.
    resolve_secrets: bool = True

    @classmethod
    def from_options(
        cls,
        *,
        secrets_root: str | None = None,
        allow_endpoints: Sequence[str] = (),
        no_secrets: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> TrustPolicy:
        """The policy from the command line, falling back to the environment variables."""
        environ = os.environ if environ is None else environ
        root_text = secrets_root if secrets_root is not None else environ.get(SECRETS_ROOT_ENV) or None
        root: Path | None = None
        if root_text is not None:
            if not root_text.strip() or "\0" in root_text:
                raise ReconcilerError("--secrets-root: expected a directory")
            root = Path(root_text).expanduser().resolve()
            if not root.is_dir():
                raise ReconcilerError(f"--secrets-root {root_text}: not a directory")
        entries = list(allow_endpoints)
        entries += [e for e in re.split(r"[,\s]+", environ.get(ALLOW_ENDPOINTS_ENV, "")) if e]
        return cls(root, frozenset(parse_endpoint_entry(e) for e in entries), not no_secrets)

    def root_for(self, manifest_dir: Path) -> Path:
        return self.secrets_root if self.secrets_root is not None else manifest_dir.resolve()

    def allows(self, host: str, port: int | None) -> bool:
        """Whether the user listed this host (with this port, or with any port)."""
        host = host.lower().rstrip(".").strip("[]")
        return (host, port) in self.allowed_endpoints or (host, None) in self.allowed_endpoints

    def trusts(self, destination: Destination) -> bool:
        """A cloud host of the service (on its own port), or a host the user allowed."""
        if self.allows(destination.host, destination.port):
            return True
        return is_cloud_host(destination)


def is_cloud_host(destination: Destination) -> bool:
    host = destination.host.lower().rstrip(".")
    if host == "localhost" or is_ip(host):
        return False
    if destination.service in _HTTPS_SERVICES and destination.port not in (None, 443, 80):
        return False  # the service's own host on another port is not the service
    suffixes = CLOUD_SUFFIXES.get(destination.service, ())
    return any(host == suffix or host.endswith("." + suffix) for suffix in suffixes)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def untrusted_message(destination: Destination) -> str:
    """Why a destination is refused and how to allow it, naming the host but never a secret."""
    return (
        f"secrets for this datastore would be sent to {destination}, which is not an Azure {destination.service} "
        f"host; if you trust it, pass --allow-endpoint {destination} (or set {ALLOW_ENDPOINTS_ENV})"
    )


def check_destination(destination: Destination, policy: TrustPolicy) -> None:
    """Raise unless ``policy`` trusts ``destination``: for code that sends a secret outside a plan."""
    if not policy.trusts(destination):
        raise ReconcilerError(untrusted_message(destination))


def allowed_hosts_text(policy: TrustPolicy) -> Iterable[str]:
    for host, port in sorted(policy.allowed_endpoints, key=lambda e: (e[0], e[1] or 0)):
        yield f"{host}:{port}" if port else host
