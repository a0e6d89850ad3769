"""Noise prediction on noised real data: at t = 0, 250, 500, 750, 999 (scaled to T) the network should give
back ε ~ N(0, I), mean ≈ 0 and std ≈ 1, with a small MSE(ε̂, ε)."""
from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import torch
from torch import Tensor

from ddpm import GaussianDiffusion
from ddpm.sampling import DEFAULT_MAX_BATCH

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Text, msg
from .result import CheckResult, title_of, to_float
from .schedule import QUARTER_FRACTIONS, scaled_timesteps


@torch.no_grad()
def _forward_batched(model, x: Tensor, t: Tensor, y: Optional[Tensor], batch: int = DEFAULT_MAX_BATCH) -> Tensor:
    outs = []
    for i in range(0, len(x), batch):
        outs.append(model(x[i:i + batch], t[i:i + batch], None if y is None else y[i:i + batch]).float())
    return torch.cat(outs)


def check_noise_prediction(model, diffusion: GaussianDiffusion, x_start: Tensor, labels: Optional[Tensor] = None,
                           timesteps: Optional[Sequence[int]] = None, seed: int = 0, source: Optional[Text] = None,
                           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """At t = 0, 250, 500, 750, 999 (scaled to T): noise x_start with known ε, ask the network, and report
    mean / std of ε̂ and MSE(ε̂, ε). ε̂ comes from diffusion.split_model_output, so x0 and v models work too.

    x_start: (N, C, H, W) in [-1, 1]; labels: (N,) long or None (unconditional / null label); source: what x_start
    is, a Message (default "real images").
    The network is evaluated in eval mode (as generate() does) and its mode restored.
    """
    th = thresholds
    start = time.perf_counter()
    source = source if source is not None else msg("noise.real_images")
    T = diffusion.T
    ts = list(timesteps) if timesteps is not None else scaled_timesteps(T, QUARTER_FRACTIONS)
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(int(seed))
    x0 = x_start.float().to(device)
    y = labels.to(device) if labels is not None else None
    rows, nonfinite = [], False
    was_training = model.training
    model.eval()
    try:
        for t in ts:
            eps = torch.randn(x0.shape, generator=g).to(device)
            tt = torch.full((len(x0),), int(t), dtype=torch.long, device=device)
            x_t = diffusion.q_sample(x0, tt, eps)
            out = _forward_batched(model, x_t, tt, y)
            eps_hat, x0_hat = diffusion.split_model_output(out, x_t, tt)
            finite = bool(torch.isfinite(eps_hat).all())
            nonfinite |= not finite
            judged = not (diffusion.objective == "x0"
                          and to_float(diffusion.float64["sqrt_recipm1_alphas_cumprod"][t]) < th.x0_eps_conditioning)
            rows.append({"t": int(t), "eps_mean": to_float(eps_hat.mean()), "eps_std": to_float(eps_hat.std()),
                         "eps_mse": to_float(((eps_hat - eps) ** 2).mean()),
                         "x0_mse": to_float(((x0_hat - x0) ** 2).mean()), "finite": finite, "judged": judged})
    finally:
        model.train(was_training)
    mse_rows = [r["eps_mse"] for r in rows if r["t"] > 0 and r["judged"]] or [r["eps_mse"] for r in rows]
    mean_mse = float(sum(mse_rows) / len(mse_rows)) if mse_rows else float("nan")
    off = [r for r in rows if r["judged"] and (abs(r["eps_mean"]) > th.eps_mean_warn
                                                or abs(r["eps_std"] - 1.0) > th.eps_std_dev_warn)]
    numbers = {"objective": diffusion.objective, "source": source, "mean_eps_mse_t_gt_0": mean_mse, "per_t": rows}
    rule = msg("noise.rule", mse=th.eps_mse_fail, mean=th.eps_mean_warn, std=th.eps_std_dev_warn)
    notes = [msg("noise.note_x0", n=len(x0), source=source, seed=seed)]
    if any(not r["judged"] for r in rows):
        notes.append(msg("noise.note_x0_objective", limit=th.x0_eps_conditioning))
    fix = None
    if nonfinite or (math.isfinite(mean_mse) and mean_mse >= th.eps_mse_fail) or not math.isfinite(mean_mse):
        verdict = "fail"
        summary = msg("noise.fail_nonfinite") if nonfinite else msg("noise.fail", mse=mean_mse)
        fix = msg("noise.fail_fix")
    elif off:
        verdict = "warn"
        worst = max(off, key=lambda r: abs(r["eps_mean"]) + abs(r["eps_std"] - 1))
        summary = msg("noise.warn", ts=", ".join(str(r["t"]) for r in off), worst_t=worst["t"],
                      mean=worst["eps_mean"], std=worst["eps_std"], mse=mean_mse)
        fix = msg("noise.warn_fix")
    else:
        verdict = "ok"
        summary = msg("noise.ok", mse=mean_mse)
    return CheckResult("noise_prediction", title_of("noise_prediction"), verdict, summary, numbers, rule,
                       fix, n=len(x0), notes=notes, seconds=time.perf_counter() - start)
