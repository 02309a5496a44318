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

STAGES = ("import-dataset", "train", "evaluate", "promote", "deploy", "mark-training-failed")


def test_compiles_with_every_stage_typed_parameters_and_the_baked_image(tmp_path: Path) -> None:
    output = compile_pipeline(tmp_path / "pipeline.yaml")
    spec = next(yaml.safe_load_all(output.read_text()))  # then the Kubernetes platform spec

    components = set(spec["components"])
    assert {f"comp-{stage}" for stage in STAGES} <= components
    # AutoML's candidates are trained once, inside train: no fan-out beside it
    assert not any(name.startswith("comp-for-loop") for name in components)
    assert any(name.startswith("comp-condition") for name in components)
    assert any(name.startswith("comp-exit-handler") for name in components)
    executors = spec["deploymentSpec"]["executors"].values()
    assert {executor["container"]["image"] for executor in executors} == {"recsmith-python:latest"}
    assert not any("pip install" in json.dumps(executor) for executor in executors)
    train = spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]
    assert train["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert train["model"]["artifactType"]["schemaTitle"] == "system.Model"
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {name: parameters[name]["parameterType"] for name in parameters} == {
        "data_location": "STRING",
        "schema_file": "STRING",
        "dataset_group": "STRING",
        "solution": "STRING",
        "recipe": "STRING",
        "perform_hpo": "BOOLEAN",
        "solution_config": "STRUCT",
        "campaign": "STRING",
        "update_mode": "STRING",
    }


def test_every_step_reads_the_stores_from_the_cluster_secret_and_config_map(tmp_path: Path) -> None:
    spec = list(yaml.safe_load_all(compile_pipeline(tmp_path / "pipeline.yaml").read_text()))
    (platform,) = [doc for doc in spec if "platforms" in doc]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == len(STAGES)
    for name, executor in executors.items():
        secrets = {secret["secretName"]: secret for secret in executor["secretAsEnv"]}
        stores = secrets["recsmith-stores"]
        assert stores.get("optional", False) is False, name
        assert {entry["envVar"] for entry in stores["keyToEnv"]} == {
            "RECSMITH_CATALOG_URL",
            "RECSMITH_EVENT_STORE_URL",
            "RECSMITH_MLFLOW_TRACKING_URI",
        }
        assert secrets["recsmith-s3"]["optional"] is True
        (config,) = executor["configMapAsEnv"]
        assert config["configMapName"] == "recsmith-config" and config["optional"] is True


def _pipeline(text: str) -> list[dict]:
    """The compiled pipeline without the compiling SDK's version stamp (a kfp patch release changes only that)."""
    pipeline, *platforms = yaml.safe_load_all(text)
    pipeline.pop("sdkVersion")
    return [pipeline, *platforms]


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
def test_local_run_trains_once_promotes_and_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_files: SampleFiles
) -> None:
    from components.run_local import main

    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))  # the component subprocesses inherit it
    config = {"autoMLConfig": {"recipeList": ["popularity_count", "sims"]}, "performAutoTraining": False}

    code = main(
        [
            *("--data-location", str(sample_files.interactions)),
            *("--schema-file", str(sample_files.interactions_schema)),
            *("--dataset-group", "kfp", "--solution", "kfp-automl", "--campaign", "kfp-campaign"),
            *("--solution-config", json.dumps(config), "--pipeline-root", str(tmp_path / "root")),
        ]
    )

    assert code == 0
    outputs = _executor_outputs(tmp_path / "root")
    main_train = next(value for key, value in outputs.items() if key.endswith("train"))
    (model,) = main_train["artifacts"]["model"]["artifacts"]
    (metrics,) = main_train["artifacts"]["metrics"]["artifacts"]
    trained = main_train["parameterValues"]["Output"]
    version_arn = trained["solution_version_arn"]
    assert model["metadata"]["solutionVersionArn"] == version_arn
    assert model["metadata"]["modelName"] == "kfp.kfp-automl"
    assert Path(model["uri"]).read_text().strip() == f"models:/kfp.kfp-automl/{model['metadata']['modelVersion']}"
    assert 0.0 < metrics["metadata"]["normalized_discounted_cumulative_gain_at_10"] <= 1.0
    promoted = next(value for key, value in outputs.items() if key.endswith("promote"))
    assert promoted["parameterValues"]["Output"] is True
    (decision,) = promoted["artifacts"]["decision"]["artifacts"]
    assert decision["metadata"]["solution_version_arn"] == version_arn
    assert decision["metadata"]["reason"].startswith("first version in production")
    deployed = next(value for key, value in outputs.items() if key.endswith("deploy"))
    assert deployed["parameterValues"]["Output"]["update_mode"] == "AUTO"
    cleaned = next(value for key, value in outputs.items() if key.endswith("mark-training-failed"))
    assert cleaned["parameterValues"]["Output"] == []  # the exit handler ran; the training had finished
    platform = Platform.from_env()
    try:
        campaign = platform.catalog.get(ResourceType.CAMPAIGN, "kfp-campaign")
        assert campaign.attributes["solutionVersionArn"] == version_arn
        # the candidates were trained once, inside train: one solution, one version
        (solution,) = platform.catalog.list(ResourceType.SOLUTION)
        (version,) = platform.catalog.list(ResourceType.SOLUTION_VERSION)
        assert version.arn == version_arn and version.status is Status.ACTIVE
        assert set(version.attributes["candidates"]) == {"popularity_count", "sims"}
        assert version.attributes["taskKey"].startswith("kfp/") and version.attributes["taskKey"].endswith("/train")
    finally:
        platform.catalog.dispose()
