"""The data commands' start-up trimming stays correct: the storage SDKs without aiohttp, the environment read once."""

from __future__ import annotations

import inspect
import subprocess
import sys

from reconciler.data.network import Network
from reconciler.data.ops import _session
from tests.conftest import clean_env


def test_the_storage_sdks_still_import_aiohttp_only_for_an_isinstance_check() -> None:
    """What :mod:`reconciler.data.sdk` relies on; if an SDK changes this, the stand-in needs a look."""
    import azure.storage.blob._shared.authentication as blob_auth
    import azure.storage.fileshare._shared.authentication as share_auth

    for module in (blob_auth, share_auth):
        source = inspect.getsource(module)
        assert "from azure.core.pipeline.transport import AioHttpTransport" in source
        uses = [line.strip() for line in source.splitlines() if "AioHttpTransport" in line and "import" not in line]
        # the fallback, and the operands of the isinstance checks that decide how a URL path is signed
        allowed = ("AioHttpTransport = None", "AioHttpTransport,")
        assert uses and all(line in allowed or "isinstance(" in line for line in uses), uses


def test_the_storage_sdks_load_without_aiohttp_and_still_recognise_its_transport() -> None:
    code = """
import sys
from reconciler.data.sdk import DeferredAioHttpTransport, load_blob_sdk, load_fileshare_sdk
load_blob_sdk(); load_fileshare_sdk()
import azure.storage.blob._shared.authentication as blob_auth
import azure.storage.fileshare._shared.authentication as share_auth
from azure.core.pipeline.transport import RequestsTransport
blob, share = blob_auth.AioHttpTransport, share_auth.AioHttpTransport
print("aiohttp" in sys.modules, blob is DeferredAioHttpTransport, share is DeferredAioHttpTransport,
      isinstance(RequestsTransport(), blob))
from azure.core.pipeline.transport import AioHttpTransport  # the real class again, for everyone else
print(AioHttpTransport is not DeferredAioHttpTransport, isinstance(AioHttpTransport(), blob),
      isinstance(AioHttpTransport(), share), isinstance(RequestsTransport(), share))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), check=False)
    assert out.stdout.split("\n")[:2] == ["False True True False", "True True True False"], out.stderr


def test_an_sdk_imported_before_is_left_alone() -> None:
    code = """
import azure.storage.blob._shared.authentication as blob_auth
from azure.core.pipeline.transport import AioHttpTransport
from reconciler.data.sdk import load_blob_sdk
load_blob_sdk()
print(blob_auth.AioHttpTransport is AioHttpTransport)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), check=False)
    assert out.stdout.strip() == "True", out.stderr


def test_the_session_takes_the_network_read_once_for_the_account() -> None:
    network = Network({"https": "http://proxy.example:3128"}, "/etc/private-ca.pem")
    session = _session(8, network)
    assert (session.proxies, session.trust_env) == ({"https": "http://proxy.example:3128"}, False)
    assert session.get_adapter("https://acct.blob.core.windows.net")._pool_maxsize == 20
