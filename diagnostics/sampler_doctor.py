"""The sampler doctor's measurements: where along the sampling path a model's samples leave the forward process's
marginals, and what that does to the pixels.

Exposure bias (Ning et al. 2023, 2024). With an exact network every sampler that follows the probability-flow ODE
or the reverse SDE visits the forward marginals q(x_t) = ∫ q(x_0) N(√ᾱ_t x_0, (1−ᾱ_t) I) dx_0, whose per-pixel
second moment is

    m_fwd(t) = ᾱ_t · E[x_0²] + (1 − ᾱ_t)                      (E[x_0²]: the real data's, per pixel, averaged)

since ε is independent of x_0 with E[ε] = 0, E[ε²] = 1. The sampled x_t's moment m_smp(t) = E‖x_t‖²/d, from the
trajectory a sampler records, is compared with it: δ_t = m_smp(t) / m_fwd(t) − 1. A deterministic sampler carries
every error of ε̂ along to the end; a stochastic one (DDPM, DDIM η > 0, churn, restarts) forgets part of it at each
step. A δ_t that grows as t falls marks the noise levels where the score error dominates.

Pixel histogram. On near-binary data (digits: ink or paper), a sampler that averages over modes leaves grey pixels;
the share of pixels in the middle band |x| < GREY_BAND of samples against real images shows it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from ddpm.messages import MessageError

GREY_BAND = 0.5            # |x| < 0.5 in [-1, 1]: neither ink nor paper on near-binary data
ONSET_TOLERANCE = 0.02     # |δ_t| above 2% (and above 2 standard errors) counts as off the forward marginal


@dataclass
class ExposureCurve:
    timesteps: list[int]            # descending, as sampled
    sampled: list[float]            # m_smp(t) = E‖x_t‖²/d over the samples
    forward: list[float]            # m_fwd(t) = ᾱ_t E[x_0²] + (1 − ᾱ_t)
    delta: list[float]              # δ_t = m_smp / m_fwd − 1
    standard_error: list[float]     # of δ_t, over images
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def exposure_curve(frames: Tensor, timesteps: Sequence[int], alphas_cumprod: Tensor, real: Tensor) -> ExposureCurve:
    """frames (F, N, C, H, W): the sampled x_t entering each of `timesteps` (F of them); real (M, C, H, W) in
    [-1, 1]. Computed in float64."""
    if frames.ndim != 5 or frames.shape[0] != len(timesteps):
        raise MessageError("sampler_doctor.frames", f=len(timesteps), shape=tuple(frames.shape))
    if frames.shape[1] < 2:
        raise MessageError("sampler_doctor.two_samples")
    m2_data = float(real.double().pow(2).mean())
    per_image = frames.double().pow(2).flatten(2).mean(-1)                     # (F, N): ‖x_t‖²/d per image
    ab = alphas_cumprod.double()[torch.as_tensor(list(timesteps))]
    forward = ab * m2_data + (1.0 - ab)
    sampled = per_image.mean(1)
    se = per_image.std(1) / math.sqrt(per_image.shape[1]) / forward
    return ExposureCurve([int(t) for t in timesteps], sampled.tolist(), forward.tolist(),
                         (sampled / forward - 1.0).tolist(), se.tolist(), int(frames.shape[1]))


def score_error_onset(curve: ExposureCurve, tolerance: float = ONSET_TOLERANCE) -> Optional[int]:
    """The largest t from which on (down to the last step) δ_t stays off the forward marginal — |δ_t| above
    `tolerance` and above 2 standard errors — or None when the path ends on it."""
    off = [abs(d) > max(tolerance, 2.0 * se) for d, se in zip(curve.delta, curve.standard_error)]
    if not off or not off[-1]:
        return None
    i = len(off) - 1
    while i > 0 and off[i - 1]:
        i -= 1
    return curve.timesteps[i]


@dataclass
class GreyPixels:
    samples: float                  # share of sample pixels with |x| < band
    samples_se: float               # over images
    real: float
    real_se: float
    band: float

    @property
    def excess(self) -> float:
        return self.samples - self.real

    @property
    def excess_se(self) -> float:
        return math.hypot(self.samples_se, self.real_se)

    def as_dict(self) -> dict:
        return {**asdict(self), "excess": self.excess, "excess_se": self.excess_se}


def grey_pixels(samples: Tensor, real: Tensor, band: float = GREY_BAND) -> GreyPixels:
    """The share of pixels in the middle band |x| < band, for samples and real images, each with its standard
    error over images."""
    if not 0.0 < band < 1.0:
        raise MessageError("sampler_doctor.band", band=band)

    def share(x: Tensor) -> tuple[float, float]:
        per = (x.double().abs() < band).flatten(1).double().mean(1)
        return float(per.mean()), float(per.std() / math.sqrt(len(per))) if len(per) > 1 else float("nan")

    (s, s_se), (r, r_se) = share(samples), share(real)
    return GreyPixels(s, s_se, r, r_se, band)
