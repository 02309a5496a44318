"""AutoML over the default candidates (neural ones kept tiny), HPO reproducibility, and the CLI with hpoConfig."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from recsmith.catalog import Status
from recsmith.cli import main
from recsmith.data.sample import SampleFiles
from recsmith.evaluation.split import SplitMethod
from recsmith.platform import Platform
from recsmith.training.solutions import (
    DEFAULT_AUTOML_RECIPES,
    HpoRange,
    SolutionConfig,
    create_solution,
    from_personalize_solution_config,
)
from recsmith.training.versions import create_solution_version
from tests.training.test_training import load_sample

TINY = {"hrnn": {"epochs": 1, "num_negatives": 64}, "deepfm": {"epochs": 1}}
NDCG = "normalized_discounted_cumulative_gain_at_10"


def test_default_candidates_train_in_parallel_and_the_choice_is_tracked(
    platform: Platform, sample_files: SampleFiles
) -> None:
    load_sample(platform, sample_files)
    config = SolutionConfig(perform_automl=True, candidate_hyperparameters=TINY)
    create_solution(platform, "shop-auto", "shop", config)
    version = create_solution_version(platform, "shop-auto")
    assert version.status is Status.ACTIVE, version.failure_reason
    attrs = version.attributes
    defaults = {"hrnn", "sims", "next_item_knn", "deepfm", "popularity_count"}
    assert set(attrs["candidates"]) == set(DEFAULT_AUTOML_RECIPES) == defaults
    assert attrs["metrics"] == attrs["candidates"][attrs["recipe"]]
    platform.configure_mlflow()
    client = MlflowClient()
    run = client.get_run(attrs["mlflowRunId"])
    assert run.data.tags["recsmith.automl_choice"] == attrs["recipe"] == run.data.tags["recsmith.recipe"]
    children = client.search_runs(
        [attrs["mlflowExperimentId"]], filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
    )
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {f"candidate-{r}" for r in DEFAULT_AUTOML_RECIPES}
    chosen = by_name[f"candidate-{attrs['recipe']}"]
    assert chosen.data.tags["recsmith.automl_chosen"] == "true"
    assert chosen.data.params["hp.epochs"] == "1" if attrs["recipe"] in TINY else True
    for child in children:
        assert f"validation.{NDCG}" in child.data.metrics and NDCG in child.data.metrics
        # validation is leave-last-out over the training part: every user with three interactions, not a tenth
        assert child.data.metrics["validation.test_users"] > 5 * child.data.metrics["test_users"]


def test_hpo_with_the_same_seed_gives_the_same_metrics_and_parameters(
    platform: Platform, sample_files: SampleFiles
) -> None:
    load_sample(platform, sample_files)
    # narrow ranges (as Personalize's algorithmHyperParameterRanges) keep the trials small
    ranges = {"epochs": HpoRange(kind="int", low=1, high=2), "num_negatives": HpoRange(kind="int", low=4, high=16)}
    config = SolutionConfig(recipe="deepfm", perform_hpo=True, hpo_trials=2, hpo_seconds=600, hpo_ranges=ranges)
    create_solution(platform, "shop-deepfm", "shop", config)
    first = create_solution_version(platform, "shop-deepfm")
    second = create_solution_version(platform, "shop-deepfm")
    assert first.status is Status.ACTIVE, first.failure_reason
    assert first.attributes["metrics"] == second.attributes["metrics"]
    tuned = first.attributes["tunedHPOParams"]["algorithmHyperParameters"]
    assert tuned == second.attributes["tunedHPOParams"]["algorithmHyperParameters"]
    assert {"embedding_dimension", "learning_rate", "epochs"} <= set(tuned)
    platform.configure_mlflow()
    runs = MlflowClient().search_runs(
        [first.attributes["mlflowExperimentId"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{first.attributes['mlflowRunId']}'",
    )
    trials = [r for r in runs if r.info.run_name.startswith("hpo-deepfm-")]
    assert len(trials) == 2
    assert {r.data.tags["recsmith.hpo_state"] for r in trials} <= {"COMPLETE", "PRUNED"}


def test_personalize_hpo_config_maps_to_budgets() -> None:
    values = from_personalize_solution_config(
        {
            "hpoConfig": {
                "hpoObjective": {"type": "Maximize", "metricName": "precision_at_10"},
                "hpoResourceConfig": {
                    "maxNumberOfTrainingJobs": "5",
                    "maxParallelTrainingJobs": "2",
                    "maxTrainingSeconds": "90",
                },
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [{"name": "epochs", "minValue": 1, "maxValue": 3}],
                    "continuousHyperParameterRanges": [{"name": "dropout", "minValue": 0.0, "maxValue": 0.2}],
                },
            },
            "autoMLConfig": {"recipeList": ["arn:aws:personalize:::recipe/sims"], "recipeHyperParameters": {}},
            "validationMethod": "personalize",
        }
    )
    config = SolutionConfig(perform_automl=True, perform_hpo=True, **values)
    assert (config.hpo_trials, config.max_parallel_jobs, config.hpo_seconds) == (5, 2, 90.0)
    assert (config.objective_metric, config.automl_recipes) == ("precision_at_10", ("sims",))
    assert config.hpo_ranges["epochs"] == HpoRange(kind="int", low=1.0, high=3.0)
    assert config.hpo_ranges["dropout"].kind == "float"
    assert config.validation_method is SplitMethod.PERSONALIZE
    assert SolutionConfig(perform_automl=True).validation_method is SplitMethod.LEAVE_LAST_OUT


def test_automl_with_hpo_from_the_cli(
    sample_files: SampleFiles, tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))

    def run(*argv: str) -> dict:  # type: ignore[type-arg]
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out) if out.strip() else {}

    run("create-dataset-group", "--name", "shop")
    run("create-schema", "--name", "shop-i", "--schema-file", f"file://{sample_files.interactions_schema}")
    run("create-dataset", "--name", "shop-i", "--dataset-group", "shop", "--dataset-type", "INTERACTIONS",
        "--schema", "shop-i")  # fmt: skip
    run("create-dataset-import-job", "--job-name", "one", "--dataset", "shop-i",
        "--data-location", str(sample_files.interactions), "--wait")  # fmt: skip
    solution_config = {
        "autoMLConfig": {
            "recipeList": ["sims", "popularity_count", "deepfm"],
            "recipeHyperParameters": {"deepfm": {"epochs": 1}},
        },
        "hpoConfig": {
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2", "maxTrainingSeconds": "120"},
            "algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [{"name": "epochs", "minValue": 1, "maxValue": 2}]
            },
        },
    }
    run("create-solution", "--name", "auto", "--dataset-group", "shop", "--perform-automl", "--perform-hpo",
        "--solution-config", json.dumps(solution_config))  # fmt: skip
    version = run("create-solution-version", "--solution", "auto", "--wait")
    assert version["status"] == "ACTIVE"
    described = run("describe-solution-version", "--solution-version", version["solutionVersionArn"])
    body = described.get("solutionVersion", described)
    assert set(body["candidates"]) == {"sims", "popularity_count", "deepfm"}
    assert body["tunedHPOParams"]["algorithmHyperParameters"]


def test_trials_are_first_scored_on_a_quarter_of_the_epochs_and_may_be_pruned() -> None:
    from models.base import SearchDimension
    from recsmith.evaluation.split import split_interactions
    from recsmith.training.automl import CandidateJob, TrainingData, tune
    from tests.models.test_deepfm import segments

    data = segments(n_users=40)
    validation = split_interactions(data.interactions, seed=1)
    job = CandidateJob("deepfm", {}, 0, NDCG, tune=True, hpo_trials=4, ranges={"epochs": SearchDimension("int", 4, 5)})
    params, trials = tune(job, TrainingData(validation, validation, items=data.items, users=data.users))
    assert len(trials) == 4
    assert all("early_value" in t for t in trials)
    assert {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(complete) >= 2  # the median pruner starts after two trials
    assert params["epochs"] == max(complete, key=lambda t: t["value"])["params"]["epochs"]


def test_hpo_starts_from_the_candidates_own_hyperparameters_so_tuning_never_loses_on_validation() -> None:
    from models.base import SearchDimension
    from models.next_item_knn.recipe import NextItemKnn, NextItemKnnParams
    from recsmith.evaluation.split import split_interactions
    from recsmith.training.automl import CandidateJob, TrainingData, starting_point, tune
    from tests.models.test_deepfm import segments

    data = segments(n_users=60)
    validation = split_interactions(data.interactions, method=SplitMethod.LEAVE_LAST_OUT)
    given = {"window": 3, "recency_decay": 0.2}  # 0.2 lies outside recency_decay's range: TPE draws that one
    job = CandidateJob("next_item_knn", given, 0, NDCG, tune=True, hpo_trials=3)
    params, trials = tune(job, TrainingData(validation, validation))
    untuned = NextItemKnnParams(**given)
    assert trials[0]["params"]["window"] == 3
    assert trials[0]["params"]["cooccurrence_weight"] == untuned.cooccurrence_weight
    assert trials[0]["params"]["recency_decay"] != 0.2
    assert params == max(trials, key=lambda t: t["value"])["params"]  # the start wins unless a trial beats it
    space = {"window": SearchDimension("int", 1, 20), "recency_decay": SearchDimension("float", 0.3, 1.0)}
    assert starting_point(NextItemKnn, {"window": 25, "recency_decay": 0.5}, space) == {"recency_decay": 0.5}
