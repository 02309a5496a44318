"""item_affinity and item_attribute_affinity: the users most likely to interact with given items or with items
of given attributes (Personalize's USER_SEGMENTATION recipes, answered by batch segment jobs).

Both learn an item-item co-occurrence table, as sims does, over whole histories, and a profile of each user: their
latest ``recent_items`` distinct items, the newest weighing most (``recency_decay`` per step back). A user's
affinity for a set of items Q is what their profile says of Q, directly and through related items:

    affinity(u, Q) = sum over items j in u's profile of w_uj * (1[j in Q] + sum over i in Q of sim(j, i))

computed for every user at once as one sparse product (profiles x the table's columns of Q), so a segment over a
million users costs one pass over the profiles. ``exclude_existing_users`` leaves out users who already took one
of the query's items (item_affinity's default: a segment for an item is for reaching new users); ties go to the more
active user. Users with no affinity at all are not listed, so a segment may be shorter than asked.

- item_affinity answers ``{"itemId": "i7"}`` queries: Q is that item.
- item_attribute_affinity answers ``{"itemAttributes": "ITEMS.GENRES = \\"Comedy\\" AND ITEMS.PRICE < 10"}``
  queries: Q is every item whose ITEMS fields match (conditions ``=``, ``!=``, ``IN (...)``, ``<``, ``<=``, ``>``,
  ``>=`` joined by ``AND``/``OR``, AND binding first; a ``|``-multi-valued field equals a value it contains).

As every recipe they also recommend items to users (from the same table), so the contract holds; a campaign of
this recipe type is not meant to serve them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from models.base import InteractionData, RecipeType, SearchDimension, Segment, SegmentQuery
from models.columns import ITEM_ID, RESERVED_FIELDS
from models.neighbour_recipe import NeighbourRecipe, NeighbourScoringParams
from models.neighbours import Cooccurrence, binary_user_items


class ItemAffinityParams(NeighbourScoringParams):
    """The co-occurrence table and the user profiles that segments come from."""

    recent_items: int = Field(default=20, ge=1, description="How many of a user's latest items make their profile.")
    recency_decay: float = Field(default=0.9, gt=0.0, le=1.0, description="Profile weight factor per step back.")
    popularity_discount_factor: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Co-occurrence counts are divided by (n_i n_j) ** this."
    )
    min_cointeraction_count: int = Field(default=1, ge=1, description="Pairs seen together by fewer are unrelated.")
    num_neighbors: int = Field(default=100, ge=1, description="Related items kept per item.")
    exclude_existing_users: bool = Field(
        default=True, description="Leave users who already took one of the query's items out of its segment."
    )


class ItemAffinity(NeighbourRecipe):
    """User segments for items (see the module docstring)."""

    params: ItemAffinityParams

    recipe_id = "item_affinity"
    recipe_type = RecipeType.USER_SEGMENTATION
    Params = ItemAffinityParams
    search_space = {
        "recent_items": SearchDimension("int", 5, 50),
        "popularity_discount_factor": SearchDimension("float", 0.0, 1.0),
    }

    def _prepare(self, user_codes: np.ndarray, item_codes: np.ndarray, timestamps: np.ndarray) -> None:
        params = self.params
        users_items = binary_user_items(user_codes, item_codes, len(self.user_ids_), self.n_items)
        self._cooccurrence = Cooccurrence(
            users_items, params.popularity_discount_factor, params.min_cointeraction_count
        )

    def _similarities(self, rows: np.ndarray) -> sp.csr_matrix:
        return self._cooccurrence.rows(rows)

    def _related_rows(self, items: np.ndarray) -> np.ndarray:
        return self._cooccurrence.related_items(items)

    def _neighbour_slots(self) -> int:
        return self.params.num_neighbors

    def _release(self) -> None:
        del self._cooccurrence

    # ----------------------------------------------------------------- segments
    def _profiles(self) -> sp.csr_matrix:
        """Users x items: each user's latest distinct items weighted by recency (built once, then kept)."""
        cached = getattr(self, "_profile_cache", None)
        if cached is not None:
            return cached
        rows, cols, values = [], [], []
        for u in range(len(self.user_ids_)):
            latest, weights = self._latest(self.history_indices_[self.history_indptr_[u] : self.history_indptr_[u + 1]])
            rows.append(np.full(len(latest), u))
            cols.append(latest)
            values.append(weights)
        profiles = sp.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(self.user_ids_), self.n_items),
        )
        self._profile_cache: sp.csr_matrix | None = profiles
        return profiles

    def _similarity_matrix(self) -> sp.csc_matrix:
        """The table as a sparse items x items matrix, sim(j, i) at (j, i), column-major for column picks."""
        cached = getattr(self, "_matrix_cache", None)
        if cached is not None:
            return cached
        valid = np.isfinite(self.similarity_)
        rows = np.broadcast_to(np.arange(self.n_items)[:, None], valid.shape)[valid]
        matrix = sp.csc_matrix(
            (self.similarity_[valid].astype(np.float64), (rows, self.neighbors_[valid])),
            shape=(self.n_items, self.n_items),
        )
        self._matrix_cache: sp.csc_matrix | None = matrix
        return matrix

    def affinity(self, items: np.ndarray) -> np.ndarray:
        """Every user's affinity for the item indices ``items`` (see the module docstring)."""
        target = np.zeros(self.n_items)
        if len(items):
            target[items] = 1.0
            target += np.asarray(self._similarity_matrix()[:, items].sum(axis=1)).ravel()
        return np.asarray(self._profiles() @ target).ravel()

    def _query_items(self, query: SegmentQuery) -> np.ndarray:
        if query.item_id is None:
            raise ValueError("item_affinity answers itemId queries; item_attribute_affinity answers itemAttributes")
        index = self.item_index_.get(str(query.item_id))
        return np.asarray([] if index is None else [index], dtype=np.int64)

    def users_for_items(self, queries: Sequence[SegmentQuery], n: int = 25) -> list[Segment]:
        """The ``n`` users with the highest affinity for each query's items, most likely first."""
        activity = np.diff(self.history_indptr_)
        segments = []
        for query in queries:
            items = self._query_items(query)
            scores = self.affinity(items)
            if self.params.exclude_existing_users and len(items):
                holders = self._holders(items)
                scores[holders] = -np.inf
            order = np.lexsort((np.arange(len(scores)), -activity, -scores))
            order = order[np.isfinite(scores[order]) & (scores[order] > 0)][:n]
            segments.append(Segment(self.user_ids_[order].tolist(), [float(s) for s in scores[order]]))
        return segments

    def _holders(self, items: np.ndarray) -> np.ndarray:
        """Users who took any of ``items``."""
        taken = np.isin(self.history_indices_, items)
        lengths = np.diff(self.history_indptr_)
        return np.unique(np.repeat(np.arange(len(self.user_ids_)), lengths)[taken])


class ItemAttributeAffinityParams(ItemAffinityParams):
    """As item_affinity's; a user who already took items of the attributes stays in (that is the affinity)."""

    exclude_existing_users: bool = Field(
        default=False, description="Leave users who already took one of the matching items out of the segment."
    )


class ItemAttributeAffinity(ItemAffinity):
    """User segments for items of given attributes (see the module docstring)."""

    params: ItemAttributeAffinityParams

    recipe_id = "item_attribute_affinity"
    Params = ItemAttributeAffinityParams

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        super()._fit(data, frame, user_codes, item_codes)
        items = data.items
        if items is None or ITEM_ID not in items.columns:
            raise ValueError("item_attribute_affinity needs an ITEMS dataset with ITEM_ID and attribute fields")
        rows = items.astype({ITEM_ID: str}).drop_duplicates(ITEM_ID, keep="last").set_index(ITEM_ID)
        rows = rows.reindex(self.item_ids_)
        columns = [c for c in rows.columns if c not in RESERVED_FIELDS]
        self.attribute_columns_ = np.asarray(columns, dtype=str)
        self.attributes_ = np.asarray(
            [rows[c].astype(object).where(rows[c].notna(), "").astype(str).to_numpy() for c in columns], dtype=str
        ).reshape(len(columns), self.n_items)

    def _query_items(self, query: SegmentQuery) -> np.ndarray:
        if query.item_attributes is None:
            raise ValueError('item_attribute_affinity answers itemAttributes queries, such as ITEMS.GENRE = "Comedy"')
        return np.flatnonzero(
            match_attributes(query.item_attributes, self.attribute_columns_.tolist(), self.attributes_)
        )

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {**super()._state_arrays(), "attribute_columns": self.attribute_columns_, "attributes": self.attributes_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        super()._restore(arrays)
        self.attribute_columns_ = arrays["attribute_columns"].astype(str)
        self.attributes_ = arrays["attributes"].astype(str)


_CONDITION = re.compile(
    r"""\s*ITEMS\.(?P<field>\w+)\s*(?P<op>!=|<=|>=|=|<|>|NOT\s+IN|IN)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|\((?:[^()"]|"(?:[^"\\]|\\.)*")*\)|-?\d+(?:\.\d+)?)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def match_attributes(expression: str, columns: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Which items match ``expression`` (see the module docstring); ``values[c]`` are column c's strings.

    A malformed expression or an unknown field raises ``ValueError`` naming it and the fields there are.
    """
    by_upper = {c.upper(): k for k, c in enumerate(columns)}
    any_of = np.zeros(values.shape[1] if values.ndim == 2 else 0, dtype=bool)
    for alternative in re.split(r"\s+OR\s+", expression.strip(), flags=re.IGNORECASE):
        all_of = np.ones_like(any_of)
        for condition in re.split(r"\s+AND\s+", alternative, flags=re.IGNORECASE):
            found = _CONDITION.fullmatch(condition)
            if not found:
                raise ValueError(f'itemAttributes: cannot read {condition.strip()!r} (expected ITEMS.FIELD = "value")')
            field = found["field"].upper()
            if field not in by_upper:
                raise ValueError(f"itemAttributes: unknown field {found['field']!r}; fields: {', '.join(columns)}")
            all_of &= _condition(values[by_upper[field]], found["op"].upper(), found["value"])
        any_of |= all_of
    return any_of


def _condition(column: np.ndarray, op: str, raw: str) -> np.ndarray:
    op = " ".join(op.split())
    if op in ("IN", "NOT IN"):
        wanted = [v.replace('\\"', '"') for v in re.findall(r'"((?:[^"\\]|\\.)*)"', raw)]
        hit = np.asarray([bool(set(cell.split("|")) & set(wanted)) for cell in column.tolist()], dtype=bool)
        return hit if op == "IN" else ~hit
    if raw.startswith('"'):
        value = raw[1:-1].replace('\\"', '"')
        if op in ("=", "!="):
            hit = np.asarray([value in cell.split("|") for cell in column.tolist()], dtype=bool)
            return hit if op == "=" else ~hit
        raise ValueError(f"itemAttributes: {op} needs a number, not {raw}")
    number = float(raw)
    cells = pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype=np.float64)
    compare = {
        "=": np.equal,
        "!=": np.not_equal,
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
    }[op]
    with np.errstate(invalid="ignore"):
        return compare(cells, number) & ~np.isnan(cells)
