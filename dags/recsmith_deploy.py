"""
### recsmith: deploy a solution version as a campaign

Creates the campaign on the given solution version the first time. Later runs move a `MANUAL` campaign to the
version; an `AUTO` campaign already follows the registered model's `production` alias, so it is left as it is.
The call is `recsmith.workflow.deploy`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from orchestration.airflow_shared import params


@dag(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["recsmith"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        **params("campaign", "update_mode"),
        "solution_version_arn": Param(
            type="string",
            minLength=1,
            title="Solution version ARN",
            description="The ACTIVE solution version to serve.",
        ),
    },
)
def recsmith_deploy() -> None:
    @task
    def deploy(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import DeployConfig, deploy

        assert params is not None
        with stage() as platform:
            config = DeployConfig(**{name: params[name] for name in DeployConfig.model_fields})
            return deploy(platform, config)

    deploy()


recsmith_deploy()
