"""Fixed against learned reverse variance (Improved DDPM, Nichol & Dhariwal 2021) at equal training steps.

Two runs of the same recipe on the digits data (16×16, the bundled model's size and `tiny` preset, so the shipped
feature network scores them, at 16 base channels instead of 32 so that the whole benchmark fits half an hour of this
2-core CPU), the same seed, batch and steps: one with the fixed variance and L_simple, one with --learn-sigma and
L_hybrid = L_simple + 0.001·L_vlb. Each run's EMA weights are then scored on
- bits/dim on held-out images (the 20% the trainer never saw) and on as many training images, from the variational
  bound with the model's own reverse variance (`diagnostics.likelihood.likelihood_on_splits`); the learned model
  also with the fixed β̃_t, to show what its learned variance is worth;
- FID with its real-vs-real floor at DDPM-T (all T steps; the learned model samples with its own variance) and at
  DDIM-50 (η = 0: the mean only, so the variance can only act through training), from the same x_T and labels
  (`diagnostics.sweep.QualitySweep`).

    python -m bench.learned_variance                  # 800 steps per run, T = 1000, n = 200, stride 32 (≈ 30 min)
    python -m bench.learned_variance --quick          # 6 steps, T = 50, 8 base channels, n = 20: a smoke run
"""
from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Optional, Sequence

from bench import common
from ddpm import load_checkpoint
from ddpm.train import TrainConfig, train
from diagnostics.features import load_feature_net
from diagnostics.likelihood import likelihood_on_splits
from diagnostics.sweep import QualitySweep, SweepSetting

NAME = "learned_variance"
VARIANTS = {"fixed": dict(learn_sigma=False), "learned": dict(learn_sigma=True)}
LR = 2e-3                            # the trainer's default peak learning rate


def train_variant(name: str, work: Path, steps: int, batch_size: int, base_channels: int, T: int, seed: int,
                  device: str):
    cfg = TrainConfig(data="digits", image_size=16, preset="tiny", base_channels=base_channels, weighting="simple",
                      lr=LR, warmup_steps=min(100, max(1, steps // 10)), steps=steps, batch_size=batch_size, T=T, seed=seed,
                      log_every=max(1, steps // 20), sample_every=0, save_every=0, out=str(work / name), device=device,
                      **VARIANTS[name])
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return cfg, train(cfg)
    finally:   # train() installs its own SIGINT/SIGTERM handlers; put the caller's back
        for s, h in saved.items():
            signal.signal(s, h)


def bits(ck, sweep: QualitySweep, n: int, stride: int, seed: int, variance: Optional[str] = None) -> dict:
    r = likelihood_on_splits(ck.model, ck.diffusion, sweep.reference, sweep.heldout, n=n, stride=stride, seed=seed,
                             variance=variance)
    return {"variance": r.variance, "heldout_bpd": r.heldout.bpd, "heldout_se": r.heldout.standard_error,
            "train_bpd": r.train.bpd, "train_se": r.train.standard_error, "gap": r.gap, "gap_se": r.gap_se,
            "heldout_decoder": r.heldout.decoder, "heldout_kl": r.heldout.kl, "heldout_prior": r.heldout.prior,
            "n": r.train.n, "stride": r.stride, "stride_bound": max(r.train.interpolation_bound,
                                                                      r.heldout.interpolation_bound),
            "seconds": r.seconds}


def run(quick: bool = False, steps: Optional[int] = None, batch_size: Optional[int] = None,
        base_channels: Optional[int] = None, n: Optional[int] = None, stride: Optional[int] = None, seed: int = 0,
        device: str = "cpu", work_dir: Optional[str] = None, out_json: Optional[str] = None,
        command: Optional[str] = None) -> dict:
    started = time.perf_counter()
    steps = steps or (6 if quick else 800)
    batch_size = batch_size or (16 if quick else 64)
    base_channels = base_channels or (8 if quick else 16)
    n = n or (20 if quick else 200)
    T = 50 if quick else 1000
    stride = stride or (10 if quick else 32)
    work = Path(work_dir) if work_dir else common.SCRATCH_DIR / ("learned_variance_quick" if quick else "learned_variance")
    payload = common.envelope(NAME, quick, command, device)
    extractor = load_feature_net()
    runs, rows, likelihood = [], [], []
    settings = [SweepSetting("ddpm", None), SweepSetting("ddim", 10 if quick else 50, {"eta": 0.0})]
    for name in VARIANTS:
        common.log(f"[learned_variance] {name}: training {steps} steps")
        cfg, res = train_variant(name, work, steps, batch_size, base_channels, T, seed, device)
        runs.append({"variant": name, "learn_sigma": cfg.learn_sigma, "loss": cfg.loss, "steps": res.step,
                     "train_seconds": res.seconds, "final_loss": res.final_loss, "parameters": res.parameters})
        ck = load_checkpoint(res.checkpoint, weights="ema", max_bytes=None)
        sweep = QualitySweep(ck, n=n, seed=seed, feature_net=extractor)       # the same x_T and labels for both
        for variance in ([None, "fixed_small"] if cfg.learn_sigma else [None]):
            b = bits(ck, sweep, n, stride, seed, variance)
            likelihood.append({"variant": name, **b})
            common.log(f"[learned_variance]   bits/dim ({b['variance']}): held-out {b['heldout_bpd']:.3f} ± "
                       f"{b['heldout_se']:.3f}, training {b['train_bpd']:.3f}")
        for setting in settings:
            r = sweep.row(setting).as_dict()
            r.update(variant=name, variance_used=ck.sampling_defaults.variance if setting.sampler == "ddpm" else "mean only")
            rows.append(r)
            common.log(f"[learned_variance]   {r['label']}: FID {r['fid']:.3f} (floor {r['fid_floor']:.3f})")
    fixed_b = next(b for b in likelihood if b["variant"] == "fixed")
    learned_b = next(b for b in likelihood if b["variant"] == "learned" and b["variance"] == "learned_range")
    notes = [f"one seed ({seed}) per variant, the same x_T and labels for every sampling row; bits/dim on the first "
             f"{n} images of each split (image i of both splits shares t and ε), stride {stride}",
             "FID in the units of the shipped digits feature network (not Inception); floor = held-out real images "
             "against the training split at the same n and class mix"] + (
        [f"quick mode: T = {T}, {steps} steps, {base_channels} base channels: a smoke run, not a measurement"]
        if quick else [f"scaled down to fit ≈ 30 minutes of this shared 2-core CPU: {base_channels} base channels (the "
                       f"bundled model has 32), {steps} steps of batch {batch_size} (it had 3,000 of 128), n = {n}"])
    payload.update(
        settings=dict(data="digits", image_size=16, preset="tiny", base_channels=base_channels, weighting="simple",
                      lr=LR, steps=steps,
                      batch_size=batch_size, T=T, seed=seed, n=n, stride=stride, weights="ema", device=device,
                      hybrid_lambda=0.001),
        runs=runs, likelihood=likelihood, rows=rows,
        heldout_bpd_difference=learned_b["heldout_bpd"] - fixed_b["heldout_bpd"], notes=notes)
    payload["tables"] = [
        common.table(f"Held-out bits/dim after {steps} steps{' [quick]' if quick else ''}",
                     ["variant", "reverse variance", "held-out bits/dim", "± se", "training bits/dim", "decoder L_0",
                      "Σ KL", "stride bound"],
                     [[b["variant"], b["variance"], b["heldout_bpd"], b["heldout_se"], b["train_bpd"],
                       b["heldout_decoder"], b["heldout_kl"], b["stride_bound"]] for b in likelihood], notes),
        common.table(f"FID after {steps} steps (n = {n}){' [quick]' if quick else ''}",
                     ["variant", "sampler", "steps", "variance", "FID", "floor", "floor ±", "n floor", "cond. acc"],
                     [[r["variant"], r["sampler"], r["steps"], r["variance_used"], r["fid"], r["fid_floor"],
                       r["fid_floor_std"], r["n_floor"], r["conditional_accuracy"]] for r in rows])]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.learned_variance", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="6 steps, T = 50, 8 base channels, n = 20, stride 10")
    p.add_argument("--steps", type=int, help="training steps per variant (default 800; quick 6)")
    p.add_argument("--batch-size", type=int, help="default 64 (quick 16)")
    p.add_argument("--base-channels", type=int, help="the tiny preset's base channels (default 16; quick 8)")
    p.add_argument("--n", type=int, help="images per split for bits/dim and samples for FID (default 200; quick 20)")
    p.add_argument("--stride", type=int, help="bits/dim timestep stride (default 32; quick 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="write the result here instead of bench/results/")
    common.add_threads_arg(p)
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    payload = run(a.quick, a.steps, a.batch_size, a.base_channels, a.n, a.stride, a.seed, a.device, out_json=a.json,
                  command=common.cli_command("bench.learned_variance", argv))
    common.print_result(payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
