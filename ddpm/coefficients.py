"""x_t = α_t x_0 + σ_t ε: the per-step coefficients every sampler reads, and the one conversion between the
network's three parameterisations (ε, x_0, v).

Notation of Kingma et al. 2021 and Lu et al. 2022 (DPM-Solver): α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t) (a variance-
preserving schedule, α_t² + σ_t² = 1), λ_t = log α_t − log σ_t (half the log-SNR). Note that this α_t is
√ᾱ_t, not DDPM's α_t = 1 − β_t, which appears below only inside ᾱ and the posterior coefficients.

t is 0-based, t ∈ [0, T); t = −1 stands for the clean image (ᾱ_{−1} = 1, σ = 0, λ = +∞).

A network that learns its reverse variance (Nichol & Dhariwal 2021, `UNetConfig.learn_sigma`) outputs 2C channels
for C image channels: [model output (ε, x_0 or v), v_raw]. `split_variance` separates them, `split_output` reads only
the first C, and `learned_range_log_variance` is the one place of their eq. 15.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

import torch
from torch import Tensor

from .messages import MessageError

OBJECTIVES = ("eps", "x0", "v")
VARIANCES = ("fixed_small", "fixed_large", "learned_range")   # the reverse variance σ_t² of p_θ(x_{t−1} | x_t)

Coef = Union[float, Tensor]   # a Python float (one t for the batch) or a (B, 1, 1, 1) tensor (one t per sample)


class Prediction(NamedTuple):
    eps: Tensor        # ε̂: (B, C, H, W)
    pred_xstart: Tensor  # x̂_0: (B, C, H, W)


def split_variance(model_out: Tensor, x_t: Tensor) -> tuple[Tensor, Optional[Tensor]]:
    """(B, 2C, H, W) = [mean output, v_raw] of a learned-variance network → both halves, (B, C, H, W) each;
    a (B, C, H, W) output → (model_out, None). C is x_t's channel count, so the two cases never mix up."""
    if model_out.dim() < 2 or x_t.dim() < 2 or model_out.shape[1] != 2 * x_t.shape[1]:
        return model_out, None
    c = x_t.shape[1]
    return model_out[:, :c], model_out[:, c:]


def join_variance(mean_out: Tensor, v: Optional[Tensor]) -> Tensor:
    """The inverse of split_variance: [mean output, v] along the channels (mean_out alone when v is None)."""
    return mean_out if v is None else torch.cat([mean_out, v], dim=1)


def learned_range_log_variance(v: Tensor, log_beta: Coef, log_posterior_variance: Coef) -> Tensor:
    """log Σ_θ(x_t, t) = f log β_t + (1 − f) log β̃_t,  f = (v + 1)/2  (Nichol & Dhariwal 2021, eq. 15).

    v: the network's raw extra output (diffusers' "learned_range": f = (v + 1)/2, so v ∈ [−1, 1] spans β̃_t … β_t;
    v is not clamped, as in improved-diffusion and diffusers). log β̃_t is the clipped one (β̃_1 at t = 0)."""
    frac = (v + 1) / 2
    return frac * log_beta + (1 - frac) * log_posterior_variance


def split_output(objective: str, model_out: Tensor, x_t: Tensor, alpha: Coef, sigma: Coef) -> Prediction:
    """The network's output in its own parameterisation → (ε̂, x̂_0), from x_t = α x_0 + σ ε:

    eps: x̂_0 = (x_t − σ ε̂)/α                          (Ho et al. eq. 15)
    x0:  ε̂ = (x_t − α x̂_0)/σ
    v:   x̂_0 = α x_t − σ v,  ε̂ = σ x_t + α v          (v = α ε − σ x_0, Salimans & Ho 2022 §4)

    A learned-variance output's extra C channels (split_variance) do not enter the mean: they are ignored here.
    """
    model_out = split_variance(model_out, x_t)[0]
    if objective == "eps":
        return Prediction(model_out, (x_t - sigma * model_out) / alpha)
    if objective == "x0":
        return Prediction((x_t - alpha * model_out) / sigma, model_out)
    if objective == "v":
        return Prediction(sigma * x_t + alpha * model_out, alpha * x_t - sigma * model_out)
    raise MessageError("choice.unknown", kind="objective", value=objective, choices=sorted(OBJECTIVES))


def output_from(objective: str, eps: Tensor, pred_xstart: Tensor, alpha: Coef, sigma: Coef) -> Tensor:
    """The inverse of split_output: (ε, x_0) in the network's own parameterisation (v = α ε − σ x_0)."""
    if objective == "eps":
        return eps
    if objective == "x0":
        return pred_xstart
    if objective == "v":
        return alpha * eps - sigma * pred_xstart
    raise MessageError("choice.unknown", kind="objective", value=objective, choices=sorted(OBJECTIVES))


@dataclass(frozen=True)
class NoiseLevel:
    """One point of a variance-preserving noise schedule: x = α x_0 + σ ε with α² + σ² = 1."""

    alpha: float   # α = √ᾱ
    sigma: float   # σ = √(1 − ᾱ)

    @property
    def lam(self) -> float:
        """λ = log α − log σ (DPM-Solver's half log-SNR); +∞ for the clean image."""
        return math.inf if self.sigma == 0.0 else math.log(self.alpha) - math.log(self.sigma)

    @property
    def sigma_ratio(self) -> float:
        """σ/α = √((1 − ᾱ)/ᾱ): the noise level of the equivalent variance-exploding process (Karras et al. 2022)."""
        return self.sigma / self.alpha

    @classmethod
    def from_sigma_ratio(cls, s: float) -> "NoiseLevel":
        """The VP level with σ/α = s: α = 1/√(1 + s²), σ = s α."""
        alpha = 1.0 / math.sqrt(1.0 + s * s)
        return cls(alpha, s * alpha)


@dataclass(frozen=True)
class StepCoefficients(NoiseLevel):
    """The schedule at one timestep t, as Python floats computed in float64 (plus α, σ from NoiseLevel)."""

    t: int = 0                                   # the timestep, −1 for the clean image
    beta: float = 0.0                            # β_t
    alpha_bar: float = 1.0                       # ᾱ_t = Π_{s≤t} (1 − β_s)
    alpha_bar_prev: float = 1.0                  # ᾱ_{t−1} (ᾱ_{−1} = 1)
    posterior_variance: float = 0.0              # β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)  (Ho et al. eq. 7)
    posterior_log_variance_clipped: float = 0.0  # log β̃_t, with β̃_1 standing in for β̃_0 = 0
    posterior_mean_coef1: float = 0.0            # μ̃_t = coef1 · x_0 + coef2 · x_t  (eq. 7)
    posterior_mean_coef2: float = 0.0

    def split(self, objective: str, model_out: Tensor, x_t: Tensor) -> Prediction:
        """split_output at this t."""
        return split_output(objective, model_out, x_t, self.alpha, self.sigma)


class CoefficientTable:
    """Every timestep's StepCoefficients, derived once from the float64 tables of a GaussianDiffusion.

        c = diffusion.coefficients.at(t)      # t ∈ [−1, T); at(−1) is the clean image
        eps, x0 = c.split("v", model_out, x_t)
    """

    def __init__(self, q: dict[str, Tensor]):
        self.T = len(q["betas"])
        cols = {k: q[k].tolist() for k in ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                                          "sqrt_one_minus_alphas_cumprod", "posterior_variance",
                                          "posterior_log_variance_clipped", "posterior_mean_coef1",
                                          "posterior_mean_coef2")}
        self._steps = tuple(
            StepCoefficients(alpha=cols["sqrt_alphas_cumprod"][t], sigma=cols["sqrt_one_minus_alphas_cumprod"][t],
                             t=t, beta=cols["betas"][t], alpha_bar=cols["alphas_cumprod"][t],
                             alpha_bar_prev=cols["alphas_cumprod_prev"][t],
                             posterior_variance=cols["posterior_variance"][t],
                             posterior_log_variance_clipped=cols["posterior_log_variance_clipped"][t],
                             posterior_mean_coef1=cols["posterior_mean_coef1"][t],
                             posterior_mean_coef2=cols["posterior_mean_coef2"][t])
            for t in range(self.T))
        # x_{−1} = x_0: ᾱ = 1, σ = 0; the "posterior" is the point mass at x_0
        self.clean = StepCoefficients(alpha=1.0, sigma=0.0, t=-1, posterior_mean_coef1=1.0)

    def at(self, t: int) -> StepCoefficients:
        """The coefficients at t ∈ [0, T), or the clean image's at t = −1."""
        if t == -1:
            return self.clean
        if not 0 <= t < self.T:
            raise IndexError(f"timestep {t} is outside [0, {self.T}) (or −1 for the clean image)")
        return self._steps[t]

    def __len__(self) -> int:
        return self.T

    def column(self, name: str) -> list[float]:
        """One field over all t ∈ [0, T), e.g. column("alpha_bar")."""
        return [getattr(c, name) for c in self._steps]

    def sigma_ratios(self) -> Tensor:  # (T,) float64
        """σ_t/α_t for every t (the VE noise levels that Karras spacing interpolates)."""
        return torch.tensor([c.sigma_ratio for c in self._steps], dtype=torch.float64)
