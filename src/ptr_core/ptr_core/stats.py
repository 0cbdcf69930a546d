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


def fisher_two_sided(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value: the mass of the tables no likelier than the one seen.

    Why Fisher and not a z-test: at 50 episodes per arm with rates near 0 (as in PTR's sim
    table) the normal approximation is poor; the exact test is valid at any count.
    """
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f'fisher_two_sided: expected 0 <= k <= n, got {k1}/{n1} and {k2}/{n2}')
    k, n = k1 + k2, n1 + n2
    total = math.comb(n, k)
    lo, hi = max(0, k - n2), min(k, n1)
    probs = {i: math.comb(n1, i) * math.comb(n2, k - i) for i in range(lo, hi + 1)}
    seen = probs[k1]
    # Relative tolerance as in R's fisher.test: equal-probability tables count as extreme.
    return min(1.0, sum(p for p in probs.values() if p <= seen * (1 + 1e-7)) / total)


def bootstrap_mean_diff(a: list[float], b: list[float], n_boot: int = 10_000,
                        seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean(a) - mean(b) and its percentile bootstrap interval, resampling seeds in each arm.

    For per-seed success rates: it treats the seed (data, training, evaluation starts) as the
    unit of replication, which the pooled-episode tests do not.
    """
    import numpy as np

    if not a or not b:
        raise ValueError(f'bootstrap_mean_diff: expected two non-empty samples, got {len(a)} '
                         f'and {len(b)} values')
    x, y = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    dx = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    dy = y[rng.integers(0, len(y), (n_boot, len(y)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(dx - dy, [tail, 100 - tail])
    return float(x.mean() - y.mean()), float(lo), float(hi)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): several comparisons per table."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def _ranks(x: list[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (Pearson on tie-averaged ranks); NaN if either is constant.

    Used to ask whether a checkpoint-selection score orders checkpoints as their success does.
    """
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f'spearman: expected two samples of one length >= 2, got {len(x)} '
                         f'and {len(y)}')
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return float('nan')
    return sxy / math.sqrt(sxx * syy)
