"""Property-based tests of the shared input rules (hypothesis): any value is either what the rule promises or an
InvalidInputError, never another exception; and what PutEvents and PutItems accept, the stores hold and training
reads back.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsmith.catalog import ResourceType
from recsmith.data import rules
from recsmith.data.datasets import create_dataset_group
from recsmith.data.sample import generate_sample
from recsmith.errors import InvalidInputError
from recsmith.events.metadata import current_metadata, put_items
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.workflow import ImportConfig, import_dataset

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
finite_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=20,
)


@FAST
@given(json_values | st.datetimes(timezones=st.none() | st.timezones()))
def test_epoch_seconds_are_finite_non_negative_and_not_in_the_future(value: Any) -> None:
    latest = rules.latest_timestamp(time.time(), 86_400)
    try:
        seconds = rules.check_epoch_seconds(value, "sentAt", latest=latest)
    except InvalidInputError as exc:
        assert str(exc).startswith("sentAt")
        return
    assert math.isfinite(seconds) and 0 <= seconds <= latest


@FAST
@given(json_values)
def test_numbers_are_finite_json_numbers_in_float32_range(value: Any) -> None:
    try:
        number = rules.check_number(value, "eventValue")
    except InvalidInputError as exc:
        assert str(exc).startswith("eventValue")
        return
    assert not isinstance(value, bool | str) and math.isfinite(number) and abs(number) <= rules.FLOAT_MAX


@FAST
@given(json_values | st.text(alphabet=st.characters(codec=None), max_size=300))
def test_strings_every_store_holds(value: Any) -> None:
    try:
        text = rules.check_id(value, "itemId")
    except InvalidInputError as exc:
        assert str(exc).startswith("itemId")
        return
    assert isinstance(text, str) and 1 <= len(text) <= 256 and "\x00" not in text
    text.encode("utf-8")


@FAST
@given(st.text(max_size=70))
def test_names_match_the_whole_pattern(name: str) -> None:
    try:
        rules.check_name(name, "dataset group")
    except InvalidInputError as exc:
        assert "invalid dataset group name" in str(exc)
        return
    assert 1 <= len(name) <= 63 and name.isascii() and name[0].isalnum()
    assert all(c.isalnum() or c in "-_" for c in name)


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | finite_json.map(json.dumps).map(str.encode))
def test_parsing_any_body_is_a_value_or_invalid_input(raw: bytes) -> None:
    try:
        rules.parse_json_body(raw)
    except InvalidInputError as exc:
        assert str(exc).startswith("request body")


@FAST
@given(finite_json)
def test_shallow_json_parses_back_to_itself(value: Any) -> None:
    assert rules.parse_json(json.dumps(value)) == value


@pytest.mark.parametrize("depth", [1, 31, 32, 33, 1000, 100_000])
def test_nesting_is_measured_outside_strings(depth: int) -> None:
    text = "[" * depth + '"[{[{"' + "]" * depth
    if depth <= rules.MAX_JSON_DEPTH:
        assert rules.parse_json(text) is not None
    else:
        with pytest.raises(InvalidInputError, match=f"nested deeper than {rules.MAX_JSON_DEPTH} levels"):
            rules.parse_json(text)


event_fields = st.fixed_dictionaries(
    {
        "eventType": st.text(min_size=1, max_size=5) | json_values,
        "sentAt": st.floats(0, time.time()) | st.integers(-(10**20), 10**20) | json_values,
    },
    optional={
        "eventId": st.text(max_size=5) | json_values,
        "itemId": st.text(max_size=5) | json_values,
        "eventValue": json_values,
        "properties": json_values | finite_json.map(json.dumps),
        "recommendationId": json_values,
        "impression": json_values,
        "metricAttribution": json_values,
    },
)


def test_what_put_events_accepts_is_stored_and_trains(tmp_path: Path) -> None:
    """Arbitrary events through the core function on a real store: each call is refused whole or stored whole,
    and the group's events always read back as training data (int64 timestamps)."""
    platform = Platform(Settings(home=tmp_path / "home"))
    create_dataset_group(platform, "shop")
    tracking_id = create_event_tracker(platform, "t", "shop").attributes["trackingId"]
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    accepted = 0

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(event_fields, min_size=1, max_size=3), st.sampled_from([None, "u1", ""]))
    def send(events: list[dict[str, Any]], user: str | None) -> None:
        nonlocal accepted
        before = platform.events.count(group)
        try:
            new = put_events(platform, tracking_id, "s1", events, user_id=user)
        except InvalidInputError:
            assert platform.events.count(group) == before
            return
        accepted += new
        assert platform.events.count(group) == before + new

    try:
        send()
        assert accepted > 0  # the generator reached the store, not only refusals
        frame = platform.events.events_frame(group)
        assert str(frame["TIMESTAMP"].dtype) == "int64"
    finally:
        platform.events.dispose()
        platform.catalog.dispose()


def test_what_put_items_accepts_is_stored_and_reads_back(tmp_path: Path) -> None:
    platform = Platform(Settings(home=tmp_path / "home"))
    sample = generate_sample(tmp_path / "sample")
    location, schema = str(sample.items), str(sample.items_schema)
    import_dataset(
        platform, ImportConfig(dataset_group="shop", dataset_type="ITEMS", data_location=location, schema_file=schema)
    )
    items = platform.catalog.get(ResourceType.DATASET, "shop-items").arn
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    properties = st.fixed_dictionaries(
        {"creationTimestamp": st.integers(-(10**12), 10**12) | json_values},
        optional={"genres": st.text(max_size=5) | json_values, "GENRES": json_values, "other": json_values},
    )

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.text(max_size=3) | json_values, properties | json_values | properties.map(json.dumps))
    def send(item_id: Any, props: Any) -> None:
        nonlocal accepted
        try:
            accepted += put_items(platform, items, [{"itemId": item_id, "properties": props}])
        except InvalidInputError:
            return

    accepted = 0
    try:
        send()
        assert accepted > 0
        frame = current_metadata(platform, group, "ITEMS")
        assert frame is not None and frame["ITEM_ID"].map(type).eq(str).all()
    finally:
        platform.events.dispose()
        platform.catalog.dispose()
