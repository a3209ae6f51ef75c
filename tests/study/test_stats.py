"""Mean ± std over seeds and the paired t-test, against textbook values of Student's t distribution."""
from __future__ import annotations

import math
import statistics

import pytest

from yolo12l.study.stats import mean_std, paired_t_test, regularized_incomplete_beta, t_two_sided_p


@pytest.mark.parametrize("t, df, p", [(12.706205, 1, 0.05), (4.302653, 2, 0.05), (2.776445, 4, 0.05),
                                      (2.228139, 10, 0.05), (3.169273, 10, 0.01), (1.959964, 1e6, 0.05),
                                      (0.0, 5, 1.0), (2.015048, 5, 0.10)])
def test_two_sided_p_matches_t_tables(t, df, p):
    assert t_two_sided_p(t, df) == pytest.approx(p, rel=1e-5)
    assert t_two_sided_p(-t, df) == pytest.approx(p, rel=1e-5)


def test_incomplete_beta_identities():
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert regularized_incomplete_beta(1, 1, x) == pytest.approx(x)
        assert regularized_incomplete_beta(3.5, 1, x) == pytest.approx(x ** 3.5)
        mirrored = 1 - regularized_incomplete_beta(5.0, 2.0, 1 - x)
        assert regularized_incomplete_beta(2.0, 5.0, x) == pytest.approx(mirrored)
    # I_x(2, 2) = 3x^2 - 2x^3
    assert regularized_incomplete_beta(2, 2, 0.3) == pytest.approx(3 * 0.09 - 2 * 0.027)


def test_mean_std_is_the_sample_std():
    vals = [0.31, 0.35, 0.29, 0.40]
    m, s = mean_std(vals)
    assert m == pytest.approx(statistics.fmean(vals)) and s == pytest.approx(statistics.stdev(vals))
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)


def test_paired_t_test_by_hand():
    a, b = [0.30, 0.32, 0.35], [0.33, 0.36, 0.36]
    d = [y - x for x, y in zip(a, b)]
    t = statistics.fmean(d) / (statistics.stdev(d) / math.sqrt(3))
    res = paired_t_test(a, b)
    assert res.n == 3 and res.mean_diff == pytest.approx(statistics.fmean(d)) and res.t == pytest.approx(t)
    assert res.p_value == pytest.approx(t_two_sided_p(t, 2)) and 0.05 < res.p_value < 0.2
    assert paired_t_test([0.3], [0.4]).p_value is None  # one pair: no test
    assert paired_t_test([0.1, 0.2], [0.1, 0.2]).p_value == 1.0
    assert paired_t_test([0.25, 0.5], [0.375, 0.625]).p_value == 0.0  # identical non-zero differences (exact in binary)
    with pytest.raises(ValueError):
        paired_t_test([0.1], [0.1, 0.2])
