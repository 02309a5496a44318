"""
### recsmith: import a file into a dataset

Imports one CSV or Parquet file (or folder) into a dataset of a dataset group, creating the group, the
schema and the dataset the first time; the call is `recsmith.workflow.import_dataset`.

Each successful import updates the asset `recsmith://imports` with the group and data version in the event's
`extra`; `recsmith_train` is scheduled on that asset, so a new import retrains the group's solution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from orchestration.airflow_tasks import DEFAULT_ARGS, params
from recsmith.stage_results import ImportResult

IMPORTS = Asset("recsmith://imports")


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["recsmith"],
    default_args=DEFAULT_ARGS,
    params={
        **params("dataset_group", "data_location", "schema_file"),
        "dataset_type": Param(
            "INTERACTIONS",
            type="string",
            enum=["INTERACTIONS", "ITEMS", "USERS"],
            title="Dataset type",
            description="Which dataset of the group the file fills.",
        ),
        "import_mode": Param(
            "FULL",
            type="string",
            enum=["FULL", "INCREMENTAL"],
            title="Import mode",
            description="FULL replaces the dataset's data; INCREMENTAL appends to it.",
        ),
    },
)
def recsmith_import() -> None:
    @task(outlets=[IMPORTS])
    def import_dataset(params: dict[str, Any] | None = None, outlet_events: Any = None) -> ImportResult:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import ImportConfig, import_dataset

        assert params is not None
        with stage() as platform:
            config = ImportConfig(**{name: params[name] for name in ImportConfig.model_fields})
            result = import_dataset(platform, config)
        outlet_events[IMPORTS].extra = result.model_dump()
        return result

    import_dataset()


recsmith_import()
