"""The request field types of the campaign service's routes: personalize-runtime's shapes, checked by the shared rules.

BentoML validates a request against its route's signature with pydantic, and the OpenAPI document (``/docs.json``)
is derived from it, so these types are both the check and the contract: strict integers (``numResults: true`` was
taken as 1), ids and ARNs of at most 256 characters (botocore's ``UserID``, ``ItemID``, ``Arn``), and every string
through :func:`recsmith.data.rules.check_string` (no NUL, no unpaired surrogate: PostgreSQL cannot hold them and
once answered a 500). A refusal is a pydantic error that the service's middleware answers as a 400
``InvalidInputException`` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict

from recsmith.data import rules
from recsmith.errors import InvalidInputError


def _rule(max_chars: int, min_chars: int = 0) -> AfterValidator:
    """:func:`recsmith.data.rules.check_string` as a pydantic validator (a refusal becomes a ValueError)."""

    def check(value: str) -> str:
        try:
            return rules.check_string(value, "value", max_chars=max_chars, min_chars=min_chars)
        except InvalidInputError as exc:
            raise ValueError(str(exc).removeprefix("value: ")) from None

    return AfterValidator(check)


def _text(max_chars: int, min_chars: int = 0) -> Any:
    return Annotated[str, Field(min_length=min_chars, max_length=max_chars), _rule(max_chars, min_chars)]


Id: Any = _text(rules.MAX_ID_CHARS)
"""botocore's ``UserID`` / ``ItemID``: at most 256 characters."""
Arn: Any = _text(rules.MAX_ID_CHARS)
"""botocore's ``Arn``: at most 256 characters."""
NumResults: Any = Annotated[int, Strict(), Field(ge=0)]
"""botocore's ``NumResults``: a JSON integer (not a boolean, not a string), at least 0; the runtime's own check
allows 1 to 500."""
Context: Any = Annotated[dict[_text(150, 1), _text(1000)], Field(max_length=150)]
"""botocore's ``Context``: at most 150 attributes, names up to 150 characters, values up to 1000."""
FilterValues: Any = Annotated[dict[_text(50, 1), _text(1000)], Field(max_length=25)]
"""botocore's ``FilterValues``: at most 25 parameters, names up to 50 characters, values up to 1000."""
MetadataColumns: Any = Annotated[dict[_text(256, 1), list[_text(150)]], Field(max_length=1)]
"""botocore's ``MetadataColumns``: one dataset type, with its column names."""
InputList: Any = Annotated[list[_text(rules.MAX_ID_CHARS)], Field(max_length=1000)]
"""botocore's ``InputList`` of ``ItemID`` (the runtime allows 1 to 500; more is refused early, not read)."""

__all__ = ["Arn", "Context", "FilterValues", "Id", "InputList", "MetadataColumns", "NumResults"]
