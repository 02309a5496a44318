"""Batch segment jobs (Personalize's ``CreateBatchSegmentJob``): JSON Lines of item queries in, user segments out.

A USER_SEGMENTATION solution version (item_affinity, item_attribute_affinity) answers, for each input line
``{"itemId": "i7"}`` or ``{"itemAttributes": "ITEMS.GENRE = \\"Comedy\\""}``, the ``num_results`` users most
likely to interact (see :mod:`models.affinity.recipe`). Each input line gives one output line, in order, in
Personalize's batch segment format::

    {"input": {"itemId": "i7"}, "output": {"usersList": ["u3", "u9"]}, "error": null}

A line that cannot be answered (not JSON, neither or both keys, a malformed attribute expression, a query the
recipe does not answer) gets ``"output": null`` and an ``"error"`` naming the line and the cause, and the job goes
on. A job that cannot run at all (no input, a version that is not a segmentation recipe) ends CREATE FAILED.
Inputs and outputs are local files or folders or ``s3://`` locations, staged and published all-or-nothing as
batch inference jobs are (:mod:`recsmith.campaigns.batch`, whose input and output handling this reuses).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from models.base import Recipe, RecipeType, SegmentQuery, UnsupportedOperation
from recsmith.arns import validate_name
from recsmith.campaigns.batch import _inputs, _publish
from recsmith.campaigns.holder import load_recipe
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError, ResourceInUseError
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

MAX_USERS_PER_SEGMENT = 5_000_000
"""Personalize's ``numResults`` ceiling for a batch segment job."""


def create_batch_segment_job(
    platform: Platform,
    job_name: str,
    solution_version: str,
    job_input: str,
    job_output: str,
    num_results: int = 25,
) -> Resource:
    """Answer every line of ``job_input`` with a USER_SEGMENTATION solution version; returns the job ACTIVE or
    CREATE FAILED. The output goes to ``<job_output>/<input file name>.out``."""
    validate_name(job_name, "batch segment job")
    if not 1 <= num_results <= MAX_USERS_PER_SEGMENT:
        raise InvalidInputError(f"numResults must be from 1 to {MAX_USERS_PER_SEGMENT}, got {num_results}")
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version)
    if version.status is not Status.ACTIVE:
        raise ResourceInUseError(f"solution version {version.arn} is {version.status}, not ACTIVE")
    job = platform.create_resource(
        ResourceType.BATCH_SEGMENT_JOB,
        job_name,
        dataset_group_arn=version.dataset_group_arn,
        status=Status.CREATE_PENDING,
        attributes={
            "solutionVersionArn": version.arn,
            "jobInput": {"s3DataSource": {"path": str(job_input)}},
            "jobOutput": {"s3DataDestination": {"path": str(job_output)}},
            "numResults": num_results,
            "modelName": version.attributes["modelName"],
            "modelVersion": version.attributes["modelVersion"],
        },
    )
    job = platform.catalog.update(job, status=Status.CREATE_IN_PROGRESS)
    staging = Path(tempfile.mkdtemp(prefix=".segments-", dir=platform.settings.data_root))
    try:
        recipe = load_recipe(
            platform, f"models:/{version.attributes['modelName']}/{version.attributes['modelVersion']}"
        )
        if recipe.recipe_type is not RecipeType.USER_SEGMENTATION:
            raise InvalidInputError(
                f"solution version {version.arn} is recipe {recipe.recipe_id!r} ({recipe.recipe_type}); batch "
                "segment jobs need a USER_SEGMENTATION recipe (item_affinity, item_attribute_affinity)"
            )
        counts = {"recordsProcessed": 0, "recordsFailed": 0}
        staged: list[tuple[Path, str]] = []
        for name, path in _inputs(platform, job_input, staging / "in"):
            out = staging / "out" / f"{name}.out"
            for key, value in answer_segment_file(recipe, path, out, num_results).items():
                counts[key] += value
            staged.append((out, f"{name}.out"))
        outputs = _publish(platform, staged, job_output)
    except (RecsmithError, OSError) as exc:
        logger.exception("batch segment job %s failed", job.arn)
        return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=str(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("batch segment job %s: %s -> %s, %s", job.name, job_input, outputs, counts)
    return platform.catalog.update(
        job, status=Status.ACTIVE, attributes={"outputFile": outputs[0], "outputFiles": outputs, **counts}
    )


def answer_segment_file(recipe: Recipe, input_path: Path, output_path: Path, num_results: int) -> dict[str, int]:
    """One output line per input line of ``input_path`` (see the module docstring); the counts of lines."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    processed = failed = 0
    try:
        with open(input_path, encoding="utf-8") as source, open(output_path, "w", encoding="utf-8") as sink:
            for number, text in enumerate(source, start=1):
                if not text.strip():
                    continue
                line = answer_segment_line(recipe, number, text, num_results)
                processed += 1
                failed += line["error"] is not None
                sink.write(json.dumps(line, separators=(",", ":")) + "\n")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{input_path}: not UTF-8 text after line {processed} ({exc.reason})") from exc
    return {"recordsProcessed": processed, "recordsFailed": failed}


def answer_segment_line(recipe: Recipe, number: int, text: str, num_results: int) -> dict[str, Any]:
    """The output line for input line ``number`` (its raw ``text``)."""
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"input": text.strip(), "output": None, "error": f"line {number}: not JSON ({exc.msg})"}
    try:
        query = _query(request)
        segment = recipe.users_for_items([query], num_results)[0]
    except (InvalidInputError, ValueError, UnsupportedOperation) as exc:
        return {"input": request, "output": None, "error": f"line {number}: {exc}"}
    return {"input": request, "output": {"usersList": segment.user_ids}, "error": None}


def _query(request: Any) -> SegmentQuery:
    if not isinstance(request, dict):
        raise InvalidInputError('each line must be a JSON object, {"itemId": ...} or {"itemAttributes": ...}')
    keys = {"itemId", "itemAttributes"} & set(request)
    if len(keys) != 1:
        raise InvalidInputError('each line needs exactly one of "itemId" and "itemAttributes"')
    (key,) = keys
    value = request[key]
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{key} must be a non-empty string")
    return SegmentQuery(item_id=value) if key == "itemId" else SegmentQuery(item_attributes=value)
