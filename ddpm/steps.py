"""What a sampler visits and what one step returns: the timesteps of DDIM-style samplers, and the timesteps with
noise levels of the multistep ODE solvers (diffusers' defaults: a linspace of S+1 points, the last step to σ = 0;
or Karras et al.'s σ spacing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .coefficients import CoefficientTable, NoiseLevel
from .messages import MessageError

SPACINGS = ("trailing", "linspace", "leading")


@dataclass
class Step:
    prev_sample: Tensor    # x_{t_prev}: (B, C, H, W)
    pred_xstart: Tensor    # x̂_0 used for this step (clipped if clip_denoised)
    raw_xstart: Optional[Tensor] = None   # unclipped x̂_0 of the step's first network call: set by the samplers that
                                          # call the network themselves (trajectories show it); None for the others


def ddim_timesteps(T: int, steps: int, spacing: str = "trailing") -> list[int]:
    """S descending timesteps out of [0, T).

    trailing: round(T − k·T/S) − 1, starts at T−1 (Lin et al. 2023; the default);
    linspace: round(linspace(T−1, 0, S)), starts at T−1 and ends at 0;
    leading:  k·(T//S), starts at T − T//S (the DDIM paper's code; 50 of 1000 starts at 980).
    """
    if spacing not in SPACINGS:
        raise MessageError("choice.unknown", kind="spacing", value=spacing, choices=list(SPACINGS))
    check_steps(T, steps)
    if spacing == "trailing":
        ts = [round(T - k * T / steps) - 1 for k in range(steps)]
    elif spacing == "linspace":
        ts = torch.linspace(T - 1, 0, steps, dtype=torch.float64).round().long().tolist()
    else:
        ts = [k * (T // steps) for k in range(steps)][::-1]
    return [int(t) for t in ts]


SOLVER_SPACINGS = ("linspace", "trailing", "leading")
KARRAS_RHO = 7.0   # Karras et al. 2022, eq. 5 and Table 1


def check_steps(T: int, steps) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise MessageError("steps.range", T=T, steps=steps)


def solver_timesteps(T: int, steps: int, spacing: str = "linspace") -> list[int]:
    """S descending timesteps for the multistep solvers; after the last comes σ = 0 (the clean image).

    linspace (diffusers' default for DPM-Solver and UniPC): round(linspace(0, T−1, S+1)) reversed, without its
    final 0, so the S steps start at T−1 and the last one jumps from round((T−1)/S) straight to x_0;
    trailing: as for DDIM, round(T − k·T/S) − 1;
    leading: k·(T // (S+1)) for k = S … 1, as diffusers' DPMSolverMultistepScheduler and UniPCMultistepScheduler
    compute it for a saved pipeline's timestep_spacing="leading" (S+1 points from 0, the 0 dropped; not DDIM's
    leading, whose ratio is T // S).
    """
    if spacing not in SOLVER_SPACINGS:
        raise MessageError("steps.solver_spacing", spacing=spacing, choices=list(SOLVER_SPACINGS))
    check_steps(T, steps)
    if spacing == "trailing":
        return ddim_timesteps(T, steps, "trailing")
    if steps > T - 1:   # S+1 points on [0, T−1] are distinct integers only for S ≤ T−1
        raise MessageError("steps.solver_range", last=T - 1, spacing=spacing, steps=steps)
    if spacing == "leading":   # the ratio T // (S+1) ≥ 1 holds for the same S ≤ T−1
        ratio = T // (steps + 1)
        return [k * ratio for k in range(steps, 0, -1)]
    # numpy's linspace and round-half-to-even, exactly as diffusers computes them, so both pick the same t
    return [int(t) for t in np.linspace(0, T - 1, steps + 1).round()[::-1][:-1]]


def karras_sigma_ratios(sigma_min: float, sigma_max: float, steps: int, rho: float = KARRAS_RHO) -> list[float]:
    """σ_i = (σ_max^{1/ρ} + i/(S−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, i = 0 … S−1  (Karras et al. 2022, eq. 5),
    for the VE noise level σ = √((1−ᾱ)/ᾱ)."""
    ramp = np.linspace(0, 1, steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return [float(s) for s in (hi + ramp * (lo - hi)) ** rho]


def timestep_of_sigma_ratio(sigma_ratios_of_t: Tensor, s: float) -> float:
    """The fractional t at which the schedule's σ_t/α_t equals s, by linear interpolation in log σ between
    neighbouring integer timesteps (clamped to [0, T−1])."""
    log_table = np.log(sigma_ratios_of_t.numpy())                    # increasing in t
    return float(np.interp(np.log(max(s, 1e-10)), log_table, np.arange(len(log_table))))


@dataclass(frozen=True)
class SolverSchedule:
    timesteps: list[int]        # S descending t at which the network is called
    levels: list[NoiseLevel]    # S + 1 noise levels: levels[i] belongs to timesteps[i]; levels[S] is σ = 0


def solver_schedule(table: CoefficientTable, steps: int, spacing: str = "linspace",
                    karras: bool = False) -> SolverSchedule:
    """Timesteps and noise levels of a multistep solver.

    Without Karras spacing, levels[i] is the schedule's own (α, σ) at timesteps[i]. With it, the S noise levels are
    Karras' σ_i between the schedule's σ/α at t = T−1 and t = 0, the network is called at the rounded t of each σ_i,
    and the solver steps between the exact σ_i (as diffusers' use_karras_sigmas does); the spacing is then unused.
    """
    if karras:
        check_steps(table.T, steps)
        ratios = table.sigma_ratios()
        sig = karras_sigma_ratios(ratios[0].item(), ratios[-1].item(), steps)
        ts = [int(round(timestep_of_sigma_ratio(ratios, s))) for s in sig]
        levels = [NoiseLevel.from_sigma_ratio(s) for s in sig]
    else:
        ts = solver_timesteps(table.T, steps, spacing)
        levels = [table.at(t) for t in ts]
    return SolverSchedule(ts, levels + [table.clean])
