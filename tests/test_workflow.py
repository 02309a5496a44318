"""The workflow's stages as every face calls them: typed results, one evaluation that promotion decides on, and
retries of a killed training that never leave a version IN PROGRESS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from recsmith.catalog import ResourceType, Status
from recsmith.data.sample import SampleFiles
from recsmith.platform import Platform
from recsmith.training import registry
from recsmith.training.solutions import SolutionConfig
from recsmith.workflow import (
    ImportConfig,
    TrainConfig,
    evaluate,
    fail_unfinished_training,
    import_dataset,
    promote,
    train,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
POPULAR = TrainConfig(
    dataset_group="shop",
    solution="shop-popular",
    solution_config=SolutionConfig(recipe="popularity_count", perform_auto_training=False),
)


def _load(platform: Platform, files: SampleFiles) -> None:
    imported = import_dataset(
        platform,
        ImportConfig(
            dataset_group="shop", data_location=str(files.interactions), schema_file=str(files.interactions_schema)
        ),
    )
    assert imported.dataset_group == "shop" and imported.data_version


def test_promotion_decides_on_the_evaluation_and_refuses_when_production_moved_since(
    platform: Platform, sample_files: SampleFiles
) -> None:
    _load(platform, sample_files)
    first = train(platform, POPULAR)
    second = train(platform, POPULAR)
    evaluation = evaluate(platform, second)
    assert evaluation.production_version is None and evaluation.beats_production is True

    # a reviewer promotes the first version in the MLflow UI after the evaluation was made
    platform.configure_mlflow()
    registry.promote(MlflowClient(), first.model_name, first.model_version)
    promotion = promote(platform, evaluation)

    assert promotion.promoted is False
    assert promotion.reason.startswith("production moved from version None to 1 after the evaluation")
    assert registry.production_version(MlflowClient(), first.model_name) == first.model_version

    fresh = evaluate(platform, second)
    assert fresh.production_version == first.model_version
    # same data, same seed: equal, so not better
    assert fresh.value == fresh.production_value and fresh.beats_production is False
    assert promote(platform, fresh).promoted is False


def test_a_retry_returns_the_version_its_earlier_try_finished(platform: Platform, sample_files: SampleFiles) -> None:
    _load(platform, sample_files)
    first = train(platform, POPULAR, task_key="dag/run-1/train")

    again = train(platform, POPULAR, task_key="dag/run-1/train")

    assert again == first
    assert len(platform.catalog.list(ResourceType.SOLUTION_VERSION)) == 1


def test_a_killed_training_is_failed_by_its_retry_or_its_clean_up_never_left_in_progress(
    platform: Platform, sample_files: SampleFiles, tmp_path: Path
) -> None:
    _load(platform, sample_files)
    slow = TrainConfig(
        dataset_group="shop",
        solution="shop-slow",
        solution_config=SolutionConfig(recipe="hrnn", hyperparameters={"epochs": 200}, perform_auto_training=False),
    )
    script = tmp_path / "try.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from recsmith.platform import Platform
            from recsmith.workflow import TrainConfig, train

            train(Platform.from_env(), TrainConfig.model_validate_json({slow.model_dump_json()!r}), task_key="k")
            """
        )
    )

    def killed_try() -> tuple[str, int]:
        """Run a try in its own process and kill -9 it mid-training, as the out-of-memory killer would."""
        known = {v.arn for v in platform.catalog.list(ResourceType.SOLUTION_VERSION)}
        env = {**os.environ, "RECSMITH_HOME": str(platform.settings.home)}
        process = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                fresh = [
                    v
                    for v in platform.catalog.list(ResourceType.SOLUTION_VERSION)
                    # mid-training: its MLflow run has started
                    if v.arn not in known and v.status is Status.CREATE_IN_PROGRESS and "mlflowRunId" in v.attributes
                ]
                if fresh:
                    assert fresh[0].attributes["trainingProcess"]["pid"] == process.pid
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return fresh[0].arn, process.pid
                assert process.poll() is None, "the try ended before it could be killed"
                time.sleep(0.2)
            raise AssertionError("the try never started training")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    first, first_pid = killed_try()
    # as the catalog holds it (a describe would end it: its process is gone)
    assert platform.catalog.get(ResourceType.SOLUTION_VERSION, first).status is Status.CREATE_IN_PROGRESS
    second, second_pid = killed_try()

    # the second try found the first one's version unfinished and failed it before training its own
    failed = platform.catalog.get(ResourceType.SOLUTION_VERSION, first)
    assert failed.status is Status.CREATE_FAILED
    assert f"its process (pid {first_pid} on " in str(failed.failure_reason)
    assert "ended before it finished (killed, out of memory" in str(failed.failure_reason)
    platform.configure_mlflow()
    assert MlflowClient().get_run(failed.attributes["mlflowRunId"]).info.status == "FAILED"

    # no try is left: the orchestrator's clean-up fails the last one
    assert fail_unfinished_training(platform, "k") == [second]
    last = platform.catalog.get(ResourceType.SOLUTION_VERSION, second)
    assert last.status is Status.CREATE_FAILED and f"(pid {second_pid} on " in str(last.failure_reason)
    assert MlflowClient().get_run(last.attributes["mlflowRunId"]).info.status == "FAILED"
    assert fail_unfinished_training(platform, "k") == []
    statuses = [v.status for v in platform.catalog.list(ResourceType.SOLUTION_VERSION)]
    assert statuses == [Status.CREATE_FAILED, Status.CREATE_FAILED]


def test_an_interrupted_training_is_create_failed_and_the_interrupt_still_raises(
    platform: Platform, sample_files: SampleFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow stops a task with SIGINT, then SIGTERM: Python's KeyboardInterrupt must not leave IN PROGRESS."""
    _load(platform, sample_files)
    slow = TrainConfig(
        dataset_group="shop",
        solution="shop-slow",
        solution_config=SolutionConfig(recipe="hrnn", hyperparameters={"epochs": 200}, perform_auto_training=False),
    )

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 8.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(platform, slow)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    (version,) = platform.catalog.list(ResourceType.SOLUTION_VERSION)
    assert version.status is Status.CREATE_FAILED
    assert version.failure_reason == "training stopped by KeyboardInterrupt"
