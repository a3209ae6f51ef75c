"""Statistics over seeds: mean +- sample standard deviation and the paired two-sided t-test (from the math).

The t distribution's CDF is the regularized incomplete beta function: for ``t`` with ``df`` degrees of freedom the
two-sided p-value is ``I_x(df/2, 1/2)`` with ``x = df / (df + t^2)``; ``I_x`` is evaluated by its continued fraction
(modified Lentz), which converges fast for ``x < (a+1)/(a+b+2)`` and through ``I_x(a,b) = 1 - I_{1-x}(b,a)`` otherwise.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof 1; None for fewer than 2 values) of ``values``."""
    n = len(values)
    if n == 0:
        return None, None
    m = math.fsum(values) / n
    if n < 2:
        return m, None
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def _beta_cf(a: float, b: float, x: float, eps: float = 1e-15, max_iter: int = 500) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, max_iter + 1):
        m2 = 2 * m
        even = m * (b - m) * x / ((a + m2 - 1) * (a + m2))
        odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))
        for num in (even, odd):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t statistic ``t`` with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


@dataclass
class PairedTest:
    """Paired t-test of ``b - a`` over matching seeds: ``n`` pairs, mean difference, t, two-sided p (None for fewer
    than 2 pairs)."""

    n: int
    mean_diff: float | None
    t: float | None
    p_value: float | None


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """H0: the mean of ``b[i] - a[i]`` is 0. Identical differences give p 1 (all zero) or 0 (otherwise)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    diffs = [y - x for x, y in zip(a, b)]
    n = len(diffs)
    m, s = mean_std(diffs)
    if n < 2 or m is None or s is None:
        return PairedTest(n, m, None, None)
    if s == 0.0:
        return PairedTest(n, m, math.copysign(math.inf, m) if m else 0.0, 0.0 if m else 1.0)
    t = m / (s / math.sqrt(n))
    return PairedTest(n, m, t, t_two_sided_p(t, n - 1))
