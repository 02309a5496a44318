"""Featurization: finer data rolled up to the forecast frequency, gaps and tails filled, series split by keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsmith.errors import InvalidInputError
from recsmith.forecast.schemas import DatasetType, Domain, parse_schema
from recsmith.forecast.series import Featurization, build_series, check_frequency_order, key_fields

SCHEMA = parse_schema(
    {
        "Attributes": [
            {"AttributeName": "item_id", "AttributeType": "string"},
            {"AttributeName": "store", "AttributeType": "string"},
            {"AttributeName": "timestamp", "AttributeType": "timestamp"},
            {"AttributeName": "demand", "AttributeType": "float"},
        ]
    },
    Domain.RETAIL,
    DatasetType.TARGET_TIME_SERIES,
)


def _frame(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["item_id", "store", "timestamp", "demand"])
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]))


def test_half_hours_roll_up_to_hours_and_gaps_fill_with_zero() -> None:
    frame = _frame(
        [
            ("x", "s1", "2024-01-01 00:00", 1.0),
            ("x", "s1", "2024-01-01 00:30", 2.0),
            ("x", "s1", "2024-01-01 02:00", 4.0),
            ("y", "s1", "2024-01-01 01:00", None),  # a missing value, then data: middle-filled
            ("y", "s1", "2024-01-01 03:00", 7.0),
        ]
    )
    data = build_series(frame, SCHEMA, "H")
    by_id = {key_fields(s.id)[0]: s for s in data.series}
    np.testing.assert_array_equal(by_id["x"].values, [3.0, 0.0, 4.0, 0.0])  # the tail to 03:00 is back-filled
    assert by_id["x"].start == pd.Timestamp("2024-01-01 00:00")
    np.testing.assert_array_equal(by_id["y"].values, [0.0, 0.0, 7.0])
    assert by_id["y"].start == pd.Timestamp("2024-01-01 01:00")


def test_dimensions_split_series_and_fills_follow_the_transformations() -> None:
    frame = _frame(
        [
            ("x", "s1", "2024-01-01", 2.0),
            ("x", "s1", "2024-01-03", 4.0),
            ("x", "s2", "2024-01-01", 10.0),
        ]
    )
    featurization = Featurization.from_transformations(
        {"middlefill": "mean", "backfill": "value", "backfill_value": "9"}
    )
    data = build_series(frame, SCHEMA, "D", dimensions=["store"], featurization=featurization)
    by_key = {tuple(key_fields(s.id)): s.values.tolist() for s in data.series}
    assert by_key == {("x", "s1"): [2.0, 3.0, 4.0], ("x", "s2"): [10.0, 9.0, 9.0]}


def test_bad_transformations_and_finer_forecasts_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="aggregation 'median' is not allowed"):
        Featurization.from_transformations({"aggregation": "median"})
    with pytest.raises(InvalidInputError, match="unknown Transformations"):
        Featurization.from_transformations({"futurefill": "zero"})
    with pytest.raises(InvalidInputError, match="ForecastFrequency H is finer than the dataset's DataFrequency D"):
        check_frequency_order("D", "H")
    check_frequency_order("H", "D")
