"""The one exception hierarchy of recsmith.

::

    RecsmithError                      base of everything recsmith raises on purpose
    ├── InvalidInputError              a request, config or file the caller must fix (HTTP 400)
    │   ├── SchemaError                a schema Personalize would reject
    │   ├── DataValidationError        a data row that breaks its schema: names file, row, column, reason
    │   ├── FilterExpressionError      a filter expression that does not parse
    │   └── InvalidNextTokenError      a list call's nextToken that this service did not return
    ├── ResourceNotFoundError          no resource with that ARN or name (HTTP 404)
    ├── ResourceAlreadyExistsError     a create with a name already taken (HTTP 409)
    ├── ResourceInUseError             a delete or update blocked by a dependant or a state (HTTP 409)
    ├── UnsupportedCapabilityError     a recipe asked for something its type cannot do (HTTP 400)
    ├── TrainingError                  training failed; the solution version ends CREATE FAILED
    ├── AuthenticationError            a request without a valid SigV4 signature (HTTP 403; code says why)
    ├── AccessDeniedError              a key limited to one dataset group asked for another's (HTTP 403)
    └── PayloadTooLargeError           a request body over the server's limit (HTTP 413)

The names follow Personalize's exception names so that users reading errors see familiar words.
"""

from __future__ import annotations


class RecsmithError(Exception):
    """Base class of every error recsmith raises on purpose."""

    http_status: int = 500
    code: str = "RecsmithError"


class InvalidInputError(RecsmithError):
    """The caller sent something that must be fixed: the message says what and what is allowed."""

    http_status = 400
    code = "InvalidInputException"


class SchemaError(InvalidInputError):
    """A schema that Personalize would reject."""


class DataValidationError(InvalidInputError):
    """A row of an import file that breaks its schema."""

    def __init__(self, file: str, row: int, column: str | None, reason: str) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.reason = reason
        self.report: dict[str, object] | None = None  # the bad-row report of a whole import, when there is one
        where = f"{file}, row {row}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {reason}")


class FilterExpressionError(InvalidInputError):
    """A filter expression that does not parse."""


class InvalidNextTokenError(InvalidInputError):
    """A pagination token this service did not return (Personalize's and Forecast's InvalidNextTokenException)."""

    code = "InvalidNextTokenException"


class ResourceNotFoundError(RecsmithError):
    """No resource of that type with that ARN or name."""

    http_status = 404
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsError(RecsmithError):
    """A create whose name is already taken."""

    http_status = 409
    code = "ResourceAlreadyExistsException"


class ResourceInUseError(RecsmithError):
    """A delete or update blocked by a dependant resource or by the resource's state."""

    http_status = 409
    code = "ResourceInUseException"


class UnsupportedCapabilityError(RecsmithError):
    """A recipe was asked for something its recipe type cannot do."""

    http_status = 400
    code = "InvalidInputException"


class TrainingError(RecsmithError):
    """Training failed; the solution version ends CREATE FAILED with this message as its reason."""


class AuthenticationError(RecsmithError):
    """A request the server cannot attribute to a key: unsigned, mis-signed, expired, or an unknown key.

    ``code`` is AWS's: ``MissingAuthenticationTokenException``, ``InvalidSignatureException``,
    ``UnrecognizedClientException`` (unknown key) or ``SignatureDoesNotMatch``.
    """

    http_status = 403

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class AccessDeniedError(RecsmithError):
    """A valid key asked for a resource outside the dataset group it is limited to."""

    http_status = 403
    code = "AccessDeniedException"


class PayloadTooLargeError(RecsmithError):
    """A request body larger than the server accepts."""

    http_status = 413
    code = "InvalidInputException"
