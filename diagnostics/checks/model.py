"""Model basics: eval mode, weight statistics, NaN/Inf, EMA or raw weights."""
from __future__ import annotations

import time
from typing import Optional

import torch

from ddpm.unet import count_parameters

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, Findings, to_float


def model_config(model):
    """The model's UNetConfig (image_size, in_channels, num_classes); TypeError if it has none."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise TypeError("the model needs a .config (UNetConfig) with image_size, in_channels and num_classes")
    return cfg


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
    mean = to_float(finite.mean()) if finite.numel() else float("nan")
    std = to_float(finite.std()) if finite.numel() > 1 else float("nan")
    absmax = to_float(finite.abs().max()) if finite.numel() else float("nan")
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
    found = Findings()
    if nonfinite:
        found.add("fail", f"{numbers['nonfinite_values']} NaN/Inf weights in {len(nonfinite)} tensors "
                          f"(first: {nonfinite[0][0]})",
                  "the weights are corrupt or training diverged: go back to an earlier checkpoint, lower the "
                  "learning rate and keep gradient clipping on")
    if model.training:
        found.add("warn", "the model is in train mode (dropout active)", "call model.eval() before sampling")
    if abs(mean) > th.param_mean_warn or std > th.param_std_warn or absmax > th.param_absmax_warn:
        found.add("warn", f"unusual weight statistics (mean {mean:.3g}, std {std:.3g}, |max| {absmax:.3g})",
                  "large weights point to a diverging run: retrain with a lower learning rate, gradient clipping "
                  "and weight decay")
    if weights == "raw":
        found.add("warn", "raw weights are used, not the EMA average",
                  "sample with the EMA weights (load_checkpoint(..., weights='ema'); train with --ema-decay 0.999 "
                  "if the file has none): they give visibly cleaner samples")
    if found.problems:
        summary = "Model problems: " + "; ".join(found.problems) + "."
    else:
        summary = (f"Eval mode, {numbers['parameters']:,} finite parameters with mean {mean:.3g}, std {std:.3g}, "
                   f"|max| {absmax:.3g}" + (f", {weights} weights." if weights else "."))
    return CheckResult("model", "Model basics", found.verdict, summary, numbers, rule, found.fix_text(),
                       notes=notes, seconds=time.perf_counter() - start)
