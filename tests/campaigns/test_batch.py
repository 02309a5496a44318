"""Batch inference jobs: JSON Lines in, Personalize's batch output format out, bad lines reported in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from recsmith.campaigns.batch import create_batch_inference_job
from recsmith.campaigns.holder import load_recipe
from recsmith.catalog import ResourceType, Status
from recsmith.errors import InvalidInputError, ResourceAlreadyExistsError

if TYPE_CHECKING:
    from conftest import Trained


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_job_answers_every_line(trained: Trained, tmp_path: Path) -> None:
    requests = tmp_path / "in" / "requests.jsonl"
    requests.parent.mkdir()
    lines = [
        json.dumps({"userId": "u0001"}),
        json.dumps({"itemId": "i0010"}),
        "not json",
        json.dumps({"userId": "u0002", "itemId": "i0001"}),
        "",
        json.dumps({"userId": "u0003", "itemList": ["nope", "i0001", "i0002"]}),
        json.dumps({"userId": "never-seen"}),
    ]
    requests.write_text("\n".join(lines) + "\n")
    job = create_batch_inference_job(
        trained.platform, "nightly", trained.versions[0], str(requests), str(tmp_path / "out"), num_results=5
    )
    assert job.status is Status.ACTIVE, job.failure_reason
    assert job.attributes["recordsProcessed"] == 6 and job.attributes["recordsFailed"] == 2
    out = _read(tmp_path / "out" / "requests.jsonl.out")
    assert [o["input"] for o in out][:2] == [{"userId": "u0001"}, {"itemId": "i0010"}]

    version = trained.platform.catalog.get(ResourceType.SOLUTION_VERSION, trained.versions[0])
    recipe = load_recipe(
        trained.platform, f"models:/{version.attributes['modelName']}/{version.attributes['modelVersion']}"
    )
    user, item, bad_json, both, ranking, unknown = out
    assert user["error"] is None
    assert user["output"]["recommendedItems"] == recipe.recommend(["u0001"], 5)[0].item_ids
    assert len(user["output"]["scores"]) == 5
    assert item["output"]["recommendedItems"] == recipe.similar_items(["i0010"], 5)[0].item_ids
    assert bad_json["output"] is None and bad_json["error"].startswith("line 3: not JSON")
    assert both["output"] is None and "exactly one of userId or itemId" in both["error"]
    assert ranking["output"]["recommendedItems"][-1] == "nope"
    assert unknown["output"]["recommendedItems"] == recipe.popular_items(5).item_ids
    assert not list((tmp_path / "out").glob(".*.tmp"))

    described = trained.platform.catalog.get(ResourceType.BATCH_INFERENCE_JOB, "nightly").describe()
    assert described["batchInferenceJobArn"].endswith(":batch-inference-job/nightly")
    assert described["solutionVersionArn"] == trained.versions[0]
    with pytest.raises(ResourceAlreadyExistsError, match="nightly"):
        create_batch_inference_job(
            trained.platform, "nightly", trained.versions[0], str(requests), str(tmp_path / "out")
        )


def test_batch_chunks_give_the_same_answers(trained: Trained, tmp_path: Path) -> None:
    requests = tmp_path / "users.jsonl"
    requests.write_text("".join(json.dumps({"userId": f"u{u:04d}"}) + "\n" for u in range(40)))
    whole = create_batch_inference_job(
        trained.platform, "whole", trained.versions[0], str(requests), str(tmp_path / "whole")
    )
    chunked = create_batch_inference_job(
        trained.platform,
        "chunked",
        trained.versions[0],
        str(requests),
        str(tmp_path / "chunked"),
        chunk_size=7,
    )
    assert whole.status is chunked.status is Status.ACTIVE
    assert _read(tmp_path / "whole" / "users.jsonl.out") == _read(tmp_path / "chunked" / "users.jsonl.out")


def test_missing_input_fails_the_job(trained: Trained, tmp_path: Path) -> None:
    job = create_batch_inference_job(
        trained.platform,
        "no-input",
        trained.versions[0],
        str(tmp_path / "missing.jsonl"),
        str(tmp_path / "out"),
    )
    assert job.status is Status.CREATE_FAILED
    assert "missing.jsonl does not exist" in (job.failure_reason or "")
    stored = trained.platform.catalog.get(ResourceType.BATCH_INFERENCE_JOB, "no-input")
    assert stored.status is Status.CREATE_FAILED


def test_num_results_is_checked(trained: Trained, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="numResults must be from 1 to 500"):
        create_batch_inference_job(
            trained.platform,
            "too-many",
            trained.versions[0],
            str(tmp_path / "x"),
            str(tmp_path),
            num_results=501,
        )
