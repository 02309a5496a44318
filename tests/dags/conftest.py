"""Point Airflow at a throwaway home before anything imports it (Airflow reads its config at import time)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from orchestration.airflow_local import DAGS_FOLDER

if "airflow" not in sys.modules:
    _HOME = Path(tempfile.mkdtemp(prefix="recsmith-airflow-"))
    os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")
