"""The requests made without the storage SDK sign exactly as the SDK does; what is made when."""

from __future__ import annotations

import base64

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest

from reconciler.data.connections import supports
from reconciler.data.credentials import KeyCredential, azure_credential, signs_requests
from reconciler.data.light import API_VERSION, LazyContainer
from reconciler.data.network import Network
from reconciler.data.ops import RETRY
from reconciler.data.pipeline import SharedKeyPolicy, plain_pipeline
from reconciler.secrets.value import SecretValue

KEY = base64.b64encode(b"k" * 64).decode()
BASE = "http://127.0.0.1:10000/devstoreaccount1/cont"


@pytest.mark.parametrize(
    "query",
    [
        "restype=container&comp=list&maxresults=5000",
        "restype=container&comp=list&maxresults=5000&prefix=run%2Fa%20b%C3%A9&marker=2%21x%3D&include=metadata",
    ],
)
def test_the_shared_key_signature_is_the_sdks(query: str) -> None:
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    url = f"{BASE}?{query}"
    headers = {"x-ms-version": API_VERSION, "x-ms-date": "Wed, 02 Dec 2026 08:00:00 GMT"}
    request = PipelineRequest(HttpRequest("GET", url, headers=dict(headers)), PipelineContext(None))
    SharedKeyCredentialPolicy("devstoreaccount1", KEY).on_request(request)
    ours = SharedKeyPolicy("devstoreaccount1", KEY).signature("GET", url, headers)
    assert request.http_request.headers["Authorization"] == f"SharedKey devstoreaccount1:{ours}"


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        (
            "PUT",
            {
                "x-ms-blob-type": "BlockBlob",
                "x-ms-blob-content-type": "text/csv",
                "x-ms-blob-content-md5": "XUFAKrxLKna5cZ2REBfFkg==",
                "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg==",
                "If-None-Match": "*",
            },
            b"hello",
        ),
        ("PUT", {"x-ms-blob-type": "BlockBlob", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, b""),
        ("GET", {"If-Match": '"0x8DC0FFEE"'}, None),
    ],
)
def test_small_file_requests_are_signed_as_the_sdk_signs_them(
    method: str, headers: dict[str, str], body: bytes | None
) -> None:
    """Put Blob and Get Blob of a small file go through the same pipeline as listings (blob.py ``_send``)."""
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    url = f"{BASE}/run/a%20b%C3%A9.csv"
    common = {"x-ms-version": API_VERSION, "x-ms-date": "Wed, 02 Dec 2026 08:00:00 GMT", **headers}
    request = PipelineRequest(HttpRequest(method, url, headers=dict(common), content=body), PipelineContext(None))
    SharedKeyCredentialPolicy("devstoreaccount1", KEY).on_request(request)
    signed = HttpRequest(method, url, headers=dict(common), content=body).headers
    ours = SharedKeyPolicy("devstoreaccount1", KEY).signature(method, url, signed)
    assert request.http_request.headers["Authorization"] == f"SharedKey devstoreaccount1:{ours}"


def test_the_api_version_is_the_sdks() -> None:
    from azure.storage.blob import ContainerClient

    assert ContainerClient("http://127.0.0.1/devstoreaccount1", "c").api_version == API_VERSION


def test_only_key_and_sas_credentials_sign_requests_without_the_sdk() -> None:
    options = {"connection_timeout": 1.0, "read_timeout": 1.0, "user_agent": "test"}
    key = KeyCredential("account_key", "devstoreaccount1", SecretValue(KEY))
    sas = KeyCredential("sas_token", "devstoreaccount1", SecretValue("?sv=x&sig=y"))
    credentials = (AzureNamedKeyCredential("devstoreaccount1", KEY), AzureSasCredential("sv=x&sig=y"), key, sas)
    for credential in credentials:
        assert signs_requests(credential)
        plain_pipeline(credential, network=Network(), options=options, retry=RETRY)
    assert not signs_requests(object())
    with pytest.raises(TypeError):
        plain_pipeline(object(), network=Network(), options=options, retry=RETRY)
    assert azure_credential(sas).signature == "sv=x&sig=y"
    assert azure_credential(key).named_key == ("devstoreaccount1", KEY)
    assert KEY not in repr(key) and "sig=y" not in repr(sas)


@pytest.mark.parametrize(
    ("proxy", "plain"),
    [
        ("http://proxy.example:3128", True),
        ("proxy.example:3128", True),
        ("https://proxy.example:3128", False),
        ("socks5://proxy.example:1080", False),
    ],
)
def test_a_proxy_only_requests_speaks_leaves_every_request_to_the_sdk(proxy: str, plain: bool) -> None:
    assert supports(Network({"http": proxy, "https": proxy}), BASE) is plain


def test_the_container_client_is_made_once_on_first_use() -> None:
    made: list[object] = []

    class Client:
        api_version = API_VERSION

        def close(self) -> None:
            made.append("closed")

    container = LazyContainer("http://h/acct/", "a b", lambda: made.append("made") or Client(), None)
    assert container.url == "http://h/acct/a%20b" and made == []
    assert container.api_version == API_VERSION and container.api_version == API_VERSION
    container.close()
    assert made == ["made", "closed"]
