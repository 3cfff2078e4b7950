"""The storage's own reason, as one line: error code and message from the service or the driver.

SDK and driver errors are multi-line (request ids, timestamps, XML bodies, repeated DB-Lib
banners); a plan lists one line per failing datastore, so these helpers keep what the service
said and drop the noise. Every result still goes through :func:`redact` in the runner.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.azure.errors import without_trace

_MAX_LENGTH = 400
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*([^'\")\]]+)")
_INVALID_STATUS = re.compile(r"^Operation returned an invalid status '(.*)'$")
_HOST_PORT = re.compile(r"host='([^']+)'(?:, port=(\d+))?")
#: ``HTTPConnection(host='h', port=1): `` before a reason, as ``data/httpclient.py`` words its failures.
_HOST_PREFIX = re.compile(r"^\w+\(host='[^']*'(?:, port=\d+)?\):\s*")
_TLS = re.compile(r"\[SSL(?:: [A-Z_]+)?\]\s*(.+?)\s*\(_ssl\.c:\d+\)")
_CAUSE = re.compile(r"[A-Za-z]+\('([^']+)'\)")
# Azure's AuthenticationFailed detail quotes the request's HMAC signature: a replayable request
# credential, so it is masked like a SAS signature.
_MAC_SIGNATURE = re.compile(r"(signature found in the HTTP request ')[^']*(')", re.IGNORECASE)


def one_line(text: str) -> str:
    """Mask, then collapse whitespace and cut overly long text, so one failure is one line.

    Masking comes first: collapsing or cutting could split a secret the service echoed, and a
    fragment no longer matches the value the mask looks for.
    """
    from reconciler.secrets.redact import redact

    text = " ".join(redact(text).split())
    return text if len(text) <= _MAX_LENGTH else text[: _MAX_LENGTH - 3].rstrip() + "..."


def network_reason(text: str) -> str:
    """The OS reason out of a urllib3 message: ``... Failed to ...: [Errno 111] Connection refused``."""
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    match = _TLS.search(text)
    if match:
        return f"TLS: {match.group(1)}"
    causes = _CAUSE.findall(text)  # ('Connection aborted.', RemoteDisconnected('Remote end closed ...'))
    return one_line(causes[-1] if causes else _HOST_PREFIX.sub("", text))


def _storage_code(exc: Any) -> str:
    for line in str(getattr(exc, "message", "") or "").splitlines():
        if line.startswith("ErrorCode:"):
            return line.removeprefix("ErrorCode:").strip()
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if code else ""


def _storage_message(exc: Any) -> str:
    lines = str(getattr(exc, "message", "") or "").splitlines()
    first = lines[0].strip() if lines else ""
    match = _INVALID_STATUS.match(first)
    return match.group(1) if match else first


def azure_reason(exc: Exception, timeout: float, target: str = "") -> str:
    """An Azure SDK error as ``Code: message (HTTP status)``, or the network failure behind it.

    ``target`` (``host[:port]``) names the server when the SDK's message does not.
    """
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, HttpResponseError) and exc.status_code:
        code, message = _storage_code(exc), _storage_message(exc)
        if code and message and code not in message:
            text = f"{code}: {message}"
        else:
            text = message or code or (exc.reason or "")
        extra = {str(k).lower(): v for k, v in (getattr(exc, "additional_info", None) or {}).items()}
        detail = extra.get("authenticationerrordetail")
        if detail:
            masked = _MAC_SIGNATURE.sub(r"\1(sensitive)\2", str(detail))
            text = f"{text} Detail: {masked}"
        return one_line(f"{text} (HTTP {exc.status_code})")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        text = str(exc)
        reason, target = network_reason(text), _target(text) or target
        if reason == "timed out":
            return f"no answer from {target} within {timeout:g} s" if target else f"no answer within {timeout:g} s"
        if isinstance(exc, ServiceResponseError):
            return f"no valid answer from {target}: {reason}" if target else f"no valid answer: {reason}"
        return f"cannot connect to {target}: {reason}" if target else f"cannot connect: {reason}"
    return one_line(str(getattr(exc, "message", None) or exc))


def _target(text: str) -> str:
    """``host:port`` named in a urllib3 message (``HTTPConnection(host='h', port=1)``), or ""."""
    match = _HOST_PORT.search(text)
    if not match:
        return ""
    host, port = match.groups()
    return f"{host}:{port}" if port not in (None, "80", "443") else host


def sign_in_reason(exc: Exception, timeout: float) -> str:
    """An azure-identity failure as Entra ID's own ``AADSTS...`` message, without trace ids.

    azure-identity reports network failures as authentication errors too; those read as what
    they are: the sign-in host could not be reached, or did not answer in time.
    """
    text = one_line(str(getattr(exc, "message", None) or exc))
    text = text.split("Authentication failed: ", 1)[-1]
    host = _target(text)
    if host and "AADSTS" not in text:
        if "timed out" in text.lower():
            return f"no answer from {host} within {timeout:g} s"
        return f"cannot connect to {host}: {network_reason(text)}"
    return without_trace(text)
