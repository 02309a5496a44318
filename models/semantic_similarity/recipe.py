"""semantic_similarity: related items from the text of their ITEMS fields, with an embedding that ships offline.

Personalize's Semantic-Similarity embeds an item's name and ``textual`` fields with a language model and relates
items whose embeddings are close, so a new item with a description but no interaction is related at once. We do
the same with what works offline and installs with the package:

- the text of an item is its ``text_fields`` joined (default: every string column of ITEMS but the id);
- by default it is embedded with TF-IDF (words and word pairs, sub-linear term frequency) reduced by a truncated
  SVD to ``dimensions`` (latent semantic analysis), fitted on the catalogue itself: nothing is downloaded;
- with ``embedding_folder`` set, a local folder holding ``embeddings.npz`` (``tokens``: strings, ``vectors``: one
  row per token) gives word vectors instead, and an item is the TF-IDF-weighted mean of its words' vectors;
- vectors are L2-normalised, and each item keeps its ``num_neighbors`` nearest items by cosine (positive ones).

Items that ITEMS lists but no interaction mentions join the catalogue (popularity 0), so they can be related and
recommended. A user is scored, as by sims, from the items related to their latest items. Item text is part of
the training data: a new description needs a new training (FULL).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from models.base import InteractionData, Recipe, RecipeParams, RecipeType, Recommendation, SearchDimension
from models.columns import CREATION_TIMESTAMP, ITEM_ID, RESERVED_FIELDS
from models.neighbours import NeighbourTable, latest_distinct, neighbour_count, neighbour_scores, strongest_source

EMBEDDINGS_FILE = "embeddings.npz"
_BLOCK = 1_024


class SemanticSimilarityParams(RecipeParams):
    """How item text is embedded and how many related items are kept."""

    text_fields: tuple[str, ...] = Field(
        default=(), description="ITEMS columns whose text is embedded; empty: every string column but the id."
    )
    dimensions: int = Field(default=128, ge=2, le=2048, description="Size of the TF-IDF + SVD embedding.")
    max_features: int = Field(default=50_000, ge=10, description="Largest TF-IDF vocabulary (words and word pairs).")
    embedding_folder: str | None = Field(
        default=None, description=f"Local folder with {EMBEDDINGS_FILE} (tokens, vectors) to embed words with."
    )
    num_neighbors: int = Field(default=100, ge=1, description="Related items kept per item.")
    recent_items: int = Field(default=10, ge=1, description="How many of the user's latest items recommend.")
    recency_decay: float = Field(default=0.7, gt=0.0, le=1.0, description="Weight factor per step back in history.")


class SemanticSimilarity(Recipe):
    """Items related by the meaning of their text (see the module docstring)."""

    params: SemanticSimilarityParams

    recipe_id = "semantic_similarity"
    recipe_type = RecipeType.RELATED_ITEMS
    Params = SemanticSimilarityParams
    search_space = {
        "dimensions": SearchDimension("int", 16, 256, log=True),
        "recent_items": SearchDimension("int", 1, 30),
    }

    def _fit(self, data: InteractionData, frame: pd.DataFrame, user_codes: np.ndarray, item_codes: np.ndarray) -> None:
        items = data.items
        if items is None or ITEM_ID not in items.columns:
            raise ValueError("semantic_similarity needs an ITEMS dataset with ITEM_ID and text fields")
        items = items.astype({ITEM_ID: str}).drop_duplicates(ITEM_ID, keep="last")
        new = np.setdiff1d(items[ITEM_ID].to_numpy(dtype=str), self.item_ids_)
        if len(new):  # items with text but no interaction yet: they are related from their text alone
            self.item_ids_ = np.concatenate([self.item_ids_, np.sort(new)]).astype(str)
            self.popularity_ = np.concatenate([self.popularity_, np.zeros(len(new))])
            self._build_indexes()
        texts = item_texts(items, self.item_ids_, self.params.text_fields)
        vectors = self._embed(texts)
        self.neighbors_, self.similarity_ = _cosine_table(
            vectors, neighbour_count(self.params.num_neighbors, self.n_items)
        )

    def _embed(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = self.params
        if not any(t.strip() for t in texts):
            raise ValueError(
                "semantic_similarity found no text in the ITEMS fields " + str(params.text_fields or "(all)")
            )
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, max_features=params.max_features, token_pattern=r"(?u)\b\w+\b"
        )
        tfidf = vectorizer.fit_transform(texts)
        if params.embedding_folder is not None:
            vectors = _word_vectors(tfidf, vectorizer.get_feature_names_out(), Path(params.embedding_folder))
        else:
            from sklearn.decomposition import TruncatedSVD

            rank = min(params.dimensions, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
            if rank < 1:
                vectors = tfidf.toarray()
            else:
                vectors = TruncatedSVD(rank, algorithm="arpack", random_state=self.seed).fit_transform(tfidf)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    # ----------------------------------------------------------------- answering
    def _table(self) -> NeighbourTable:
        return NeighbourTable(self.neighbors_, self.similarity_)

    def _latest(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        latest = latest_distinct(history, self.params.recent_items)
        return latest, self.params.recency_decay ** np.arange(len(latest))

    def _score(self, histories: Sequence[np.ndarray], context: Mapping[str, str] | None) -> np.ndarray:
        scores = np.full((len(histories), self.n_items), -np.inf)
        for row, history in enumerate(histories):
            scores[row] = neighbour_scores(self._table(), *self._latest(history), self.n_items)
        return scores

    def _explain(self, history: np.ndarray, items: np.ndarray) -> list[int | None]:
        return strongest_source(self._table(), *self._latest(history), items, self.n_items)

    def similar_items(
        self, item_ids: Sequence[str], n: int = 25, *, filter_items: Collection[str] | None = None
    ) -> list[Recommendation]:
        """The ``n`` items whose text is closest to each item's; an unknown item gets popular items."""
        results = []
        for item in item_ids:
            mask = self._candidate_mask(filter_items, None)
            i = self.item_index_.get(item)
            scores = np.full(self.n_items, -np.inf)
            if i is not None:
                mask[i] = False
                valid = np.isfinite(self.similarity_[i])
                scores[self.neighbors_[i][valid]] = self.similarity_[i][valid]
            results.append(self._top_n(scores, mask, n))
        return results

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"neighbors": self.neighbors_, "similarity": self.similarity_}

    def _restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.neighbors_ = arrays["neighbors"]
        self.similarity_ = arrays["similarity"]


def item_texts(items: pd.DataFrame, item_ids: np.ndarray, fields: Sequence[str]) -> list[str]:
    """Each of ``item_ids``' text: its ``fields`` (default every string column but the id) joined by spaces."""
    columns = list(fields) or [
        c
        for c in items.columns
        if c not in RESERVED_FIELDS
        and c != CREATION_TIMESTAMP
        and not pd.api.types.is_numeric_dtype(items[c])
        and not pd.api.types.is_bool_dtype(items[c])
    ]
    missing = [c for c in columns if c not in items.columns]
    if missing:
        raise ValueError(f"semantic_similarity: ITEMS has no field {missing[0]!r}; fields: {', '.join(items.columns)}")
    rows = items.set_index(ITEM_ID).reindex(item_ids)
    text = pd.Series("", index=rows.index)
    for column in columns:
        values = rows[column].fillna("").astype(str).str.replace("|", " ", regex=False)
        text = text + " " + values
    return text.str.strip().tolist()


def _word_vectors(tfidf: object, vocabulary: np.ndarray, folder: Path) -> np.ndarray:
    """TF-IDF-weighted means of word vectors read from ``folder/embeddings.npz`` (word pairs have none)."""
    path = folder / EMBEDDINGS_FILE
    if not path.is_file():
        raise ValueError(f"semantic_similarity: embedding_folder has no {EMBEDDINGS_FILE}: {path}")
    with np.load(path, allow_pickle=False) as npz:
        tokens, table = npz["tokens"].astype(str), np.asarray(npz["vectors"], dtype=np.float32)
    if table.ndim != 2 or len(tokens) != len(table):
        raise ValueError(f"{path}: tokens and vectors must have one row per token")
    row_of = {token: k for k, token in enumerate(tokens.tolist())}
    lookup = np.asarray([row_of.get(word, -1) for word in vocabulary.tolist()])
    known = np.flatnonzero(lookup >= 0)
    weights = tfidf[:, known]  # type: ignore[index]
    return np.asarray(weights @ table[lookup[known]])


def _cosine_table(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest rows by cosine (positive similarities only), best first, ties by index."""
    n = len(vectors)
    neighbors = np.zeros((n, k), dtype=np.int32)
    similarity = np.full((n, k), -np.inf, dtype=np.float32)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = vectors[start:stop] @ vectors.T
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        block[block <= 1e-6] = -np.inf
        order = np.lexsort((np.broadcast_to(np.arange(n), block.shape), -block), axis=1)[:, :k]
        neighbors[start:stop] = order
        similarity[start:stop] = np.take_along_axis(block, order, axis=1)
    return neighbors, similarity
