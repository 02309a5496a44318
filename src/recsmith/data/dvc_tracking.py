"""DVC entries for data versions: ``dvc init --no-scm`` in the data root, one ``dvc add`` per version, and
``dvc push`` of them all to the configured remote.

DVC runs in-process through its Python API (no interpreter start per version) with a hard-link cache, so
adding a version hashes its parts once and links them into the cache instead of copying them. Parts are
immutable, so read-only cache links are what the data versions want anyway.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from pathlib import Path
from typing import Any

from recsmith.errors import InvalidInputError

logger = logging.getLogger(__name__)
_LOCK = threading.Lock()
REMOTE_NAME = "recsmith"


def _dvc_logs_through_logging() -> None:
    """Importing dvc binds its own console handlers to the stdout of that moment ("Initialized DVC
    repository."), which ``redirect_stdout`` cannot reach and which breaks the CLI's JSON output. Drop them, so
    DVC's records go through the host's logging configuration like any library's (the CLI's goes to stderr)."""
    dvc_logger = logging.getLogger("dvc")
    for handler in list(dvc_logger.handlers):
        dvc_logger.removeHandler(handler)
    dvc_logger.propagate = True


def _repo(root: Path) -> Any:
    from dvc.repo import Repo

    _dvc_logs_through_logging()

    if not (root / ".dvc").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):  # DVC prints its banner; our CLI's stdout is JSON
            Repo.init(str(root), no_scm=True)
        repo = Repo(str(root))
        with repo.config.edit() as config:
            config["cache"]["type"] = "hardlink,copy"
            config["core"]["autostage"] = False
        repo.close()
    return Repo(str(root))


def track_version(root: Path, folder: Path) -> Path:
    """``dvc add`` the version ``folder`` (under ``root``); returns its ``.dvc`` file."""
    from dvc.exceptions import DvcException

    with _LOCK:
        try:
            repo = _repo(root)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    repo.add(str(folder))
            finally:
                repo.close()
        except DvcException as exc:
            raise InvalidInputError(f"dvc add {folder} failed: {exc}") from exc
    return folder.with_name(folder.name + ".dvc")


def untrack_version(folder: Path) -> None:
    """Forget a version DVC was told about (an import that failed after ``dvc add``)."""
    folder.with_name(folder.name + ".dvc").unlink(missing_ok=True)


def push_versions(root: Path, remote: str | None) -> dict[str, Any]:
    """``dvc push`` every tracked data version under ``root`` to ``remote`` (a folder or URL)."""
    from dvc.exceptions import DvcException

    if not remote:
        raise InvalidInputError("no DVC remote: set RECSMITH_DVC_REMOTE (a folder or an s3:// URL)")
    if not (root / ".dvc").is_dir():
        raise InvalidInputError(f"{root}: no data versions tracked yet (no .dvc folder); import data first")
    targets = sorted(str(p) for p in root.rglob("*.dvc") if p.is_file() and ".dvc" not in p.parent.parts)
    with _LOCK:
        try:
            repo = _repo(root)
            try:
                with repo.config.edit() as config:
                    config["remote"][REMOTE_NAME] = {"url": remote}
                    config["core"]["remote"] = REMOTE_NAME
                with contextlib.redirect_stdout(io.StringIO()):
                    pushed = repo.push(targets=targets, remote=REMOTE_NAME) if targets else 0
            finally:
                repo.close()
        except DvcException as exc:
            raise InvalidInputError(f"dvc push to {remote} failed: {exc}") from exc
    return {"remote": remote, "versions": len(targets), "filesPushed": pushed}
