"""Check that this Python environment holds exactly the committed lock: ``python scripts/check_lock.py [LOCK]``.

Every package pinned in the lock must be installed at its pinned version, and nothing else may be installed but
recsmith itself, the pip that ``python -m venv`` seeds, torch (installed from ``TORCH_SPEC`` after the lock, since
a CPU and a CUDA build are different wheels) and what that torch build needs beyond the lock. ``make install``
runs this after installing, so a fresh machine fails loudly instead of testing something we never tested;
``tests/test_install.py`` runs it too.
Prints the differences and exits 1 when there are any.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
TORCH = "torch"
"""Installed after the lock from ``TORCH_SPEC``, with whatever its build needs beyond the lock."""


def normalize(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of every ``name==version`` line of a requirements lock."""
    pins = {}
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def installed() -> dict[str, metadata.Distribution]:
    """Every distribution of this environment, by normalized name."""
    return {normalize(dist.metadata["Name"]): dist for dist in metadata.distributions()}


def _needs(dists: dict[str, metadata.Distribution], root: str) -> set[str]:
    """``root`` and every installed distribution it needs, transitively, with the extras asked for (a CUDA torch
    needs ``cuda-toolkit[cublas,...]``); markers are evaluated for this interpreter."""
    seen: set[tuple[str, str]] = set()
    todo = [(normalize(root), "")]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen or name not in dists:
            continue
        seen.add((name, extra))
        for text in dists[name].requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(normalize(requirement.name), wanted) for wanted in ("", *requirement.extras)]
    return {name for name, _ in seen}


def lock_differences(lock: Path) -> list[str]:
    """Human-readable differences between the lock and this environment; empty when they agree."""
    pins = read_lock(lock)
    dists = installed()
    problems = []
    for name, version in sorted(pins.items()):
        dist = dists.get(name)
        if dist is None:
            problems.append(f"{name}=={version} is locked but not installed")
        elif dist.version != version:
            problems.append(f"{name}=={version} is locked but {dist.version} is installed")
    allowed = {"recsmith", "pip"} | _needs(dists, TORCH) | set(pins)
    for name in sorted(set(dists) - allowed):
        problems.append(f"{name}=={dists[name].version} is installed but not in {lock.name}")
    return problems


def main(argv: list[str]) -> int:
    lock = Path(argv[0] if argv else "requirements.lock")
    problems = lock_differences(lock)
    for problem in problems:
        print(f"check_lock: {problem}", file=sys.stderr)
    if problems:
        print(f"check_lock: this environment differs from {lock}; run `make install` (or `make lock`)", file=sys.stderr)
        return 1
    print(f"check_lock: {len(read_lock(lock))} locked packages installed exactly", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
