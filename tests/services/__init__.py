"""Real storage services for the tests: private Azurite, PostgreSQL and MariaDB instances.

Each service gets a free loopback port and its own temp dir, and runs in its own process
group so that stopping it takes every helper process with it. A started service is stopped
(and its temp dir removed) by `stop()`, by leaving its `with` block, at interpreter exit and
on SIGTERM/SIGHUP, so a failed or interrupted test run leaves no server behind. On Linux the
server is also told to exit if the test process dies without any of that (SIGKILL).

The binaries come from `scripts/install-test-services`; a service whose binaries are missing
raises `ServiceNotInstalled` naming that script.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import ClassVar, TypeVar

from tests.services.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run scripts/install-test-services (it installs Azurite, PostgreSQL and MariaDB)"
LOG_TAIL_LINES = 40

_PORT_IN_USE = re.compile(r"address already in use|EADDRINUSE", re.IGNORECASE)
_PORT_ATTEMPTS = 3
# Temp dirs are named PREFIX<service>-<pid>-<random>, so orphans can be told from live ones.
_TMP_PREFIX = "reconciler-svc-"

S = TypeVar("S", bound="Service")


class ServiceError(RuntimeError):
    """A service failed to start or to answer in time."""


class ServiceNotInstalled(ServiceError):
    """The service's binaries are missing: the installer has not been run on this machine."""


def is_root() -> bool:
    return os.geteuid() == 0


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last lines of a log, for error messages that explain why a server did not come up."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


class _Exited(Exception):
    """The server process ended before it became ready."""


class Service:
    """A server process on 127.0.0.1 in a private temp dir.

    Subclasses provide `_prepare` (one-off setup such as initdb), `_command` (the server for
    a given port), `_probe` (True once it serves requests) and optionally `_after_ready`.
    """

    name: ClassVar[str] = "service"
    host: ClassVar[str] = "127.0.0.1"
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    stop_timeout: ClassVar[float] = 10.0

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def tmpdir(self) -> Path:
        if self._tmpdir is None:
            raise ServiceError(f"{self.name} is not started")
        return self._tmpdir

    @property
    def log_path(self) -> Path:
        """The server's stdout/stderr."""
        return self.tmpdir / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self: S) -> S:
        """Start the server and block until it answers; idempotent."""
        if self._proc is not None:
            return self
        self._check_installed()
        began = time.monotonic()
        _remove_orphaned_dirs()
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{self.name}-{os.getpid()}-"))
        _register(self)
        try:
            self._prepare()
            self._start_server(began + self.startup_timeout)
            self._after_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server's whole process group and remove the temp dir; idempotent."""
        proc, self._proc = self._proc, None
        tmpdir, self._tmpdir = self._tmpdir, None
        try:
            if proc is not None:
                _terminate(proc, self.stop_signal, self.stop_timeout)
        finally:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)
            _unregister(self)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"127.0.0.1:{self.port}" if self.running else "stopped"
        return f"<{type(self).__name__} {state}>"

    def _check_installed(self) -> None:
        """Raise ServiceNotInstalled when a binary is missing."""

    def _prepare(self) -> None:
        """One-off setup in `self.tmpdir` before the server starts."""

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _probe(self) -> bool:
        """True once the server on `self.port` serves requests; must be quick."""
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Setup that needs the running server."""

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _start_server(self, deadline: float) -> None:
        # free_port() cannot reserve the port, so another process (e.g. a parallel xdist
        # worker) may take it first: then the server dies with "address in use" and we retry.
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = free_port(self.host)
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(self._command(self.port))
            try:
                self._wait_ready(deadline)
                return
            except _Exited:
                self._proc = None
                with self.log_path.open("rb") as log:
                    log.seek(log_offset)
                    fresh = log.read().decode(errors="replace")
                if attempt == _PORT_ATTEMPTS or not _PORT_IN_USE.search(fresh):
                    raise ServiceError(
                        f"{self.name} exited during startup (port {self.port}); "
                        f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                    ) from None

    def _spawn(self, command: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                env=self._env(),
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise _Exited
            if self._probe():
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} not ready on 127.0.0.1:{self.port} after "
                    f"{self.startup_timeout:.0f}s; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.05)


def _remove_orphaned_dirs() -> None:
    """Remove temp dirs left by test processes that were SIGKILLed (their pid is gone)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*-*-*"):
        owner = path.name[len(_TMP_PREFIX) :].split("-")[1]
        if owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    """Signal the process group, then SIGKILL it if it has not exited in time."""
    if proc.poll() is not None:
        return
    for current, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, current)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.poll()


_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the server when the test process dies.

    Linux ties this to the spawning *thread*, so it is only used from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return hook


_live: list[Service] = []
_live_lock = threading.Lock()
_handlers_installed = False


def _register(service: Service) -> None:
    with _live_lock:
        _live.append(service)
    _install_handlers()


def _unregister(service: Service) -> None:
    with _live_lock:
        if service in _live:
            _live.remove(service)


def stop_all() -> None:
    """Stop every service still running in this process (newest first)."""
    while True:
        with _live_lock:
            if not _live:
                return
            service = _live.pop()
        try:
            service.stop()
        except Exception as exc:  # keep stopping the others; this runs at exit
            print(f"tests.services: could not stop {service!r}: {exc}", file=sys.stderr)


def _on_fatal_signal(signum: int, frame: FrameType | None) -> None:
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    """atexit covers normal exits and Ctrl-C; SIGTERM/SIGHUP would otherwise skip it."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _on_fatal_signal)
