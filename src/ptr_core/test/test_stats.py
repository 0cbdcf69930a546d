"""Fisher's exact test against tables computed by hand."""
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
