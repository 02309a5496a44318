"""ARNs shaped as Personalize's, so that code and tools that pass ARNs around keep working."""

from __future__ import annotations

from recsmith.data.rules import check_name
from recsmith.settings import Settings


def validate_name(name: str, what: str) -> str:
    """Personalize's name rule (:func:`recsmith.data.rules.check_name`): 1-63 letters, digits, '-' or '_',
    starting with a letter or digit, and nothing after them (not even a newline)."""
    return check_name(name, what)


def make_arn(settings: Settings, resource_type: str, resource_id: str) -> str:
    """``arn:aws:personalize:{region}:{account}:{type}/{id}``."""
    return f"arn:aws:personalize:{settings.region}:{settings.account_id}:{resource_type}/{resource_id}"


def is_arn(value: str) -> bool:
    return value.startswith("arn:aws:personalize:")


def resource_id(arn: str) -> str:
    """The part of an ARN after ``{type}/``."""
    return arn.split(":", 5)[5].split("/", 1)[1]
