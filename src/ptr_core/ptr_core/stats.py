"""Small-sample statistics for success counts (evaluations, the online regression guard)."""
from __future__ import annotations

import math


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact p-value of 'rate 1 > rate 2' (hypergeometric upper tail)."""
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f'fisher_greater: expected 0 <= k <= n, got {k1}/{n1} and {k2}/{n2}')
    k, n = k1 + k2, n1 + n2
    total = math.comb(n, k)
    return sum(math.comb(n1, i) * math.comb(n2, k - i)
               for i in range(k1, min(k, n1) + 1)) / total
