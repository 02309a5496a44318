"""The CLI as a user runs it: aws-personalize-shaped commands printing JSON, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsmith.cli import main
from recsmith.data.sample import SampleFiles


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))

    def call(*argv: str) -> dict:  # type: ignore[type-arg]
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out) if out.strip() else {}

    return call


def test_whole_workflow_from_the_cli(run, sample_files: SampleFiles, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    group = run("create-dataset-group", "--name", "shop")["datasetGroupArn"]
    assert group == "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
    run("create-schema", "--name", "shop-i", "--schema-file", f"file://{sample_files.interactions_schema}")
    run(
        "create-dataset",
        "--name",
        "shop-i",
        "--dataset-group",
        group,
        "--dataset-type",
        "INTERACTIONS",
        "--schema",
        "shop-i",
    )
    job = run(
        "create-dataset-import-job",
        "--job-name",
        "first",
        "--dataset",
        "shop-i",
        "--data-location",
        str(sample_files.interactions),
        "--wait",
    )
    assert job["status"] == "ACTIVE"
    tracking_id = run("create-event-tracker", "--name", "t", "--dataset-group", "shop")["trackingId"]
    run("create-solution", "--name", "shop-sims", "--dataset-group", "shop", "--recipe", "sims")
    version = run("create-solution-version", "--solution", "shop-sims", "--wait")
    assert version["status"] == "ACTIVE"
    metrics = run("get-solution-metrics", "--solution-version", version["solutionVersionArn"])["metrics"]
    assert 0 < metrics["normalized_discounted_cumulative_gain_at_10"] <= 1
    campaign = run(
        "create-campaign",
        "--name",
        "live",
        "--solution-version",
        version["solutionVersionArn"],
        "--update-mode",
        "MANUAL",
    )["campaignArn"]
    first = run("get-recommendations", "--campaign", campaign, "--user-id", "u0001", "--num-results", "5")
    assert len(first["itemList"]) == 5
    run(
        "put-events",
        "--tracking-id",
        tracking_id,
        "--user-id",
        "u0001",
        "--session-id",
        "s1",
        "--event-list",
        '[{"eventType": "click", "itemId": "i0100", "sentAt": 1700000000, "eventId": "e1"}]',
    )
    after = run("get-recommendations", "--campaign", "live", "--user-id", "u0001", "--num-results", "5")
    assert after["itemList"] != first["itemList"]
    related = run("get-recommendations", "--campaign", "live", "--item-id", "i0010", "--num-results", "3")
    assert len(related["itemList"]) == 3
    ranking = run(
        "get-personalized-ranking",
        "--campaign",
        "live",
        "--user-id",
        "u0001",
        "--input-list",
        "i0001,unknown-item,i0002",
    )["personalizedRanking"]
    assert ranking[-1]["itemId"] == "unknown-item"
    seen = run(
        "create-filter",
        "--name",
        "not-seen",
        "--dataset-group",
        "shop",
        "--filter-expression",
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)",
    )["filterArn"]
    assert seen.endswith(":filter/not-seen")
    assert run("describe-filter", "--filter-arn", seen)["filter"]["filterExpression"].startswith("EXCLUDE")
    assert [f["name"] for f in run("list-filters", "--dataset-group", "shop")["filters"]] == ["not-seen"]
    filtered = run(
        "get-personalized-ranking",
        "--campaign",
        "live",
        "--user-id",
        "u0001",
        "--input-list",
        "i0100,i0001,i0002",
        "--filter-arn",
        "not-seen",
        "--filter-values",
        '{"TYPES": "\\"*\\""}',
    )["personalizedRanking"]
    assert "i0100" not in [entry["itemId"] for entry in filtered]  # clicked through put-events
    filtered_recs = run(
        "get-recommendations",
        "--campaign",
        "live",
        "--user-id",
        "u0001",
        "--num-results",
        "5",
        "--filter-arn",
        seen,
        "--filter-values",
        '{"TYPES": "\\"click\\""}',
    )
    assert len(filtered_recs["itemList"]) == 5
    described = run("describe-campaign", "--campaign-arn", campaign)
    assert described["campaign"]["updateMode"] == "MANUAL"
    assert described["campaignMoves"][0]["to_version"] == version["solutionVersionArn"]
    assert [g["name"] for g in run("list-dataset-groups")["datasetGroups"]] == ["shop"]
    jobs = tmp_path / "in.jsonl"
    jobs.write_text('{"userId": "u0001"}\n{"itemId": "i0003"}\n')
    batch = run(
        "create-batch-inference-job",
        "--solution-version",
        version["solutionVersionArn"],
        "--job-input",
        str(jobs),
        "--job-output",
        str(tmp_path / "out"),
        "--num-results",
        "4",
    )
    # returns at once; the job pool (`run-jobs`, or `serve`) runs it
    assert batch["status"] == "CREATE PENDING"
    assert run("run-jobs", "--workers", "1", "--drain")["stopped"] is True
    described_batch = run("describe-batch-inference-job", "--batch-inference-job-arn", batch["batchInferenceJobArn"])
    assert described_batch["batchInferenceJob"]["status"] == "ACTIVE"
    lines = [json.loads(line) for line in (tmp_path / "out" / "in.jsonl.out").read_text().splitlines()]
    assert [len(line["output"]["recommendedItems"]) for line in lines] == [4, 4]
    filtered_batch = run(
        "create-batch-inference-job",
        "--job-name",
        "filtered",
        "--solution-version",
        version["solutionVersionArn"],
        "--job-input",
        str(jobs),
        "--job-output",
        str(tmp_path / "out-filtered"),
        "--filter-arn",
        "not-seen",
        "--filter-values",
        '{"TYPES": "\\"*\\""}',
        "--wait",
    )
    assert filtered_batch["status"] == "ACTIVE"
    assert run("delete-filter", "--filter-arn", "not-seen")["filterArn"] == seen
    exported = run(
        "create-dataset-export-job",
        "--dataset",
        "shop-i",
        "--job-output",
        str(tmp_path / "export"),
        "--ingestion-mode",
        "all",
        "--wait",
    )
    assert exported["status"] == "ACTIVE"
    export_csv = pd.read_csv(exported["outputLocation"])
    # the bulk rows, then the one PutEvents event
    assert len(export_csv) == len(pd.read_csv(sample_files.interactions)) + 1
    assert export_csv.iloc[-1]["ITEM_ID"] == "i0100"
    run("delete-campaign", "--campaign-arn", campaign)
    assert run("list-campaigns")["campaigns"] == []


def test_errors_are_one_line_and_exit_non_zero(tmp_path: Path) -> None:
    env = {**os.environ, "RECSMITH_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "recsmith.cli", "describe-solution", "--solution-arn", "nope"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "recsmith describe-solution: error: no solution with ARN or name 'nope'"
    assert result.stdout == ""


def test_create_solution_needs_recipe_or_automl(run) -> None:  # type: ignore[no-untyped-def]
    run("create-dataset-group", "--name", "shop")
    with pytest.raises(SystemExit, match="2"):
        main(["create-solution", "--name", "s", "--dataset-group", "shop"])
    assert main(["create-solution", "--name", "s", "--dataset-group", "shop", "--recipe", "deep-magic"]) == 1


def test_create_filter_reports_syntax_errors(run, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    run("create-dataset-group", "--name", "shop")
    argv = ["create-filter", "--name", "f", "--dataset-group", "shop", "--filter-expression", "INCLUDE ItemID WHERE"]
    assert main(argv) == 1
    assert "position 20: expected Items or Interactions, got end of expression" in capsys.readouterr().err
    assert run("list-filters")["filters"] == []
