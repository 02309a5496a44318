"""Feature encoding for the hrnn family: metadata columns to a dense float matrix, saved as plain arrays.

Three kinds of column, decided from the training frame:

- numeric (a numeric dtype): standardised to mean 0, spread 1; a missing value becomes 0 (the mean);
- categorical (text): one token ``column=value`` per row;
- multi-valued (text where some value holds ``|``): one token per ``|``-separated part, weighted
  ``1/sqrt(parts)`` so a row with many genres does not outweigh a row with one.

Only tokens seen at least ``min_count`` times are kept (at most ``max_tokens_per_column`` per column, the most
frequent), so an id-like column (a title) does not blow up the vocabulary with tokens seen once. The encoder is
kept as string and float arrays (:meth:`FeatureEncoder.to_arrays`), never pickled, so a saved model can encode the
features of an item it first meets at serving time (a PutItems item) exactly as training did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_SEP = "="
_KIND_NUMERIC, _KIND_CATEGORICAL, _KIND_MULTI = "numeric", "categorical", "multi"


@dataclass(frozen=True)
class FeatureEncoder:
    """A fitted encoding: column kinds, token vocabulary, numeric means and spreads."""

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    vocabulary: tuple[str, ...]
    means: tuple[float, ...]
    spreads: tuple[float, ...]

    @property
    def numeric_columns(self) -> list[str]:
        return [c for c, k in zip(self.columns, self.kinds, strict=True) if k == _KIND_NUMERIC]

    @property
    def dimension(self) -> int:
        """Width of an encoded row: one slot per token, then one per numeric column."""
        return len(self.vocabulary) + len(self.numeric_columns)

    def encode(self, frame: pd.DataFrame, source: str = "features") -> np.ndarray:
        """Rows of ``frame`` as a ``(len(frame), dimension)`` float32 matrix; missing columns encode as zeros.

        A numeric field that does not parse, or is infinite, raises ``ValueError`` naming ``source``, the row
        and the field.
        """
        out = np.zeros((len(frame), self.dimension), dtype=np.float32)
        token_slot = {token: k for k, token in enumerate(self.vocabulary)}
        numeric_slot = len(self.vocabulary)
        for column, kind in zip(self.columns, self.kinds, strict=True):
            if kind == _KIND_NUMERIC:
                index = self.numeric_columns.index(column)
                if column in frame.columns:
                    values = _numeric(frame[column], source, column)
                    scaled = (values - self.means[index]) / self.spreads[index]
                    out[:, numeric_slot + index] = np.where(np.isnan(scaled), 0.0, scaled)
                continue
            if column not in frame.columns:
                continue
            for row, value in enumerate(frame[column].tolist()):
                parts = _parts(value, kind)
                weight = 1.0 / np.sqrt(len(parts)) if parts else 0.0
                for part in parts:
                    slot = token_slot.get(f"{column}{_SEP}{part}")
                    if slot is not None:
                        out[row, slot] += weight
        return out

    def encode_mapping(self, values: Mapping[str, str], source: str = "context") -> np.ndarray:
        """One row (a request's context, say) given as ``{field: value}`` strings."""
        frame = pd.DataFrame({c: [values[c]] for c in self.columns if c in values})
        for column in self.numeric_columns:
            if column in frame.columns:
                frame[column] = _numeric(frame[column], source, column)
        return self.encode(frame, source)[0]

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The encoder as plain arrays (strings and floats), keyed under ``prefix``."""
        return {
            f"{prefix}columns": np.asarray(self.columns, dtype=str),
            f"{prefix}kinds": np.asarray(self.kinds, dtype=str),
            f"{prefix}vocabulary": np.asarray(self.vocabulary, dtype=str),
            f"{prefix}means": np.asarray(self.means, dtype=np.float64),
            f"{prefix}spreads": np.asarray(self.spreads, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> FeatureEncoder:
        """The encoder :meth:`to_arrays` wrote."""
        return cls(
            columns=tuple(arrays[f"{prefix}columns"].astype(str).tolist()),
            kinds=tuple(arrays[f"{prefix}kinds"].astype(str).tolist()),
            vocabulary=tuple(arrays[f"{prefix}vocabulary"].astype(str).tolist()),
            means=tuple(float(x) for x in arrays[f"{prefix}means"]),
            spreads=tuple(float(x) for x in arrays[f"{prefix}spreads"]),
        )


def fit_encoder(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    source: str = "features",
    min_count: int = 2,
    max_tokens_per_column: int = 500,
) -> FeatureEncoder:
    """Learn the encoding of ``columns`` of ``frame`` (see the module docstring for the rules)."""
    kinds: list[str] = []
    vocabulary: list[str] = []
    means: list[float] = []
    spreads: list[float] = []
    for column in columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            text = series.dropna().astype(str)
            kind = _KIND_MULTI if text.str.contains("|", regex=False).any() else _KIND_CATEGORICAL
            counts: Counter[str] = Counter()
            for value in text.tolist():
                counts.update(_parts(value, kind))
            kept = [t for t, c in counts.most_common(max_tokens_per_column) if c >= min_count]
            vocabulary += [f"{column}{_SEP}{t}" for t in sorted(kept)]
            kinds.append(kind)
        else:
            values = _numeric(series, source, column)
            finite = values[~np.isnan(values)]
            mean = float(finite.mean()) if len(finite) else 0.0
            spread = float(finite.std()) if len(finite) else 1.0
            means.append(mean)
            spreads.append(spread if spread > 0 else 1.0)
            kinds.append(_KIND_NUMERIC)
    return FeatureEncoder(tuple(columns), tuple(kinds), tuple(vocabulary), tuple(means), tuple(spreads))


def aligned(frame: pd.DataFrame, id_column: str, ids: np.ndarray, source: str) -> pd.DataFrame:
    """``frame``'s rows in the order of ``ids`` (ids the frame lacks get an empty row).

    A duplicated id raises ``ValueError`` naming ``source``, the row and the field: two records for one item
    would make its features depend on file order.
    """
    if id_column not in frame.columns:
        raise ValueError(f"{source}: missing column {id_column!r}")
    keys = frame[id_column].astype(str)
    duplicated = keys.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise ValueError(f"{source}: row {row}, field {id_column}: duplicate id {keys.iloc[row]!r}")
    return frame.set_axis(keys.to_numpy(), axis=0).reindex(ids)


def _parts(value: object, kind: str) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    text = str(value)
    if kind == _KIND_MULTI:
        return [p for p in (part.strip() for part in text.split("|")) if p]
    return [text] if text else []


def _numeric(series: pd.Series, source: str, column: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = (np.isnan(values) & series.notna().to_numpy()) | np.isinf(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{source}: row {row}, field {column}: {series.iloc[row]!r} is not a finite number")
    return values
