"""Who is tied with whom: WMT-style rank bands and clusters from all-pairs significance tests.

A system's rank band runs from 1 + (systems significantly better than it) to
N − (systems significantly worse than it): the best and worst ranks consistent with the tests.
Clusters cut the score-ordered list only where *every* system above the cut is significantly better
than *every* system below it, so a cluster boundary is never contradicted by a pairwise test.
Significance is judged on Holm-adjusted p-values over all pairs of the metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranking:
    """Systems in score order, their rank bands and clusters (lists of system names, best first)."""

    order: list[str]
    bands: dict[str, tuple[int, int]]
    clusters: list[list[str]]


def rank_clusters(scores: Mapping[str, float], better: Mapping[tuple[str, str], bool],
                  higher_is_better: bool = True) -> Ranking:
    """``better[(a, b)]`` is True when a is significantly better than b (both orders may be given).

    ``scores`` decides the order inside the list; the tests decide bands and cuts.
    """
    order = sorted(scores, key=lambda s: scores[s], reverse=higher_is_better)

    def beats(a: str, b: str) -> bool:
        return bool(better.get((a, b), False))

    n = len(order)
    bands = {}
    for s in order:
        above = sum(beats(o, s) for o in order if o != s)
        below = sum(beats(s, o) for o in order if o != s)
        bands[s] = (1 + above, n - below)
    clusters: list[list[str]] = []
    current: list[str] = []
    for i, s in enumerate(order):
        current.append(s)
        rest = order[i + 1:]
        if rest and all(beats(a, b) for a in order[:i + 1] for b in rest):
            clusters.append(current)
            current = []
    if current:
        clusters.append(current)
    return Ranking(order=order, bands=bands, clusters=clusters)


def significantly_better(pairs: Sequence[tuple[str, str, float, float]], alpha: float,
                         higher_is_better: bool) -> dict[tuple[str, str], bool]:
    """From ``(a, b, delta = score_b − score_a, adjusted p)`` to ``{(winner, loser): True}``."""
    out: dict[tuple[str, str], bool] = {}
    for a, b, delta, p in pairs:
        if p < alpha and delta != 0:
            b_wins = (delta > 0) == higher_is_better
            out[(b, a) if b_wins else (a, b)] = True
    return out
