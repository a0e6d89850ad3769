"""Sampling speed: images/s for DDPM (all T steps), DDIM S ∈ {10, 20, 50, 100} and the multistep solvers
(DPM-Solver++(2M), UniPC) at S ∈ {10, 20}, at batch sizes {1, 16, 64, 256}; the share of the time of a
generate() call spent outside the network; the cost of classifier-free guidance.

    python -m bench.sample_speed [--ckpt checkpoints/digits_tiny.safetensors]
    python -m bench.sample_speed --quick

What is timed is one ddpm.generate() call, where users call it (n = batch, one batch): argument checks, the
sampler's construction, x_T, the loop, guidance, and the copy of the images back. The network is timed
separately by forward hooks on the U-Net, so "outside the network" is everything else a user waits for: the
sampler's step math, the per-step noise draw, the guidance combination, generate()'s own work (target < 5 %).
Long runs (DDPM's 1000 steps at large batches) are stopped after the first k steps through generate()'s
progress callback and extrapolated to all T; the row says so in "extrapolated_from_steps" (null when every
step was timed).
Guidance: one guided step (doubled batch 2B through the network, then out_∅ + w (out_y − out_∅)) against an
unguided forward pass at batch 2B — the target is a ratio ≤ 1.05, i.e. guidance costs one doubled-batch
forward per step plus at most the 5 % loop overhead.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from bench import common
from ddpm.checkpoint import load_checkpoint
from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.samplers import make_sampler
from ddpm.sampling import generate
from ddpm.unet import UNet, count_parameters, preset_config

NAME = "sample_speed"
SOLVERS = ("dpmpp_2m", "unipc")
LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp_2m": "DPM-Solver++(2M)", "unipc": "UniPC"}
OVERHEAD_TARGET = 0.05
CFG_TARGET = 1.05
GUIDANCE_SCALE = 3.0


class NetTimer:
    """Accumulates the wall time spent inside model.forward (forward hooks; CUDA-synchronised)."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.device, self.seconds, self.calls, self._t0 = device, 0.0, 0, 0.0
        self._h = [model.register_forward_pre_hook(self._pre), model.register_forward_hook(self._post)]

    def _pre(self, module, args):
        common.sync(self.device)
        self._t0 = time.perf_counter()

    def _post(self, module, args, out):
        common.sync(self.device)
        self.seconds += time.perf_counter() - self._t0
        self.calls += 1

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def remove(self) -> None:
        for h in self._h:
            h.remove()


def load_model(ckpt: Optional[str], device: torch.device):
    """(model, diffusion, description): the checkpoint, or a random-init tiny model when it is missing
    (speed does not depend on the weights)."""
    if ckpt and Path(ckpt).exists():
        lc = load_checkpoint(ckpt, device=device, max_bytes=None)
        return lc.model, lc.diffusion, {"checkpoint": str(ckpt), "sha256": common.sha256_prefix(ckpt),
                                        "step": lc.step}
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", image_size=16, in_channels=1, num_classes=10)).to(device).eval()
    return model, GaussianDiffusion(DiffusionConfig()), {"checkpoint": None,
                                                         "note": f"{ckpt} not found: random-init tiny preset"}


class _Enough(Exception):
    """Raised from generate()'s progress callback to stop a long run after the steps that are timed."""


def timed_generate(model, diffusion, timer: NetTimer, sampler: str, steps: Optional[int], batch: int,
                   device: torch.device, timed_steps: Optional[int] = None, guidance: float = 1.0, eta: float = 0.0):
    """One ddpm.generate() call for `batch` images in one batch, as a user makes it; returns (seconds, network
    seconds, steps run, total steps of the sampler). With timed_steps, generate() is stopped (through its progress
    callback, its documented way to cancel) after that many steps."""
    total = len(make_sampler(sampler, diffusion, steps=steps, eta=eta).timesteps)
    cfg = model.config
    labels = [i % cfg.num_classes for i in range(batch)] if cfg.num_classes else None
    guided = labels is not None and guidance not in (0.0, 1.0)
    done = [0]

    def progress(k: int, _total: int) -> None:
        done[0] = k
        if timed_steps is not None and k >= timed_steps:
            raise _Enough

    timer.reset()
    common.sync(device)
    t0 = time.perf_counter()
    try:
        generate(model, diffusion, sampler=sampler, steps=steps, eta=eta, n=batch, labels=labels,
                 guidance_scale=guidance if labels is not None else 1.0, seed=0,
                 max_batch=2 * batch if guided else batch, callback=progress)
    except _Enough:
        pass
    common.sync(device)
    return time.perf_counter() - t0, timer.seconds, done[0], total


def forward_seconds(model, batch: int, device: torch.device, repeats: int) -> float:
    cfg = model.config
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    y = (torch.arange(batch, device=device) % cfg.num_classes) if cfg.num_classes else None
    with torch.no_grad():
        return common.median(common.time_calls(lambda: model(x, t, y), warmup=1, repeats=repeats, device=device))


def run(quick: bool = False, ckpt: Optional[str] = None, batch_sizes: Optional[Sequence[int]] = None,
        ddim_steps: Optional[Sequence[int]] = None, cfg_batch_sizes: Optional[Sequence[int]] = None,
        solver_steps: Optional[Sequence[int]] = None,
        ddpm_timed_steps: Optional[int] = None, repeats: Optional[int] = None, device: str = "auto",
        out_json: Optional[str] = None, command: Optional[str] = None, write: bool = True) -> dict:
    started = time.perf_counter()
    dev = common.resolve_device(device)
    ckpt = ckpt or common.default_checkpoint()
    batch_sizes = list(batch_sizes or ([1, 16] if quick else [1, 16, 64, 256]))
    ddim_steps = list(ddim_steps or ([10, 20] if quick else [10, 20, 50, 100]))
    solver_steps = list(solver_steps if solver_steps is not None else ([10] if quick else [10, 20]))
    cfg_batch_sizes = list(cfg_batch_sizes or ([16] if quick else [1, 16, 64]))
    repeats = repeats or (1 if quick else 2)
    payload = common.envelope(NAME, quick, command, dev)
    model, diffusion, source = load_model(ckpt, dev)
    T = diffusion.T
    timer = NetTimer(model, dev)
    # warm up allocator / kernels once per batch size
    for b in sorted(set(batch_sizes) | set(cfg_batch_sizes) | {2 * b for b in cfg_batch_sizes}):
        with torch.no_grad():
            timed_generate(model, diffusion, timer, "ddim", 2, b, dev)

    rows = []
    samplers = ([("ddpm", None)] + [("ddim", s) for s in ddim_steps if s <= T]
                + [(name, s) for name in SOLVERS for s in solver_steps if s < T])
    for b in batch_sizes:
        for name, s in samplers:
            timed = None
            if name == "ddpm":
                timed = ddpm_timed_steps or (20 if quick else (T if b <= 16 else 100))
            runs = []
            for _ in range(repeats):
                with torch.no_grad():
                    runs.append(timed_generate(model, diffusion, timer, name, s, b, dev, timed_steps=timed))
            loop_s, net_s, ran, total = sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # the median run
            per_step = loop_s / ran
            label = f"{LABELS[name]}-{total}"
            row = {"sampler": name, "label": label, "steps": total, "batch_size": b,
                   "extrapolated_from_steps": ran if ran < total else None,
                   "seconds": per_step * total, "seconds_measured": loop_s,
                   "images_per_s": b / (per_step * total), "ms_per_step": 1e3 * per_step,
                   "network_ms_per_step": 1e3 * net_s / ran,
                   "outside_network_share": max(0.0, (loop_s - net_s) / loop_s),
                   "outside_network_ms_per_step": 1e3 * max(0.0, loop_s - net_s) / ran,
                   "repeats": repeats}
            row["overhead_ok"] = row["outside_network_share"] < OVERHEAD_TARGET
            rows.append(row)
            common.log(f"[sample_speed] {label} batch {b}: {row['images_per_s']:.2f} img/s, outside network "
                       f"{100 * row['outside_network_share']:.1f}%"
                       + (f" (extrapolated from {ran} steps)" if ran < total else ""))

    cfg_rows = []
    s_cfg = 10 if quick else 20
    for b in cfg_batch_sizes:
        if not model.config.num_classes:
            break
        with torch.no_grad():
            un = sorted([timed_generate(model, diffusion, timer, "ddim", s_cfg, b, dev) for _ in range(repeats)])[repeats // 2]
            gu = sorted([timed_generate(model, diffusion, timer, "ddim", s_cfg, b, dev, guidance=GUIDANCE_SCALE)
                         for _ in range(repeats)])[repeats // 2]
        fwd2 = forward_seconds(model, 2 * b, dev, repeats=max(3, 2 * repeats))
        fwd1 = forward_seconds(model, b, dev, repeats=max(3, 2 * repeats))
        un_step, gu_step = un[0] / un[2], gu[0] / gu[2]
        r = {"batch_size": b, "ddim_steps": s_cfg, "guidance_scale": GUIDANCE_SCALE,
             "unguided_ms_per_step": 1e3 * un_step, "guided_ms_per_step": 1e3 * gu_step,
             "forward_ms_batch": 1e3 * fwd1, "forward_ms_2x_batch": 1e3 * fwd2,
             "guided_over_unguided": gu_step / un_step, "guided_over_2x_forward": gu_step / fwd2,
             "guided_network_ms_per_step": 1e3 * gu[1] / gu[2]}
        r["cfg_ok"] = r["guided_over_2x_forward"] <= CFG_TARGET
        cfg_rows.append(r)
        common.log(f"[sample_speed] CFG batch {b}: guided step / forward(2B) = {r['guided_over_2x_forward']:.3f}")
    timer.remove()

    worst = max(rows, key=lambda r: r["outside_network_share"])
    payload.update(
        model={"parameters": count_parameters(model), "config": model.config.to_dict(), **source}, T=T,
        method="one ddpm.generate() call per cell (n = batch size, one batch), where users call it; "
               "network time from forward hooks on the U-Net; seconds/images_per_s are for all the sampler's steps "
               "(extrapolated linearly from the timed steps where extrapolated_from_steps is set); median of repeats",
        overhead_target=OVERHEAD_TARGET, cfg_target=CFG_TARGET, rows=rows, cfg=cfg_rows,
        worst_outside_network={"label": worst["label"], "batch_size": worst["batch_size"],
                               "share": worst["outside_network_share"]},
        overhead_ok=all(r["overhead_ok"] for r in rows), cfg_ok=all(r["cfg_ok"] for r in cfg_rows) if cfg_rows else None)

    # table 1: images/s, samplers × batch sizes
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    cell = {(r["label"], r["batch_size"]): r for r in rows}
    extrap = sorted({r["extrapolated_from_steps"] for r in rows if r["extrapolated_from_steps"]})
    t1 = common.table(
        f"Sampling images/s on {dev}{' [quick]' if quick else ''} (T={T})",
        ["sampler"] + [f"batch {b}" for b in batch_sizes] + [f"outside net @b{batch_sizes[0]}"],
        [[lab] + [cell[(lab, b)]["images_per_s"] for b in batch_sizes]
         + [f"{100 * cell[(lab, batch_sizes[0])]['outside_network_share']:.1f}%"] for lab in labels],
        notes=[f"rows marked in the JSON (extrapolated_from_steps) timed only the first {extrap} steps and "
               "extrapolated to all of them" if extrap else "every step timed",
               f"share of loop time outside the network: worst {100 * worst['outside_network_share']:.1f}% "
               f"({worst['label']}, batch {worst['batch_size']}); target < {100 * OVERHEAD_TARGET:.0f}%"])
    t2 = common.table(
        "Share of a generate() call's time outside the network (target < 5%)",
        ["sampler"] + [f"batch {b}" for b in batch_sizes],
        [[lab] + [f"{100 * cell[(lab, b)]['outside_network_share']:.1f}% "
                  f"({cell[(lab, b)]['outside_network_ms_per_step']:.2f} ms)" for b in batch_sizes] for lab in labels])
    tables = [t1, t2]
    if cfg_rows:
        tables.append(common.table(
            f"Classifier-free guidance cost (w={GUIDANCE_SCALE}, DDIM-{s_cfg})",
            ["batch", "unguided ms/step", "guided ms/step", "fwd ms @B", "fwd ms @2B", "guided/unguided",
             "guided/fwd@2B", "ok (<=1.05)"],
            [[r["batch_size"], r["unguided_ms_per_step"], r["guided_ms_per_step"], r["forward_ms_batch"],
              r["forward_ms_2x_batch"], r["guided_over_unguided"], r["guided_over_2x_forward"], r["cfg_ok"]]
             for r in cfg_rows]))
    payload["tables"] = tables
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json), write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sample_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="batches 1 and 16, DDIM 10/20, DDPM from 20 steps")
    p.add_argument("--ckpt", default=common.default_checkpoint(), help="model to time (default: %(default)s)")
    p.add_argument("--batch-sizes", type=int, nargs="+")
    p.add_argument("--ddim-steps", type=int, nargs="+")
    p.add_argument("--solver-steps", type=int, nargs="+", help="S of dpmpp_2m and unipc (default 10 20; quick 10)")
    p.add_argument("--cfg-batch-sizes", type=int, nargs="+")
    p.add_argument("--ddpm-timed-steps", type=int, help="time this many DDPM steps and extrapolate to T "
                   "(default: all T at batch <= 16, 100 above; quick: 20)")
    p.add_argument("--repeats", type=int, help="runs per cell, median kept (default 2; quick 1)")
    p.add_argument("--device", default="auto")
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.ckpt, a.batch_sizes, a.ddim_steps, a.cfg_batch_sizes, a.solver_steps, a.ddpm_timed_steps,
              a.repeats, a.device, a.out_json, common.cli_command("bench.sample_speed", argv))
    common.print_result(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
