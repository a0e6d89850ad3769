"""Reverse-process samplers. Each holds only the math of one step; `ddpm.sampling` owns the loop.

Shared interface: `sampler.timesteps` (descending ints), `sampler.reset()` (before each loop; multistep solvers
forget their earlier predictions) and `sampler.step(model_out, t, t_prev, x_t, noise) -> Step(prev_sample,
pred_xstart)`, where t_prev = −1 means "the clean image" (ᾱ_{−1} = 1).

DDPM and DDIM are here; the multistep ODE solvers (DPM-Solver++(2M), UniPC) in `ddpm.solvers`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from .coefficients import VARIANCES, learned_range_log_variance, split_variance
from .diffusion import GaussianDiffusion
from .solvers import DPMSolverPP, UniPC
from .steps import SPACINGS, Step, ddim_timesteps

__all__ = ["SAMPLERS", "SPACINGS", "VARIANCES", "DDIMSampler", "DDPMSampler", "DPMSolverPP", "Step", "UniPC",
           "ddim_timesteps", "make_sampler"]


class DDPMSampler:
    """Ancestral sampling over all T steps (Ho et al. Algorithm 2):
    x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z, σ_t² = β̃_t (fixed_small), β_t (fixed_large) or, for a network that learns
    its variance, log σ_t² = f log β_t + (1 − f) log β̃_t with f = (v + 1)/2 (learned_range, Nichol & Dhariwal
    eq. 15; v is the second half of the network's 2C output channels)."""

    name = "ddpm"

    def __init__(self, diffusion: GaussianDiffusion, variance: str = "fixed_small", clip_denoised: bool = True,
                 clip_range: float = 1.0):
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; choose from {list(VARIANCES)}")
        self.diffusion = diffusion
        self.variance = variance
        self.clip_denoised = clip_denoised
        self.clip_range = float(clip_range)
        self.timesteps = list(range(diffusion.T - 1, -1, -1))

    def reset(self) -> None:
        """One-step sampler: nothing to forget between loops."""

    def step(self, model_out: Tensor, t: int, t_prev: int, x_t: Tensor, noise: Optional[Tensor]) -> Step:
        c = self.diffusion.coefficients.at(t)
        # 1. x̂_0 from the network's output (eq. 15 for ε), clipped to the data range as the official code does
        pred_xstart = c.split(self.diffusion.objective, model_out, x_t).pred_xstart
        if self.clip_denoised:
            pred_xstart = pred_xstart.clamp(-self.clip_range, self.clip_range)
        # 2. posterior mean μ̃_t(x_t, x̂_0) (eq. 7)
        mean = c.posterior_mean_coef1 * pred_xstart + c.posterior_mean_coef2 * x_t
        if t == 0 or noise is None:
            return Step(mean, pred_xstart)
        # 3. add σ_t z
        if self.variance == "learned_range":
            v = split_variance(model_out, x_t)[1]
            if v is None:
                raise ValueError("variance 'learned_range' needs a network that learns its variance (2C output "
                                 "channels, trained with --learn-sigma); use fixed_small or fixed_large")
            log_var = learned_range_log_variance(v, math.log(c.beta), c.posterior_log_variance_clipped)
            return Step(mean + torch.exp(0.5 * log_var) * noise, pred_xstart)
        var = c.posterior_variance if self.variance == "fixed_small" else c.beta
        return Step(mean + math.sqrt(var) * noise, pred_xstart)


class DDIMSampler:
    """DDIM (Song et al. 2021, eq. 12):
    x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'} − σ²) ε̂ + σ z,
    σ = η √((1 − ᾱ_{t'})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'})  (eq. 16)."""

    name = "ddim"

    def __init__(self, diffusion: GaussianDiffusion, steps: int = 50, eta: float = 0.0,
                 spacing: str = "trailing", clip_denoised: bool = True, clip_range: float = 1.0,
                 eps_from_clipped: bool = True):
        if not 0.0 <= float(eta) <= 1.0:
            raise ValueError(f"eta must be in [0, 1] (got {eta}); 0 is deterministic DDIM, 1 is DDPM-like")
        self.diffusion = diffusion
        self.eta = float(eta)
        self.spacing = spacing
        self.clip_denoised = clip_denoised
        self.clip_range = float(clip_range)
        self.eps_from_clipped = bool(eps_from_clipped)
        self.timesteps = ddim_timesteps(diffusion.T, steps, spacing)

    def reset(self) -> None:
        """One-step sampler: nothing to forget between loops."""

    def sigma(self, t: int, t_prev: int) -> float:
        table = self.diffusion.coefficients
        a_t, a_prev = table.at(t).alpha_bar, table.at(t_prev).alpha_bar
        return self.eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))

    def step(self, model_out: Tensor, t: int, t_prev: int, x_t: Tensor, noise: Optional[Tensor]) -> Step:
        c, c_prev = self.diffusion.coefficients.at(t), self.diffusion.coefficients.at(t_prev)
        # 1. x̂_0 and ε̂ from the network's output; after clipping x̂_0, ε̂ is recomputed to agree with it
        #    (eps_from_clipped; diffusers' DDIMPipeline keeps the network's ε̂ instead)
        eps, pred_xstart = c.split(self.diffusion.objective, model_out, x_t)
        if self.clip_denoised:
            pred_xstart = pred_xstart.clamp(-self.clip_range, self.clip_range)
            if self.eps_from_clipped:
                eps = c.split("x0", pred_xstart, x_t).eps
        # 2. σ_t (eq. 16) and the direction pointing to x_t (eq. 12)
        sigma = self.sigma(t, t_prev)
        prev = c_prev.alpha * pred_xstart + math.sqrt(max(0.0, 1 - c_prev.alpha_bar - sigma ** 2)) * eps
        # 3. random noise
        if sigma > 0 and noise is not None:
            prev = prev + sigma * noise
        return Step(prev, pred_xstart)


SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "unipc")
DEFAULT_STEPS = 50            # DDIM's and the solvers' S when none is given (DDPM always runs T)


def make_sampler(name: str, diffusion: GaussianDiffusion, *, steps: Optional[int] = None, eta: float = 0.0,
                 variance: Optional[str] = None, spacing: Optional[str] = None,
                 clip_denoised: Optional[bool] = None, order: int = 2, karras: bool = False,
                 eps_from_clipped: Optional[bool] = None):
    """A sampler by name (SAMPLERS): 'ddpm' (all T steps; `steps` must be None or T), 'ddim' (S = steps),
    'dpmpp_2m' / 'dpmpp_2m_sde' / 'unipc' (S = steps network calls, solver `order` 1 or 2, optional Karras σ).

    variance / clip_denoised / DDIM's spacing left at None are the model's own (diffusion.sampling_defaults:
    fixed_small, clipped to [-1, 1], 'trailing' for our models; a diffusers model's scheduler config), and so is
    DDIM's eps_from_clipped (ours: ε̂ recomputed from the clipped x̂_0; a foreign diffusers model: its network's ε̂,
    as diffusers' DDIMPipeline samples).
    The solvers' spacing None is their own default, 'linspace' (S+1 points).
    """
    d = diffusion.sampling_defaults
    variance = d.variance if variance is None else variance
    clip_denoised = d.clip_denoised if clip_denoised is None else clip_denoised
    if name == "ddpm":
        if steps not in (None, diffusion.T):
            raise ValueError(f"DDPM runs all T={diffusion.T} steps; for fewer steps use the 'ddim' sampler "
                             f"(with eta=1 it is DDPM-like) or one of the solvers {list(SAMPLERS[2:])}")
        return DDPMSampler(diffusion, variance, clip_denoised, d.clip_range)
    steps = DEFAULT_STEPS if steps is None else steps
    if name == "ddim":
        return DDIMSampler(diffusion, steps, eta, spacing or d.spacing, clip_denoised, d.clip_range,
                           d.eps_from_clipped if eps_from_clipped is None else eps_from_clipped)
    if name in ("dpmpp_2m", "dpmpp_2m_sde"):
        return DPMSolverPP(diffusion, steps, order, spacing, karras, clip_denoised, d.clip_range,
                           sde=name == "dpmpp_2m_sde")
    if name == "unipc":
        return UniPC(diffusion, steps, order, spacing, karras, clip_denoised, d.clip_range)
    raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
