"""``recsmith forecast <command>`` and ``recsmith forecastquery query-forecast``: every Forecast operation
recsmith answers, with ``aws forecast``'s command and flag names, derived from botocore's service models.

Each operation of :data:`recsmith.forecast.operations.OPERATIONS` becomes a command (``CreateAutoPredictor`` ->
``create-auto-predictor``) whose flags are its request's top-level members (``--forecast-horizon``); a list of
strings takes several values, a structure, map or other list takes JSON (or ``file://path``), a boolean
``--flag``/``--no-flag``. The command prints the operation's JSON answer: one code path with the API.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from recsmith.errors import InvalidInputError
from recsmith.platform import Platform


def _json_value(value: str, flag: str) -> Any:
    text = value
    if value.startswith("file://"):
        try:
            text = Path(value.removeprefix("file://")).read_text()
        except OSError as exc:
            raise InvalidInputError(f"{flag}: cannot read {value}: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{flag} is not valid JSON: {exc}") from exc


def _handler(table: dict[str, Any], operation: str, members: dict[str, Any]) -> Any:
    def handler(platform: Platform, args: argparse.Namespace) -> Any:
        request: dict[str, Any] = {}
        for member, shape in members.items():
            value = getattr(args, member)
            if value is None:
                continue
            if shape.type_name in ("structure", "map") or (
                shape.type_name == "list" and shape.member.type_name != "string"
            ):
                value = _json_value(value, f"--{_flag(member)}")
            request[member] = value
        return table[operation](platform, request)

    return handler


def _flag(member: str) -> str:
    from botocore import xform_name

    return xform_name(member, "-")


SERVICES = {"forecast": "AmazonForecast", "forecastquery": "AmazonForecastRuntime"}


def service_parser(service: str) -> argparse.ArgumentParser:
    """The parser of ``recsmith <service> ...``: one sub-command per operation, flags from botocore's model."""
    import botocore.session
    from botocore import xform_name

    from recsmith.forecast.operations import TARGETS

    model = botocore.session.get_session().get_service_model(service)
    parser = argparse.ArgumentParser(prog=f"recsmith {service}", description=f"Amazon Forecast: `aws {service}`.")
    sub = parser.add_subparsers(dest="operation", required=True, metavar="COMMAND")
    table = TARGETS[SERVICES[service]]
    for operation in sorted(table):
        shape = model.operation_model(operation).input_shape
        members = dict(shape.members) if shape is not None else {}
        command = sub.add_parser(xform_name(operation, "-"), help=f"{service} {operation}")
        command.set_defaults(run=_handler(table, operation, members))
        required = set(shape.required_members) if shape is not None else set()
        for member, member_shape in members.items():
            flag = f"--{_flag(member)}"
            if member_shape.type_name == "boolean":
                command.add_argument(flag, dest=member, action=argparse.BooleanOptionalAction)
            elif member_shape.type_name == "integer":
                command.add_argument(flag, dest=member, type=int, required=member in required)
            elif member_shape.type_name == "list" and member_shape.member.type_name == "string":
                command.add_argument(flag, dest=member, nargs="+", required=member in required)
            else:
                command.add_argument(flag, dest=member, required=member in required)
    return parser


def _delegate(service: str) -> Any:
    def handler(platform: Platform, args: argparse.Namespace) -> Any:
        parsed = service_parser(service).parse_args(args.rest)
        return parsed.run(platform, parsed)

    return handler


def add_forecast_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``forecast`` and ``forecastquery``; their own parsers (botocore, the Forecast modules) load only when
    one of them runs, so the rest of the CLI starts as fast as before."""
    for service in SERVICES:
        parser = commands.add_parser(
            service, help=f"Amazon Forecast: `aws {service}` commands.", add_help=False, prefix_chars="\0"
        )
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(handler=_delegate(service))
