"""Exploration of new items: a share of each answer handed to the best-scored new items, spread through it.

Shared by the recipes that explore (hrnn_coldstart, user_personalization_v2): the relevance answer and an answer
restricted to new items are interleaved, and the places given to exploration carry the reason "Exploration".
"""

from __future__ import annotations

from models.base import REASON_EXPLORATION, REASON_MODEL, Recommendation


def interleave_exploration(relevant: Recommendation, explored: Recommendation, n: int) -> Recommendation:
    """``explored`` spread evenly through ``relevant`` (without repeats), ``n`` items at most."""
    taken = set(explored.item_ids)
    rest = [k for k, item in enumerate(relevant.item_ids) if item not in taken]
    total = min(n, len(rest) + len(explored))
    slots = {int((j + 1) * total / (len(explored) + 1)) for j in range(len(explored))} if len(explored) else set()
    picks: list[tuple[Recommendation, int]] = []
    r = e = 0
    for position in range(total):
        use_explored = (position in slots and e < len(explored)) or r >= len(rest)
        if use_explored:
            picks.append((explored, e))
            e += 1
        else:
            picks.append((relevant, rest[r]))
            r += 1
    with_reasons = all(len(source.reasons) == len(source.item_ids) for source in (relevant, explored))
    return Recommendation(
        [source.item_ids[k] for source, k in picks],
        [source.scores[k] for source, k in picks],
        [_reason(source.reasons[k], source is explored) for source, k in picks] if with_reasons else [],
    )


def _reason(reasons: list[str], explored: bool) -> list[str]:
    """An exploration place says so first ("Exploration" instead of "Model"); its "Because of" stays."""
    if not explored:
        return reasons
    return [REASON_EXPLORATION, *(r for r in reasons if r not in (REASON_MODEL, REASON_EXPLORATION))]
