"""x̂_0 along sampling: the network's unclipped prediction of the clean image should stay in [-1, 1] at the
late steps of a sampling run."""
from __future__ import annotations

import math
import time

import torch

from ddpm import Trajectory

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, skipped, to_float


def check_x0_range(trajectory: Trajectory, T: int, sampler: str = "ddpm", clip_denoised: bool = True,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Per captured step (999, 800, 600, 400, 200, 0 scaled to T, or the sampler's nearest): min / max of the
    unclipped x̂_0 and the fraction of pixels outside [-1, 1] (seed `analyze_sampling_debug`).

    trajectory.pred_xstart: (F, N, C, H, W), one frame per trajectory.timesteps (descending).
    """
    th = thresholds
    start = time.perf_counter()
    if trajectory is None or not len(trajectory.timesteps):
        return skipped("x0_range", "x̂_0 range along sampling", "no sampling trajectory was captured")
    rows = []
    judge_max_t = th.x0_judge_max_t_fraction * T
    for t, x0 in zip(trajectory.timesteps, trajectory.pred_xstart):
        x0 = x0.float()
        finite = torch.isfinite(x0)
        xf = x0[finite]
        rows.append({
            "t": int(t),
            "min": to_float(xf.min()) if xf.numel() else float("nan"),
            "max": to_float(xf.max()) if xf.numel() else float("nan"),
            "mean": to_float(xf.mean()) if xf.numel() else float("nan"),
            "frac_outside": to_float(((x0.abs() > 1) | ~finite).float().mean()),
            "frac_far_outside": to_float(((x0.abs() > 1 + th.x0_range_tolerance) | ~finite).float().mean()),
            "nonfinite": int((~finite).sum()),
            "judged": bool(t <= judge_max_t),
        })
    last = min(rows, key=lambda r: r["t"])
    judged = [r for r in rows if r["judged"]] or [last]
    worst = max(judged, key=lambda r: r["frac_far_outside"])
    final_absmax = max(abs(last["min"]), abs(last["max"])) if math.isfinite(last["min"]) else float("inf")
    n_images = int(trajectory.pred_xstart.shape[1])
    numbers = {"sampler": sampler, "clip_denoised": clip_denoised, "final_t": last["t"],
               "final_absmax": final_absmax, "worst_judged_t": worst["t"],
               "worst_judged_frac_far_outside": worst["frac_far_outside"], "per_t": rows}
    tol = th.x0_range_tolerance
    rule = (f"judged at captured t ≤ {th.x0_judge_max_t_fraction:g}·T (earlier x̂_0 divides by √ᾱ_t ≈ 0): "
            f"fail if NaN/Inf, if > {th.x0_outside_fail:.0%} of pixels have |x̂_0| > {1 + tol:g}, or if |x̂_0| > "
            f"{th.x0_final_absmax_fail:g} at the last step; warn if > {th.x0_outside_warn:.0%} have |x̂_0| > {1 + tol:g}")
    fix = ""
    clip_hint = "" if clip_denoised else " Sample with clip_denoised=True (the official code clamps x̂_0 to [-1, 1])."
    if any(r["nonfinite"] for r in rows) or worst["frac_far_outside"] > th.x0_outside_fail \
            or final_absmax > th.x0_final_absmax_fail:
        verdict = "fail"
        summary = (f"x̂_0 leaves the data range: at t = {worst['t']} {worst['frac_far_outside']:.0%} of pixels are "
                   f"beyond ±{1 + tol:g} (range [{worst['min']:.3g}, {worst['max']:.3g}]); |x̂_0| reaches "
                   f"{final_absmax:.3g} at the last step.")
        fix = ("The network's predictions do not form images: check that the checkpoint's objective (eps/x0/v) and "
               "schedule match how it was trained, then train longer and sample with the EMA weights." + clip_hint)
    elif worst["frac_far_outside"] > th.x0_outside_warn:
        verdict = "warn"
        summary = (f"At t = {worst['t']} {worst['frac_far_outside']:.1%} of x̂_0 pixels lie beyond ±{1 + tol:g} "
                   f"(range [{worst['min']:.3g}, {worst['max']:.3g}]).")
        fix = "Train longer or use the EMA weights; keep clip_denoised=True while sampling." + clip_hint
    else:
        verdict = "ok"
        summary = (f"x̂_0 stays in range at the late steps: at most {worst['frac_far_outside']:.1%} of pixels beyond "
                   f"±{1 + tol:g} for t ≤ {int(judge_max_t)}; last step range [{last['min']:.3g}, {last['max']:.3g}].")
    notes = [f"{sampler.upper()} trajectory of {n_images} images; x̂_0 is the network's raw (unclipped) prediction",
             "the strict fraction (|x̂_0| > 1) is shown too; digits have an exact −1 background, so tiny errors "
             "put many pixels just outside"]
    return CheckResult("x0_range", "x̂_0 range along sampling", verdict, summary, numbers, rule, fix, n=n_images,
                       notes=notes, seconds=time.perf_counter() - start)

