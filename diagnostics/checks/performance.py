"""Performance: time per network call, projected DDPM and DDIM sampling time, and memory by batch size."""
from __future__ import annotations

import statistics
import time
from typing import Optional, Sequence

import torch
from torch import Tensor

from ddpm import GaussianDiffusion

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Message, duration, msg
from .model import model_config
from .result import CheckResult, title_of


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(model, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    cfg = model_config(model)
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
def forward_memory_bytes(model, batch: int) -> tuple[int, Message]:
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
        return int(torch.cuda.max_memory_allocated(device) - base), msg("performance.memory_measured")
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
    return int(total + x.numel() * x.element_size()), msg("performance.memory_estimate")


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
        memory, method = [], msg("text.unknown")
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
    rule = msg("performance.rule", T=T, batch=batch, limit=th.projected_seconds_warn, seed_limit=60)
    where = (msg("performance.device_threads", device=str(device), threads=numbers["threads"]) if numbers["threads"]
             else str(device))
    notes = [msg("performance.note_timing", repeats=repeats, where=where),
             msg("performance.note_memory", method=method), msg("performance.note_guidance")]
    if T * tb > th.projected_seconds_warn:
        verdict = "warn"
        summary = msg("performance.warn", T=T, ddpm=duration(T * tb), batch=batch, one=duration(T * t1), S=S,
                      ddim=duration(S * tb))
        fix = msg("performance.fix", S=S, speedup=T / S)
    else:
        verdict = "ok"
        summary = msg("performance.ok", ms=tb * 1e3, batch=batch, ms1=t1 * 1e3, ddpm=duration(T * tb), S=S,
                      ddim=duration(S * tb))
        fix = None
    return CheckResult("performance", title_of("performance"), verdict, summary, numbers, rule, fix, notes=notes,
                       seconds=time.perf_counter() - start)
