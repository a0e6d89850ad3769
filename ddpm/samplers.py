"""Reverse-process samplers. Each holds only the math of one step; `ddpm.sampling` owns the loop.

Shared interface: `sampler.timesteps` (descending ints), `sampler.reset()` (before each loop; multistep solvers
forget their earlier predictions) and `sampler.step(model_out, t, t_prev, x_t, noise) -> Step(prev_sample,
pred_xstart)`, where t_prev = −1 means "the clean image" (ᾱ_{−1} = 1).

DDPM and DDIM are here; the multistep ODE solvers (DPM-Solver++(2M), UniPC) in `ddpm.solvers`; the samplers that
call the network more than once per step (EDM Heun with churn, Restart) in `ddpm.stochastic`, with their
`step_model(model_fn, t, t_prev, x_t, draw_noise)` instead of `step`. Every sampler states `network_calls`, the
exact number of network calls of one loop.

Conventions (the second diffusers issue): a model loaded from a diffusers pipeline samples, unless asked
otherwise, as diffusers' own schedulers do when configured from that pipeline's scheduler config
(`XScheduler.from_config(pipeline.scheduler.config)`): its timestep_spacing for DDIM and the solvers (including
"leading"), its clip_sample for DDIM and Heun, no clipping for DPM-Solver++ / UniPC (they have no clip_sample), and
DDIM's ε̂ not recomputed from the clipped x̂_0. `convention="workbench"` gives this product's own: trailing DDIM,
linspace solvers, x̂_0 clamped to the data range where the model clips, ε̂ recomputed from the clipped x̂_0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from .coefficients import VARIANCES, learned_range_log_variance, split_variance
from .diffusion import GaussianDiffusion, SamplingDefaults
from .messages import MessageError
from .solvers import DPMSolverPP, UniPC
from .steps import SPACINGS, Step, ddim_timesteps
from .stochastic import Churn, EDMHeun, Restart, RestartSpec

__all__ = ["CONVENTIONS", "SAMPLERS", "SOLVERS", "SPACINGS", "VARIANCES", "Conventions", "DDIMSampler", "DDPMSampler",
           "DPMSolverPP", "EDMHeun", "Restart", "Step", "UniPC", "conventions", "ddim_timesteps", "make_sampler"]


class DDPMSampler:
    """Ancestral sampling over all T steps (Ho et al. Algorithm 2):
    x_{t−1} = μ̃_t(x_t, x̂_0) + σ_t z, σ_t² = β̃_t (fixed_small), β_t (fixed_large) or, for a network that learns
    its variance, log σ_t² = f log β_t + (1 − f) log β̃_t with f = (v + 1)/2 (learned_range, Nichol & Dhariwal
    eq. 15; v is the second half of the network's 2C output channels)."""

    name = "ddpm"

    def __init__(self, diffusion: GaussianDiffusion, variance: str = "fixed_small", clip_denoised: bool = True,
                 clip_range: float = 1.0):
        if variance not in VARIANCES:
            raise MessageError("choice.unknown", kind="variance", value=variance, choices=list(VARIANCES))
        self.diffusion = diffusion
        self.variance = variance
        self.clip_denoised = clip_denoised
        self.clip_range = float(clip_range)
        self.timesteps = list(range(diffusion.T - 1, -1, -1))
        self.network_calls = diffusion.T

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
                raise MessageError("sampler.needs_learned_variance")
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
            raise MessageError("sampler.eta", eta=eta)
        self.diffusion = diffusion
        self.eta = float(eta)
        self.spacing = spacing
        self.clip_denoised = clip_denoised
        self.clip_range = float(clip_range)
        self.eps_from_clipped = bool(eps_from_clipped)
        self.timesteps = ddim_timesteps(diffusion.T, steps, spacing)
        self.network_calls = len(self.timesteps)

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


SAMPLERS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "unipc", "edm_heun", "restart")
SOLVERS = ("dpmpp_2m", "dpmpp_2m_sde", "unipc")         # the multistep solvers (order, karras)
STOCHASTIC = ("edm_heun", "restart")                   # ddpm.stochastic: several network calls per step
DEFAULT_STEPS = 50            # the network calls of DDIM, the solvers and the stochastic samplers when none is given
CONVENTIONS = ("workbench", "diffusers")


@dataclass(frozen=True)
class Conventions:
    """Whose defaults a sampler follows where this product and diffusers differ (see the module docstring)."""
    name: str                   # "workbench" | "diffusers"
    ddim_spacing: str           # DDIM's (and EDM Heun's, Restart's) timestep spacing
    solver_spacing: str         # DPM-Solver++ / UniPC spacing (diffusers: the config's, which may be "leading")
    solver_clip: bool           # whether the solvers clamp x̂_0 (diffusers' solvers have no clip_sample: False)
    eps_from_clipped: bool      # DDIM: ε̂ recomputed from the clipped x̂_0 (diffusers: use_clipped_model_output=False)


def conventions(diffusion: GaussianDiffusion, convention: Optional[str] = None) -> Conventions:
    """The conventions of `convention`, None: the model's own (diffusion.sampling_defaults.convention: "diffusers"
    for a model loaded from a diffusers pipeline, "workbench" for ours)."""
    d = diffusion.sampling_defaults
    name = d.convention if convention is None else convention
    if name == "diffusers":
        return Conventions("diffusers", d.spacing, d.spacing, False, False)
    if name == "workbench":
        ours = SamplingDefaults()
        return Conventions("workbench", ours.spacing, "linspace", d.clip_denoised, ours.eps_from_clipped)
    raise MessageError("sampler.convention", value=convention, options=list(CONVENTIONS))


def make_sampler(name: str, diffusion: GaussianDiffusion, *, steps: Optional[int] = None, eta: float = 0.0,
                 variance: Optional[str] = None, spacing: Optional[str] = None,
                 clip_denoised: Optional[bool] = None, order: int = 2, karras: bool = False,
                 eps_from_clipped: Optional[bool] = None, churn: Optional[Churn] = None,
                 restart: Optional[RestartSpec] = None, convention: Optional[str] = None):
    """A sampler by name (SAMPLERS): 'ddpm' (all T steps; `steps` must be None or T), 'ddim' (S = steps),
    'dpmpp_2m' / 'dpmpp_2m_sde' / 'unipc' (S = steps network calls, solver `order` 1 or 2, optional Karras σ),
    'edm_heun' (EDM's Heun sampler with `churn`) and 'restart' (Restart sampling with `restart`), both with
    exactly `steps` network calls.

    variance and clip_denoised left at None are the model's own (diffusion.sampling_defaults: fixed_small and
    clipped to [-1, 1] for ours; a diffusers model's scheduler config); spacing, the solvers' clipping and DDIM's
    eps_from_clipped left at None follow `conventions(diffusion, convention)`.
    """
    d = diffusion.sampling_defaults
    conv = conventions(diffusion, convention)
    variance = d.variance if variance is None else variance
    model_clip = d.clip_denoised if clip_denoised is None else clip_denoised
    if name == "ddpm":
        if steps not in (None, diffusion.T):
            raise MessageError("sampler.ddpm_steps", T=diffusion.T, others=list(SAMPLERS[2:]))
        smp = DDPMSampler(diffusion, variance, model_clip, d.clip_range)
    elif name not in SAMPLERS:
        raise MessageError("choice.unknown", kind="sampler", value=name, choices=sorted(SAMPLERS))
    else:
        smp = _few_step_sampler(name, diffusion, conv, DEFAULT_STEPS if steps is None else steps, eta, spacing,
                                clip_denoised, model_clip, order, karras, eps_from_clipped, churn, restart)
    smp.convention = conv.name
    return smp


def _few_step_sampler(name, diffusion, conv: Conventions, steps, eta, spacing, clip_denoised, model_clip, order,
                      karras, eps_from_clipped, churn, restart):
    r = diffusion.sampling_defaults.clip_range
    if (churn is not None and name != "edm_heun") or (restart is not None and name != "restart"):
        raise MessageError("sampler.options_elsewhere", sampler=name)
    if name in STOCHASTIC and (karras or order != 2):
        raise MessageError("sampler.no_solver_options", sampler=name)
    if name == "ddim":
        return DDIMSampler(diffusion, steps, eta, spacing or conv.ddim_spacing, model_clip, r,
                           conv.eps_from_clipped if eps_from_clipped is None else eps_from_clipped)
    if name in ("dpmpp_2m", "dpmpp_2m_sde"):
        return DPMSolverPP(diffusion, steps, order, spacing or conv.solver_spacing, karras,
                           conv.solver_clip if clip_denoised is None else clip_denoised, r, sde=name == "dpmpp_2m_sde")
    if name == "unipc":
        return UniPC(diffusion, steps, order, spacing or conv.solver_spacing, karras,
                     conv.solver_clip if clip_denoised is None else clip_denoised, r)
    if name == "edm_heun":
        return EDMHeun(diffusion, steps, spacing or conv.ddim_spacing, churn or Churn(), model_clip, r)
    return Restart(diffusion, steps, spacing or conv.ddim_spacing, restart or RestartSpec(), model_clip, r)
