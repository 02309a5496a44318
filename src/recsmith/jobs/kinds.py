"""The one table of job kinds: the function that runs each, and the one that removes what it leaves behind when
its process dies midway. Functions are named by import path so that this table imports nothing heavy."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from recsmith.catalog import Resource
from recsmith.jobs import JobKind
from recsmith.platform import Platform

RunFunction = Callable[[Platform, str], Resource]
DiscardFunction = Callable[[Platform, Resource], None]


@dataclass(frozen=True)
class KindSpec:
    """``noun`` names the job in failure reasons; ``run`` and ``discard`` are ``module:function`` paths."""

    noun: str
    run: str
    discard: str


KINDS: dict[JobKind, KindSpec] = {
    JobKind.DATASET_IMPORT: KindSpec(
        "import", "recsmith.data.imports:run_dataset_import_job", "recsmith.data.imports:discard_dataset_import_job"
    ),  # noqa: E501
    JobKind.DATASET_EXPORT: KindSpec(
        "export", "recsmith.data.export:run_dataset_export_job", "recsmith.data.export:discard_dataset_export_job"
    ),  # noqa: E501
    JobKind.SOLUTION_VERSION: KindSpec(
        "training",
        "recsmith.training.versions:run_solution_version",
        "recsmith.training.versions:discard_solution_version",
    ),  # noqa: E501
    JobKind.BATCH_INFERENCE: KindSpec(
        "batch inference",
        "recsmith.campaigns.batch:run_batch_inference_job",
        "recsmith.campaigns.batch:discard_batch_inference_job",
    ),  # noqa: E501
}


def _function(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), name))


def run_function(kind: JobKind) -> RunFunction:
    """``run_*(platform, arn)`` of a kind."""
    return cast(RunFunction, _function(KINDS[kind].run))


def discard_function(kind: JobKind) -> DiscardFunction:
    """``discard_*(platform, resource)`` of a kind: removes what an unfinished job wrote."""
    return cast(DiscardFunction, _function(KINDS[kind].discard))


def kind_of(resource_type: str) -> JobKind | None:
    """The job kind of a resource type, ``None`` for resources that are not jobs."""
    try:
        return JobKind(resource_type)
    except ValueError:
        return None
