"""Fisher's exact test against tables computed by hand."""
import math

import pytest

from ptr_core.stats import fisher_greater


def test_fisher_greater_against_hand_values():
    # 3/3 vs 0/3: only the observed table is as extreme, p = 1 / C(6, 3) = 0.05.
    assert fisher_greater(3, 3, 0, 3) == pytest.approx(1 / 20)
    # 2/3 vs 1/3: tables with >= 2 in group 1: (C(3,2)C(3,1) + C(3,3)C(3,0)) / C(6,3) = 10/20.
    assert fisher_greater(2, 3, 1, 3) == pytest.approx(0.5)
    assert fisher_greater(0, 5, 5, 5) == pytest.approx(1.0)
    # 2/6 vs 0/6: C(6,2) C(6,0) / C(12,2) = 15/66
    assert fisher_greater(2, 6, 0, 6) == pytest.approx(15 / 66)


def test_fisher_greater_rejects_impossible_counts():
    with pytest.raises(ValueError, match='0 <= k <= n'):
        fisher_greater(4, 3, 0, 3)


def test_fisher_two_sided_against_hand_values_and_scipy():
    from ptr_core.stats import fisher_two_sided
    # 3/3 vs 0/3: the observed table and its mirror (0/3 vs 3/3) are the only ones as unlikely:
    # 2 / C(6, 3) = 0.1.
    assert fisher_two_sided(3, 3, 0, 3) == pytest.approx(0.1)
    # 1/2 vs 1/2: every table is at least as likely as... (0,2): 1/6, (1,1): 4/6, (2,0): 1/6;
    # the observed (1,1) is the likeliest, so p = 1.
    assert fisher_two_sided(1, 2, 1, 2) == pytest.approx(1.0)
    # 2/6 vs 0/6: tables with i in 0..2 successes in arm 1 (k = 2): 15, 36, 15 (/66); the
    # observed 15 and its mirror are as unlikely: 30/66.
    assert fisher_two_sided(2, 6, 0, 6) == pytest.approx(30 / 66)
    scipy_stats = pytest.importorskip('scipy.stats')
    for k1, n1, k2, n2 in [(9, 50, 2, 50), (17, 50, 4, 50), (0, 50, 0, 50), (30, 40, 12, 35)]:
        ref = scipy_stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
        assert fisher_two_sided(k1, n1, k2, n2) == pytest.approx(ref, rel=1e-9)


def test_bootstrap_mean_diff_centres_on_the_difference_and_widens_with_spread():
    from ptr_core.stats import bootstrap_mean_diff
    d, lo, hi = bootstrap_mean_diff([0.4, 0.4, 0.4], [0.1, 0.1, 0.1])
    assert (d, lo, hi) == pytest.approx((0.3, 0.3, 0.3))  # no spread: a point
    d, lo, hi = bootstrap_mean_diff([0.2, 0.4, 0.6], [0.1, 0.1, 0.1], n_boot=20_000)
    assert d == pytest.approx(0.3)
    # The bootstrap mean of 3 draws from {0.2, 0.4, 0.6} ranges over [0.2, 0.6]; the 2.5% /
    # 97.5% percentiles fall strictly inside, at multiples of 0.2/3 (draws are discrete).
    assert 0.1 <= lo < 0.3 < hi <= 0.5
    with pytest.raises(ValueError, match='non-empty'):
        bootstrap_mean_diff([], [0.1])


def test_holm_against_hand_values():
    from ptr_core.stats import holm
    # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (monotone), original order kept.
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_spearman_against_hand_computed_ranks():
    from ptr_core.stats import spearman
    # Hand computation: x ranks 1 2 3 4, y ranks 2 1 4 3 -> d^2 = 1+1+1+1 = 4,
    # rho = 1 - 6*4 / (4*15) = 0.6.
    assert spearman([0.1, 0.2, 0.3, 0.4], [5.0, 1.0, 9.0, 7.0]) == pytest.approx(0.6)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # Ties share the mean rank: y ranks 1.5 1.5 3 -> Pearson of (1,2,3) and (1.5,1.5,3).
    assert spearman([1, 2, 3], [0, 0, 1]) == pytest.approx(0.8660254, abs=1e-6)
    assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
    with pytest.raises(ValueError, match='length >= 2'):
        spearman([1.0], [2.0])
