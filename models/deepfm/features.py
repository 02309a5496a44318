"""Feature fields for deepfm: user, item and context metadata turned into padded bags of vocabulary indices.

Every field of a row is a bag of (index, weight) pairs into one shared vocabulary (index 0 is padding, weight
0): a categorical value is one index of weight 1, a multi-valued ``|`` field is its values with weight
``1 / count``, a numeric field is the field's own index weighted by its standardised value. deepfm embeds a
bag as the weighted sum of its embeddings, so every field, whatever its kind, becomes one vector.

Which columns become fields: every ITEMS/USERS column except the id and the reserved ones; strings are
categorical (split on ``|``), numbers numeric. A string column with more distinct values than
``MAX_TOKENS_PER_FIELD`` (free text, unique codes) is left out: embedding it would only memorise rows.
Interaction columns other than the reserved ones that hold strings are context fields, looked up at serving time
from the request's ``context``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.columns import RESERVED_FIELDS

MAX_TOKENS_PER_FIELD = 5_000
MAX_BAG = 8  # values kept of one multi-valued field


@dataclass
class FieldSpec:
    """One metadata field: its column, kind (``cat`` or ``num``) and, for numbers, the standardisation."""

    column: str
    kind: str
    mean: float = 0.0
    std: float = 1.0


class Vocabulary:
    """Field values to indices of the shared embedding table (0 is padding)."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self.keys: list[str] = list(keys)
        self.index: dict[str, int] = {key: i + 1 for i, key in enumerate(self.keys)}

    def add(self, key: str) -> int:
        if key not in self.index:
            self.keys.append(key)
            self.index[key] = len(self.keys)
        return self.index[key]

    def __len__(self) -> int:
        return len(self.keys) + 1


def metadata_fields(frame: pd.DataFrame | None, id_column: str) -> list[FieldSpec]:
    """The fields of an ITEMS or USERS frame (see the module docstring for which columns count)."""
    if frame is None:
        return []
    fields = []
    for column in frame.columns:
        if column == id_column or column in RESERVED_FIELDS:
            continue
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            numbers = values.astype("float64")
            std = float(numbers.std()) if numbers.notna().sum() > 1 else 0.0
            fields.append(FieldSpec(column, "num", float(numbers.mean()), std if std > 0 else 1.0))
        else:
            tokens = values.dropna().astype(str).str.split("|").explode()
            if 0 < tokens.nunique() <= MAX_TOKENS_PER_FIELD:
                fields.append(FieldSpec(column, "cat"))
    return fields


def context_columns(frame: pd.DataFrame) -> list[str]:
    """String interaction columns that are not reserved: context such as DEVICE or LOCATION."""
    return [
        c
        for c in frame.columns
        if c not in RESERVED_FIELDS and not pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()
    ]


def encode_value(vocab: Vocabulary, field: FieldSpec, value: object, grow: bool) -> list[tuple[int, float]]:
    """One cell as (index, weight) pairs; unknown values give an empty bag unless ``grow``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if field.kind == "num":
        key = f"{field.column}"
        index = vocab.add(key) if grow else vocab.index.get(key, 0)
        return [(index, (float(value) - field.mean) / field.std)] if index else []  # type: ignore[arg-type]
    tokens = [t for t in str(value).split("|") if t][:MAX_BAG]
    pairs = []
    for token in tokens:
        key = f"{field.column}={token}"
        index = vocab.add(key) if grow else vocab.index.get(key, 0)
        if index:
            pairs.append(index)
    return [(i, 1.0 / len(pairs)) for i in pairs]


def encode_rows(
    vocab: Vocabulary, fields: Sequence[FieldSpec], rows: Sequence[Mapping[str, object]], grow: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of metadata as index and weight arrays of shape ``(rows, fields, MAX_BAG)``."""
    indices = np.zeros((len(rows), len(fields), MAX_BAG), dtype=np.int64)
    weights = np.zeros((len(rows), len(fields), MAX_BAG), dtype=np.float32)
    for r, row in enumerate(rows):
        for f, field in enumerate(fields):
            for k, (index, weight) in enumerate(encode_value(vocab, field, row.get(field.column), grow)):
                indices[r, f, k] = index
                weights[r, f, k] = weight
    return indices, weights
