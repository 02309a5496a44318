"""semantic_similarity finds planted textual twins, relates items no one has taken yet, and reads a local
embedding folder instead of its own TF-IDF + SVD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import InteractionData
from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from models.semantic_similarity.recipe import EMBEDDINGS_FILE, SemanticSimilarity, SemanticSimilarityParams

WORDS = [f"w{k}" for k in range(400)]


def catalogue(n_items: int = 200, twins: int = 20, seed: int = 0) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Items with 12 random words each; the first ``twins`` items get a twin: the same text, two words changed."""
    rng = np.random.default_rng(seed)
    rows, pairs = [], []
    for k in range(n_items):
        rows.append((f"item{k:03d}", " ".join(rng.choice(WORDS, 12, replace=False)), "Books"))
    for k in range(twins):
        words = rows[k][1].split()
        words[rng.integers(12)] = str(rng.choice(WORDS))
        words[rng.integers(12)] = str(rng.choice(WORDS))
        rows.append((f"twin{k:03d}", " ".join(words), "Books"))
        pairs.append((f"item{k:03d}", f"twin{k:03d}"))
    return pd.DataFrame(rows, columns=[ITEM_ID, "DESCRIPTION", "CATEGORY"]), pairs


def interactions(items: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Random interactions with the first 150 items only: twins and the rest are never taken."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, min(150, len(items)), size=600)
    return pd.DataFrame(
        {
            USER_ID: [f"u{k % 60}" for k in range(600)],
            ITEM_ID: items[ITEM_ID].to_numpy()[picks],
            TIMESTAMP: np.arange(600),
        }
    )


def test_planted_twins_are_each_others_nearest_items() -> None:
    items, pairs = catalogue()
    model = SemanticSimilarity(seed=0).fit(InteractionData(interactions(items), items=items))
    found = sum(model.similar_items([a], 1)[0].item_ids == [b] for a, b in pairs)
    back = sum(model.similar_items([b], 1)[0].item_ids == [a] for a, b in pairs)
    assert found == back == len(pairs)
    assert model.popularity_[model.item_index_["twin000"]] == 0  # never taken, still in the catalogue


def test_a_user_who_took_an_item_is_offered_its_twin() -> None:
    items, pairs = catalogue()
    model = SemanticSimilarity(seed=0).fit(InteractionData(interactions(items), items=items))
    answer = model.recommend(["newcomer"], 1, recent_events={"newcomer": ["item003"]})[0]
    assert answer.item_ids == ["twin003"]
    assert answer.reasons[0] == ["Model", "Because of item item003"]


def test_a_local_embedding_folder_replaces_tfidf(tmp_path: Path) -> None:
    items, pairs = catalogue()
    rng = np.random.default_rng(5)
    np.savez(tmp_path / EMBEDDINGS_FILE, tokens=np.asarray(WORDS), vectors=rng.normal(size=(len(WORDS), 32)))
    params = SemanticSimilarityParams(embedding_folder=str(tmp_path), text_fields=("DESCRIPTION",))
    model = SemanticSimilarity(params).fit(InteractionData(interactions(items), items=items))
    found = sum(model.similar_items([a], 1)[0].item_ids == [b] for a, b in pairs)
    assert found >= 0.9 * len(pairs)
    with pytest.raises(ValueError, match="embedding_folder has no embeddings.npz"):
        SemanticSimilarity({"embedding_folder": str(tmp_path / "nowhere")}).fit(
            InteractionData(interactions(items), items=items)
        )


def test_no_items_or_no_text_is_refused_by_name() -> None:
    items, _ = catalogue(20, 0)
    with pytest.raises(ValueError, match="needs an ITEMS dataset"):
        SemanticSimilarity().fit(InteractionData(interactions(items)))
    with pytest.raises(ValueError, match="ITEMS has no field 'TITLE'"):
        SemanticSimilarity({"text_fields": ("TITLE",)}).fit(InteractionData(interactions(items), items=items))
