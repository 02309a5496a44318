"""Processes as the job executor sees them: who am I, is that process still alive, and end a process group.

A process is told apart from a later one that got the same pid by its start time. Liveness can only be judged
on this machine; a process of another host is taken to be alive (its own host's executor judges it).
"""

from __future__ import annotations

import logging
import os
import signal
import socket

import psutil

from recsmith.catalog import ProcessRef

logger = logging.getLogger(__name__)

_START_TOLERANCE = 1.0  # seconds: psutil's create_time is rounded to clock ticks


def process_ref(pid: int | None = None) -> ProcessRef:
    """This process (or ``pid``) on this host."""
    process = psutil.Process(pid)
    return ProcessRef(host=socket.gethostname(), pid=process.pid, started=process.create_time())


def is_local(ref: ProcessRef) -> bool:
    return ref.host == socket.gethostname()


def is_alive(ref: ProcessRef) -> bool:
    """Whether ``ref`` still runs; always ``True`` for a process of another host."""
    if not is_local(ref):
        return True
    try:
        process = psutil.Process(ref.pid)
        return abs(process.create_time() - ref.started) < _START_TOLERANCE and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_process_group(ref: ProcessRef) -> int:
    """SIGKILL every process left in the group that ``ref`` led (a worker runs in its own session, so its pid
    is its group id): what a dead worker leaves behind, such as AutoML's candidate processes. Only processes
    started after ``ref`` are counted, so a group id reused by an unrelated session is left alone. Returns how
    many processes were in the group."""
    if not is_local(ref):
        return 0
    members = []
    for process in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(process.pid) == ref.pid and process.info["create_time"] >= ref.started - _START_TOLERANCE:
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    if members:
        try:
            os.killpg(ref.pid, signal.SIGKILL)
        except ProcessLookupError:
            return 0
        logger.warning("killed %d leftover process(es) of job worker group %d", len(members), ref.pid)
    return len(members)
