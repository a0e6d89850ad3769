"""Training speed per U-Net preset on 16×16 digits: optimizer steps/s and images/s.

    python -m bench.train_speed            # tiny, small, base, large
    python -m bench.train_speed --quick    # tiny and small, a few steps

What is timed is the trainer's step body (ddpm.train.train's inner loop: batch gather, label dropout, t and ε
draws, q_sample + forward + weighted loss, backward, gradient clipping, AdamW, EMA update, loss.item()) with
the same data, optimizer and EMA as the trainer, but without its logging, final sample grid and checkpoints
(the large preset's resumable checkpoint is ~3.8 GB: writing it would dwarf a short timing run). In full mode
the real `ddpm.train.train` is also timed for tiny and small ("trainer" column) so the trainer's own
overhead shows.
"""
from __future__ import annotations

import argparse
import copy
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench import common
from ddpm.data import load_dataset
from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.train import TrainConfig, ema_update, lr_at, train
from ddpm.unet import UNet, count_parameters, preset_config

NAME = "train_speed"
FULL = {  # preset: (batch, timed steps)
    "tiny": (128, 30), "small": (128, 20), "base": (32, 10), "large": (8, 5),
}
QUICK = {"tiny": (128, 4), "small": (128, 2)}
WARMUP_FULL, WARMUP_QUICK = 3, 1


def train_flops_per_image(model: nn.Module, ucfg, device) -> float:
    """FLOPs of one forward + backward per image (FlopCounterMode: matmuls and convolutions)."""
    x = torch.randn(2, ucfg.in_channels, ucfg.image_size, ucfg.image_size, device=device)
    t = torch.randint(0, 1000, (2,), device=device)
    y = torch.randint(0, max(1, ucfg.num_classes), (2,), device=device) if ucfg.num_classes else None
    with FlopCounterMode(display=False) as fc:
        model(x, t, y).square().mean().backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / 2


def make_step(preset: str, batch: int, device: torch.device, data, cfg: TrainConfig):
    """A closure doing exactly one trainer step (see the module docstring)."""
    ucfg = preset_config(preset, image_size=data.image_size, in_channels=data.channels,
                         num_classes=data.num_classes if cfg.conditional else 0)
    diffusion = GaussianDiffusion(DiffusionConfig(schedule=cfg.schedule, T=cfg.T, objective=cfg.objective))
    torch.manual_seed(cfg.seed)
    model = UNet(ucfg).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g_data = torch.Generator().manual_seed(cfg.seed)
    g_noise = torch.Generator().manual_seed(cfg.seed + 1)
    images, labels = data.images, data.labels
    null_label = ucfg.num_classes
    state = {"step": 0}
    model.train()

    def step() -> float:
        s = state["step"]
        idx = torch.randint(len(images), (batch,), generator=g_data)
        x0 = images[idx].to(device, non_blocking=True)
        y = None
        if ucfg.num_classes:
            y = labels[idx].clone()
            y[torch.rand(batch, generator=g_noise) < cfg.label_dropout] = null_label
            y = y.to(device)
        t = torch.randint(cfg.T, (batch,), generator=g_noise).to(device)
        noise = torch.randn(x0.shape, generator=g_noise).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(s, cfg)
        loss = diffusion.training_losses(model, x0, t, y, noise, cfg.loss, cfg.weighting, cfg.min_snr_gamma).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema_update(ema, model, min(cfg.ema_decay, (1 + s) / (10 + s)))
        state["step"] = s + 1
        return loss.item()

    return step, model, ucfg


def time_trainer(preset: str, batch: int, steps: int, device: torch.device, out: Path) -> Optional[float]:
    """Steps/s of the real ddpm.train.train (log_every=5, no sample grids / checkpoints in the timed window)."""
    every = 5
    steps = max(every, steps - steps % every)
    stamps: list[tuple[int, float]] = []

    def cb(p):
        stamps.append((p.step, time.perf_counter()))

    cfg = TrainConfig(data="digits", image_size=16, preset=preset, batch_size=batch, steps=every + steps,
                      log_every=every, sample_every=0, save_every=0, out=str(out), device=str(device))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        train(cfg, cb)
    finally:   # train() swaps in its own SIGINT/SIGTERM handlers; make sure the caller's are back whatever happens
        for s, h in saved.items():
            signal.signal(s, h)
    if len(stamps) < 2:
        return None
    (s0, t0), (s1, t1) = stamps[0], stamps[-1]
    return (s1 - s0) / (t1 - t0)


def run(quick: bool = False, presets: Optional[Sequence[str]] = None, batch: Optional[int] = None,
        steps: Optional[int] = None, warmup: Optional[int] = None, device: str = "auto", trainer: Optional[bool] = None,
        out_json: Optional[str] = None, command: Optional[str] = None, write: bool = True) -> dict:
    started = time.perf_counter()
    dev = common.resolve_device(device)
    plan = dict(QUICK if quick else FULL)
    if presets:
        plan = {p: (FULL.get(p) or QUICK.get(p) or (32, 5)) for p in presets}
    warmup = (WARMUP_QUICK if quick else WARMUP_FULL) if warmup is None else warmup
    trainer = (not quick) if trainer is None else trainer
    payload = common.envelope(NAME, quick, command, dev)
    data = load_dataset("digits", image_size=16)
    cfg = TrainConfig()   # the trainer's defaults: linear, ε, MSE, simple, AdamW lr 2e-3, clip 1, EMA 0.999
    rows = []
    for preset, (b, n) in plan.items():
        b = batch or b
        n = steps or n
        common.log(f"[train_speed] {preset}: batch {b}, {warmup} warmup + {n} timed steps on {dev}")
        step, model, ucfg = make_step(preset, b, dev, data, cfg)
        flops = train_flops_per_image(model, ucfg, dev)
        times = common.time_calls(step, warmup, n, dev)
        med = common.median(times)
        row = {
            "preset": preset, "parameters": count_parameters(model), "batch_size": b,
            "warmup_steps": warmup, "timed_steps": n,
            "steps_per_s": 1.0 / med, "steps_per_s_mean": n / sum(times),
            "images_per_s": b / med, "step_seconds_median": med,
            "step_seconds_min": min(times), "step_seconds_max": max(times),
            "train_gflop_per_image": flops / 1e9, "achieved_gflops": flops * b / med / 1e9,
            "trainer_steps_per_s": None,
        }
        del step, model
        if trainer and preset in ("tiny", "small"):
            common.log(f"[train_speed] {preset}: the real trainer, {n} steps")
            row["trainer_steps_per_s"] = time_trainer(preset, b, n, dev, common.SCRATCH_DIR / "train_speed" / preset)
        rows.append(row)

    peak = common.matmul_gflops(dev, 2048, torch.float32, repeats=3 if quick else 5)
    conv = common.conv_gflops(dev, dtype=torch.float32, repeats=3 if quick else 5)
    payload.update(
        method="the trainer's step body (see bench/train_speed.py docstring); step time = median over the timed "
               "steps; images/s = batch / median step time; FLOPs from torch.utils.flop_counter (matmul + conv)",
        data="digits 16x16, 1 channel, 10 classes", train_config=dict(schedule=cfg.schedule, T=cfg.T,
                                                                      objective=cfg.objective, ema_decay=cfg.ema_decay),
        matmul_fp32_gflops=peak, conv_fp32_gflops=conv, rows=rows)
    payload["tables"] = [common.table(
        f"Training speed on {dev} (16x16 digits){' [quick]' if quick else ''}",
        ["preset", "params", "batch", "steps/s", "images/s", "trainer steps/s", "GFLOP/img", "GFLOP/s", "% of mm"],
        [[r["preset"], r["parameters"], r["batch_size"], r["steps_per_s"], r["images_per_s"],
          r["trainer_steps_per_s"], r["train_gflop_per_image"], r["achieved_gflops"], 100 * r["achieved_gflops"] / peak]
         for r in rows],
        notes=[f"fp32 torch.mm 2048² reaches {peak:.0f} GFLOP/s on this device, one 3x3 conv (128 ch, 16x16, "
               f"batch 64) {conv:.0f} GFLOP/s",
               "trainer steps/s: the real ddpm.train.train (log_every=5), tiny and small only"])]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json), write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny and small only, a few steps")
    p.add_argument("--presets", nargs="+", choices=sorted(FULL), help="presets to time (default: all; quick: tiny small)")
    p.add_argument("--batch", type=int, help="batch size for every preset (default: 128 tiny/small, 32 base, 8 large)")
    p.add_argument("--steps", type=int, help="timed steps per preset")
    p.add_argument("--warmup", type=int, help="untimed steps first")
    p.add_argument("--device", default="auto")
    common.add_threads_arg(p)
    p.add_argument("--trainer", action=argparse.BooleanOptionalAction, default=None,
                   help="also time the real trainer for tiny/small (default: on, off in --quick)")
    p.add_argument("--out-json", help="default bench/results/train_speed.json (quick: bench/results/quick/)")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.presets, a.batch, a.steps, a.warmup, a.device, a.trainer, a.out_json,
              common.cli_command("bench.train_speed", argv))
    common.print_result(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
