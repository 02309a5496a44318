"""Training mode UPDATE: a count-based solution takes PutEvents and deletions into a new version without a full
training, and the new version's model is exactly what a full fit of the same recipe on the same data learns."""

from __future__ import annotations

import time

import numpy as np
import pytest

from models import InteractionData, Recipe, get_recipe_class
from recsmith.campaigns.holder import load_recipe
from recsmith.catalog import Status
from recsmith.data.sample import SampleFiles
from recsmith.errors import InvalidInputError
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.training.solutions import SolutionConfig, create_solution, solution_config
from recsmith.training.versions import create_solution_version, start_solution_version, training_snapshot
from tests.training.test_training import load_sample


def test_an_update_folds_put_events_in_and_equals_a_full_fit(platform: Platform, sample_files: SampleFiles) -> None:
    load_sample(platform, sample_files)
    solution = create_solution(platform, "shop-knn", "shop", SolutionConfig(recipe="next_item_knn"))
    full = create_solution_version(platform, "shop-knn")
    assert full.status is Status.ACTIVE, full.failure_reason
    tracking_id = create_event_tracker(platform, "shop-tracker", "shop").attributes["trackingId"]
    now = time.time()
    events = [{"eventType": "click", "itemId": f"i{k:04d}", "sentAt": now + k} for k in (3, 4, 5)]
    put_events(platform, tracking_id, "s1", events, user_id="brand-new-user")
    put_events(platform, tracking_id, "s2", events[:1], user_id="u0001")

    updated = create_solution_version(platform, "shop-knn", training_mode="UPDATE")
    assert updated.status is Status.ACTIVE, updated.failure_reason
    attrs = updated.attributes
    assert (attrs["trainingMode"], attrs["updatedFrom"]) == ("UPDATE", full.arn)
    assert (attrs["interactionsAdded"], attrs["interactionsRemoved"]) == (4, 0)
    assert attrs["metrics"] == full.attributes["metrics"] and attrs["metricsFromSolutionVersionArn"] == full.arn
    model = load_recipe(platform, attrs["modelUri"])
    snapshot = training_snapshot(platform, solution.dataset_group_arn or "", solution_config(solution))
    refit: Recipe = get_recipe_class("next_item_knn")(seed=solution_config(solution).seed).fit(
        InteractionData(snapshot.interactions)
    )
    for name in ("item_ids_", "user_ids_", "history_indices_", "popularity_", "neighbors_", "similarity_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(refit, name), err_msg=name, strict=True)
    assert model.recommend(["brand-new-user"], 5) == refit.recommend(["brand-new-user"], 5)


def test_update_is_refused_where_it_cannot_be_exact(platform: Platform, sample_files: SampleFiles) -> None:
    load_sample(platform, sample_files)
    create_solution(platform, "shop-sims", "shop", SolutionConfig(recipe="sims"))
    with pytest.raises(InvalidInputError, match="has no ACTIVE version to update; train one with FULL"):
        start_solution_version(platform, "shop-sims", "UPDATE")
    create_solution(platform, "shop-hrnn", "shop", SolutionConfig(recipe="hrnn"))
    supported = "next_item_knn, popularity_count, sims, trending_now"
    with pytest.raises(InvalidInputError, match=f"supports it \\({supported}\\); solution shop-hrnn trains hrnn"):
        start_solution_version(platform, "shop-hrnn", "UPDATE")
    with pytest.raises(InvalidInputError, match="use FULL or UPDATE"):
        start_solution_version(platform, "shop-sims", "AUTOTRAIN")
