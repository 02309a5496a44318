"""exit_with_parent, without BentoML: a process tied to its parent ends when the parent is killed with SIGKILL,
and one whose parent is already gone (or is not its supervisor) ends at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil

from tests.faults.scenarios import survivors

# a parent that starts a child tied to it, prints the child's pid, then sleeps until killed
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(120)
    """
)
TIED_CHILD = textwrap.dedent(
    """
    import time
    from recsmith.campaigns.server import exit_with_parent
    exit_with_parent(grace_seconds=5, poll_seconds=0.2{markers})
    time.sleep(120)
    """
)


def _start(markers: str = "") -> tuple[subprocess.Popen[str], psutil.Process]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, TIED_CHILD.format(markers=markers)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    return parent, child


def test_a_tied_process_ends_when_its_parent_is_killed() -> None:
    parent, child = _start()
    try:
        time.sleep(3)  # the child is past exit_with_parent, sleeping
        assert child.is_running() and child.ppid() == parent.pid
        parent.kill()  # SIGKILL to the parent alone, as kill -9 of BentoML's arbiter
        parent.wait()
        alive = survivors([child], timeout=10)
        assert alive == [], "the child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if child.is_running():
            child.kill()


def test_a_process_whose_parent_is_not_its_supervisor_ends_at_once() -> None:
    parent, child = _start(markers=', parent_markers=("circ" + "usd",)')  # the argv holds this text
    try:
        alive = survivors([child], timeout=20)  # a zombie (its parent has not reaped it) counts as ended
        assert alive == [], "the child went on under a parent that is not its supervisor"
        assert parent.poll() is None  # the parent is fine; only the child saw it was not its supervisor
    finally:
        parent.kill()
        parent.wait()
