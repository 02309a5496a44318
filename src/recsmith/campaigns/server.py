"""Start and stop a campaign's BentoML server (``serving.service:CampaignService``) as a child process.

The CLI, the demo and the tests use these three functions. The server runs in its own session, so one signal
to its process group reaches BentoML's arbiter; BentoML's process manager puts each worker in a session of its
own, so :func:`stop_server` also reaps the workers it finds under the arbiter, lest an orphan keep the port.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
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

    The child sees exactly ``settings`` (inherited ``RECSMITH_*`` variables are replaced). Output goes to
    ``log_file`` when given, else to this process's stdout and stderr. Use :func:`wait_ready` next.
    """
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
