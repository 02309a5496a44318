"""Start and stop a campaign's BentoML server (``serving.service:CampaignService``) as a child process.

The CLI, the demo and the tests use :func:`serve_campaign`, :func:`wait_ready` and :func:`stop_server`. The server
runs in its own session, so one signal to its process group reaches BentoML's arbiter; BentoML's process manager
(circus) puts each worker in a session of its own, out of that group. So that no worker outlives its arbiter, even
after ``kill -9`` of the whole group (one once went on serving the port, re-parented to init), each worker calls
:func:`exit_with_parent` when it starts: Linux's parent-death signal, and a watchdog thread wherever that is
missing. :func:`serve_campaign` refuses a port that something already holds, so a stale server cannot answer in
a new one's place (``serve-campaign`` once printed "ready" because an orphan answered, then died on EADDRINUSE).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from recsmith.errors import RecsmithError
from recsmith.faces import face_folder
from recsmith.settings import Settings

logger = logging.getLogger(__name__)

SERVICE = "serving.service:CampaignService"
ENV_PREFIX = "RECSMITH_"


def service_root() -> Path:
    """The folder that holds the installed ``serving`` package: site-packages, or the checkout when editable."""
    return face_folder("serving").parent


def settings_env(settings: Settings) -> dict[str, str]:
    """``RECSMITH_*`` variables that make ``load_settings()`` in a child process return ``settings``."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"{ENV_PREFIX}{name.upper()}"] = str(settings.resolved_home if name == "home" else value)
    return env


def serve_campaign(
    settings: Settings,
    campaign: str,
    port: int,
    host: str = "127.0.0.1",
    *,
    workers: int = 1,
    access_log: bool = True,
    working_dir: Path | None = None,
    log_file: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``bentoml serve`` for ``campaign`` (ARN or name) on ``host:port``; returns at once.

    Raises :class:`PortInUseError` when something already holds the port.

    The child sees exactly ``settings`` (inherited ``RECSMITH_*`` variables are replaced). Output goes to
    ``log_file`` when given, else to this process's stdout and stderr. Use :func:`wait_ready` next.
    """
    ensure_port_free(host, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings_env(settings))
    env[f"{ENV_PREFIX}CAMPAIGN"] = campaign
    env[f"{ENV_PREFIX}SERVING_WORKERS"] = str(workers)
    env[f"{ENV_PREFIX}SERVING_ACCESS_LOG"] = "1" if access_log else "0"
    root = working_dir or service_root()
    command = [
        sys.executable, "-m", "bentoml", "serve", SERVICE,
        "--working-dir", str(root), "--host", host, "--port", str(port),
    ]  # fmt: skip
    output = open(log_file, "ab") if log_file else None  # the child keeps its own copy of the descriptor
    try:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
    finally:
        if output:
            output.close()
    logger.info("campaign %s: bentoml serve on %s:%s (pid %s)", campaign, host, port, process.pid)
    return process


def wait_ready(url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``{url}/readyz`` until it answers 200; raise if ``process`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RecsmithError(f"campaign server exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url.rstrip('/')}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RecsmithError(f"campaign server at {url} was not ready after {timeout:.0f}s")
        time.sleep(0.2)


def stop_server(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the server's process group, wait, then kill whatever is left of its workers."""
    if process.poll() is not None:
        return
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _, alive = psutil.wait_procs(children, timeout=timeout)
    for child in alive:
        child.kill()
    logger.info("campaign server %s stopped (%d leftover workers killed)", process.pid, len(alive))


class PortInUseError(RecsmithError):
    """The port a server was to listen on is held by another process (maybe a stale server)."""


def ensure_port_free(host: str, port: int) -> None:
    """Refuse to start on a port another process listens on: bind it as the server will, then let go.

    ``SO_REUSEADDR`` lets the bind pass over connections of a stopped server still in TIME_WAIT, as the server's
    own bind does, while a listening socket still refuses it.
    """
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise PortInUseError(
                    f"port {port} on {host} is in use by another process (a stale server?); stop it or pick another "
                    f"port ({exc.strerror})"
                ) from exc


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def exit_with_parent(
    grace_seconds: float = 10.0, poll_seconds: float = 0.5, parent_markers: tuple[str, ...] = ()
) -> None:
    """End this process when its parent ends: a serving worker must not outlive BentoML's arbiter.

    On Linux the kernel sends SIGTERM the moment the parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere, a
    daemon thread watches the parent id and sends SIGTERM itself. SIGTERM lets the worker finish what it is
    answering (an acknowledged event is already committed); ``grace_seconds`` later the process exits regardless.

    A process whose parent died before this call (a worker still starting when the arbiter was killed) has been
    re-parented already: to init, or to a subreaper. It exits at once when its parent is init or, given
    ``parent_markers``, when the parent's command line holds none of them (BentoML's arbiter renames itself
    ``circusd``; started by hand it is ``bentoml serve``).
    """
    parent = os.getppid()
    if parent == 1 or (parent_markers and not _command_has(parent, parent_markers)):
        logger.warning("process %s: its parent (%s) is not its supervisor any more; exiting", os.getpid(), parent)
        os._exit(1)
    _parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # died between the check and the prctl: no signal will come
        os._exit(1)
    watcher = threading.Thread(
        target=_watch_parent, args=(parent, grace_seconds, poll_seconds), name="recsmith-parent-watch", daemon=True
    )
    watcher.start()


def _command_has(pid: int, markers: tuple[str, ...]) -> bool:
    try:
        command = " ".join(psutil.Process(pid).cmdline())
        return any(marker in command for marker in markers)
    except psutil.Error:  # gone, or not ours to read: not the supervisor
        return False


def _parent_death_signal(signum: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # no libc prctl: the watchdog thread alone
        logger.warning("no parent-death signal (%s); relying on the watchdog thread", exc)


def _watch_parent(parent: int, grace_seconds: float, poll_seconds: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll_seconds)
    logger.warning("process %s: parent %s is gone; shutting down", os.getpid(), parent)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds)
    logger.warning("process %s: still running %.0fs after its parent ended; exiting", os.getpid(), grace_seconds)
    os._exit(1)
