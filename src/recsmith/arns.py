"""ARNs shaped as Personalize's, so that code and tools that pass ARNs around keep working."""

from __future__ import annotations

import re

from recsmith.errors import InvalidInputError
from recsmith.settings import Settings

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}$")


def validate_name(name: str, what: str) -> str:
    """Personalize's name rule: 1-63 letters, digits, '-' or '_', starting with a letter or digit."""
    if not _NAME.match(name):
        raise InvalidInputError(
            f"invalid {what} name {name!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def make_arn(settings: Settings, resource_type: str, resource_id: str) -> str:
    """``arn:aws:personalize:{region}:{account}:{type}/{id}``."""
    return f"arn:aws:personalize:{settings.region}:{settings.account_id}:{resource_type}/{resource_id}"


def is_arn(value: str) -> bool:
    return value.startswith("arn:aws:personalize:")


def resource_id(arn: str) -> str:
    """The part of an ARN after ``{type}/``."""
    return arn.split(":", 5)[5].split("/", 1)[1]
