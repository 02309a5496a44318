"""Where the faces that ship beside the core (``serving``, ``dags``, ``components``) are installed.

They are top-level packages of the same distribution, so a checkout (editable install) and a plain
``pip install recsmith`` find them the same way: through the import system, never by walking up from this file.
Nothing here imports them, so the core stays free of BentoML, Airflow and KFP.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recsmith.errors import RecsmithError


def face_folder(package: str) -> Path:
    """The folder of the installed top-level package ``package`` (e.g. ``serving`` or ``dags``)."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise RecsmithError(f"recsmith's {package!r} package is not installed; reinstall recsmith")
    return Path(locations[0]).resolve()
