"""The noise schedule: β in (0, 1), ᾱ strictly decreasing, β_0 and ᾱ_T, √ᾱ_t and SNR_t beside the built-in
schedules; and the seed's timesteps (0, 250, ..., 999) scaled to any T, which other checks share."""
from __future__ import annotations

import math
import time
from typing import Sequence

import torch
from torch import Tensor

from ddpm import SCHEDULES, GaussianDiffusion, make_betas

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import msg
from .model import schedule_name
from .result import CheckResult, Findings, title_of, to_float

QUARTER_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)                # -> 0, 250, 500, 750, 999 at T = 1000
TRAJECTORY_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)         # -> 999, 800, 600, 400, 200, 0


def scaled_timesteps(T: int, fractions: Sequence[float]) -> list[int]:
    """The seed's t = 0, 250, 500, 750, 999 (fractions of 1000) scaled to any T, clipped to [0, T−1]."""
    return [min(int(round(f * T)), T - 1) for f in fractions]


def _schedule_quantities(betas: Tensor) -> dict[str, Tensor]:  # all (T,) float64
    b = betas.double()
    ab = torch.cumprod(1.0 - b, 0)
    return {"betas": b, "alphas_cumprod": ab, "sqrt_alphas_cumprod": ab.clamp(min=0).sqrt(), "snr": ab / (1.0 - ab)}


def check_schedule(diffusion: GaussianDiffusion | Tensor, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                   curve_points: int = 200) -> CheckResult:
    """β_0, ᾱ_T, 0 < β < 1, ᾱ strictly decreasing (seed `debug_noise_schedule`), and √ᾱ_t and SNR_t at
    t = 0, 250, 500, 750, 999 (scaled to T) beside the four built-in schedules at the same T.

    diffusion: a GaussianDiffusion (its exact float64 schedule is used) or a (T,) tensor of betas.
    """
    th = thresholds
    start = time.perf_counter()
    if isinstance(diffusion, GaussianDiffusion):
        betas, name = diffusion.float64["betas"], schedule_name(diffusion.config)   # diffusers' linear: "linear"
    else:
        betas, name = torch.as_tensor(diffusion, dtype=torch.float64).flatten(), "given"
    T = int(betas.numel())
    q = _schedule_quantities(betas)
    ab = q["alphas_cumprod"]
    beta_ok = bool(((betas > 0) & (betas < 1) & torch.isfinite(betas)).all())
    decreasing = bool((ab[1:] < ab[:-1]).all())
    ts = scaled_timesteps(T, QUARTER_FRACTIONS)
    # the built-in schedules at the same T, for comparison (this schedule's own name is not repeated)
    others = {other: _schedule_quantities(make_betas(other, T)) for other in SCHEDULES if other != name and T >= 2}
    rows_sqrt, rows_snr = [], []
    for label, qq in [(msg("figure.this", schedule=name), q)] + list(others.items()):
        rows_sqrt.append({"schedule": label, **{f"t={t}": to_float(qq["sqrt_alphas_cumprod"][t]) for t in ts}})
        rows_snr.append({"schedule": label, **{f"t={t}": to_float(qq["snr"][t]) for t in ts}})
    idx = torch.linspace(0, T - 1, min(curve_points, T)).round().long().unique()
    curve = {"t": idx.tolist(), "this": q["snr"][idx].tolist()}
    curve.update({k: v["snr"][idx].tolist() for k, v in others.items()})
    numbers = {
        "schedule": name, "T": T,
        "beta_0": to_float(betas[0]), "beta_T": to_float(betas[-1]),
        "alphabar_0": to_float(ab[0]), "alphabar_T": to_float(ab[-1]),
        "sqrt_alphabar_T": to_float(ab[-1].clamp(min=0).sqrt()),
        "betas_in_0_1": beta_ok, "alphabar_strictly_decreasing": decreasing,
        "log10_snr_range": [math.log10(max(to_float(q["snr"][-1]), 1e-300)),
                            math.log10(max(to_float(q["snr"][0]), 1e-300))],
        "sqrt_alphabar_table": rows_sqrt, "snr_table": rows_snr, "snr_curve": curve,
    }
    rule = msg("schedule.rule", beta0=th.beta0_warn, alphabar_T=th.alphabar_T_warn)
    found = Findings()
    if not beta_ok or not decreasing:
        found.add("fail", msg("schedule.beta_outside" if not beta_ok else "schedule.not_decreasing"),
                  msg("schedule.builtin_fix"))
    if numbers["beta_0"] > th.beta0_warn:
        found.add("warn", msg("schedule.beta0_large", beta0=numbers["beta_0"], limit=th.beta0_warn),
                  msg("schedule.beta0_fix"))
    if numbers["alphabar_T"] > th.alphabar_T_warn:
        found.add("warn", msg("schedule.alphabar_T_large", alphabar_T=numbers["alphabar_T"], limit=th.alphabar_T_warn),
                  msg("schedule.alphabar_T_fix"))
    if found.problems:
        summary = msg("common.problems", what=msg("schedule.which", name=name, T=T), problems=found.problems)
    else:
        summary = msg("schedule.ok", name=name, T=T, beta0=numbers["beta_0"], alphabar_T=numbers["alphabar_T"])
    return CheckResult("schedule", title_of("schedule"), found.verdict, summary, numbers, rule, found.fix_message(),
                       seconds=time.perf_counter() - start)
