"""Batch inference jobs: JSON Lines of requests in, Personalize's batch output format out.

Input lines are ``{"userId": ...}`` (recommendations), ``{"itemId": ...}`` (related items) or
``{"userId": ..., "itemList": [...]}`` (personalized ranking). With a filter, a line may carry its own
``"filterValues"`` (Personalize's batch format); otherwise the job's ``filter_values`` apply. The file is
streamed and scored in chunks; each input line gives one output line, in order::

    {"input": {"userId": "u1"}, "output": {"recommendedItems": ["i7"], "scores": [0.3]}, "error": null}

A line that cannot be answered gets ``"output": null`` and an ``"error"`` naming the line and the cause, and
the job goes on, as Personalize's does. A job that cannot run at all (no input file, a version that does not
load) ends CREATE FAILED with the reason.

``job_input`` is a local ``.json``/``.jsonl`` file or folder of them, or ``s3://bucket/key`` or
``s3://bucket/prefix/`` (each object is streamed to a local staging file first); ``job_output`` is a local
folder or ``s3://bucket/prefix/``. Each input file gives ``<name>.out``. Outputs are staged and published only
when every input has been scored, so a failed job leaves no partial output. Input is read line by line and
scored in chunks whose score matrix stays under ``score_budget`` cells, so memory stays flat with input size.

:func:`start_batch_inference_job` validates and records the job (CREATE PENDING);
:func:`run_batch_inference_job` scores it (a job executor's worker, or :func:`create_batch_inference_job`, which
does both).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from models.base import Recipe, UnsupportedOperation
from recsmith.arns import validate_name
from recsmith.campaigns.filters import apply_filter, parse_filter_expression
from recsmith.campaigns.holder import load_recipe
from recsmith.campaigns.recommend import MAX_INPUT_LIST, MAX_RESULTS
from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError, ResourceInUseError
from recsmith.jobs import JobKind
from recsmith.jobs.lifecycle import begin_job, record_job
from recsmith.platform import Platform

logger = logging.getLogger(__name__)

CHUNK_SIZE = 512
SCORE_BUDGET = 2_000_000  # users x items scored at once: 16 MB of float64 per chunk
INPUT_SUFFIXES = (".json", ".jsonl")

_Line = tuple[int, Any, str | None]  # (input line number, request or raw text, error)


def create_batch_inference_job(
    platform: Platform,
    job_name: str,
    solution_version: str,
    job_input: str,
    job_output: str,
    num_results: int = 25,
    *,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    score_budget: int = SCORE_BUDGET,
) -> Resource:
    """Score every line of ``job_input`` with a solution version now; returns the job ACTIVE or CREATE FAILED.

    The output goes to ``<job_output>/<input file name>.out``; lines are scored ``chunk_size`` at a time, fewer
    when ``chunk_size`` users times the model's items would exceed ``score_budget``.
    ``filter_arn`` (a filter of the version's dataset group) applies to every line.
    """
    job = start_batch_inference_job(
        platform,
        job_name,
        solution_version,
        job_input,
        job_output,
        num_results,
        filter_arn=filter_arn,
        filter_values=filter_values,
    )
    return run_batch_inference_job(platform, job.arn, chunk_size=chunk_size, score_budget=score_budget)


def start_batch_inference_job(
    platform: Platform,
    job_name: str,
    solution_version: str,
    job_input: str,
    job_output: str,
    num_results: int = 25,
    *,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
) -> Resource:
    """Validate and record a batch inference job, CREATE PENDING; :func:`run_batch_inference_job` scores it."""
    validate_name(job_name, "batch inference job")
    if not 1 <= num_results <= MAX_RESULTS:
        raise InvalidInputError(f"numResults must be from 1 to {MAX_RESULTS}, got {num_results}")
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, solution_version)
    if version.status is not Status.ACTIVE:
        raise ResourceInUseError(f"solution version {version.arn} is {version.status}, not ACTIVE")
    if filter_arn:
        filter_resource = platform.catalog.get(ResourceType.FILTER, filter_arn)
        if filter_resource.dataset_group_arn != version.dataset_group_arn:
            raise InvalidInputError(
                f"filter {filter_resource.arn} belongs to dataset group {filter_resource.dataset_group_arn}, "
                f"not to the solution version's ({version.dataset_group_arn})"
            )
        parse_filter_expression(filter_resource.attributes["filterExpression"])
        filter_arn = filter_resource.arn
    return record_job(
        platform,
        JobKind.BATCH_INFERENCE,
        job_name,
        dataset_group_arn=version.dataset_group_arn,
        attributes={
            "solutionVersionArn": version.arn,
            "jobInput": {"s3DataSource": {"path": str(job_input)}},
            "jobOutput": {"s3DataDestination": {"path": str(job_output)}},
            "numResults": num_results,
            **({"filterArn": filter_arn, "filterValues": dict(filter_values or {})} if filter_arn else {}),
            "modelName": version.attributes["modelName"],
            "modelVersion": version.attributes["modelVersion"],
        },
    )


def run_batch_inference_job(
    platform: Platform, job_arn: str, *, chunk_size: int = CHUNK_SIZE, score_budget: int = SCORE_BUDGET
) -> Resource:
    """Score a CREATE PENDING batch inference job; returns it ACTIVE, or CREATE FAILED with the reason."""
    job = begin_job(platform, JobKind.BATCH_INFERENCE, job_arn)
    job_input = job.attributes["jobInput"]["s3DataSource"]["path"]
    job_output = job.attributes["jobOutput"]["s3DataDestination"]["path"]
    num_results = int(job.attributes["numResults"])
    filter_arn = job.attributes.get("filterArn")
    filter_values = job.attributes.get("filterValues")
    staging = _staging(platform, job.name)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        inputs = _inputs(platform, job_input, staging / "in")
        recipe = load_recipe(platform, f"models:/{job.attributes['modelName']}/{job.attributes['modelVersion']}")
        line_filter = (
            _LineFilter(platform, filter_arn, dict(filter_values or {}), job.dataset_group_arn)
            if filter_arn
            else None
        )
        chunk = max(1, min(chunk_size, score_budget // max(recipe.n_items, 1)))
        counts = {"recordsProcessed": 0, "recordsFailed": 0}
        staged: list[tuple[Path, str]] = []
        for name, path in inputs:
            out = staging / "out" / f"{name}.out"
            source = str(path)
            if job_input.startswith("s3://"):  # errors name the object, not the staging copy
                source = f"{job_input}{name}" if job_input.endswith("/") else job_input
            for key, value in _run(recipe, path, out, num_results, chunk, line_filter, source).items():
                counts[key] += value
            staged.append((out, f"{name}.out"))
        outputs = _publish(platform, staged, job_output)
    except (RecsmithError, OSError) as exc:
        logger.exception("batch inference job %s failed", job.arn)
        return platform.catalog.update(job, status=Status.CREATE_FAILED, failure_reason=str(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("batch inference job %s: %s -> %s, %s", job.name, job_input, outputs, counts)
    return platform.catalog.update(
        job, status=Status.ACTIVE, attributes={"outputFile": outputs[0], "outputFiles": outputs, **counts}
    )


def discard_batch_inference_job(platform: Platform, job: Resource) -> None:
    """Remove the staging folder of a batch job whose process died (outputs are published only at the end)."""
    shutil.rmtree(_staging(platform, job.name), ignore_errors=True)


def _staging(platform: Platform, job_name: str) -> Path:
    return platform.settings.data_root / f".batch-{job_name}"


def _inputs(platform: Platform, job_input: str, staging: Path) -> list[tuple[str, Path]]:
    """``(file name, local path)`` of each input: local files as they are, S3 objects streamed to ``staging``."""
    if job_input.startswith("s3://"):
        from recsmith.data import s3

        uris = s3.list_objects(platform.settings, job_input, INPUT_SUFFIXES)
        return [
            (uri.rsplit("/", 1)[-1], s3.download(platform.settings, uri, staging / f"{n:05d}"))
            for n, uri in enumerate(uris)
        ]
    path = Path(job_input)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(INPUT_SUFFIXES))
        if not files:
            raise InvalidInputError(f"batch input folder {job_input} holds no .json or .jsonl files")
        return [(p.name, p) for p in files]
    if not path.is_file():
        raise InvalidInputError(f"batch input {job_input} does not exist or is not a file")
    return [(path.name, path)]


def _publish(platform: Platform, staged: list[tuple[Path, str]], job_output: str) -> list[str]:
    """Move every staged output into ``job_output`` (folder or S3 prefix); all of them, or none on failure."""
    if job_output.startswith("s3://"):
        from recsmith.data import s3

        prefix = job_output if job_output.endswith("/") else job_output + "/"
        uploaded: list[str] = []
        try:
            for path, name in staged:
                uploaded.append(s3.upload(platform.settings, path, prefix + name))
        except RecsmithError:
            client = s3.s3_client(platform.settings)
            for uri in uploaded:  # take back what was published, so the job leaves nothing half done
                bucket, key = s3.parse_s3_uri(uri)
                client.delete_object(Bucket=bucket, Key=key)
            raise
        return uploaded
    folder = Path(job_output)
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for path, name in staged:
        # a copy inside the destination folder first, so the final rename is atomic on its file system
        tmp = folder / f".{name}.tmp"
        shutil.move(path, tmp)
        moved.append((tmp, folder / name))
    for tmp, final in moved:
        os.replace(tmp, final)
    return [str(final) for _, final in moved]


class _LineFilter:
    """The job's filter, evaluated for each input line (the line's own ``filterValues`` win)."""

    def __init__(self, platform: Platform, filter_arn: str, values: dict[str, str], group_arn: str | None) -> None:
        self.platform = platform
        self.filter_arn = filter_arn
        self.values = values
        self.group_arn = group_arn

    def blocked(self, recipe: Recipe, request: dict[str, Any], candidates: Iterable[str] | None = None) -> set[str]:
        """The items the filter removes for this line, among ``candidates`` (default: the model's items)."""
        values = request.get("filterValues")
        if values is not None and not isinstance(values, dict):
            raise InvalidInputError("filterValues must be a JSON object of parameter name to value")
        decision = apply_filter(
            self.platform,
            self.filter_arn,
            values if values is not None else self.values,
            self.group_arn,
            user_id=str(request["userId"]) if request.get("userId") else None,
            current_item=str(request["itemId"]) if request.get("itemId") else None,
        )
        if candidates is None:
            return set(decision.blocked_among(recipe.item_ids_))  # a copy per line
        return decision.blocked(candidates)


def _run(
    recipe: Recipe,
    input_path: Path,
    output_path: Path,
    num_results: int,
    chunk_size: int,
    line_filter: _LineFilter | None = None,
    source_name: str | None = None,
) -> dict[str, int]:
    output_path.parent.mkdir(parents=True, exist_ok=True)
    processed = failed = 0
    try:
        with open(input_path, encoding="utf-8") as source, open(output_path, "w", encoding="utf-8") as sink:
            for chunk in _chunks(_parse(source), chunk_size):
                for line in _answer(recipe, chunk, num_results, line_filter):
                    processed += 1
                    failed += line["error"] is not None
                    _write(sink, line)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{source_name or input_path}: not UTF-8 text after line {processed} ({exc.reason})"
        ) from exc
    return {"recordsProcessed": processed, "recordsFailed": failed}


def _write(sink: IO[str], line: dict[str, Any]) -> None:
    sink.write(json.dumps(line, separators=(",", ":")) + "\n")


def _parse(lines: Iterable[str]) -> Iterator[_Line]:
    """``(line number, request or raw text, error)`` for each non-blank input line."""
    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            request = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, text, f"line {number}: not JSON ({exc.msg})"
            continue
        yield number, request, _check(number, request)


def _check(number: int, request: Any) -> str | None:
    if not isinstance(request, dict):
        return f"line {number}: expected a JSON object with userId or itemId"
    user, item, items = request.get("userId"), request.get("itemId"), request.get("itemList")
    if bool(user) == bool(item):
        return f"line {number}: pass exactly one of userId or itemId"
    if items is not None:
        if not user:
            return f"line {number}: itemList (personalized ranking) needs a userId"
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_INPUT_LIST:
            return f"line {number}: itemList must be a list of 1 to {MAX_INPUT_LIST} item ids"
    return None


def _chunks(rows: Iterator[_Line], size: int) -> Iterator[list[_Line]]:
    chunk: list[_Line] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _answer(recipe: Recipe, chunk: list[_Line], n: int, line_filter: _LineFilter | None = None) -> list[dict[str, Any]]:
    """Output lines for one chunk, in input order; user and item requests are each scored as one batch."""
    out: list[dict[str, Any]] = [{"input": request, "output": None, "error": error} for _, request, error in chunk]
    blocked: dict[int, set[str]] = {}
    if line_filter is not None:
        for k, (number, request, error) in enumerate(chunk):
            if error is not None:
                continue
            try:
                candidates = [str(i) for i in request["itemList"]] if request.get("itemList") is not None else None
                blocked[k] = line_filter.blocked(recipe, request, candidates)
            except RecsmithError as exc:
                out[k]["error"] = f"line {number}: {exc}"
    valid = [k for k, (_, _, error) in enumerate(chunk) if error is None and out[k]["error"] is None]
    ranking = [k for k in valid if chunk[k][1].get("itemList") is not None]
    users = [k for k in valid if chunk[k][1].get("userId") and chunk[k][1].get("itemList") is None]
    items = [k for k in valid if chunk[k][1].get("itemId")]
    if users:
        user_ids = [str(chunk[k][1]["userId"]) for k in users]
        exclude = {user: blocked[k] for k, user in zip(users, user_ids, strict=True) if k in blocked}
        answers = recipe.recommend(user_ids, n, exclude=exclude or None)
        for k, answer in zip(users, answers, strict=True):
            out[k]["output"] = _output(answer.item_ids, answer.scores)
    if items:
        try:
            if blocked:
                answers = [
                    recipe.similar_items([str(chunk[k][1]["itemId"])], n, filter_items=blocked.get(k))[0] for k in items
                ]
            else:
                answers = recipe.similar_items([str(chunk[k][1]["itemId"]) for k in items], n)
        except UnsupportedOperation as exc:
            for k in items:
                out[k]["error"] = f"line {chunk[k][0]}: {exc}"
        else:
            for k, answer in zip(items, answers, strict=True):
                out[k]["output"] = _output(answer.item_ids, answer.scores)
    for k in ranking:
        request = chunk[k][1]
        removed = blocked.get(k, set())
        answer = recipe.rank(str(request["userId"]), [str(i) for i in request["itemList"] if str(i) not in removed])
        out[k]["output"] = _output(answer.item_ids, answer.scores)
    return out


def _output(item_ids: list[str], scores: list[float]) -> dict[str, Any]:
    return {"recommendedItems": item_ids, "scores": [round(float(s), 6) for s in scores]}
