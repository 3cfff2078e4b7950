"""Importing the storage SDKs without loading aiohttp, which the data commands never use.

``azure.storage.blob`` and ``azure.storage.fileshare`` import ``AioHttpTransport`` at module level
(``_shared/authentication.py``) only to recognise, when signing a request, an async client running on
aiohttp. Importing it loads aiohttp, yarl, multidict, attrs and asyncio: about 40 % of the SDK's
import time, paid by every ``reconciler data`` run although the data commands use the synchronous
requests transport. While the SDK is imported, a stand-in class takes the transport's name: its
``isinstance`` check answers with the real class as soon as aiohttp's transport has been loaded by
anything, and no otherwise (no object can be an instance of a class that was never loaded), so
signing stays correct for every client in the process, async ones included.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

_TRANSPORTS = "azure.core.pipeline.transport"
_AIOHTTP_TRANSPORT = "azure.core.pipeline.transport._aiohttp"


class _DeferredMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        module = sys.modules.get(_AIOHTTP_TRANSPORT)
        return module is not None and isinstance(obj, module.AioHttpTransport)


class DeferredAioHttpTransport(metaclass=_DeferredMeta):
    """Stands in for ``AioHttpTransport`` in the storage SDKs' ``isinstance`` checks (never instantiated)."""


@contextlib.contextmanager
def _without_aiohttp() -> Iterator[None]:
    import azure.core.pipeline.transport as transports

    if _AIOHTTP_TRANSPORT in sys.modules or "AioHttpTransport" in vars(transports):
        yield  # already loaded (or already stood in for): nothing to save
        return
    transports.AioHttpTransport = DeferredAioHttpTransport
    try:
        yield
    finally:
        # The package's own lazy __getattr__ serves the real class again to everyone else.
        del transports.AioHttpTransport


def load_blob_sdk() -> None:
    """Import ``azure.storage.blob`` (if not yet) without aiohttp; then import from it as usual."""
    if "azure.storage.blob" not in sys.modules:
        with _without_aiohttp():
            import azure.storage.blob  # noqa: F401


def load_fileshare_sdk() -> None:
    """Import ``azure.storage.fileshare`` (if not yet) without aiohttp; then import from it as usual."""
    if "azure.storage.fileshare" not in sys.modules:
        with _without_aiohttp():
            import azure.storage.fileshare  # noqa: F401
