"""Model basics: eval mode, weight statistics, NaN/Inf, EMA or raw weights."""
from __future__ import annotations

import time
from typing import Optional

import torch

from ddpm.schedules import SCHEDULES
from ddpm.unet import count_parameters, preset_name

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Message, msg, weights_word
from .result import CheckResult, Findings, title_of, to_float


def model_config(model):
    """The model's UNetConfig (image_size, in_channels, num_classes); TypeError if it has none."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise TypeError("the model needs a .config (UNetConfig) with image_size, in_channels and num_classes")
    return cfg


FLOAT32_RTOL = 4 * torch.finfo(torch.float32).eps    # diffusers computes betas in float32: a few ulps from ours


def schedule_name(dcfg, scheduler: Optional[dict] = None) -> str:
    """The noise schedule by name: the config's own; for custom betas (every diffusers scheduler's), the built-in
    schedule at the same T they equal to float32 rounding (diffusers' linear 1e-4…0.02 at T=1000 is our "linear");
    else, from a diffusers scheduler config, e.g. "diffusers linear (β 0.0001…0.02)"; else "custom"."""
    if dcfg.schedule != "custom" or not dcfg.betas:
        return str(dcfg.schedule)
    betas = torch.tensor(dcfg.betas, dtype=torch.float64)                       # (T,)
    for name, make in SCHEDULES.items():
        ours = make(len(betas))                                                   # (T,) float64
        if torch.allclose(betas, ours, rtol=FLOAT32_RTOL, atol=0.0):
            return name
    sched = scheduler or {}
    kind = sched.get("beta_schedule")
    if not kind or sched.get("trained_betas") is not None:
        return "custom"
    if kind not in ("linear", "scaled_linear", "sigmoid"):        # squaredcos_cap_v2 reads no β range
        return f"diffusers {kind}"
    return f"diffusers {kind} (β {float(sched.get('beta_start', 0.0001)):g}…{float(sched.get('beta_end', 0.02)):g})"


def architecture(ck) -> Message:
    """The network in words: "tiny U-Net" (our presets, or "custom U-Net"), or for a diffusers model its class and
    widths, "diffusers UNet2DModel (block_out_channels 16, 32)", which the file records."""
    unet = ck.meta.get("unet") if ck.meta.get("format") == "diffusers" else None
    if isinstance(unet, dict) and unet.get("_class_name"):
        widths = ", ".join(str(w) for w in unet.get("block_out_channels") or ())
        return msg("report.arch_diffusers", cls=str(unet["_class_name"]), widths=widths)
    return msg("report.arch_preset", preset=preset_name(ck.unet_config))


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
        return CheckResult("model", title_of("model"), "fail", msg("model.no_parameters"),
                           threshold=msg("model.no_parameters_rule"), fix=msg("model.no_parameters_fix"))
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
        "weights": weights_word(weights),      # in words: EMA weights, raw weights, weights as saved, unknown
    }
    rule = msg("model.rule", mean=th.param_mean_warn, std=th.param_std_warn, absmax=th.param_absmax_warn)
    notes = [msg("model.note_as_handed_in")]
    found = Findings()
    if nonfinite:
        found.add("fail", msg("model.nonfinite", values=numbers["nonfinite_values"], tensors=len(nonfinite),
                              first=nonfinite[0][0]), msg("model.nonfinite_fix"))
    if model.training:
        found.add("warn", msg("model.train_mode"), msg("model.train_mode_fix"))
    if abs(mean) > th.param_mean_warn or std > th.param_std_warn or absmax > th.param_absmax_warn:
        found.add("warn", msg("model.unusual", mean=mean, std=std, absmax=absmax), msg("model.unusual_fix"))
    if weights == "raw":
        found.add("warn", msg("model.raw"), msg("model.raw_fix"))
    if found.problems:
        summary = msg("common.problems", what=msg("model.problems"), problems=found.problems)
    elif weights:
        summary = msg("model.ok_weights", params=numbers["parameters"], mean=mean, std=std, absmax=absmax,
                      weights=weights_word(weights))
    else:
        summary = msg("model.ok", params=numbers["parameters"], mean=mean, std=std, absmax=absmax)
    return CheckResult("model", title_of("model"), found.verdict, summary, numbers, rule, found.fix_message(),
                       notes=notes, seconds=time.perf_counter() - start)
