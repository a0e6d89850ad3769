"""Noise schedules β_1..β_T, always built in float64 (improved-diffusion: "use float64 for accuracy").

Every function returns a (T,) float64 tensor with 0 < β_t < 1. Index 0 is the first
diffusion step (the paper's t = 1); code uses 0-based t ∈ [0, T).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from .messages import MessageError

DEFAULT_T = 1000


def _check_T(T: int) -> None:
    if not isinstance(T, int) or T < 2:
        raise MessageError("schedule.t_range", T=T, default=DEFAULT_T)


def _scale_to_T(T: int, beta_start: float, beta_end: float) -> tuple[float, float]:
    """Keep the total amount of noise comparable when T != 1000 (improved-diffusion's rescaling)."""
    scale = DEFAULT_T / T
    return beta_start * scale, min(beta_end * scale, 0.999)


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:  # (T,) float64
    """β_t linear from β_start to β_end (Ho et al. 2020 §4), rescaled by 1000/T."""
    _check_T(T)
    lo, hi = _scale_to_T(T, beta_start, beta_end)
    return torch.linspace(lo, hi, T, dtype=torch.float64)


def quadratic_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:  # (T,) float64
    """√β_t linear from √β_start to √β_end, then squared."""
    _check_T(T)
    lo, hi = _scale_to_T(T, beta_start, beta_end)
    return torch.linspace(math.sqrt(lo), math.sqrt(hi), T, dtype=torch.float64) ** 2


def sigmoid_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:  # (T,) float64
    """β_t = β_start + (β_end − β_start)·σ(linspace(−6, 6, T))."""
    _check_T(T)
    lo, hi = _scale_to_T(T, beta_start, beta_end)
    return lo + (hi - lo) * torch.sigmoid(torch.linspace(-6, 6, T, dtype=torch.float64))


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.9999) -> Tensor:  # (T,) float64
    """ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s)·π/2); β_t = 1 − ᾱ_t/ᾱ_{t−1}, clipped to [1e-4, max_beta]
    (Nichol & Dhariwal 2021, eq. 17)."""
    _check_T(T)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return betas.clamp(1e-4, max_beta)


SCHEDULES: dict[str, Callable[..., Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "quadratic": quadratic_betas,
    "sigmoid": sigmoid_betas,
}


def custom_betas(betas: Sequence[float] | Tensor) -> Tensor:  # (T,) float64
    """User-given betas, validated: at least 2 values, each strictly inside (0, 1)."""
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    if b.numel() < 2:
        raise MessageError("schedule.betas_few", n=b.numel())
    if not torch.isfinite(b).all() or (b <= 0).any() or (b >= 1).any():
        bad = b[~(torch.isfinite(b) & (b > 0) & (b < 1))][:3].tolist()
        raise MessageError("schedule.betas_range", bad=bad)
    return b


def make_betas(name: str, T: int = DEFAULT_T, **kwargs) -> Tensor:  # (T,) float64
    """The public entry point: `make_betas("cosine", 1000)`.

    `name` is one of SCHEDULES, or "custom" with `betas=[...]` (T is then ignored).
    """
    if name == "custom":
        if "betas" not in kwargs:
            raise MessageError("schedule.custom_needs_betas")
        return custom_betas(kwargs["betas"])
    if name not in SCHEDULES:
        raise MessageError("choice.unknown", kind="schedule", value=name, choices=sorted(SCHEDULES) + ["custom"])
    return custom_betas(SCHEDULES[name](T, **kwargs))
