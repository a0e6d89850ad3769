"""Guidance in a limited interval (Kynkäänniemi et al. 2024): which noise levels classifier-free guidance applies at.
`ddpm.sampling.GuidedModel` applies it; the recommended setting (ddpm.recommended) may record one.

    generate(model, diffusion, labels=[3] * 16, guidance_scale=3.0, guidance_interval=(0.28, 5.42))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from torch import Tensor

from .messages import MessageError


@dataclass(frozen=True)
class GuidanceInterval:
    """Guidance in a limited interval (Kynkäänniemi et al. 2024): the guidance scale w applies only where the noise
    level s_t = σ_t/α_t = √((1 − ᾱ_t)/ᾱ_t) (EDM's σ, as in ddpm.stochastic) is in (s_lo, s_hi]; at every other step
    the conditional model runs alone (w = 1), in one pass instead of two. Their ImageNet-512 (EDM2) interval is
    (0.28, 5.42]: guidance at the highest noise narrows each class to a few modes, and at the lowest it does little."""
    s_lo: float = 0.0
    s_hi: float = math.inf

    def __post_init__(self):
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
                 for v in (self.s_lo, self.s_hi))
        if not ok or not math.isfinite(self.s_lo) or self.s_lo < 0 or not self.s_hi > self.s_lo:
            raise MessageError("sampling.guidance_interval", lo=self.s_lo, hi=self.s_hi)

    def contains(self, s: Tensor) -> Tensor:
        """Which noise levels s get guidance: s_lo < s ≤ s_hi."""
        return (s > self.s_lo) & (s <= self.s_hi)

    def as_list(self) -> list:
        """JSON-ready [s_lo, s_hi], an open end (∞) as None."""
        return [self.s_lo, None if math.isinf(self.s_hi) else self.s_hi]

    def __str__(self) -> str:
        return f"s ∈ ({self.s_lo:g}, {'∞' if math.isinf(self.s_hi) else f'{self.s_hi:g}'}]"


def as_guidance_interval(value) -> Optional[GuidanceInterval]:
    """A GuidanceInterval from what a caller gives: None, a GuidanceInterval, or (s_lo, s_hi) where None is an
    open end (s_lo 0, s_hi ∞); MessageError when it is not one."""
    if value is None or isinstance(value, GuidanceInterval):
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise MessageError("sampling.guidance_interval_pair", value=repr(value)[:80])
    lo, hi = value
    return GuidanceInterval(0.0 if lo is None else lo, math.inf if hi is None else hi)
