"""CSP-style blocks: Bottleneck, C3, C3k, C2f, C3k2."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..registry import register_block
from .conv import Conv, add_into


@register_block(channels="scaled")
class Bottleneck(nn.Module):
    """Two convs (k[0], k[1]) with hidden width ``c2·e``, residual when ``shortcut`` and c1 == c2."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, k: tuple[int, int] = (3, 3),
                 e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return add_into(y, x) if self.add else y


@register_block(channels="scaled", repeats=True)
class C3(nn.Module):
    """CSP bottleneck with 3 convs: cv3(cat(m(cv1(x)), cv2(x)))."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(1, 3), e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3.forward_cat([self.m(self.cv1(x)), self.cv2(x)])


@register_block(channels="scaled", repeats=True)
class C3k(C3):
    """C3 whose bottlenecks use a k×k kernel for both convs."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5, k: int = 3):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


class CSPSplit(nn.Module):
    """The C2f pattern: split cv1(x) in two halves, chain ``m`` on the last one, concatenate all, fuse with cv2.

    Subclasses build ``self.m`` (a ModuleList of blocks c → c, with c = int(c2·e)).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)

    takes_parts = True  # forward accepts a list of channel parts (see Concat.pass_parts)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        y = list((self.cv1.forward_cat(x) if isinstance(x, list) else self.cv1(x)).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2.forward_cat(y)


@register_block(channels="scaled", repeats=True)
class C2f(CSPSplit):
    """CSP bottleneck with two convs and ``n`` Bottlenecks on the split."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5):
        super().__init__(c1, c2, n, e)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))


def c3k2_inner(c: int, c3k: bool, shortcut: bool, g: int) -> nn.Module:
    """The inner block of C3k2: a C3k (2 bottlenecks) when ``c3k`` else one Bottleneck."""
    return C3k(c, c, 2, shortcut, g) if c3k else Bottleneck(c, c, shortcut, g)


@register_block(channels="scaled", repeats=True, scale_overrides={"mlx": {"c3k": True}})
class C3k2(CSPSplit):
    """C2f whose inner blocks are Bottlenecks (n/s) or C3k (m/l/x, forced by the scale rule)."""

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5, g: int = 1,
                 shortcut: bool = True):
        super().__init__(c1, c2, n, e)
        self.m = nn.ModuleList(self.inner(self.c, c3k, shortcut, g) for _ in range(n))

    def inner(self, c: int, c3k: bool, shortcut: bool, g: int) -> nn.Module:
        """One inner block c → c; subclasses (C3k2_DTAB, C3k2_Halo) override this."""
        return c3k2_inner(c, c3k, shortcut, g)
