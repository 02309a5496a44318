"""``recsmith_pipeline`` compiles to the committed YAML and runs end to end with ``kfp.local``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.compile import DEFAULT_OUTPUT, compile_pipeline
from recsmith.catalog import ResourceType, Status
from recsmith.data.sample import SampleFiles
from recsmith.platform import Platform
from recsmith.training.solutions import DEFAULT_AUTOML_RECIPES, SolutionConfig
from recsmith.workflow import ImportConfig, TrainConfig

STAGES = ("import-dataset", "train", "evaluate", "register", "promote", "deploy")


def test_compiles_with_every_stage_a_fanout_and_the_baked_image(tmp_path: Path) -> None:
    output = compile_pipeline(tmp_path / "pipeline.yaml")
    spec = yaml.safe_load(output.read_text())

    components = set(spec["components"])
    assert {f"comp-{stage}" for stage in STAGES} <= components
    assert "comp-automl-candidates" in components
    assert any(name.startswith("comp-for-loop") for name in components)
    assert any(name.startswith("comp-condition") for name in components)
    executors = spec["deploymentSpec"]["executors"].values()
    assert {executor["container"]["image"] for executor in executors} == {"recsmith-python:latest"}
    assert not any("pip install" in json.dumps(executor) for executor in executors)
    train = spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]
    assert train["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert train["model"]["artifactType"]["schemaTitle"] == "system.Model"


def _pipeline(text: str) -> dict:
    """The compiled pipeline without the compiling SDK's version stamp (a kfp patch release changes only that)."""
    spec = yaml.safe_load(text)
    spec.pop("sdkVersion")
    return spec


def test_committed_yaml_is_current(tmp_path: Path) -> None:
    fresh = compile_pipeline(tmp_path / "pipeline.yaml").read_text()
    assert _pipeline(DEFAULT_OUTPUT.read_text()) == _pipeline(fresh), "run `make pipelines` and commit the YAML"


def test_a_kfp_patch_release_alone_does_not_make_the_yaml_stale(tmp_path: Path) -> None:
    committed = DEFAULT_OUTPUT.read_text()
    other_patch = re.sub(r"^sdkVersion: kfp-(\d+)\.(\d+)\.\d+$", r"sdkVersion: kfp-\1.\2.999", committed, flags=re.M)
    assert other_patch != committed
    assert _pipeline(other_patch) == _pipeline(committed)


def _executor_outputs(root: Path) -> dict[str, dict]:
    """Each task's executor output, by its folder under the run (``for-loop-1-iteration-0/train-2`` and so on)."""
    (run,) = [path for path in root.iterdir() if path.is_dir()]
    return {
        str(path.parent.relative_to(run)): json.loads(path.read_text()) for path in run.rglob("executor_output.json")
    }


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:Task 'train.*display_name.*no effect:UserWarning")
def test_local_run_trains_candidates_promotes_and_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles
) -> None:
    from kfp import local

    from components.pipeline import recsmith_pipeline

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # the component subprocesses inherit it
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    import_config = ImportConfig(
        dataset_group="kfp",
        data_location=str(sample_files.interactions),
        schema_file=str(sample_files.interactions_schema),
    )
    train_config = TrainConfig(
        dataset_group="kfp", solution="kfp-automl", solution_config=SolutionConfig(perform_automl=True)
    )

    recsmith_pipeline(
        import_config=import_config.model_dump_json(),
        train_config=train_config.model_dump_json(),
        deploy_config=json.dumps({"campaign": "kfp-campaign", "update_mode": "AUTO"}),
    )

    outputs = _executor_outputs(tmp_path / "root")
    main = outputs["train"]
    (model,) = main["artifacts"]["model"]["artifacts"]
    (metrics,) = main["artifacts"]["metrics"]["artifacts"]
    version_arn = main["parameterValues"]["Output"]
    assert model["metadata"]["solutionVersionArn"] == version_arn
    assert model["metadata"]["modelName"] == "kfp.kfp-automl"
    assert Path(model["uri"]).read_text().strip() == f"models:/kfp.kfp-automl/{model['metadata']['modelVersion']}"
    assert 0.0 < metrics["metadata"]["normalized_discounted_cumulative_gain_at_10"] <= 1.0
    assert outputs["promote"]["parameterValues"]["Output"] is True
    deployed = next(value for key, value in outputs.items() if key.endswith("deploy"))
    assert deployed["parameterValues"]["Output"]["updateMode"] == "AUTO"

    candidates = [value for key, value in outputs.items() if key.startswith("for-loop") and "/train" in key]
    assert len(candidates) == len(DEFAULT_AUTOML_RECIPES)
    platform = Platform.from_env()
    try:
        campaign = platform.catalog.get(ResourceType.CAMPAIGN, "kfp-campaign")
        assert campaign.attributes["solutionVersionArn"] == version_arn
        for recipe in DEFAULT_AUTOML_RECIPES:
            solution = platform.catalog.get(ResourceType.SOLUTION, f"kfp-automl-{recipe}")
            versions = platform.catalog.list(ResourceType.SOLUTION_VERSION, where={"solutionArn": solution.arn})
            assert [version.status for version in versions] == [Status.ACTIVE]
    finally:
        platform.catalog.dispose()
