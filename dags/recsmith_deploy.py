"""
### recsmith: deploy a solution version as a campaign

Creates the campaign on the given solution version the first time. Later runs move a `MANUAL` campaign to the
version; an `AUTO` campaign already follows the registered model's `production` alias, so it is left as it is.
The call is `recsmith.workflow.deploy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

from orchestration.airflow_tasks import DEFAULT_ARGS, params
from recsmith.stage_results import Deployment


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
        **params("campaign", "update_mode"),
        "solution_version_arn": Param(
            type="string",
            minLength=1,
            title="Solution version ARN",
            description="The ACTIVE solution version to serve, "
            "e.g. arn:aws:personalize:us-east-1:000000000000:solution/demo-automl/1a2b3c4d.",
        ),
    },
)
def recsmith_deploy() -> None:
    @task
    def deploy(params: dict[str, Any] | None = None) -> Deployment:
        from orchestration.airflow_tasks import stage
        from recsmith.workflow import DeployConfig, deploy

        assert params is not None
        with stage() as platform:
            config = DeployConfig(**{name: params[name] for name in DeployConfig.model_fields})
            return deploy(platform, config)

    deploy()


recsmith_deploy()
