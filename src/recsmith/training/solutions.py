"""Solutions: a training configuration (group + recipe or AutoML + HPO + event filtering + objective)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.base import SearchDimension
from models.registry import get_recipe_class, recipe_ids, resolve_recipe_id
from recsmith.arns import validate_name
from recsmith.catalog import Resource, ResourceType
from recsmith.errors import InvalidInputError
from recsmith.evaluation.metrics import OBJECTIVE_METRICS
from recsmith.evaluation.split import SplitMethod
from recsmith.platform import Platform

DEFAULT_AUTOML_RECIPES = ("hrnn", "sims", "next_item_knn", "deepfm", "popularity_count")
RECIPE_ARN_PREFIX = "arn:aws:personalize:::recipe/"


class HpoRange(BaseModel):
    """One hyperparameter's HPO range given with the solution (Personalize's ``algorithmHyperParameterRanges``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def dimension(self) -> SearchDimension:
        return SearchDimension(self.kind, self.low, self.high, self.log, self.choices)


_RATE = re.compile(r"rate\((\d+) days?\)")


class AutoTrainingConfig(BaseModel):
    """Personalize's ``autoTrainingConfig``: how often automatic training looks for new data and retrains."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduling_expression: str = Field(
        default="rate(7 days)",
        description="rate(N days), N from 1 to 30: how often a new version is trained, when new interactions "
        "arrived since the last one.",
    )

    @field_validator("scheduling_expression")
    @classmethod
    def _rate_in_days(cls, value: str) -> str:
        match = _RATE.fullmatch(value.strip())
        if match is None or not 1 <= int(match.group(1)) <= 30:
            raise ValueError(f"schedulingExpression {value!r} must be rate(N days) with N from 1 to 30")
        return value.strip()

    @property
    def interval(self) -> timedelta:
        """The time between two automatic trainings."""
        match = _RATE.fullmatch(self.scheduling_expression)
        assert match is not None  # the validator made it so
        return timedelta(days=int(match.group(1)))


class SolutionConfig(BaseModel):
    """What a solution trains: typed, frozen, and the same whether it comes from the CLI, a DAG or KFP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: str | None = Field(default=None, description="Recipe id (or recipe ARN); omit with AutoML.")
    perform_automl: bool = Field(default=False, description="Train several recipes and keep the best.")
    automl_recipes: tuple[str, ...] = Field(
        default=DEFAULT_AUTOML_RECIPES, description="Candidates for AutoML; popularity_count is the floor."
    )
    perform_hpo: bool = Field(default=False, description="Tune hyperparameters with Optuna on validation.")
    hpo_trials: int = Field(default=8, ge=1, le=100, description="HPO trials per recipe.")
    hpo_seconds: float = Field(default=180.0, gt=0, le=86_400, description="HPO time budget per recipe, seconds.")
    max_parallel_jobs: int | None = Field(
        default=None, ge=1, description="Candidates trained at once (default: one per CPU core)."
    )
    hpo_ranges: dict[str, HpoRange] = Field(
        default_factory=dict,
        description="HPO ranges that replace or extend the recipes' declared search spaces (by hyperparameter name).",
    )
    candidate_hyperparameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="AutoML: hyperparameters per candidate recipe (HPO starts from them), e.g. fewer epochs.",
    )
    validation_method: SplitMethod = Field(
        default=SplitMethod.LEAVE_LAST_OUT,
        description=(
            "How AutoML and HPO carve their validation split from the training part: leave-last-out (each "
            "user's newest interaction) or personalize (a tenth of the users, as the test split)."
        ),
    )
    objective_metric: str = Field(
        default="normalized_discounted_cumulative_gain_at_10", description="What AutoML, HPO and promotion compare."
    )
    event_type: str | None = Field(default=None, description="Train on this event type only.")
    event_value_threshold: float | None = Field(
        default=None, description="Keep interactions whose EVENT_VALUE is at least this."
    )
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="Recipe hyperparameters.")
    seed: int = Field(default=42, description="Seed of the split, HPO and the recipe.")
    perform_auto_training: bool = Field(
        default=True,
        description="Train a new version on the auto-training schedule when new interactions arrived "
        "(Personalize's performAutoTraining, default true); runs as an Airflow DAG per solution.",
    )
    auto_training: AutoTrainingConfig = Field(
        default_factory=AutoTrainingConfig, description="The automatic-training schedule."
    )

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:  # our ids and ARNs, and Personalize's recipe names and ARNs (aws-sims -> sims)
            return resolve_recipe_id(value)
        except KeyError:
            raise ValueError(
                f"unknown recipe {value.removeprefix(RECIPE_ARN_PREFIX)!r}; allowed: {', '.join(recipe_ids())}"
            ) from None

    @field_validator("automl_recipes")
    @classmethod
    def _known_candidates(cls, value: Sequence[str]) -> tuple[str, ...]:
        known = {name: resolve_recipe_id(name) for name in value if _resolves(name)}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown AutoML recipes {unknown}; allowed: {', '.join(recipe_ids())}")
        return tuple(known[v] for v in value)

    @field_validator("objective_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in OBJECTIVE_METRICS:
            raise ValueError(f"unknown objective metric {value!r}; allowed: {', '.join(OBJECTIVE_METRICS)}")
        return value

    def candidates(self) -> tuple[str, ...]:
        """The recipes one training compares."""
        if self.perform_automl:
            return self.automl_recipes
        return (self.recipe,) if self.recipe is not None else ()

    def params_for(self, recipe_id: str) -> dict[str, Any]:
        """The hyperparameters a candidate starts from (HPO tunes from there)."""
        if self.perform_automl:
            return dict(self.candidate_hyperparameters.get(recipe_id, {}))
        return dict(self.hyperparameters)


def _resolves(name: str) -> bool:
    try:
        resolve_recipe_id(name)
    except KeyError:
        return False
    return True


def create_solution(platform: Platform, name: str, dataset_group: str, config: SolutionConfig) -> Resource:
    """Register a solution; recipe xor AutoML, and hyperparameters the recipe declares."""
    validate_name(name, "solution")
    group = platform.catalog.get(ResourceType.DATASET_GROUP, dataset_group)
    if config.perform_automl == (config.recipe is not None):
        raise InvalidInputError("a solution needs exactly one of --recipe or --perform-automl")
    checks = dict(config.candidate_hyperparameters)
    if config.recipe and config.hyperparameters:
        checks[config.recipe] = config.hyperparameters
    for recipe_id, values in checks.items():
        if recipe_id not in config.candidates():
            raise InvalidInputError(
                f"hyperparameters given for {recipe_id!r}, which is not among {config.candidates()}"
            )
        try:
            get_recipe_class(recipe_id).Params(**values)
        except ValueError as exc:
            raise InvalidInputError(f"hyperparameters for recipe {recipe_id!r}: {exc}") from exc
    return platform.create_resource(
        ResourceType.SOLUTION,
        name,
        dataset_group_arn=group.arn,
        attributes={
            "recipeArn": RECIPE_ARN_PREFIX + config.recipe if config.recipe else None,
            "performAutoML": config.perform_automl,
            "performHPO": config.perform_hpo,
            "performAutoTraining": config.perform_auto_training,
            "autoTrainingConfig": {"schedulingExpression": config.auto_training.scheduling_expression}
            if config.perform_auto_training
            else None,
            "solutionConfig": config.model_dump(mode="json"),
        },
    )


def solution_config(solution: Resource) -> SolutionConfig:
    return SolutionConfig(**solution.attributes["solutionConfig"])


def parse_solution_config(values: Mapping[str, Any]) -> SolutionConfig:
    """A config from user input, with pydantic's message turned into our error."""
    try:
        return SolutionConfig(**values)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


def from_personalize_solution_config(extra: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`SolutionConfig` fields from Personalize's ``solutionConfig`` JSON (the CLI's ``--solution-config``).

    Personalize's keys: ``eventValueThreshold``, ``algorithmHyperParameters``, ``autoMLConfig`` (``metricName``,
    ``recipeList``) and ``hpoConfig`` (``hpoObjective.metricName``, ``hpoResourceConfig.maxNumberOfTrainingJobs``
    and ``maxParallelTrainingJobs``, given as strings as in Personalize; ``algorithmHyperParameterRanges``).
    recsmith's own additions:
    ``objectiveMetric``, ``seed``, ``validationMethod`` (``leave-last-out`` or ``personalize``),
    ``hpoResourceConfig.maxTrainingSeconds`` (the HPO time budget) and
    ``autoMLConfig.recipeHyperParameters`` (hyperparameters per candidate, e.g. fewer epochs).
    ``autoTrainingConfig.schedulingExpression`` (``rate(N days)``) is Personalize's; ``performAutoTraining``, a
    top-level field of Personalize's CreateSolution, is read here too, so one JSON document can carry it.
    """
    values: dict[str, Any] = {}
    for key, camel in (
        ("event_value_threshold", "eventValueThreshold"),
        ("hyperparameters", "algorithmHyperParameters"),
        ("objective_metric", "objectiveMetric"),
        ("hpo_trials", "maxNumberOfTrainingJobs"),
        ("seed", "seed"),
        ("validation_method", "validationMethod"),
    ):
        if camel in extra:
            values[key] = extra[camel]
    if "performAutoTraining" in extra:
        values["perform_auto_training"] = extra["performAutoTraining"]
    expression = (extra.get("autoTrainingConfig") or {}).get("schedulingExpression")
    if expression is not None:
        values["auto_training"] = {"scheduling_expression": expression}
    automl = extra.get("autoMLConfig") or {}
    if "recipeList" in automl:
        values["automl_recipes"] = [r.removeprefix(RECIPE_ARN_PREFIX) for r in automl["recipeList"]]
    if "metricName" in automl:
        values["objective_metric"] = automl["metricName"]
    if "recipeHyperParameters" in automl:
        values["candidate_hyperparameters"] = automl["recipeHyperParameters"]
    hpo = extra.get("hpoConfig") or {}
    resources = hpo.get("hpoResourceConfig") or {}
    for key, camel in (
        ("hpo_trials", "maxNumberOfTrainingJobs"),
        ("max_parallel_jobs", "maxParallelTrainingJobs"),
        ("hpo_seconds", "maxTrainingSeconds"),
    ):
        if camel in resources:
            values[key] = resources[camel]
    ranges = hpo.get("algorithmHyperParameterRanges") or {}
    parsed: dict[str, dict[str, Any]] = {}
    for kind, key in (("int", "integerHyperParameterRanges"), ("float", "continuousHyperParameterRanges")):
        for one in ranges.get(key, []):
            parsed[one["name"]] = {"kind": kind, "low": float(one["minValue"]), "high": float(one["maxValue"])}
    for one in ranges.get("categoricalHyperParameterRanges", []):
        parsed[one["name"]] = {"kind": "categorical", "choices": tuple(one["values"])}
    if parsed:
        values["hpo_ranges"] = parsed
    objective = (hpo.get("hpoObjective") or {}).get("metricName")
    if objective:
        values["objective_metric"] = objective
    return values
