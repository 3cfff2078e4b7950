"""Service principal sign-in for probes: a client secret or a certificate, via azure-identity.

The authority comes from ``authority_url`` when given, else from a sovereign storage endpoint's
cloud, else azure-identity's default (``AZURE_AUTHORITY_HOST``, or the public cloud). A
certificate's ``thumbprint`` is checked against the certificate itself first: a mismatch would
make Azure ML's own sign-in fail, and the probe can say so precisely.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from reconciler.clouds import CLOUDS
from reconciler.state import DesiredDatastore
from reconciler.validation.reasons import one_line
from reconciler.validation.runner import ProbeFailure

#: Sovereign storage endpoint suffix -> Entra ID authority of that cloud (the public cloud is the default).
CLOUD_AUTHORITIES = {c.storage_endpoint: c.authority_host for c in CLOUDS.values() if c is not CLOUDS["azurecloud"]}


def authority_for(credentials: dict[str, Any], endpoint: str | None) -> str | None:
    """``scheme://host`` of ``authority_url``; else the cloud's authority for ``endpoint``; else None."""
    url = credentials.get("authority_url")
    if url:
        split = urlsplit(url)
        return f"{split.scheme}://{split.netloc}"
    host = CLOUD_AUTHORITIES.get((endpoint or "").lower())
    return f"https://{host}" if host else None


def service_principal_credential(item: DesiredDatastore, timeout: float) -> Any:
    """A ClientSecretCredential or CertificateCredential, with one quick attempt per request."""
    from azure.identity import CertificateCredential, ClientSecretCredential

    creds = item.settings["credentials"]
    options: dict[str, Any] = {
        "authority": authority_for(creds, item.settings.get("endpoint")),
        "connection_timeout": timeout,
        "read_timeout": timeout,
        "retry_total": 0,
    }
    if creds["type"] == "service_principal":
        secret = item.secrets["credentials.client_secret"].reveal()
        return ClientSecretCredential(creds["tenant_id"], creds["client_id"], secret, **options)
    data = certificate_data(item.secrets["credentials.certificate"].reveal(), creds["thumbprint"])
    try:
        return CertificateCredential(creds["tenant_id"], creds["client_id"], certificate_data=data, **options)
    except ValueError as exc:
        raise ProbeFailure(one_line(f"credentials.certificate cannot be used to sign in: {exc}")) from None


def certificate_data(secret: str, thumbprint: str) -> bytes:
    """The certificate's bytes (PEM, or base64-encoded PKCS#12), after checking ``thumbprint`` matches it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import pkcs12

    text = secret.strip()
    certificate: x509.Certificate | None
    try:
        if "-----BEGIN" in text:
            data = text.encode()
            certificate = x509.load_pem_x509_certificates(data)[0]
        else:
            data = base64.b64decode(text, validate=True)
            certificate = pkcs12.load_key_and_certificates(data, None)[1]
    except (ValueError, binascii.Error, IndexError):
        certificate = None
    if certificate is None:
        raise ProbeFailure(
            "credentials.certificate is neither a PEM certificate with its private key "
            "nor a base64-encoded PKCS#12 file without a password"
        )
    wanted = thumbprint.upper()
    digest = hashes.SHA256() if len(wanted) == 64 else hashes.SHA1()
    actual = certificate.fingerprint(digest).hex().upper()
    if actual != wanted:
        raise ProbeFailure(
            f"credentials.thumbprint {wanted} does not match the certificate, whose thumbprint is {actual}"
        )
    return data
