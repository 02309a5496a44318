"""``recsmith``: the Personalize operations from a terminal, with ``aws personalize``'s commands and flags.

Every command prints JSON (with the resource's ARN, as Personalize does) and exits non-zero with a one-line
error on failure. A flag that names a resource takes its ARN, or its name where that is unambiguous. Each
command is a thin adapter over one function of the library.

Job-backed creates (import, export, solution version, batch inference) return at once with the job CREATE
PENDING, as Personalize does, and the job executor runs it (``recsmith run-jobs`` or ``recsmith serve``);
``--wait`` runs it in the foreground instead and returns when it has ended.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recsmith.catalog import Resource, ResourceType, Status
from recsmith.errors import InvalidInputError, RecsmithError
from recsmith.jobs import JobKind
from recsmith.platform import Platform

Handler = Callable[[Platform, argparse.Namespace], Any]

# describe-/list-/delete- commands: command noun -> (resource type, Personalize's response key)
_RESOURCES: dict[str, tuple[ResourceType, str]] = {
    "dataset-group": (ResourceType.DATASET_GROUP, "datasetGroup"),
    "schema": (ResourceType.SCHEMA, "schema"),
    "dataset": (ResourceType.DATASET, "dataset"),
    "dataset-import-job": (ResourceType.DATASET_IMPORT_JOB, "datasetImportJob"),
    "event-tracker": (ResourceType.EVENT_TRACKER, "eventTracker"),
    "solution": (ResourceType.SOLUTION, "solution"),
    "solution-version": (ResourceType.SOLUTION_VERSION, "solutionVersion"),
    "campaign": (ResourceType.CAMPAIGN, "campaign"),
    "batch-inference-job": (ResourceType.BATCH_INFERENCE_JOB, "batchInferenceJob"),
    "batch-segment-job": (ResourceType.BATCH_SEGMENT_JOB, "batchSegmentJob"),
    "dataset-export-job": (ResourceType.DATASET_EXPORT_JOB, "datasetExportJob"),
    "filter": (ResourceType.FILTER, "filter"),
}
_LIST_NAMES = {
    "dataset-group": "datasetGroups",
    "schema": "schemas",
    "dataset": "datasets",
    "dataset-import-job": "datasetImportJobs",
    "event-tracker": "eventTrackers",
    "solution": "solutions",
    "solution-version": "solutionVersions",
    "campaign": "campaigns",
    "batch-inference-job": "batchInferenceJobs",
    "batch-segment-job": "batchSegmentJobs",
    "dataset-export-job": "datasetExportJobs",
    "filter": "filters",
}


def _read_file_arg(value: str) -> str:
    """``aws`` style: ``file://path`` or a plain path reads the file; anything else is the value itself."""
    path = Path(value.removeprefix("file://"))
    try:
        is_file = path.is_file()
    except OSError:  # a long inline JSON value is "File name too long" as a path
        is_file = False
    if value.startswith("file://") or is_file:
        try:
            return path.read_text()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    return value


def _json_arg(value: str, flag: str) -> Any:
    try:
        return json.loads(_read_file_arg(value))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{flag} is not valid JSON: {exc}") from exc


def _submit(platform: Platform, kind: JobKind, job: Resource) -> None:
    """Hand a started job to the executor; say so on stderr when no local pool is there to run it."""
    platform.jobs.submit(kind, job.arn)
    if platform.settings.executor == "local":
        from recsmith.jobs.local import live_pools

        if not live_pools(platform):
            print(
                f"recsmith: no job pool is running: {job.arn} waits CREATE PENDING until `recsmith run-jobs` "
                "(or `recsmith serve`) runs; --wait runs it in the foreground",
                file=sys.stderr,
            )


def _ended(job: Resource, what: str) -> Resource:
    if job.status is Status.CREATE_FAILED:
        raise RecsmithError(f"{what} {job.arn} CREATE FAILED: {job.failure_reason}")
    return job


# ------------------------------------------------------------------ handlers
def _create_dataset_group(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.datasets import create_dataset_group

    return {"datasetGroupArn": create_dataset_group(platform, args.name).arn}


def _create_schema(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.datasets import create_schema

    return {"schemaArn": create_schema(platform, args.name, _read_file_arg(args.schema_file)).arn}


def _create_dataset(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.datasets import create_dataset

    dataset = create_dataset(platform, args.name, args.dataset_group, args.dataset_type, args.schema)
    return {"datasetArn": dataset.arn}


def _create_dataset_import_job(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.imports import run_dataset_import_job, start_dataset_import_job

    job_name = args.job_name or f"import-{time.strftime('%Y%m%d-%H%M%S')}"
    job = start_dataset_import_job(platform, job_name, args.dataset, args.data_location, args.import_mode)
    if args.wait:
        job = _ended(run_dataset_import_job(platform, job.arn), "dataset import job")
    else:
        _submit(platform, JobKind.DATASET_IMPORT, job)
    return {"datasetImportJobArn": job.arn, "status": job.status.value}


def _update_dataset(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.datasets import update_dataset

    return {"datasetArn": update_dataset(platform, args.dataset, args.schema).arn}


def _push_data_versions(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.dvc_tracking import push_versions

    return push_versions(platform.settings.data_root, args.remote or platform.settings.dvc_remote)


def _create_event_tracker(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.events.tracker import create_event_tracker

    tracker = create_event_tracker(platform, args.name, args.dataset_group)
    return {"eventTrackerArn": tracker.arn, "trackingId": tracker.attributes["trackingId"]}


def _put_events(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.events.tracker import put_events

    events = _json_arg(args.event_list, "--event-list")
    if not isinstance(events, list):
        raise InvalidInputError("--event-list must be a JSON list of events")
    stored = put_events(platform, args.tracking_id, args.session_id, events, user_id=args.user_id)
    return {"eventsStored": stored}


def _put_users(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.events.metadata import put_users

    users = _json_arg(args.users, "--users")
    if not isinstance(users, list):
        raise InvalidInputError('--users must be a JSON list of {"userId", "properties"} records')
    return {"usersStored": put_users(platform, args.dataset_arn, users)}


def _put_items(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.events.metadata import put_items

    items = _json_arg(args.items, "--items")
    if not isinstance(items, list):
        raise InvalidInputError('--items must be a JSON list of {"itemId", "properties"} records')
    return {"itemsStored": put_items(platform, args.dataset_arn, items)}


def _create_solution(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.training.solutions import (
        create_solution,
        from_personalize_solution_config,
        parse_solution_config,
    )

    values: dict[str, Any] = {
        "recipe": args.recipe or args.recipe_arn,
        "perform_automl": args.perform_automl,
        "perform_hpo": args.perform_hpo,
    }
    if args.event_type:
        values["event_type"] = args.event_type
    if args.solution_config:
        values.update(from_personalize_solution_config(_json_arg(args.solution_config, "--solution-config")))
    if args.perform_auto_training is not None:
        values["perform_auto_training"] = args.perform_auto_training
    solution = create_solution(platform, args.name, args.dataset_group, parse_solution_config(values))
    return {"solutionArn": solution.arn}


def _update_solution(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.training.auto_training import update_solution

    update = _json_arg(args.solution_update_config, "--solution-update-config") if args.solution_update_config else {}
    expression = (update.get("autoTrainingConfig") or {}).get("schedulingExpression")
    solution = update_solution(platform, args.solution, args.perform_auto_training, expression)
    return {"solutionArn": solution.arn}


def _create_solution_version(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.training.versions import run_solution_version, start_solution_version

    version = start_solution_version(platform, args.solution, args.training_mode)
    if args.wait:
        version = _ended(run_solution_version(platform, version.arn), "solution version")
    else:
        _submit(platform, JobKind.SOLUTION_VERSION, version)
    return {"solutionVersionArn": version.arn, "status": version.status.value}


def _stop_solution_version_creation(platform: Platform, args: argparse.Namespace) -> Any:
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, args.solution_version)
    platform.jobs.stop(JobKind.SOLUTION_VERSION, version.arn)
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, version.arn)
    return {"solutionVersionArn": version.arn, "status": version.status.value}


def _run_jobs(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.jobs.local import LocalExecutor

    if platform.settings.executor != "local":
        raise InvalidInputError(f"run-jobs runs the local pool; RECSMITH_EXECUTOR is {platform.settings.executor!r}")
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with LocalExecutor(platform, workers=args.workers) as pool:
            print(json.dumps({"poolId": pool.pool_id, "workers": pool.workers}), file=sys.stderr, flush=True)
            while not stop.is_set():
                if args.drain and pool.wait_idle(timeout=0.5):
                    break
                stop.wait(0.5)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return {"poolId": pool.pool_id, "stopped": True}


def _run_solution_version(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.training.versions import run_solution_version

    version = run_solution_version(platform, args.solution_version)
    return {"solutionVersionArn": version.arn, "status": version.status.value}


def _get_solution_metrics(platform: Platform, args: argparse.Namespace) -> Any:
    version = platform.catalog.get(ResourceType.SOLUTION_VERSION, args.solution_version)
    if version.status is not Status.ACTIVE:
        raise RecsmithError(f"solution version {version.arn} is {version.status.value}; it has no metrics")
    return {"solutionVersionArn": version.arn, "metrics": version.attributes["metrics"]}


def _create_campaign(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.campaigns import create_campaign

    campaign = create_campaign(
        platform,
        args.name,
        solution_version=args.solution_version,
        solution=args.solution,
        update_mode=args.update_mode,
    )
    return {"campaignArn": campaign.arn}


def _update_campaign(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.campaigns import update_campaign
    from recsmith.campaigns.controller import CampaignController

    campaign = update_campaign(
        platform, args.campaign, solution_version=args.solution_version, update_mode=args.update_mode
    )
    # the controller moves the campaign: the one of a running server, or this one pass when none leads now
    controller = CampaignController(platform)
    try:
        controller.run_once([campaign.arn])
    finally:
        controller.release()
    return {"campaignArn": campaign.arn}


def _run_controller(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.controller import CampaignController

    controller = CampaignController(platform)
    if args.once:
        try:
            return controller.run_once().model_dump()
        finally:
            controller.release()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"controller": controller.owner, "pollSeconds": controller.poll_seconds}), flush=True)
    controller.start()
    try:
        while controller.running:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return None


def _serve_campaign(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.controller import CampaignController
    from recsmith.campaigns.server import serve_campaign, stop_server, wait_ready

    campaign = platform.catalog.get(ResourceType.CAMPAIGN, args.campaign)
    # a SIGTERM must stop the server's process group too, not leave it running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # this process moves the campaign (and any other, if it leads); its workers only load and swap
    controller = CampaignController(platform)
    controller.start()
    process = serve_campaign(platform.settings, campaign.arn, args.port, host=args.host, workers=args.workers)
    url = f"http://{args.host}:{args.port}"
    try:
        wait_ready(url, timeout=120, process=process)
        print(json.dumps({"campaignArn": campaign.arn, "endpoint": url, "swagger": f"{url}/"}), flush=True)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_server(process)
        controller.stop()
    return None


def _serve(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.api.server import serve

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        json.dumps(
            {
                "endpoint": f"http://{args.host}:{args.port}",
                "credentials": str(platform.settings.resolved_home / "credentials"),
                "profile": "recsmith",
            }
        ),
        flush=True,
    )
    serve(platform.settings, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level)
    return None


def _create_access_key(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.catalog.access_keys import AccessKeyStore

    if bool(args.admin) == bool(args.dataset_group):
        raise InvalidInputError("pass exactly one of --dataset-group G (a key limited to G) or --admin")
    group_arn = None
    if args.dataset_group:
        from recsmith.arns import is_arn, make_arn, validate_name

        found = platform.catalog.find(ResourceType.DATASET_GROUP, args.dataset_group)
        if found is not None:
            group_arn = found.arn
        elif is_arn(args.dataset_group):
            group_arn = args.dataset_group
        else:  # a group the tenant will create itself
            name = validate_name(args.dataset_group, "dataset group")
            group_arn = make_arn(platform.settings, ResourceType.DATASET_GROUP, name)
    store = AccessKeyStore.from_settings(platform.settings)
    key = store.create(group_arn, description=args.description or "")
    return {
        "AccessKey": {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key.get_secret_value(),
            "DatasetGroupArn": key.dataset_group_arn,
            "Admin": key.is_admin,
        }
    }


def _create_filter(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.filters import create_filter

    expression = _read_file_arg(args.filter_expression)
    return {"filterArn": create_filter(platform, args.name, args.dataset_group, expression).arn}


def _filter_values(args: argparse.Namespace) -> dict[str, str] | None:
    if not args.filter_values:
        return None
    values = _json_arg(args.filter_values, "--filter-values")
    if not isinstance(values, dict):
        raise InvalidInputError('--filter-values must be a JSON object, e.g. {"GENRE": "\\"comedy\\""}')
    return values


def _campaign_model(platform: Platform, campaign_arn: str) -> Any:
    from recsmith.campaigns.holder import ModelHolder

    holder = ModelHolder(platform, campaign_arn)
    holder.refresh()
    return holder


def _get_recommendations(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.recommend import get_recommendations

    campaign = platform.catalog.get(ResourceType.CAMPAIGN, args.campaign)
    holder = _campaign_model(platform, campaign.arn)
    context = _json_arg(args.context, "--context") if args.context else None
    return get_recommendations(
        platform,
        holder,
        campaign.arn,
        user_id=args.user_id or args.session_id,
        item_id=args.item_id,
        num_results=args.num_results,
        context=context,
        filter_arn=args.filter_arn,
        filter_values=_filter_values(args),
        promotions=_json_arg(args.promotions, "--promotions") if args.promotions else None,
        metadata_columns=_metadata_columns(args),
    )


def _get_personalized_ranking(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.recommend import get_personalized_ranking

    campaign = platform.catalog.get(ResourceType.CAMPAIGN, args.campaign)
    holder = _campaign_model(platform, campaign.arn)
    items = (
        _json_arg(args.input_list, "--input-list")
        if args.input_list.lstrip().startswith("[")
        else [i.strip() for i in args.input_list.split(",") if i.strip()]
    )
    return get_personalized_ranking(
        platform,
        holder,
        campaign.arn,
        user_id=args.user_id,
        input_list=items,
        filter_arn=args.filter_arn,
        filter_values=_filter_values(args),
        metadata_columns=_metadata_columns(args),
    )


def _create_dataset_export_job(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.export import run_dataset_export_job, start_dataset_export_job

    job_name = args.job_name or f"export-{time.strftime('%Y%m%d-%H%M%S')}"
    job = start_dataset_export_job(platform, job_name, args.dataset, args.job_output, args.ingestion_mode)
    if not args.wait:
        _submit(platform, JobKind.DATASET_EXPORT, job)
        return {"datasetExportJobArn": job.arn, "status": job.status.value}
    job = _ended(run_dataset_export_job(platform, job.arn), "dataset export job")
    return {
        "datasetExportJobArn": job.arn,
        "status": job.status.value,
        "outputLocation": job.attributes["outputLocation"],
    }


def _create_batch_inference_job(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.campaigns.batch import run_batch_inference_job, start_batch_inference_job

    job_name = args.job_name or f"batch-{time.strftime('%Y%m%d-%H%M%S')}"
    job = start_batch_inference_job(
        platform,
        job_name,
        args.solution_version,
        args.job_input,
        args.job_output,
        num_results=args.num_results,
        filter_arn=args.filter_arn,
        filter_values=_filter_values(args),
    )
    if args.wait:
        job = _ended(run_batch_inference_job(platform, job.arn), "batch inference job")
    else:
        _submit(platform, JobKind.BATCH_INFERENCE, job)
    return {"batchInferenceJobArn": job.arn, "status": job.status.value}


def _create_batch_segment_job(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.training.segments import create_batch_segment_job

    job_name = args.job_name or f"segments-{time.strftime('%Y%m%d-%H%M%S')}"
    job = create_batch_segment_job(
        platform, job_name, args.solution_version, args.job_input, args.job_output, num_results=args.num_results
    )
    if job.status is Status.CREATE_FAILED:
        raise RecsmithError(f"batch segment job {job.arn} CREATE FAILED: {job.failure_reason}")
    return {"batchSegmentJobArn": job.arn, "status": job.status.value}


def _generate_sample(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.sample import generate_sample

    files = generate_sample(Path(args.output), n_users=args.users, n_items=args.items, seed=args.seed)
    return {k: str(v) for k, v in vars(files).items()}


def _convert_movielens(platform: Platform, args: argparse.Namespace) -> Any:
    from recsmith.data.movielens import convert_movielens

    files = convert_movielens(Path(args.source), Path(args.output), include_tags=args.include_tags)
    return {k: str(v) for k, v in vars(files).items()}


def _describe(noun: str) -> Handler:
    resource_type, key = _RESOURCES[noun]

    def handler(platform: Platform, args: argparse.Namespace) -> Any:
        from recsmith.jobs.lifecycle import refresh_job

        resource = refresh_job(platform, platform.catalog.get(resource_type, args.arn))
        out: dict[str, Any] = {key: resource.describe()}
        if resource_type is ResourceType.CAMPAIGN:
            out["campaignMoves"] = [m.model_dump() for m in platform.catalog.campaign_moves(resource.arn)]
        return out

    return handler


def _list(noun: str) -> Handler:
    resource_type, _key = _RESOURCES[noun]

    def handler(platform: Platform, args: argparse.Namespace) -> Any:
        from recsmith.jobs.lifecycle import refresh_jobs

        group = getattr(args, "dataset_group_arn", None)
        group_arn = platform.catalog.get(ResourceType.DATASET_GROUP, group).arn if group else None
        resources = refresh_jobs(platform, platform.catalog.list(resource_type, dataset_group_arn=group_arn))
        solution = getattr(args, "solution_arn", None)
        if solution:
            solution_arn = platform.catalog.get(ResourceType.SOLUTION, solution).arn
            resources = [r for r in resources if r.attributes.get("solutionArn") == solution_arn]
        return {_LIST_NAMES[noun]: [r.describe() for r in resources]}

    return handler


def _delete(noun: str) -> Handler:
    resource_type, key = _RESOURCES[noun]

    def handler(platform: Platform, args: argparse.Namespace) -> Any:
        if resource_type is ResourceType.DATASET_GROUP:
            from recsmith.data.datasets import delete_dataset_group

            return {f"{key}Arn": delete_dataset_group(platform, args.arn).arn}
        return {f"{key}Arn": platform.catalog.delete(resource_type, args.arn).arn}

    return handler


# ------------------------------------------------------------------- parser
def _metadata_columns(args: argparse.Namespace) -> Any:
    return _json_arg(args.metadata_columns, "--metadata-columns") if args.metadata_columns else None


def _metadata_flag(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--metadata-columns", help='JSON object of ITEMS fields to return, e.g. {"ITEMS": ["GENRES"]}')


def _filter_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--filter-arn", "--filter", dest="filter_arn", help="filter ARN or name")
    sub.add_argument("--filter-values", help='JSON object of parameter values, e.g. {"GENRE": "\\"comedy\\""}')


def _wait_flag(sub: argparse.ArgumentParser, verb: str) -> None:
    sub.add_argument(
        "--wait",
        action="store_true",
        help=f"{verb} in the foreground and return when done (default: return at once; the job executor runs it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsmith", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("create-dataset-group", _create_dataset_group, "Create a dataset group.")
    sub.add_argument("--name", required=True)
    sub = command("create-schema", _create_schema, "Register an Avro schema (file path or file://path).")
    sub.add_argument("--name", required=True)
    sub.add_argument("--schema-file", "--schema", dest="schema_file", required=True)
    sub = command("create-dataset", _create_dataset, "Create a dataset of a group, bound to a schema.")
    sub.add_argument("--name", required=True)
    sub.add_argument("--dataset-group", "--dataset-group-arn", dest="dataset_group", required=True)
    sub.add_argument("--dataset-type", required=True, help="INTERACTIONS, ITEMS or USERS")
    sub.add_argument("--schema", "--schema-arn", dest="schema", required=True)
    sub = command("update-dataset", _update_dataset, "Bind a dataset to a schema that adds nullable fields.")
    sub.add_argument("--dataset", "--dataset-arn", dest="dataset", required=True)
    sub.add_argument("--schema", "--schema-arn", dest="schema", required=True)
    sub = command("push-data-versions", _push_data_versions, "dvc push every data version to the DVC remote.")
    sub.add_argument("--remote", help="DVC remote URL or folder; default RECSMITH_DVC_REMOTE")
    sub = command("create-dataset-import-job", _create_dataset_import_job, "Import a CSV/Parquet file.")
    sub.add_argument("--job-name")
    sub.add_argument("--dataset", "--dataset-arn", dest="dataset", required=True)
    sub.add_argument("--data-location", "--data-source", dest="data_location", required=True)
    sub.add_argument("--import-mode", default="FULL", help="FULL (replace) or INCREMENTAL (append)")
    _wait_flag(sub, "import")
    sub = command("create-event-tracker", _create_event_tracker, "Create the group's event tracker.")
    sub.add_argument("--name", required=True)
    sub.add_argument("--dataset-group", "--dataset-group-arn", dest="dataset_group", required=True)
    sub = command("put-events", _put_events, "Record 1-10 events for a user's session.")
    sub.add_argument("--tracking-id", required=True)
    sub.add_argument("--user-id")
    sub.add_argument("--session-id", required=True)
    sub.add_argument("--event-list", required=True, help="JSON list of events (or file://path)")
    sub = command("put-users", _put_users, "Add or replace 1-10 users' metadata (a USERS dataset).")
    sub.add_argument("--dataset-arn", required=True)
    sub.add_argument("--users", required=True, help='JSON list of {"userId", "properties"} (or file://path)')
    sub = command("put-items", _put_items, "Add or replace 1-10 items' metadata (an ITEMS dataset).")
    sub.add_argument("--dataset-arn", required=True)
    sub.add_argument("--items", required=True, help='JSON list of {"itemId", "properties"} (or file://path)')
    sub = command("create-solution", _create_solution, "Create a solution (recipe or AutoML).")
    sub.add_argument("--name", required=True)
    sub.add_argument("--dataset-group", "--dataset-group-arn", dest="dataset_group", required=True)
    choice = sub.add_mutually_exclusive_group(required=True)
    choice.add_argument("--recipe", help="recipe id, e.g. sims or popularity_count")
    choice.add_argument("--recipe-arn", help="arn:aws:personalize:::recipe/<id>")
    choice.add_argument("--perform-automl", action="store_true")
    sub.add_argument("--perform-hpo", action="store_true")
    sub.add_argument("--event-type")
    sub.add_argument("--solution-config", help="JSON (or file://path) with Personalize's solutionConfig keys")
    sub.add_argument(
        "--perform-auto-training",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="retrain on solutionConfig.autoTrainingConfig.schedulingExpression (default rate(7 days)) when new "
        "interactions arrived; on unless --no-perform-auto-training (an Airflow DAG per solution runs it)",
    )
    sub = command("update-solution", _update_solution, "Change a solution's automatic training.")
    sub.add_argument("--solution", "--solution-arn", dest="solution", required=True)
    sub.add_argument("--perform-auto-training", action=argparse.BooleanOptionalAction, default=None)
    sub.add_argument(
        "--solution-update-config",
        help='JSON (or file://path): {"autoTrainingConfig": {"schedulingExpression": "rate(N days)"}}',
    )
    sub = command("create-solution-version", _create_solution_version, "Train a solution version.")
    sub.add_argument("--solution", "--solution-arn", dest="solution", required=True)
    sub.add_argument("--training-mode", default="FULL")
    _wait_flag(sub, "train")
    sub = command("run-solution-version", _run_solution_version, "Train a CREATE PENDING solution version.")
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version", required=True)
    sub = command(
        "stop-solution-version-creation",
        _stop_solution_version_creation,
        "Stop a training: CREATE STOPPING, then CREATE STOPPED.",
    )
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version", required=True)
    sub = command("run-jobs", _run_jobs, "Run the local job pool in the foreground until Ctrl-C or SIGTERM.")
    sub.add_argument("--workers", type=int, help="worker processes; default RECSMITH_JOB_WORKERS")
    sub.add_argument("--drain", action="store_true", help="exit once no job is queued or running")
    sub = command("get-solution-metrics", _get_solution_metrics, "Offline metrics of a solution version.")
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version", required=True)
    sub = command("create-campaign", _create_campaign, "Deploy a solution version as a campaign.")
    sub.add_argument("--name", required=True)
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("--solution-version", "--solution-version-arn", dest="solution_version")
    target.add_argument("--solution", "--solution-arn", dest="solution", help="its latest ACTIVE version")
    sub.add_argument("--update-mode", default="MANUAL", help="AUTO follows the registry; MANUAL stays pinned")
    sub = command("update-campaign", _update_campaign, "Move a campaign or change its update mode.")
    sub.add_argument("--campaign", "--campaign-arn", dest="campaign", required=True)
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version")
    sub.add_argument("--update-mode")
    sub = command(
        "run-controller", _run_controller, "Run the campaign controller (moves campaigns) until Ctrl-C."
    )
    sub.add_argument("--once", action="store_true", help="one pass, print what it did, and exit")
    sub = command("create-filter", _create_filter, "Create a filter of a dataset group.")
    sub.add_argument("--name", required=True)
    sub.add_argument("--dataset-group", "--dataset-group-arn", dest="dataset_group", required=True)
    sub.add_argument("--filter-expression", required=True, help="expression (or file://path)")
    sub = command("serve-campaign", _serve_campaign, "Serve a campaign over HTTP until Ctrl-C.")
    sub.add_argument("--campaign", "--campaign-arn", dest="campaign", required=True)
    sub.add_argument("--port", type=int, default=3000)
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--workers", type=int, default=1, help="worker processes (each holds the model)")
    sub = command("serve", _serve, "Serve Personalize's API (control plane, runtime, events) on one endpoint.")
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--workers", type=int, default=1, help="worker processes (each holds the campaigns' models)")
    sub.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    sub = command("create-access-key", _create_access_key, "Print a new API access key (SigV4) for a tenant or admin.")
    scope = sub.add_mutually_exclusive_group(required=True)
    scope.add_argument("--dataset-group", "--dataset-group-arn", dest="dataset_group", help="limit the key to it")
    scope.add_argument("--admin", action="store_true", help="a key that reaches every dataset group")
    sub.add_argument("--description")
    sub = command("get-recommendations", _get_recommendations, "Recommendations from a campaign.")
    sub.add_argument("--campaign", "--campaign-arn", dest="campaign", required=True)
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id")
    who.add_argument("--item-id")
    who.add_argument("--session-id", help="an anonymous visitor's session (its events are the history)")
    sub.add_argument("--num-results", type=int, default=25)
    sub.add_argument("--context", help="JSON object")
    sub.add_argument(
        "--promotions",
        help='JSON list of at most 1 {"name", "percentPromotedItems", "filterArn", "filterValues"}',
    )
    _metadata_flag(sub)
    _filter_flags(sub)
    sub = command("get-personalized-ranking", _get_personalized_ranking, "Rank a list of items for a user.")
    sub.add_argument("--campaign", "--campaign-arn", dest="campaign", required=True)
    sub.add_argument("--user-id", required=True)
    sub.add_argument("--input-list", required=True, help="JSON list or comma-separated item ids")
    _metadata_flag(sub)
    _filter_flags(sub)
    sub = command("create-batch-inference-job", _create_batch_inference_job, "Batch recommendations.")
    sub.add_argument("--job-name")
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version", required=True)
    sub.add_argument("--job-input", required=True, help="JSON Lines file or folder, s3://bucket/key or s3://bucket/prefix/")
    sub.add_argument("--job-output", required=True, help="output folder or s3://bucket/prefix/")
    sub.add_argument("--num-results", type=int, default=25)
    _filter_flags(sub)
    _wait_flag(sub, "score")
    sub = command("create-batch-segment-job", _create_batch_segment_job, "User segments for items or attributes.")
    sub.add_argument("--job-name")
    sub.add_argument("--solution-version", "--solution-version-arn", dest="solution_version", required=True)
    sub.add_argument("--job-input", required=True, help='JSON Lines of {"itemId"} or {"itemAttributes"} queries')
    sub.add_argument("--job-output", required=True, help="output folder or s3://bucket/prefix/")
    sub.add_argument("--num-results", type=int, default=25, help="users per segment")
    sub = command("create-dataset-export-job", _create_dataset_export_job, "Export a dataset as CSV (folder or S3).")
    sub.add_argument("--job-name")
    sub.add_argument("--dataset", "--dataset-arn", dest="dataset", required=True)
    sub.add_argument("--job-output", required=True, help="local folder or s3://bucket/prefix/")
    sub.add_argument("--ingestion-mode", default="PUT", choices=["BULK", "PUT", "ALL"], type=str.upper)
    _wait_flag(sub, "export")
    sub = command("generate-sample", _generate_sample, "Write the deterministic sample dataset.")
    sub.add_argument("--output", required=True)
    sub.add_argument("--users", type=int, default=300)
    sub.add_argument("--items", type=int, default=240)
    sub.add_argument("--seed", type=int, default=7)
    sub = command("convert-movielens", _convert_movielens, "Convert MovieLens files to Personalize's CSVs.")
    sub.add_argument("--source", required=True)
    sub.add_argument("--output", required=True)
    sub.add_argument("--include-tags", action="store_true")

    from recsmith.forecast.cli import add_forecast_commands

    add_forecast_commands(commands)  # `recsmith forecast ...` and `recsmith forecastquery ...`

    for noun in _RESOURCES:
        sub = command(f"describe-{noun}", _describe(noun), f"Describe a {noun}.")
        sub.add_argument(f"--{noun}-arn", f"--{noun}", dest="arn", required=True)
        sub = command(f"list-{noun}s", _list(noun), f"List {noun}s.")
        if noun != "dataset-group":
            sub.add_argument("--dataset-group-arn", "--dataset-group", dest="dataset_group_arn")
        if noun == "solution-version":
            sub.add_argument("--solution-arn", "--solution", dest="solution_arn")
        sub = command(f"delete-{noun}", _delete(noun), f"Delete a {noun}.")
        sub.add_argument(f"--{noun}-arn", f"--{noun}", dest="arn", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run one command, print its JSON; one-line error and exit 1 on failure."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    if not args.verbose:
        warnings.filterwarnings("ignore")
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        platform = Platform.from_env()
        result = args.handler(platform, args)
    except RecsmithError as exc:
        print(f"recsmith {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"recsmith {args.command}: error: {exc}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
