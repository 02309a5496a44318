"""`make demo` as a user runs it (without the final serve-until-Ctrl-C): it must finish and show a live change.

The demo broke once without any other test noticing: AutoML began choosing next_item_knn, a user recipe, and
the demo's related-items request got a 400. This runs the script itself, in a subprocess with its own home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_the_demo_runs_end_to_end_and_a_put_events_changes_the_answer(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RECSMITH_HOME": str(tmp_path / "home"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "RECSMITH_DEMO_PORT": "0",  # any free port
    }
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--no-serve"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "== 2. Airflow DAG recsmith_retrain ran with dag.test(): success" in out
    assert "== 3. live recommendations from the campaign" in out
    assert "== 4. items related to i0010" in out
    assert '"changed": true' in out
    assert "== 6. where to look" in out
