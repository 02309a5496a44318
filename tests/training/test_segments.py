"""Batch segment jobs: a trained item_attribute_affinity / item_affinity version answers Personalize's segment
queries from a JSON Lines file, through the core function and through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsmith.catalog import ResourceType, Status
from recsmith.cli import main
from recsmith.data.sample import SampleFiles
from recsmith.errors import InvalidInputError
from recsmith.platform import Platform
from recsmith.training.segments import create_batch_segment_job
from recsmith.training.solutions import SolutionConfig, create_solution
from recsmith.training.versions import create_solution_version
from recsmith.workflow import ImportConfig, import_dataset
from tests.training.test_training import load_sample


def train(platform: Platform, files: SampleFiles, recipe: str) -> str:
    load_sample(platform, files)
    import_dataset(
        platform,
        ImportConfig(
            dataset_group="shop",
            dataset_type="ITEMS",
            data_location=str(files.items),
            schema_file=str(files.items_schema),
        ),
    )
    create_solution(platform, f"shop-{recipe.replace('_', '-')}", "shop", SolutionConfig(recipe=recipe))
    version = create_solution_version(platform, f"shop-{recipe.replace('_', '-')}")
    assert version.status is Status.ACTIVE, version.failure_reason
    return version.arn


def test_attribute_segments_are_the_fans_of_the_genre(
    platform: Platform, sample_files: SampleFiles, tmp_path: Path
) -> None:
    import pandas as pd

    version = train(platform, sample_files, "item_attribute_affinity")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"itemAttributes": "ITEMS.GENRES = \\"horror\\""}\n'
        "not json\n"
        '{"itemId": "i0001"}\n'
        '{"itemAttributes": "ITEMS.COLOR = \\"red\\""}\n'
    )
    job = create_batch_segment_job(platform, "horror-fans", version, str(queries), str(tmp_path / "out"), 20)
    assert job.status is Status.ACTIVE, job.failure_reason
    assert (job.attributes["recordsProcessed"], job.attributes["recordsFailed"]) == (4, 3)
    lines = [json.loads(x) for x in (tmp_path / "out" / "queries.jsonl.out").read_text().splitlines()]
    assert [line["error"] is None for line in lines] == [True, False, False, False]
    assert "line 2: not JSON" in lines[1]["error"]
    assert "line 3: item_attribute_affinity answers itemAttributes queries" in lines[2]["error"]
    assert "unknown field 'COLOR'" in lines[3]["error"]
    segment = lines[0]["output"]["usersList"]
    assert len(segment) == 20
    # the planted fans: the users whose interactions are most often horror items
    interactions = pd.read_csv(sample_files.interactions)
    items = pd.read_csv(sample_files.items)
    horror = set(items.loc[items["GENRES"].str.contains("horror"), "ITEM_ID"])
    share = interactions.assign(h=interactions["ITEM_ID"].isin(horror)).groupby("USER_ID")["h"].mean()
    assert share[segment].mean() > 2 * share.mean()
    assert platform.catalog.get(ResourceType.BATCH_SEGMENT_JOB, "horror-fans").arn == job.arn


def test_item_segments_from_the_cli_and_a_wrong_recipe_fails_by_name(
    platform: Platform, sample_files: SampleFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECSMITH_HOME", str(platform.settings.home))
    version = train(platform, sample_files, "item_affinity")
    queries = tmp_path / "items.json"
    queries.write_text('{"itemId": "i0003"}\n{"itemId": "i0004", "itemAttributes": "x"}\n')
    code = main(
        [
            "create-batch-segment-job",
            "--job-name",
            "i3",
            "--solution-version-arn",
            version,
            "--job-input",
            str(queries),
            "--job-output",
            str(tmp_path / "cli-out"),
            "--num-results",
            "7",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["status"] == "ACTIVE"
    first, second = [json.loads(x) for x in (tmp_path / "cli-out" / "items.json.out").read_text().splitlines()]
    assert len(first["output"]["usersList"]) == 7 and first["error"] is None
    assert "exactly one of" in second["error"]
    assert main(["list-batch-segment-jobs"]) == 0
    assert json.loads(capsys.readouterr()[0])["batchSegmentJobs"][0]["status"] == "ACTIVE"
    create_solution(platform, "shop-pop", "shop", SolutionConfig(recipe="popularity_count"))
    popular = create_solution_version(platform, "shop-pop")
    failed = create_batch_segment_job(platform, "wrong", popular.arn, str(queries), str(tmp_path / "never"))
    assert failed.status is Status.CREATE_FAILED
    assert "batch segment jobs need a USER_SEGMENTATION recipe" in str(failed.failure_reason)
    assert not (tmp_path / "never").exists()
    with pytest.raises(InvalidInputError, match="numResults must be from 1 to 5000000"):
        create_batch_segment_job(platform, "zero", version, str(queries), str(tmp_path / "x"), 0)
