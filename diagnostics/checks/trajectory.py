"""x̂_0 along sampling: the network's unclipped prediction of the clean image should stay in [-1, 1] at the
late steps of a sampling run."""
from __future__ import annotations

import math
import time

import torch

from ddpm import Trajectory

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import msg, sentences
from .result import CheckResult, skipped, title_of, to_float


def check_x0_range(trajectory: Trajectory, T: int, sampler: str = "ddpm", clip_denoised: bool = True,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Per captured step (999, 800, 600, 400, 200, 0 scaled to T, or the sampler's nearest): min / max of the
    unclipped x̂_0 and the fraction of pixels outside [-1, 1] (seed `analyze_sampling_debug`).

    trajectory.pred_xstart: (F, N, C, H, W), one frame per trajectory.timesteps (descending).
    """
    th = thresholds
    start = time.perf_counter()
    if trajectory is None or not len(trajectory.timesteps):
        return skipped("x0_range", title_of("x0_range"), msg("x0.no_trajectory"))
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
    rule = msg("x0.rule", fraction=th.x0_judge_max_t_fraction, fail=th.x0_outside_fail, bound=1 + tol,
               final=th.x0_final_absmax_fail, warn=th.x0_outside_warn)
    fix = None
    clip_hint = None if clip_denoised else msg("x0.clip_fix")
    if any(r["nonfinite"] for r in rows) or worst["frac_far_outside"] > th.x0_outside_fail \
            or final_absmax > th.x0_final_absmax_fail:
        verdict = "fail"
        summary = msg("x0.fail", t=worst["t"], frac=worst["frac_far_outside"], bound=1 + tol, lo=worst["min"],
                      hi=worst["max"], final=final_absmax)
        fix = sentences([msg("x0.fail_fix"), clip_hint])
    elif worst["frac_far_outside"] > th.x0_outside_warn:
        verdict = "warn"
        summary = msg("x0.warn", t=worst["t"], frac=worst["frac_far_outside"], bound=1 + tol, lo=worst["min"],
                      hi=worst["max"])
        fix = sentences([msg("x0.warn_fix"), clip_hint])
    else:
        verdict = "ok"
        summary = msg("x0.ok", frac=worst["frac_far_outside"], bound=1 + tol, t=int(judge_max_t), lo=last["min"],
                      hi=last["max"])
    notes = [msg("x0.note_trajectory", sampler=sampler.upper(), n=n_images), msg("x0.note_strict")]
    return CheckResult("x0_range", title_of("x0_range"), verdict, summary, numbers, rule, fix, n=n_images,
                       notes=notes, seconds=time.perf_counter() - start)
