"""The data operations as library calls: open a datastore's storage, list, plan and run transfers.

The CLI parses arguments and renders; everything that touches storage or the local disk is here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler import __version__
from reconciler.data.chunks import CHUNK_SIZE, Background, ChunkPool, md5_file
from reconciler.data.connections import supports
from reconciler.data.credentials import KeyCredential, azure_credential, signs_requests
from reconciler.data.network import Network, network_for
from reconciler.data.paths import MAX_FILES, Filters, LocalTree, UnsafeName, download_target, local_tree
from reconciler.data.resolve import DataTarget
from reconciler.data.store import RemoteDirectory, RemoteFile, Store
from reconciler.data.transfer import Task
from reconciler.data.uri import MAX_PATH_LENGTH, DataUri
from reconciler.errors import ReconcilerError

log = logging.getLogger(__name__)

#: Seconds to wait for a connection, and for each read of an answer.
CONNECT_TIMEOUT = 20.0
READ_TIMEOUT = 120.0
#: Three retries after about 0.5, 2.5 and 4.5 seconds (the SDKs' default waits 15 s, then 18, then 24).
RETRY: dict[str, Any] = {"initial_backoff": 0.5, "increment_base": 2, "retry_total": 3, "random_jitter_range": 0.5}


#: Local files up to this size are hashed while the listing is on its way (a single-request upload each).
PREHASH_MAX_SIZE = CHUNK_SIZE


class StorageError(ReconcilerError):
    """Listing or reading the storage failed (the service's reason, one line)."""


def describe(exc: BaseException, target: str = "") -> str:
    """One line for a failed file: the service's code and message, or the OS error."""
    from azure.core.exceptions import AzureError

    from reconciler.validation.reasons import azure_reason, one_line

    if isinstance(exc, AzureError):
        return azure_reason(exc, READ_TIMEOUT, target)
    if isinstance(exc, OSError) and exc.strerror:
        return one_line(f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror)
    return one_line(str(exc) or type(exc).__name__)


@contextlib.contextmanager
def storage_errors(action: str, target: DataTarget) -> Iterator[None]:
    """azure-core's errors as :class:`StorageError` (azure-core is not loaded when nothing was sent through it)."""
    try:
        yield
    except Exception as exc:
        loaded = sys.modules.get("azure.core.exceptions")
        if loaded is not None and isinstance(exc, loaded.AzureError):
            raise StorageError(
                f"cannot {action} {target.name}: {describe(exc, urlsplit(target.account_url).netloc)}"
            ) from None
        if not isinstance(exc, ValueError):
            raise
        # a credential the SDK cannot sign with
        raise StorageError(f"cannot {action} {target.name}: the credential cannot be used: {exc}") from None


def _session(concurrency: int, network: Network) -> Any:
    """A requests session for one storage account, with the proxies ``network`` read from the environment.

    The pool is as large as the parallelism (requests' default is 10). The environment is read once
    (:func:`network_for`) for the account's host, the only host this session talks to: requests would
    otherwise scan the whole environment twice per request (and look for a ``.netrc``), a tenth of the
    client's CPU per small file.
    """
    import requests
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4,
        pool_maxsize=2 * concurrency + 4,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),  # azure-core retries itself
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    session.proxies = dict(network.proxies)
    session.trust_env = False
    return session


#: The SDKs' "failsafe" deserializers log a warning with a traceback for every error answer without a
#: body (a HEAD that is 403 or 404), which the SDK then raises as a normal error that we report.
_NOISY_LOGGERS = (
    "azure.storage.fileshare._generated._utils.model_base",
    "azure.storage.blob._generated._utils.model_base",
)


def open_store(target: DataTarget, concurrency: int) -> tuple[Store, ChunkPool]:
    """The container, filesystem or share of ``target``, with a client sized for ``concurrency``."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return _open_store(target, concurrency)
    except ValueError as exc:  # e.g. a token credential over http: the SDK refuses before any request
        raise StorageError(f"cannot use {target.name} ({target.account_url}): {exc}".rstrip(".")) from None


def _open_store(target: DataTarget, concurrency: int) -> tuple[Store, ChunkPool]:
    from reconciler.data.sdk import load_blob_sdk, load_fileshare_sdk

    pool = ChunkPool(concurrency)
    network = network_for(target.account_url)
    listing_options: dict[str, Any] = {
        "connection_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "user_agent": f"reconciler/{__version__} data",
    }

    def credential() -> Any:
        return azure_credential(target.credential)

    def sdk_options() -> dict[str, Any]:
        """The SDK client's settings; its requests session is made with it, when a transfer needs one."""
        options: dict[str, Any] = {
            **listing_options,
            "session": _session(concurrency, network),
            "connection_verify": network.verify,
        }
        if target.audience:
            options["audience"] = target.audience
        return options

    if target.service == "file":
        load_fileshare_sdk()
        from azure.storage.fileshare import ExponentialRetry as FileRetry
        from azure.storage.fileshare import ShareClient

        from reconciler.data.files import FileShareStore

        options = {**sdk_options(), "retry_policy": FileRetry(**RETRY)}
        if target.credential_kind == "identity":
            options["token_intent"] = "backup"
        share = ShareClient(target.account_url, target.container, credential=credential(), **options)
        return FileShareStore(share, pool), pool
    from reconciler.data.blob import BlobStore
    from reconciler.data.light import BareListing, LazyContainer

    def container_client() -> Any:
        load_blob_sdk()
        from azure.storage.blob import ContainerClient, ExponentialRetry

        options = {**sdk_options(), "retry_policy": ExponentialRetry(**RETRY)}
        return ContainerClient(target.account_url, target.container, credential=credential(), **options)

    def plain() -> Any:
        from reconciler.data.pipeline import plain_pipeline

        return plain_pipeline(
            target.credential, network=network, options=listing_options, retry=RETRY, connections=2 * concurrency + 4
        )

    signed = signs_requests(target.credential) and supports(network, target.account_url)
    bare = None
    if signed and isinstance(target.credential, KeyCredential):
        user_agent = listing_options["user_agent"]
        bare = BareListing(target.credential, network, timeout=CONNECT_TIMEOUT, user_agent=user_agent)
    container = LazyContainer(target.account_url, target.container, container_client, plain if signed else None, bare)
    if not signed:
        container.client()  # token credentials, or a proxy only requests speaks: the SDK from the start
    return BlobStore(container, pool, hierarchical=target.type == "azure_data_lake_gen2"), pool


def _bounded(items: Iterator[RemoteFile | RemoteDirectory], where: str) -> list[RemoteFile | RemoteDirectory]:
    out: list[RemoteFile | RemoteDirectory] = []
    for item in items:
        out.append(item)
        if len(out) > MAX_FILES:
            raise StorageError(f"more than {MAX_FILES:,} entries under {where}; name a narrower path")
    return out


def _remote_files(store: Store, uri: DataUri) -> list[RemoteFile]:
    """Every file under the URI's prefix, at any depth (bounded)."""
    return [item for item in _bounded(store.list(uri.prefix, recursive=True), str(uri)) if isinstance(item, RemoteFile)]


def list_entries(
    uri: DataUri, target: DataTarget, store: Store, *, recursive: bool
) -> list[RemoteFile | RemoteDirectory]:
    """A file's own entry, or what is under the directory (one level, or all with ``recursive``)."""
    with storage_errors("list", target):
        if not uri.is_directory:
            single = store.get(uri.path)
            if single is not None:
                return [single]
        entries = _bounded(store.list(uri.prefix, recursive=recursive), str(uri))
    if not entries and uri.path:
        raise StorageError(f"nothing at {uri}")
    return entries


def upload_tasks(
    source: Path, uri: DataUri, target: DataTarget, store: Store, filters: Filters
) -> tuple[list[Task], LocalTree]:
    """One task per local file, each with what the destination holds under that name now.

    While the listing is on its way, local files are hashed (see :func:`_hash_while`): a re-run
    then compares digests as soon as the listing arrives instead of starting to hash only then."""
    if not source.exists():
        raise ReconcilerError(f"{source} does not exist")
    listing = None
    if not source.is_file():  # a tree: its listing is on its way while the tree is read and hashed
        listing = Background(lambda: {item.name: item for item in _remote_files(store, uri)})
    try:
        tree = local_tree(source, filters)
    except OSError as exc:
        raise ReconcilerError(f"cannot read {source}: {exc.strerror}") from None
    with storage_errors("list", target):
        if listing is None:
            [local] = tree.files
            name = uri.prefix + local.rel if uri.is_directory else uri.path
            return [Task(local.rel, local.path, name, local.size, store.get(name))], tree
        digests = _hash_while(tree, listing)
        remote = listing.result()
    tasks = []
    for local in tree.files:
        name = uri.prefix + local.rel
        if len(name) > MAX_PATH_LENGTH:
            tree.left_out.append((local.rel, f"the destination name is longer than {MAX_PATH_LENGTH} characters"))
            continue
        tasks.append(Task(local.rel, local.path, name, local.size, remote.get(name), md5=digests.get(local.path)))
    return tasks, tree


def _hash_while(tree: LocalTree, listing: Background[Any]) -> dict[Path, bytes]:
    """MD5s of the tree's smaller files, in order, until ``listing`` has arrived (the wait is otherwise idle).

    The files the engine would hash anyway to recognise identical ones; whatever is not hashed yet
    when the listing arrives is hashed by the engine's workers, as it would be without this."""
    digests: dict[Path, bytes] = {}
    for local in tree.files:
        if listing.done():
            break
        if local.size <= PREHASH_MAX_SIZE:
            try:
                digests[local.path] = md5_file(local.path)
            except OSError:  # reported by the engine when it reads the file
                continue
    return digests


def download_tasks(uri: DataUri, dest: Path, target: DataTarget, store: Store) -> list[Task]:
    """One task per remote file under the URI (or the one file it names), each with its local path.

    While the listing is on its way, the files already under ``dest`` are hashed (a re-run's, see
    :func:`_hash_present_while`), so the engine skips the identical ones without reading them again."""
    with storage_errors("list", target):
        single = store.get(uri.path) if not uri.is_directory else None
        if single is not None:
            base = single.name.rsplit("/", 1)[-1]
            path = dest / base if dest.is_dir() else dest
            return [Task(base, path, single.name, single.size, single, root=path.parent)]
        pending = Background(lambda: _remote_files(store, uri))
        present = _hash_present_while(dest, pending)
        listing = pending.result()
    if not listing:
        raise StorageError(f"nothing at {uri}")
    if dest.exists() and not dest.is_dir():
        raise ReconcilerError(f"{dest} is a file; downloading a directory needs a directory")
    tasks = []
    for remote in listing:
        rel = remote.name[len(uri.prefix) :]
        try:
            path = download_target(dest, rel)
            refused = ""
        except UnsafeName as exc:
            path, refused = dest, f"refused: the name {exc}"
        md5, hashed_as = present.get(path, (None, None))
        tasks.append(
            Task(
                rel,
                path,
                remote.name,
                remote.size,
                remote,
                root=dest,
                refused=refused,
                md5=md5,
                hashed_as=hashed_as,
            )
        )
    return tasks


def _hash_present_while(dest: Path, listing: Background[Any]) -> dict[Path, tuple[bytes, tuple[int, int]]]:
    """MD5s (with size and modification time) of the smaller regular files under ``dest``, until
    ``listing`` has arrived: the wait is otherwise idle, and a re-run's files are all there.

    Read entry by entry, so even a huge directory costs no more than the wait. Symbolic links are
    neither followed nor hashed. Whatever is not hashed yet when the listing arrives is hashed by
    the engine's workers, as it would be without this."""
    found: dict[Path, tuple[bytes, tuple[int, int]]] = {}
    if not dest.is_dir() or dest.is_symlink():
        return found
    pending = [dest]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if listing.done() or len(found) >= MAX_FILES:
                    return found
                try:
                    path = Path(entry.path)
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(path)
                    elif entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        if info.st_size <= PREHASH_MAX_SIZE:
                            found[path] = (md5_file(path), (info.st_size, info.st_mtime_ns))
                except OSError:  # reported by the engine if the file is one to download
                    continue
    return found
