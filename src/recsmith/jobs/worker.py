"""``python -m recsmith.jobs.worker KIND ARN``: run one job in a process of its own.

The local pool starts one worker per job with this explicit entry point, in a new session (its own process
group), so a worker never depends on how its parent was started (no re-import of the parent's ``__main__``),
and the pool can kill a worker together with the processes it started (AutoML's candidates). The settings come
on stdin as JSON, written by the pool once the catalog names this process as the job's owner, so the worker
cannot begin a job before the pool has recorded it. A watchdog thread kills the worker's whole group as soon
as its parent (the pool's process) is gone: a worker never outlives its pool.

Exit status: 0 when the job ended (ACTIVE or CREATE FAILED, as its run function recorded), 3 when the job was
not this worker's to run (ended, stopped or taken over meanwhile); anything else is a crash that the pool
records as the job's failure reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

from pydantic import SecretBytes, SecretStr

from recsmith.settings import Settings

logger = logging.getLogger("recsmith.jobs.worker")

NOT_MINE = 3
_WATCH_SECONDS = 0.5


def settings_payload(settings: Settings) -> str:
    """The settings as the JSON a worker reads on stdin (secrets in clear: a pipe, never argv or a file)."""
    values: dict[str, object] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr | SecretBytes):
            value = value.get_secret_value()
        values[name] = value
    return json.dumps(values, default=str)


def read_settings(stream: IO[str]) -> Settings:
    return Settings(**json.loads(stream.read()))


def _watch_parent(parent: int) -> None:
    """Kill this worker's process group when its parent is gone (re-parented to init or a subreaper)."""
    while True:
        if os.getppid() != parent:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        time.sleep(_WATCH_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsmith.jobs.worker", description=__doc__.split("\n")[0])
    parser.add_argument("kind", help="a JobKind value, e.g. solution-version")
    parser.add_argument("arn", help="the job resource's ARN")
    args = parser.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watchdog", daemon=True).start()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = read_settings(sys.stdin)

    from recsmith.errors import ResourceInUseError
    from recsmith.jobs import JobKind
    from recsmith.jobs.kinds import run_function
    from recsmith.platform import Platform

    kind = JobKind(args.kind)
    platform = Platform(settings)
    logger.info("worker %d runs %s %s", os.getpid(), kind, args.arn)
    try:
        resource = run_function(kind)(platform, args.arn)
    except ResourceInUseError as exc:
        logger.warning("not running %s: %s", args.arn, exc)
        return NOT_MINE
    logger.info(
        "%s %s ended %s%s",
        kind,
        args.arn,
        resource.status,
        f": {resource.failure_reason}" if resource.failure_reason else "",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
