"""The diagnostic checks of SPEC §6 (seed 001 §3.5.3 and exercise 3.5.3), each a function of tensors, a
model and a diffusion that returns a `CheckResult`: a verdict, one sentence, the numbers behind it, the rule
that decided it and, unless the verdict is ok, a fix in plain words.

    from ddpm import load_checkpoint
    from diagnostics.checks import run_all
    ck = load_checkpoint("checkpoints/digits_tiny.safetensors")
    for r in run_all(ck, real=None, quick=True):
        print(r.verdict, r.title, r.summary)

Nothing here reads files except `run_all`'s optional feature network; plots live in `plots.py`, rendering
in `report.py`. Every threshold is in `thresholds.py`.
"""
from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ddpm import SCHEDULES, GaussianDiffusion, Trajectory, generate, make_betas
from ddpm.sampling import DEFAULT_MAX_BATCH
from ddpm.unet import count_parameters

from .thresholds import DEFAULT_THRESHOLDS, Thresholds

VERDICTS = ("ok", "warn", "fail", "skip")
SEVERITY = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}   # a skipped check neither passes nor fails the report
StageFn = Callable[[str, float], None]                   # (stage, overall fraction done in [0, 1])


@dataclass
class CheckResult:
    key: str                      # stable identifier, e.g. "schedule"
    title: str                    # e.g. "Noise schedule"
    verdict: str                  # ok | warn | fail | skip
    summary: str                  # one sentence
    numbers: dict[str, Any] = field(default_factory=dict)   # scalars, lists, and tables (lists of dicts)
    threshold: str = ""           # the rule that decided the verdict, in words
    fix: str = ""                 # what to do, in plain words; "" when ok
    figures: list = field(default_factory=list)               # plotly figures (added by plots.add_figures)
    n: Optional[int] = None       # images the numbers are computed on, where that applies
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0          # time the check took

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} (got {self.verdict!r})")

    def as_dict(self) -> dict:
        """Everything but the figures (they are drawn from the numbers)."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "figures"}


def worst_verdict(verdicts: Sequence[str]) -> str:
    """fail > warn > ok; skips are ignored unless everything was skipped."""
    judged = [v for v in verdicts if v != "skip"]
    if not judged:
        return "skip" if verdicts else "ok"
    return max(judged, key=lambda v: SEVERITY[v])


def scaled_timesteps(T: int, fractions: Sequence[float]) -> list[int]:
    """The seed's t = 0, 250, 500, 750, 999 (fractions of 1000) scaled to any T, clipped to [0, T−1]."""
    return [min(int(round(f * T)), T - 1) for f in fractions]


QUARTER_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)                # -> 0, 250, 500, 750, 999 at T = 1000
TRAJECTORY_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)         # -> 999, 800, 600, 400, 200, 0


def _f(x) -> float:
    return float(x.item() if torch.is_tensor(x) else x)


def _skip(key: str, title: str, reason: str) -> CheckResult:
    return CheckResult(key, title, "skip", reason, threshold="not run", notes=[reason])


def _nonfinite_samples(key: str, title: str, images: Tensor) -> Optional[CheckResult]:
    bad = int((~torch.isfinite(images.detach().float()).flatten(1).all(1)).sum())
    if not bad:
        return None
    return CheckResult(key, title, "fail", f"{bad} of {len(images)} samples contain NaN/Inf: the sampler diverged.",
                       {"nonfinite_samples": bad}, "fail if any sample holds NaN/Inf",
                       "See the model-basics and x̂_0 checks: retrain from an earlier checkpoint with a lower learning "
                       "rate, and sample with clip_denoised=True.", n=len(images))


def _config(model):
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise TypeError("the model needs a .config (UNetConfig) with image_size, in_channels and num_classes")
    return cfg


@torch.no_grad()
def _forward_batched(model, x: Tensor, t: Tensor, y: Optional[Tensor], batch: int = DEFAULT_MAX_BATCH) -> Tensor:
    outs = []
    for i in range(0, len(x), batch):
        outs.append(model(x[i:i + batch], t[i:i + batch], None if y is None else y[i:i + batch]).float())
    return torch.cat(outs)


# ------------------------------------------------------------------------------------------- model basics
def check_model_basics(model: torch.nn.Module, weights: Optional[str] = None,
                       thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Eval mode, parameter mean / std / |max|, NaN/Inf (seed 001 exercise 3.5.3 `_check_model_basics`).

    The model is checked exactly as handed in: `load_checkpoint` returns it in eval mode, so a warning here
    means something switched it back to train mode. weights: "ema" / "raw" as loaded, or None if unknown.
    """
    th = thresholds
    start = time.perf_counter()
    params = [p.detach() for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    if not params:
        return CheckResult("model", "Model basics", "fail", "The model has no parameters.",
                           threshold="a model must have parameters", fix="Load the model from a checkpoint.")
    nonfinite = [(n, int((~torch.isfinite(p)).sum())) for n, p in zip(names, params) if not torch.isfinite(p).all()]
    flat = torch.cat([p.flatten().double().cpu() for p in params])
    finite = flat[torch.isfinite(flat)]
    mean = _f(finite.mean()) if finite.numel() else float("nan")
    std = _f(finite.std()) if finite.numel() > 1 else float("nan")
    absmax = _f(finite.abs().max()) if finite.numel() else float("nan")
    numbers = {
        "training_mode": bool(model.training),
        "parameters": count_parameters(model),
        "param_mean": mean, "param_std": std, "param_absmax": absmax,
        "nonfinite_values": sum(c for _, c in nonfinite),
        "nonfinite_tensors": [n for n, _ in nonfinite[:10]],
        "weights": weights or "unknown",
    }
    rule = (f"fail: any NaN/Inf weight; warn: model in train mode, |mean| > {th.param_mean_warn}, "
            f"std > {th.param_std_warn}, |weight| > {th.param_absmax_warn}, or raw (non-EMA) weights")
    notes = ["checked as handed in; load_checkpoint returns the model in eval mode, and generate() switches to "
             "eval while sampling and restores the mode afterwards"]
    problems, fixes = [], []
    verdict = "ok"
    if nonfinite:
        verdict = "fail"
        problems.append(f"{numbers['nonfinite_values']} NaN/Inf weights in {len(nonfinite)} tensors "
                        f"(first: {nonfinite[0][0]})")
        fixes.append("the weights are corrupt or training diverged: go back to an earlier checkpoint, lower the "
                     "learning rate and keep gradient clipping on")
    if model.training:
        verdict = worst_verdict([verdict, "warn"])
        problems.append("the model is in train mode (dropout active)")
        fixes.append("call model.eval() before sampling")
    if abs(mean) > th.param_mean_warn or std > th.param_std_warn or absmax > th.param_absmax_warn:
        verdict = worst_verdict([verdict, "warn"])
        problems.append(f"unusual weight statistics (mean {mean:.3g}, std {std:.3g}, |max| {absmax:.3g})")
        fixes.append("large weights point to a diverging run: retrain with a lower learning rate, gradient clipping "
                     "and weight decay")
    if weights == "raw":
        verdict = worst_verdict([verdict, "warn"])
        problems.append("raw weights are used, not the EMA average")
        fixes.append("sample with the EMA weights (load_checkpoint(..., weights='ema'); train with --ema-decay 0.999 "
                     "if the file has none): they give visibly cleaner samples")
    if problems:
        summary = "Model problems: " + "; ".join(problems) + "."
    else:
        summary = (f"Eval mode, {numbers['parameters']:,} finite parameters with mean {mean:.3g}, std {std:.3g}, "
                   f"|max| {absmax:.3g}" + (f", {weights} weights." if weights else "."))
    return CheckResult("model", "Model basics", verdict, summary, numbers, rule, " ".join(_capital(f) for f in fixes),
                       notes=notes, seconds=time.perf_counter() - start)


def _capital(s: str) -> str:
    s = s.strip()
    s = s[:1].upper() + s[1:]
    return s if s.endswith(".") else s + "."


# ------------------------------------------------------------------------------------------------ schedule
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
        betas, name = diffusion.float64["betas"], diffusion.config.schedule
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
    for label, qq in [(f"this ({name})", q)] + list(others.items()):
        rows_sqrt.append({"schedule": label, **{f"t={t}": _f(qq["sqrt_alphas_cumprod"][t]) for t in ts}})
        rows_snr.append({"schedule": label, **{f"t={t}": _f(qq["snr"][t]) for t in ts}})
    idx = torch.linspace(0, T - 1, min(curve_points, T)).round().long().unique()
    curve = {"t": idx.tolist(), "this": q["snr"][idx].tolist()}
    curve.update({k: v["snr"][idx].tolist() for k, v in others.items()})
    numbers = {
        "schedule": name, "T": T,
        "beta_0": _f(betas[0]), "beta_T": _f(betas[-1]),
        "alphabar_0": _f(ab[0]), "alphabar_T": _f(ab[-1]),
        "sqrt_alphabar_T": _f(ab[-1].clamp(min=0).sqrt()),
        "betas_in_0_1": beta_ok, "alphabar_strictly_decreasing": decreasing,
        "log10_snr_range": [math.log10(max(_f(q["snr"][-1]), 1e-300)), math.log10(max(_f(q["snr"][0]), 1e-300))],
        "sqrt_alphabar_table": rows_sqrt, "snr_table": rows_snr, "snr_curve": curve,
    }
    rule = (f"fail: some β outside (0, 1) or ᾱ not strictly decreasing; warn: β_0 > {th.beta0_warn} or "
            f"ᾱ_T > {th.alphabar_T_warn}")
    problems, fixes, verdict = [], [], "ok"
    if not beta_ok or not decreasing:
        verdict = "fail"
        problems.append("some β_t lie outside (0, 1)" if not beta_ok else "ᾱ_t is not strictly decreasing")
        fixes.append("use a built-in schedule (linear or cosine) or betas strictly inside (0, 1)")
    if numbers["beta_0"] > th.beta0_warn:
        verdict = worst_verdict([verdict, "warn"])
        problems.append(f"β_0 = {numbers['beta_0']:.4g} > {th.beta0_warn}: the first step destroys too much")
        fixes.append("use a smaller β_start (1e-4 is the DDPM default) or more steps T")
    if numbers["alphabar_T"] > th.alphabar_T_warn:
        verdict = worst_verdict([verdict, "warn"])
        problems.append(f"ᾱ_T = {numbers['alphabar_T']:.4g} > {th.alphabar_T_warn}: x_T is not pure noise, so "
                        "sampling from N(0, I) starts where the model never trained")
        fixes.append("retrain with more steps T, a larger β_end, or the cosine schedule, so that ᾱ_T ≈ 0")
    if problems:
        summary = f"Schedule {name!r} (T={T}): " + "; ".join(problems) + "."
    else:
        summary = (f"Schedule {name!r} (T={T}) is sound: β_0 = {numbers['beta_0']:.3g}, ᾱ_T = "
                   f"{numbers['alphabar_T']:.3g}, β in (0, 1), ᾱ strictly decreasing.")
    return CheckResult("schedule", "Noise schedule", verdict, summary, numbers, rule,
                       " ".join(_capital(f) for f in fixes), seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------------------ noise prediction
def check_noise_prediction(model, diffusion: GaussianDiffusion, x_start: Tensor, labels: Optional[Tensor] = None,
                           timesteps: Optional[Sequence[int]] = None, seed: int = 0, source: str = "real images",
                           thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """At t = 0, 250, 500, 750, 999 (scaled to T): noise x_start with known ε, ask the network, and report
    mean / std of ε̂ and MSE(ε̂, ε). ε̂ comes from diffusion.split_model_output, so x0 and v models work too.

    x_start: (N, C, H, W) in [-1, 1]; labels: (N,) long or None (unconditional / null label).
    The network is evaluated in eval mode (as generate() does) and its mode restored.
    """
    th = thresholds
    start = time.perf_counter()
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
                          and _f(diffusion.float64["sqrt_recipm1_alphas_cumprod"][t]) < th.x0_eps_conditioning)
            rows.append({"t": int(t), "eps_mean": _f(eps_hat.mean()), "eps_std": _f(eps_hat.std()),
                         "eps_mse": _f(((eps_hat - eps) ** 2).mean()),
                         "x0_mse": _f(((x0_hat - x0) ** 2).mean()), "finite": finite, "judged": judged})
    finally:
        model.train(was_training)
    mse_rows = [r["eps_mse"] for r in rows if r["t"] > 0 and r["judged"]] or [r["eps_mse"] for r in rows]
    mean_mse = float(sum(mse_rows) / len(mse_rows)) if mse_rows else float("nan")
    off = [r for r in rows if r["judged"] and (abs(r["eps_mean"]) > th.eps_mean_warn
                                                or abs(r["eps_std"] - 1.0) > th.eps_std_dev_warn)]
    numbers = {"objective": diffusion.objective, "source": source, "mean_eps_mse_t_gt_0": mean_mse, "per_t": rows}
    rule = (f"fail: non-finite ε̂, or mean MSE(ε̂, ε) over the t > 0 rows ≥ {th.eps_mse_fail} (predicting 0 scores 1); "
            f"warn: at some t, |mean ε̂| > {th.eps_mean_warn} or |std ε̂ − 1| > {th.eps_std_dev_warn}")
    notes = [f"x_0: {len(x0)} {source}, ε drawn with seed {seed}"]
    if any(not r["judged"] for r in rows):
        notes.append("x0 objective: rows with √(1/ᾱ_t − 1) < "
                     f"{th.x0_eps_conditioning} are shown but not judged (ε̂ there amplifies x̂_0 errors)")
    fix = ""
    if nonfinite or (math.isfinite(mean_mse) and mean_mse >= th.eps_mse_fail) or not math.isfinite(mean_mse):
        verdict = "fail"
        summary = (f"The network does not predict the noise: mean MSE(ε̂, ε) is {mean_mse:.3g} over t > 0 "
                   f"(predicting zeros gives 1).") if not nonfinite else "The network outputs NaN/Inf."
        fix = ("Check that the checkpoint holds the trained weights and that the model gets t in [0, T) and inputs "
               "in [-1, 1] as in training; if it does, train (much) longer.")
    elif off:
        verdict = "warn"
        worst = max(off, key=lambda r: abs(r["eps_mean"]) + abs(r["eps_std"] - 1))
        summary = (f"Predicted ε is off N(0, 1) at t = {', '.join(str(r['t']) for r in off)} (worst t = {worst['t']}: "
                   f"mean {worst['eps_mean']:.2f}, std {worst['eps_std']:.2f}); mean MSE {mean_mse:.3g}.")
        fix = ("Train longer; check the input normalisation ([-1, 1]) and the timestep encoding (t in [0, T)); "
               "sample with the EMA weights.")
    else:
        verdict = "ok"
        summary = (f"Predicted ε has mean ≈ 0 and std ≈ 1 at every t checked; mean MSE(ε̂, ε) over t > 0 is "
                   f"{mean_mse:.3g}.")
    return CheckResult("noise_prediction", "Noise prediction on noised real data", verdict, summary, numbers, rule,
                       fix, n=len(x0), notes=notes, seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------------------ x̂_0 along sampling
def check_x0_range(trajectory: Trajectory, T: int, sampler: str = "ddpm", clip_denoised: bool = True,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Per captured step (999, 800, 600, 400, 200, 0 scaled to T, or the sampler's nearest): min / max of the
    unclipped x̂_0 and the fraction of pixels outside [-1, 1] (seed `analyze_sampling_debug`).

    trajectory.pred_xstart: (F, N, C, H, W), one frame per trajectory.timesteps (descending).
    """
    th = thresholds
    start = time.perf_counter()
    if trajectory is None or not len(trajectory.timesteps):
        return _skip("x0_range", "x̂_0 range along sampling", "no sampling trajectory was captured")
    rows = []
    judge_max_t = th.x0_judge_max_t_fraction * T
    for t, x0 in zip(trajectory.timesteps, trajectory.pred_xstart):
        x0 = x0.float()
        finite = torch.isfinite(x0)
        xf = x0[finite]
        rows.append({
            "t": int(t),
            "min": _f(xf.min()) if xf.numel() else float("nan"),
            "max": _f(xf.max()) if xf.numel() else float("nan"),
            "mean": _f(xf.mean()) if xf.numel() else float("nan"),
            "frac_outside": _f(((x0.abs() > 1) | ~finite).float().mean()),
            "frac_far_outside": _f(((x0.abs() > 1 + th.x0_range_tolerance) | ~finite).float().mean()),
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


# ------------------------------------------------------------------------------------------- smoothness
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
_SOBEL_Y = _SOBEL_X.transpose(2, 3).contiguous()


def edge_energy(images: Tensor) -> Tensor:  # (N,) float32
    """Per-image mean Sobel gradient magnitude of the grey image (seed `compute_high_freq_energy`).

    images: (N, C, H, W) in [-1, 1]. Borders are padded by replication, not zeros: zero padding would draw an
    artificial edge around every dark-background image.
    """
    grey = images.detach().float().cpu().mean(dim=1, keepdim=True)                # (N, 1, H, W)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    gx, gy = F.conv2d(padded, _SOBEL_X), F.conv2d(padded, _SOBEL_Y)
    return torch.sqrt(gx ** 2 + gy ** 2).flatten(1).mean(1)


def check_smoothness(generated: Tensor, real: Optional[Tensor], bins: int = 20,
                     thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: str = "") -> CheckResult:
    """Sobel edge (high-frequency) energy of generated vs real images and their ratio (seed `diagnose_smoothness`).

    generated, real: (N, C, H, W) in [-1, 1], same C, H, W.
    """
    th = thresholds
    key, title = "smoothness", "Smoothness (edge energy)"
    if real is None or len(real) == 0:
        return _skip(key, title, f"needs real images to compare with{': ' + real_reason if real_reason else ''}")
    if tuple(real.shape[1:]) != tuple(generated.shape[1:]):
        return _skip(key, title, f"real images are {tuple(real.shape[1:])}, samples {tuple(generated.shape[1:])}")
    if (bad := _nonfinite_samples(key, title, generated)) is not None:
        return bad
    start = time.perf_counter()
    e_gen, e_real = edge_energy(generated), edge_energy(real)
    gen, ref = _f(e_gen.mean()), _f(e_real.mean())
    ratio = gen / ref if ref > 0 else float("inf")
    q_lo, q_hi = torch.quantile(e_real, 0.01), torch.quantile(e_real, 0.99)
    frac_noisy, frac_blurred = _f((e_gen > q_hi).float().mean()), _f((e_gen < q_lo).float().mean())
    hi = max(_f(e_gen.max()), _f(e_real.max()), 1e-6)
    edges = torch.linspace(0, hi, bins + 1)
    numbers = {"generated_edge_energy": gen, "real_edge_energy": ref, "ratio": ratio,
               "frac_noisier_than_real_p99": frac_noisy, "frac_smoother_than_real_p1": frac_blurred,
               "real_p1": _f(q_lo), "real_p99": _f(q_hi),
               "histogram": {"bin_edges": edges.tolist(),
                             "generated": torch.histc(e_gen, bins, 0, hi).tolist(),
                             "real": torch.histc(e_real, bins, 0, hi).tolist()}}
    rule = (f"warn if generated/real edge energy < {th.smooth_ratio_warn} (over-smoothed) or > "
            f"{th.smooth_ratio_high_warn} (noisy), or if more than {th.smooth_outlier_frac_warn:.0%} of the samples "
            "lie outside the real images' 1st–99th percentile range of edge energy (real data: 2%)")
    blur_fix = ("Sample with all T steps (or more DDIM steps) and the standard noise temperature 1; check the reverse "
                "variance (fixed_small vs fixed_large); train longer, since an undertrained model regresses to the "
                "mean; avoid fp16 during sampling.")
    noise_fix = "Train longer and sample with the EMA weights; with DDIM use more steps; keep clip_denoised=True."
    outside = frac_blurred + frac_noisy
    if ratio < th.smooth_ratio_warn or (outside > th.smooth_outlier_frac_warn and frac_blurred >= frac_noisy):
        verdict = "warn"
        summary = (f"Samples are over-smoothed: {ratio:.2f}× the real edge energy ({gen:.3g} vs {ref:.3g}); "
                   f"{frac_blurred:.0%} are smoother than 99% of real images, {frac_noisy:.0%} noisier.")
        fix = blur_fix
    elif ratio > th.smooth_ratio_high_warn or outside > th.smooth_outlier_frac_warn:
        verdict = "warn"
        summary = (f"Samples are noisier than the data: {ratio:.2f}× the real edge energy ({gen:.3g} vs {ref:.3g}); "
                   f"{frac_noisy:.0%} have more edges than 99% of real images (leftover noise or speckle), "
                   f"{frac_blurred:.0%} fewer than 99%.")
        fix = noise_fix
    else:
        verdict = "ok"
        summary = (f"Edge energy is {ratio:.2f}× the real data's ({gen:.3g} vs {ref:.3g}): neither blurred nor noisy "
                   f"({frac_blurred:.0%} below the real 1st percentile, {frac_noisy:.0%} above the 99th).")
        fix = ""
    return CheckResult("smoothness", title, verdict, summary, numbers, rule, fix, n=len(generated),
                       notes=[f"{len(generated)} samples vs {len(real)} real images; Sobel on the channel mean, "
                              "replicate padding"], seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- diversity
def pairwise_rms_distance(images: Tensor, max_images: int = 1000) -> float:
    """Mean L2 distance over all pairs of different images, divided by √(C·H·W): an RMS distance per pixel
    (the seed's `pairwise_l2_distance`, made comparable across image sizes). images: (N, C, H, W)."""
    x = images.detach().float().cpu().flatten(1)[:max_images]
    n = len(x)
    if n < 2:
        return float("nan")
    d = torch.cdist(x.double(), x.double())
    return float(d.sum() / (n * (n - 1))) / math.sqrt(x.shape[1])


def pixel_std(images: Tensor) -> float:
    """Mean over pixels of the std across images (seed `_check_sampling_quality`). images: (N, C, H, W)."""
    if len(images) < 2:
        return float("nan")
    return _f(images.detach().float().cpu().std(dim=0).mean())


def check_diversity(generated: Tensor, real: Optional[Tensor] = None, gen_labels: Optional[Tensor] = None,
                    real_labels: Optional[Tensor] = None, class_names: Optional[Sequence[str]] = None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: str = "") -> CheckResult:
    """Mean pairwise L2 (as RMS per pixel) and mean per-pixel std across samples, against the same statistics of
    real images, overall and per class for a conditional model (mode collapse; seed exercise 3.5.3).

    generated: (N, C, H, W) in [-1, 1]; real: (M, C, H, W) or None; labels (N,), (M,) long or None.
    """
    th = thresholds
    start = time.perf_counter()
    n = len(generated)
    if n < 2:
        return _skip("diversity", "Diversity (mode collapse)", "needs at least 2 samples")
    if (bad := _nonfinite_samples("diversity", "Diversity (mode collapse)", generated)) is not None:
        return bad
    gen_pw, gen_std = pairwise_rms_distance(generated), pixel_std(generated)
    numbers: dict[str, Any] = {"generated_pairwise_rms": gen_pw, "generated_pixel_std": gen_std,
                               "generated_pairwise_l2": gen_pw * math.sqrt(generated[0].numel())}
    notes = [f"{n} samples"]
    per_class = []
    have_real = real is not None and len(real) >= 2 and tuple(real.shape[1:]) == tuple(generated.shape[1:])
    if have_real:
        real_pw, real_std = pairwise_rms_distance(real), pixel_std(real)
        numbers.update(real_pairwise_rms=real_pw, real_pixel_std=real_std,
                       pairwise_ratio=gen_pw / real_pw if real_pw > 0 else float("inf"),
                       pixel_std_ratio=gen_std / real_std if real_std > 0 else float("inf"))
        notes.append(f"compared with {len(real)} real images")
        if gen_labels is not None and real_labels is not None:
            for c in sorted(set(gen_labels.tolist())):
                g_c, r_c = generated[gen_labels == c], real[real_labels == c][:500]
                if len(g_c) < 2 or len(r_c) < 2:
                    continue
                g_pw, r_pw = pairwise_rms_distance(g_c), pairwise_rms_distance(r_c)
                per_class.append({"class": class_names[c] if class_names and c < len(class_names) else str(c),
                                  "n": len(g_c), "generated_pairwise_rms": g_pw, "real_pairwise_rms": r_pw,
                                  "ratio": g_pw / r_pw if r_pw > 0 else float("inf"),
                                  "generated_pixel_std": pixel_std(g_c), "real_pixel_std": pixel_std(r_c)})
            if per_class:
                numbers["per_class"] = per_class
                numbers["min_class_ratio"] = min(r["ratio"] for r in per_class)
    elif real_reason:
        notes.append(f"no real images to compare with: {real_reason}")
    if have_real:
        overall = min(numbers["pairwise_ratio"], numbers["pixel_std_ratio"])
        low = min([overall] + [r["ratio"] for r in per_class])
        rule = (f"ratios generated/real (pairwise distance, pixel std; overall and per class): fail < "
                f"{th.diversity_ratio_fail}, warn < {th.diversity_ratio_warn} or overall pairwise ratio > "
                f"{th.diversity_ratio_high_warn}")
    else:
        overall = low = float("nan")
        rule = (f"no real data: fail only if the mean pairwise RMS distance per pixel < {th.diversity_abs_fail} "
                "(all samples alike)")
    where = ""
    if per_class and low < overall:
        worst = min(per_class, key=lambda r: r["ratio"])
        where = f" (class {worst['class']}: {worst['ratio']:.2f}× the real spread)"
    collapse_fix = ("Check for mode collapse or overfitting: compare samples from different seeds, sample at "
                    "temperature 1, lower the guidance scale, and retrain with more data, label dropout or fewer "
                    "steps if the samples copy training images.")
    if (have_real and low < th.diversity_ratio_fail) or (not have_real and gen_pw < th.diversity_abs_fail):
        verdict = "fail"
        summary = (f"Mode collapse: the samples are nearly identical (pairwise RMS distance {gen_pw:.3g}"
                   + (f", {overall:.2f}× the real data's overall" if have_real else "") + f"){where}.")
        fix = collapse_fix
    elif have_real and low < th.diversity_ratio_warn:
        verdict = "warn"
        summary = f"Samples vary less than the real data: {overall:.2f}× overall{where}."
        fix = collapse_fix
    elif have_real and numbers["pairwise_ratio"] > th.diversity_ratio_high_warn:
        verdict = "warn"
        summary = (f"Samples vary more than the real data ({numbers['pairwise_ratio']:.2f}× the pairwise distance): "
                   "mostly leftover noise rather than variety.")
        fix = "Train longer and sample with the EMA weights; see the smoothness and x̂_0 checks."
    else:
        verdict = "ok"
        summary = (f"Samples are as varied as the data: pairwise distance {numbers['pairwise_ratio']:.2f}× and pixel "
                   f"std {numbers['pixel_std_ratio']:.2f}× the real data's" + (where or "") + "."
                   if have_real else f"Samples differ from each other (pairwise RMS distance {gen_pw:.3g} per pixel); "
                   "no real data to compare with.")
        fix = ""
    return CheckResult("diversity", "Diversity (mode collapse)", verdict, summary, numbers, rule, fix, n=n,
                       notes=notes, seconds=time.perf_counter() - start)


# -------------------------------------------------------------------------------------------- performance
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(model, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    cfg = _config(model)
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)
    t = torch.zeros(batch, dtype=torch.long, device=device)    # the cost of a call does not depend on t
    y = torch.zeros(batch, dtype=torch.long, device=device) if getattr(cfg, "num_classes", 0) else None
    return x, t, y


@torch.no_grad()
def time_network_call(model, batch: int, repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of one forward pass at this batch size (after `warmup` untimed calls)."""
    device = next(model.parameters()).device
    x, t, y = _inputs(model, batch, device)
    for _ in range(warmup):
        model(x, t, y)
    _sync(device)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        model(x, t, y)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


@torch.no_grad()
def forward_memory_bytes(model, batch: int) -> tuple[int, str]:
    """Memory of one forward pass at this batch size -> (bytes, method).

    CUDA: the measured peak of torch.cuda.max_memory_allocated above what was allocated before.
    Elsewhere an estimate: the bytes of every leaf module's output in one pass (forward hooks), i.e. all
    activations as if none were freed (an upper bound on those alive at once; functional ops between modules,
    such as the attention product, are not counted).
    """
    device = next(model.parameters()).device
    x, t, y = _inputs(model, batch, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        model(x, t, y)
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base), "measured peak (torch.cuda.max_memory_allocated)"
    total = 0

    def hook(_module, _inp, out):
        nonlocal total
        for o in (out if isinstance(out, (tuple, list)) else (out,)):
            if torch.is_tensor(o):
                total += o.numel() * o.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model(x, t, y)
    finally:
        for h in handles:
            h.remove()
    return int(total + x.numel() * x.element_size()), "estimate: sum of leaf-module output bytes in one forward pass"


def check_performance(model, diffusion: GaussianDiffusion, batch: int = 64,
                      memory_batch_sizes: Sequence[int] = (1, 4, 16, 64), repeats: int = 3, ddim_steps: int = 50,
                      thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Time per network call at batch 1 and `batch`, projected time of a full T-step DDPM run and of DDIM, and
    memory by batch size (seed 001 §3.5.3 problems 3 and 4, exercise 3.5.3 `_check_performance`)."""
    th = thresholds
    start = time.perf_counter()
    device = next(model.parameters()).device
    T = diffusion.T
    was_training = model.training
    model.eval()
    try:
        t1 = time_network_call(model, 1, repeats)
        tb = time_network_call(model, batch, repeats) if batch > 1 else t1
        memory, method = [], ""
        params_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        for bs in memory_batch_sizes:
            try:
                b, method = forward_memory_bytes(model, int(bs))
                memory.append({"batch": int(bs), "bytes": b, "mib": b / 2**20})
            except torch.cuda.OutOfMemoryError:
                memory.append({"batch": int(bs), "bytes": None, "mib": None, "oom": True})
                torch.cuda.empty_cache()
                break
    finally:
        model.train(was_training)
    S = min(ddim_steps, T)
    table = []
    for steps in sorted({s for s in (10, 50, 100, 500, 1000) if s <= T} | {T}):
        table.append({"steps": steps, "sampler": "ddpm" if steps == T else "ddim",
                      "seconds_per_batch": steps * tb, "seconds_per_image": steps * tb / batch,
                      "speedup_vs_ddpm": T / steps})
    numbers = {
        "device": str(device), "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "seconds_per_call_batch1": t1, "batch": batch, "seconds_per_call_batch": tb,
        "seconds_per_image_call": tb / batch,
        "ddpm_steps": T, "ddpm_seconds_per_batch": T * tb, "ddpm_seconds_batch1": T * t1,
        "ddim_steps": S, "ddim_seconds_per_batch": S * tb,
        "ddpm_seconds_per_image": T * tb / batch, "ddim_seconds_per_image": S * tb / batch,
        "parameter_bytes": params_bytes, "memory_method": method, "memory_by_batch": memory,
        "steps_table": table,
    }
    rule = (f"warn if a full T={T}-step DDPM run of one batch of {batch} is projected to take > "
            f"{th.projected_seconds_warn:g} s (seed 001: > 60 s)")
    notes = [f"median of {repeats} timed calls after one warm-up, on {device}"
             + (f" with {numbers['threads']} threads" if numbers["threads"] else "")
             + "; other work on the machine inflates these", f"memory: {method}",
             "classifier-free guidance with a scale other than 0 or 1 doubles the batch of every call"]
    if T * tb > th.projected_seconds_warn:
        verdict = "warn"
        summary = (f"A full DDPM run ({T} calls) takes ≈ {_dur(T * tb)} per batch of {batch} ({_dur(T * t1)} for one "
                   f"image); DDIM-{S} takes ≈ {_dur(S * tb)}.")
        fix = (f"Use DDIM for speed (sampler='ddim', steps={S}: ≈ {T / S:.0f}× fewer network calls); on a GPU enable "
               "mixed precision and batch the images; a smaller preset also helps.")
    else:
        verdict = "ok"
        summary = (f"{tb * 1e3:.1f} ms per network call at batch {batch} ({t1 * 1e3:.1f} ms at batch 1): a full DDPM "
                   f"run takes ≈ {_dur(T * tb)} per batch, DDIM-{S} ≈ {_dur(S * tb)}.")
        fix = ""
    return CheckResult("performance", "Performance", verdict, summary, numbers, rule, fix, notes=notes,
                       seconds=time.perf_counter() - start)


def _dur(s: float) -> str:
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


# ------------------------------------------------------------------------------------------ sample quality
def feature_net_mismatch(extractor, data: dict) -> Optional[str]:
    """Why this feature network cannot score this checkpoint's images (None if it can).

    data: the checkpoint's meta["data"] ({"name", "image_size", "channels"}).
    """
    name, size, ch = data.get("name"), data.get("image_size"), data.get("channels")
    fname = getattr(extractor, "name", "the feature network")
    fdata = getattr(extractor, "dataset", None)
    if name is not None and fdata is not None and str(fdata) != str(name):
        return (f"the feature network {fname} was trained on {fdata!r}, but this model's data set is {name!r}; "
                "its numbers would not mean anything here. Train one on this data with "
                "`python -m diagnostics.features --data <data> --out <file>`")
    if size is not None and int(getattr(extractor, "image_size", size)) != int(size):
        return (f"the feature network {fname} takes {extractor.image_size}×{extractor.image_size} images, the model "
                f"makes {size}×{size}")
    if ch is not None and int(getattr(extractor, "in_channels", ch)) != int(ch):
        return f"the feature network {fname} takes {extractor.in_channels}-channel images, the model makes {ch}"
    return None


def check_sample_quality(images: Tensor, labels: Optional[Tensor], reference, heldout, extractor, *, k: int = 3,
                         seed: int = 0, data: Optional[dict] = None,
                         thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """FID (with its floor: held-out real vs reference), Inception Score, k-NN precision/recall and conditional
    accuracy, from diagnostics.metrics.sample_quality, each captioned with n, reference set and network.

    images: (N, C, H, W) in [-1, 1]; labels: (N,) the asked classes or None; reference / heldout: ImageDataset.
    """
    th = thresholds
    key, title = "sample_quality", "Sample quality (FID, IS, precision/recall)"
    if extractor is None:
        return _skip(key, title, "no feature network available")
    if reference is None:
        return _skip(key, title, "needs the real data set as reference")
    reason = feature_net_mismatch(extractor, data or {})
    if reason:
        return _skip(key, title, reason)
    start = time.perf_counter()
    from .metrics import sample_quality          # imported here: the other checks never need it
    try:
        q = sample_quality(images, labels, reference, heldout, extractor, k=k, seed=seed)
    except ValueError as e:                      # e.g. NaN samples, too few images, class mismatch
        return _skip(key, title, f"the metrics could not be computed: {e}")
    d = q.as_dict()
    numbers = {k_: v for k_, v in d.items()}
    captions = {}
    for metric in ("fid", "fid_floor", "inception_score", "precision", "recall", "conditional_accuracy"):
        try:
            captions[metric] = q.label(metric)
        except Exception:
            pass
    numbers["captions"] = captions
    fid, floor = _num(getattr(q, "fid", None)), _num(getattr(q, "fid_floor", None))
    prec, rec = _num(getattr(q, "precision", None)), _num(getattr(q, "recall", None))
    acc = _num(getattr(q, "conditional_accuracy", None))
    problems, fixes = [], []
    if fid is not None and fid > th.fid_abs_ok and floor is not None and fid > th.fid_floor_ratio_warn * max(floor, 1e-9):
        problems.append(f"FID {fid:.2f} is {fid / max(floor, 1e-9):.1f}× its floor {floor:.2f}")
        fixes.append("train longer and sample with the EMA weights (and all T steps, or more DDIM steps)")
    if prec is not None and prec < th.precision_warn:
        problems.append(f"precision {prec:.2f} < {th.precision_warn}: many samples lie off the data")
        fixes.append("low precision means off-manifold samples: train longer, keep clip_denoised=True")
    if rec is not None and rec < th.recall_warn:
        problems.append(f"recall {rec:.2f} < {th.recall_warn}: the samples cover little of the data")
        fixes.append("low recall means missing modes: check for mode collapse (see the diversity check) and sample "
                     "at temperature 1" + (" with a lower guidance scale" if labels is not None else ""))
    if acc is not None and acc < th.cond_accuracy_warn:
        problems.append(f"conditional accuracy {acc:.0%} < {th.cond_accuracy_warn:.0%}")
        fixes.append("weak conditioning: raise the classifier-free guidance scale (2–3), or train longer with "
                     "label dropout ≈ 0.1")
    rule = (f"warn if FID > {th.fid_floor_ratio_warn:g}× its floor (and > {th.fid_abs_ok:g}), precision < "
            f"{th.precision_warn}, recall < {th.recall_warn} or conditional accuracy < {th.cond_accuracy_warn:.0%}")
    parts = []
    if fid is not None:
        parts.append(f"FID {fid:.2f}" + (f" (floor {floor:.2f})" if floor is not None else ""))
    is_ = getattr(q, "inception_score", None)
    if is_ is not None:
        parts.append(f"IS {float(is_[0]):.2f}")
    if prec is not None and rec is not None:
        parts.append(f"precision {prec:.2f} / recall {rec:.2f}")
    if acc is not None:
        parts.append(f"conditional accuracy {acc:.0%}")
    n_gen = int(getattr(q, "n_generated", len(images)))
    net = getattr(q, "network", None) or extractor.describe()
    ref = str(getattr(q, "reference", "") or "the reference set").split(" (")[0]
    net_id = getattr(q, "network_id", "") or getattr(extractor, "name", "")
    head = ", ".join(parts) + f" ({n_gen} samples vs the {ref}, features {net_id.split(' ')[0]})"
    if problems:
        verdict = "warn"
        summary = head + ": " + "; ".join(problems) + "."
        fix = " ".join(_capital(f) for f in dict.fromkeys(fixes)) + " Compare FIDs only at the same n and feature network."
    else:
        verdict = "ok"
        summary = head + "."
        fix = ""
    notes = [f"feature network: {net}", "FID and IS are biased at small n; the floor (real held-out vs reference at "
             "the same n) shows the best this n can score"]
    notes += list(getattr(q, "notes", None) or [])
    return CheckResult(key, title, verdict, summary, numbers, rule, fix, n=n_gen, notes=notes,
                       seconds=time.perf_counter() - start)


def _num(x) -> Optional[float]:
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        x = x[0]
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------------------------------------ run_all
@dataclass
class SampleBatch:
    """One batch of samples shared by the x̂_0 range, smoothness, diversity and quality checks."""
    images: Tensor                  # (N, C, H, W) in [-1, 1]
    labels: Optional[Tensor]        # (N,) long, or None for an unconditional model
    trajectory: Optional[Trajectory]
    sampler: str
    steps: int
    seconds: float
    clip_denoised: bool = True
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModeSettings:
    """What quick and full mode do; see `mode_settings`."""
    quick: bool
    n: int                          # samples shared by the sample-based checks
    sampler: str                    # ddim (quick) | ddpm (full)
    steps: int                      # sampler steps
    noise_n: int                    # real images per t in the noise-prediction check
    timing_batch: int               # the "typical batch" of the performance check
    timing_repeats: int
    memory_batch_sizes: tuple
    quality_k: int = 3

    def as_dict(self) -> dict:
        return asdict(self)


def mode_settings(quick: bool, T: int, n: Optional[int] = None, sampler: Optional[str] = None,
                  steps: Optional[int] = None) -> ModeSettings:
    """quick: DDIM with 20 steps, 64 samples, short timings (well under a minute for a tiny 16×16 model on CPU);
    full: DDPM over all T steps, 500 samples, more timings and batch sizes."""
    if n is not None and (not isinstance(n, int) or n < 2):
        raise ValueError(f"n must be an integer >= 2 (got {n!r}): diversity needs at least two samples")
    sampler = sampler or ("ddim" if quick else "ddpm")
    if sampler not in ("ddim", "ddpm"):
        raise ValueError(f"unknown sampler {sampler!r}; choose from ['ddim', 'ddpm']")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer (got {steps!r})")
    if sampler == "ddpm":
        steps = T
    else:
        steps = min(int(steps or (20 if quick else 100)), T)
    n = n or (64 if quick else 500)
    if quick:
        return ModeSettings(True, n, sampler, steps, noise_n=64, timing_batch=min(n, 64), timing_repeats=2,
                            memory_batch_sizes=(1, 16, 64))
    return ModeSettings(False, n, sampler, steps, noise_n=256, timing_batch=min(n, DEFAULT_MAX_BATCH),
                        timing_repeats=5, memory_batch_sizes=(1, 4, 16, 64, 256))


def capture_steps_for(timesteps: Sequence[int], T: int) -> list[int]:
    """The sampler timesteps nearest to 999, 800, 600, 400, 200, 0 (scaled to T), descending, unique."""
    targets = scaled_timesteps(T, TRAJECTORY_FRACTIONS)
    chosen = {min(timesteps, key=lambda s: (abs(s - tgt), s)) for tgt in targets}
    return sorted(chosen, reverse=True)


def draw_samples(model, diffusion: GaussianDiffusion, settings: ModeSettings, seed: int = 0,
                 guidance_scale: float = 1.0, callback: Optional[Callable[[int, int], None]] = None) -> SampleBatch:
    """Generate settings.n images (classes cycled for a conditional model) with a captured x̂_0 trajectory."""
    from ddpm import ddim_timesteps
    cfg = _config(model)
    T = diffusion.T
    ts = list(range(T - 1, -1, -1)) if settings.sampler == "ddpm" else ddim_timesteps(T, settings.steps)
    labels = list(range(cfg.num_classes)) if getattr(cfg, "num_classes", 0) else None
    steps = settings.steps if settings.sampler == "ddim" else None
    res = generate(model, diffusion, sampler=settings.sampler, steps=steps, n=settings.n, labels=labels,
                   guidance_scale=guidance_scale if labels else 1.0, seed=seed,
                   capture_steps=capture_steps_for(ts, T), callback=callback)
    return SampleBatch(res.images, res.labels, res.trajectory, settings.sampler, len(res.timesteps), res.seconds,
                       bool(res.settings.get("clip_denoised", True)), dict(res.settings))


class _Progress:
    """Maps stage work onto one overall fraction; weights are rough shares of the run time."""

    def __init__(self, callback: Optional[StageFn], weights: dict[str, float]):
        self.callback, self.weights = callback, weights
        total = sum(weights.values())
        self.offsets, acc = {}, 0.0
        for k, w in weights.items():
            self.offsets[k] = acc / total
            acc += w
        self.total = total

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        if self.callback is not None and stage == "done":
            self.callback(stage, 1.0)
        elif self.callback is not None:
            f = self.offsets.get(stage, 0.0) + self.weights.get(stage, 0.0) / self.total * min(max(fraction, 0.0), 1.0)
            self.callback(stage, min(f, 1.0))


def _subset(images: Tensor, labels: Optional[Tensor], n: int, seed: int) -> tuple[Tensor, Optional[Tensor]]:
    if len(images) <= n:
        return images, labels
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    idx = idx.sort().values
    return images[idx], None if labels is None else labels[idx]


@dataclass
class CheckRun:
    """What `run_checks` did: the results, the shared sample batch and the settings used."""
    results: list[CheckResult]
    samples: SampleBatch
    settings: ModeSettings


def run_all(ck, real=None, quick: bool = False, n: Optional[int] = None, seed: int = 0,
            callback: Optional[StageFn] = None, **kwargs) -> list[CheckResult]:
    """Every check on a LoadedCheckpoint -> list of CheckResult (see `run_checks` for the keyword options)."""
    return run_checks(ck, real, quick, n, seed, callback, **kwargs).results


def run_checks(ck, real=None, quick: bool = False, n: Optional[int] = None, seed: int = 0,
               callback: Optional[StageFn] = None, *, samples: Optional[SampleBatch] = None,
               settings: Optional[ModeSettings] = None, feature_net=None, real_reason: str = "",
               guidance_scale: float = 1.0, thresholds: Thresholds = DEFAULT_THRESHOLDS,
               figures: bool = True) -> CheckRun:
    """Every check on a LoadedCheckpoint, sharing one sample batch among x̂_0 range, smoothness, diversity and
    quality (and, without real data, noise prediction).

    real: the checkpoint's data set (ImageDataset) or None (checks that need it are skipped, citing real_reason).
    callback(stage, fraction): stage is one of "model", "schedule", "noise", "performance", "sampling",
    "smoothness", "diversity", "quality", "done"; fraction is the overall progress in [0, 1].
    settings: a ModeSettings (default mode_settings(quick, T, n)); samples: a SampleBatch to reuse.
    feature_net: a FeatureExtractor, a path, or None for the default file (the check is skipped, with the
    reason, if it cannot be loaded or does not fit the data).
    """
    model, diffusion = ck.model, ck.diffusion
    settings = settings or mode_settings(quick, diffusion.T, n)
    th = thresholds
    weights = {"model": 0.5, "schedule": 0.5, "noise": 3, "performance": 6 if settings.quick else 10,
               "sampling": 0 if samples is not None else (15 if settings.quick else 60), "smoothness": 0.5,
               "diversity": 1, "quality": 4}
    progress = _Progress(callback, weights)
    reference = heldout = None
    if real is not None:
        try:
            reference, heldout = real.split(0.2, seed=0)
        except ValueError:            # too few images per class to hold any out: no floor
            reference, heldout = real, None
    results: list[Optional[CheckResult]] = []

    progress("model")
    results.append(check_model_basics(model, ck.weights, th))
    progress("schedule")
    results.append(check_schedule(diffusion, th))

    progress("noise")
    if real is not None:
        x_real, y_real = _subset(real.images, real.labels, settings.noise_n, seed)
        y = None
        if ck.num_classes:
            y = y_real if real.num_classes == ck.num_classes else torch.full_like(y_real, ck.num_classes)
        results.append(check_noise_prediction(model, diffusion, x_real, y, seed=seed,
                                              source=f"real {real.name} images", thresholds=th))
    else:
        results.append(None)          # filled after sampling: the model's own samples stand in for real data

    progress("performance")
    perf = check_performance(model, diffusion, batch=settings.timing_batch,
                             memory_batch_sizes=settings.memory_batch_sizes, repeats=settings.timing_repeats,
                             thresholds=th)

    if samples is None:
        progress("sampling", 0.0)
        samples = draw_samples(model, diffusion, settings, seed, guidance_scale,
                               callback=lambda done, total: progress("sampling", done / max(total, 1)))
    if results[-1] is None:
        x_own, y_own = _subset(samples.images, samples.labels, settings.noise_n, seed)
        r = check_noise_prediction(model, diffusion, x_own, y_own, seed=seed,
                                   source="generated samples (no real data)", thresholds=th)
        r.notes.append(f"no real data ({real_reason or 'none given'}): the model's own samples were noised instead")
        results[-1] = r

    results.append(check_x0_range(samples.trajectory, diffusion.T, samples.sampler, samples.clip_denoised, th))
    progress("smoothness")
    real_cmp = real_cmp_labels = None
    if real is not None:
        real_cmp, real_cmp_labels = _subset(real.images, real.labels, max(len(samples.images), 2), seed + 1)
    real_edges = None if real is None else _subset(real.images, None, 5000, seed + 2)[0]   # quantiles need many
    results.append(check_smoothness(samples.images, real_edges, thresholds=th, real_reason=real_reason))
    progress("diversity")
    per_class = bool(real is not None and ck.num_classes and real.num_classes == ck.num_classes)
    results.append(check_diversity(samples.images, real_cmp, samples.labels if per_class else None,
                                   real_cmp_labels if per_class else None, ck.class_names, th, real_reason))
    progress("quality")
    results.append(_quality(ck, samples, reference, heldout, feature_net, settings, seed, real_reason, th))
    results.append(perf)
    progress("done", 1.0)
    if figures:
        from .plots import add_figures
        for r in results:
            add_figures(r)
    return CheckRun(results, samples, settings)


def _quality(ck, samples: SampleBatch, reference, heldout, feature_net, settings: ModeSettings, seed: int,
             real_reason: str, th: Thresholds) -> CheckResult:
    key, title = "sample_quality", "Sample quality (FID, IS, precision/recall)"
    if reference is None:
        return _skip(key, title, f"needs the real data set as reference{': ' + real_reason if real_reason else ''}")
    extractor = feature_net
    if extractor is None or isinstance(extractor, (str, bytes)) or hasattr(extractor, "__fspath__"):
        try:
            from .features import DEFAULT_FEATURE_NET, load_feature_net
            extractor = load_feature_net(extractor or DEFAULT_FEATURE_NET)
        except FileNotFoundError as e:
            return _skip(key, title, f"no feature network file: {e}")
        except ImportError as e:
            return _skip(key, title, f"the feature network module is not available ({e})")
        except ValueError as e:       # FeatureNetError: a damaged or foreign file
            return _skip(key, title, f"the feature network could not be loaded: {e}")
    try:
        from . import metrics as _metrics  # noqa: F401
    except ImportError as e:
        return _skip(key, title, f"diagnostics.metrics is not available ({e})")
    r = check_sample_quality(samples.images, samples.labels, reference, heldout, extractor,
                             k=settings.quality_k, seed=seed, data=dict(ck.meta.get("data") or {}), thresholds=th)
    trained_on = (ck.meta.get("data") or {}).get("num_images")
    if r.verdict != "skip" and heldout is not None and trained_on == len(reference) + len(heldout):
        r.notes.append(f"the diffusion model was trained on all {trained_on} images, the held-out split included: "
                       "it is held out from the feature network only, so an FID at or below the floor shows the "
                       "samples match the training data, not that the model generalises")
    return r
