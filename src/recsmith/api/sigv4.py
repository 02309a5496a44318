"""AWS Signature Version 4, server side: verify that a request was signed by the holder of a known key.

The signer is the client's (botocore, the AWS CLI, any SDK), so the verifier rebuilds the canonical request
exactly as AWS documents it and botocore builds it: method, URI path (normalised, percent-encoded again, as
every service but S3 does), sorted query string, the signed headers (lower-cased, values with runs of spaces
folded), the signed header list and the payload's SHA-256. Both forms are accepted: the ``Authorization``
header, and the query string of a presigned URL (``X-Amz-Signature`` and friends, valid for ``X-Amz-Expires``).

Why each refusal is what it is (AWS's codes, so botocore raises the same ``ClientError`` codes):

- no ``Authorization`` header and no presigned query: ``MissingAuthenticationTokenException``;
- an access key the catalog does not hold: ``UnrecognizedClientException``;
- a signature that does not match, a scope for another region or service, a malformed header, a body whose
  hash differs from ``X-Amz-Content-Sha256``: ``InvalidSignatureException``;
- ``X-Amz-Date`` more than ``skew_seconds`` (15 minutes) from the server's clock, or a presigned URL past its
  expiry: ``InvalidSignatureException`` saying "Signature expired", as AWS words it.

The derived signing key (four HMACs) is cached per key, date, region and service, so a request costs one
SHA-256 of its body, one of the canonical request and one HMAC.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import posixpath
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from recsmith.catalog.access_keys import AccessKey
from recsmith.errors import AuthenticationError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MISSING = "MissingAuthenticationTokenException"
INVALID = "InvalidSignatureException"
UNKNOWN_KEY = "UnrecognizedClientException"
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of an HTTP request, as it arrived (ASGI's raw path and query)."""

    method: str
    raw_path: str
    query_string: str
    headers: list[tuple[str, str]]  # lower-case names, in arrival order
    body: bytes


@dataclass(frozen=True)
class Credential:
    """The parts of a credential scope: ``<key id>/<yyyymmdd>/<region>/<service>/aws4_request``."""

    access_key_id: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class _Parsed:
    credential: Credential
    signed_headers: list[str]
    signature: str
    amz_date: str
    expires: int | None  # presigned only
    query_without_signature: str | None  # presigned only


def _refuse(code: str, message: str) -> AuthenticationError:
    return AuthenticationError(code, message)


def _parse_credential(value: str) -> Credential:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise _refuse(
            INVALID, f"Credential should be scoped to <key>/<date>/<region>/<service>/aws4_request: {value!r}"
        )
    return Credential(parts[0], parts[1], parts[2], parts[3])


def _parse_header(authorization: str, headers: dict[str, str]) -> _Parsed:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _refuse(INVALID, f"Authorization header must use {ALGORITHM}, got {algorithm!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise _refuse(INVALID, f"Authorization header is missing {', '.join(missing)}")
    amz_date = headers.get("x-amz-date")
    if not amz_date:
        raise _refuse(INVALID, "Authorization header requires an X-Amz-Date header")
    return _Parsed(
        credential=_parse_credential(fields["Credential"]),
        signed_headers=fields["SignedHeaders"].split(";"),
        signature=fields["Signature"],
        amz_date=amz_date,
        expires=None,
        query_without_signature=None,
    )


def _parse_query(pairs: list[tuple[str, str]]) -> _Parsed:
    values = {unquote(k): unquote(v) for k, v in pairs}
    if values.get("X-Amz-Algorithm") != ALGORITHM:
        raise _refuse(INVALID, f"X-Amz-Algorithm must be {ALGORITHM}")
    missing = [
        name
        for name in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")
        if not values.get(name)
    ]
    if missing:
        raise _refuse(INVALID, f"presigned URL is missing {', '.join(missing)}")
    try:
        expires = int(values["X-Amz-Expires"])
    except ValueError:
        raise _refuse(INVALID, "X-Amz-Expires must be a number of seconds") from None
    if not 1 <= expires <= MAX_PRESIGNED_EXPIRES:
        raise _refuse(INVALID, f"X-Amz-Expires must be from 1 to {MAX_PRESIGNED_EXPIRES} seconds")
    return _Parsed(
        credential=_parse_credential(values["X-Amz-Credential"]),
        signed_headers=values["X-Amz-SignedHeaders"].split(";"),
        signature=values["X-Amz-Signature"],
        amz_date=values["X-Amz-Date"],
        expires=expires,
        query_without_signature="&".join(f"{k}={v}" for k, v in sorted(pairs) if unquote(k) != "X-Amz-Signature"),
    )


def _split_query(query_string: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in query_string.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            pairs.append((key, value))
    return pairs


_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def _epoch(amz_date: str) -> int:
    """Seconds since the epoch of ``yyyymmddThhmmssZ`` (parsed by hand: strptime cost a fifth of a verify)."""
    match = _AMZ_DATE.fullmatch(amz_date)
    if match is None:
        raise _refuse(INVALID, f"X-Amz-Date must be yyyymmddThhmmssZ, got {amz_date!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise _refuse(INVALID, f"X-Amz-Date is not a valid time: {amz_date!r}")
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


@functools.lru_cache(maxsize=1024)
def canonical_uri(raw_path: str) -> str:
    """botocore's: dot segments removed, trailing slash kept, then percent-encoded (again) but for ``/~``."""
    path = raw_path or "/"
    normalized = posixpath.normpath(path) if path not in ("/", "") else "/"
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return quote(normalized, safe="/~")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _header_values(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Header values by name, repeated headers joined with commas (folding spaces is left to the signed ones)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    return merged


def _canonical_value(value: str) -> str:
    return " ".join(value.split())


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class SigV4Verifier:
    """Verify SigV4 requests against the keys ``find_key`` returns (None: unknown key)."""

    def __init__(
        self,
        find_key: Callable[[str], AccessKey | None],
        *,
        region: str,
        services: frozenset[str],
        skew_seconds: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._find_key = find_key
        self.region = region
        self.services = services
        self.skew_seconds = skew_seconds
        self._clock = clock
        self._keys: dict[tuple[str, str, str, str, str], bytes] = {}

    def verify(self, request: SignedRequest) -> AccessKey:
        """The key that signed ``request``; :class:`AuthenticationError` when none did."""
        headers = _header_values(request.headers)
        authorization = headers.get("authorization")
        pairs = _split_query(request.query_string)
        if authorization:
            parsed = _parse_header(authorization, headers)
        elif any(key == "X-Amz-Signature" for key, _ in pairs):
            parsed = _parse_query(pairs)
        else:
            raise _refuse(MISSING, "Missing Authentication Token")
        credential = parsed.credential
        key = self._find_key(credential.access_key_id)
        if key is None:
            raise _refuse(UNKNOWN_KEY, "The security token included in the request is invalid.")
        if credential.region != self.region:
            raise _refuse(INVALID, f"Credential should be scoped to a valid region, not '{credential.region}'.")
        if credential.service not in self.services:
            raise _refuse(
                INVALID,
                f"Credential should be scoped to correct service: one of {', '.join(sorted(self.services))}, "
                f"not '{credential.service}'.",
            )
        signed_at = _epoch(parsed.amz_date)
        if parsed.amz_date[:8] != credential.date:
            raise _refuse(INVALID, "Date in Credential scope does not match YYYYMMDD from X-Amz-Date.")
        now = self._clock()
        if parsed.expires is None:
            if abs(now - signed_at) > self.skew_seconds:
                raise _refuse(
                    INVALID,
                    f"Signature expired: {parsed.amz_date} is now earlier than or later than the server's time by "
                    f"more than {self.skew_seconds // 60} min.",
                )
        elif now > signed_at + parsed.expires or signed_at > now + self.skew_seconds:
            raise _refuse(INVALID, f"Signature expired: the presigned URL was valid for {parsed.expires} s.")
        if "host" not in parsed.signed_headers:
            raise _refuse(INVALID, "SignedHeaders must include host")
        missing = [name for name in parsed.signed_headers if name not in headers]
        if missing:
            raise _refuse(INVALID, f"signed header {missing[0]!r} is not in the request")
        payload_hash = self._payload_hash(headers, request.body)
        query = parsed.query_without_signature if parsed.query_without_signature is not None else canonical_query(pairs)
        canonical = "\n".join(
            [
                request.method.upper(),
                canonical_uri(request.raw_path),
                query,
                "".join(f"{name}:{_canonical_value(headers[name])}\n" for name in parsed.signed_headers),
                ";".join(parsed.signed_headers),
                payload_hash,
            ]
        )
        to_sign = "\n".join(
            [ALGORITHM, parsed.amz_date, credential.scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        expected = hmac.new(self._signing_key(key, credential), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parsed.signature):
            raise _refuse(
                INVALID,
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method.",
            )
        return key

    def _payload_hash(self, headers: dict[str, str], body: bytes) -> str:
        actual = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        claimed = headers.get("x-amz-content-sha256")
        if claimed is None:
            return actual
        if claimed == UNSIGNED_PAYLOAD and not body:
            return claimed
        if claimed != actual:
            raise _refuse(INVALID, "The provided X-Amz-Content-Sha256 header does not match the request body.")
        return claimed

    def _signing_key(self, key: AccessKey, credential: Credential) -> bytes:
        secret = key.secret_access_key.get_secret_value()
        cache_key = (key.access_key_id, secret, credential.date, credential.region, credential.service)
        derived = self._keys.get(cache_key)
        if derived is None:
            if len(self._keys) > 4096:
                self._keys.clear()
            derived = signing_key(secret, credential.date, credential.region, credential.service)
            self._keys[cache_key] = derived
        return derived
