"""The attack run's requests against the real campaign endpoint (issue 15, finding 4): each is a 400 (413 for size)
in Personalize's error shape naming the field, never a 500, and the client's keep-alive connection survives it.

Before the rules, 8 classes of these answered 500 on SQLite (9 on PostgreSQL) and reset the connection; a 200 MB
body was read whole; ``numResults: true`` was taken as 1; unknown paths answered plain text.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from recsmith.catalog import ResourceType
from tests.serving.servers import signed

if TYPE_CHECKING:
    from conftest import Served

pytestmark = pytest.mark.integration

DEEP = b"[" * 100_000 + b"]" * 100_000


def _events(served: Served, **event: Any) -> bytes:
    good = {"eventType": "click", "itemId": "i0001", "sentAt": time.time()}
    body = {"trackingId": served.tracking_id, "sessionId": "s-hostile", "eventList": [{**good, **event}]}
    return json.dumps(body).encode()  # json.dumps writes NaN and Infinity as the bare literals


def _cases(served: Served) -> list[tuple[str, bytes, int, str]]:
    """(path, body, status, what the message must say)."""
    runtime = {"campaignArn": served.campaign_arn, "userId": "u0003"}
    return [
        ("/events", DEEP, 400, "nested deeper than 32 levels"),
        ("/recommendations", DEEP, 400, "nested deeper than 32 levels"),
        ("/personalize-ranking", DEEP, 400, "nested deeper than 32 levels"),
        ("/users", DEEP, 400, "nested deeper than 32 levels"),
        ("/events", _events(served, sentAt=math.nan), 400, "NaN is not a JSON number"),
        ("/events", _events(served, sentAt=-math.inf), 400, "-Infinity is not a JSON number"),
        ("/events", _events(served, sentAt=[1]), 400, r"eventList[0].sentAt: expected epoch seconds"),
        ("/events", _events(served, sentAt={}), 400, r"eventList[0].sentAt: expected epoch seconds"),
        ("/events", _events(served, sentAt=-1), 400, r"eventList[0].sentAt: timestamp is negative"),
        ("/events", _events(served, sentAt=90_000_000_000), 400, r"eventList[0].sentAt: timestamp"),
        ("/events", _events(served, eventValue="abc"), 400, r"eventList[0].eventValue: expected a number"),
        ("/events", _events(served, eventValue={}), 400, r"eventList[0].eventValue: expected a number"),
        ("/events", _events(served, recommendationId={}), 400, r"eventList[0].recommendationId: expected a string"),
        ("/events", _events(served, eventId="e" * 301), 400, r"eventList[0].eventId: must be a string of 1 to 256"),
        ("/events", _events(served, itemId={"a": 1}), 400, r"eventList[0].itemId: expected a string"),
        ("/events", _events(served, properties="[1]"), 400, r"eventList[0].properties: must be a JSON object"),
        ("/recommendations", json.dumps({**runtime, "numResults": True}).encode(), 400, "numResults"),
        ("/recommendations", json.dumps({**runtime, "userId": "u" * 300}).encode(), 400, "userId"),
        ("/recommendations", json.dumps({**runtime, "userId": "u\x00"}).encode(), 400, "userId"),
        ("/events", b"{" + b" " * 5_000_000 + b"}", 413, "the limit is 4194304 bytes"),
    ]


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    # a caller with a valid key: the rules, not the signature check, must refuse these
    with httpx.Client(base_url=served.url, timeout=60, auth=signed(served.url)) as opened:
        yield opened


def test_hostile_requests_are_refused_in_aws_shape_and_keep_the_connection(
    served: Served, client: httpx.Client
) -> None:
    group = served.platform.catalog.get(ResourceType.DATASET_GROUP, "store").arn
    before = served.platform.events.count(group)
    wrong = []
    for path, body, status, said in _cases(served):
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
        code = answer.headers.get("x-amzn-ErrorType")
        if answer.status_code != status or code != "InvalidInputException" or said not in answer.json()["message"]:
            wrong.append((path, said, answer.status_code, answer.text[:200]))
    assert wrong == []
    assert served.platform.events.count(group) == before
    # the same keep-alive connection still answers an honest call
    assert client.post("/recommendations", json={"campaignArn": served.campaign_arn, "userId": "u0003"}).is_success


def test_a_body_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    """Declared too large (200 MB): 413 before a byte of it is read. Sent in chunks without a length: 413 once the
    limit is passed."""
    import socket

    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        raw.sendall(f"Content-Length: {200 * 1024 * 1024}\r\n\r\n".encode() + b"{")  # and nothing more
        head = raw.recv(65_536).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413") and "x-amzn-errortype: invalidinputexception" in head.lower()

    def chunks() -> Iterator[bytes]:
        for _ in range(80):  # 80 x 64 KiB = 5 MiB
            yield b" " * 65_536

    with httpx.Client(base_url=served.url, timeout=60) as client:
        chunked = client.post("/recommendations", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "the limit is 4194304 bytes" in chunked.json()["message"]
