"""Family-wise error control: Holm–Bonferroni adjusted p-values.

Testing every system × metric at α lets the whole verdict fail far more often than α (five
correlated metrics, several systems). Holm's step-down procedure keeps the probability of *any*
false rejection in the family at most α, whatever the dependence between the tests, and is uniformly
more powerful than plain Bonferroni. Adjusted p-values let one compare each test with α directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: reject test i at α iff ``adjusted[i] < α``.

    With m tests sorted ascending, p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j)).
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(x) for x in adjusted]
