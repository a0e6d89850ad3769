"""The train / held-out gap over a run trained long on few images: does the generalisation check flag it?

A tiny U-Net is trained on --train-images digits (8×8, the embedded set's own size) for --steps steps; the rest of a
pool of 5× as many images is its held-out split (the trainer's own --holdout). Every --every steps the EMA weights
of the run's checkpoint are scored by diagnostics.checks.check_generalisation (paired denoising loss per band of t,
training vs held-out images); at the end, bits/dim on training vs held-out images (stride 32) and the memorisation
check on 100 DDIM-50 samples. The JSON is rewritten after every look ("complete": false until the end), so an
interrupted run keeps its curve.

    python -m bench.generalisation                     # 100 images, 3000 steps, a look every 250 (a few CPU minutes)
    python -m bench.generalisation --quick             # 40 images, 300 steps: a smoke run
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from bench import common
from ddpm import generate, load_checkpoint
from ddpm.data import DEFAULT_SPLIT_SEED, load_dataset
from ddpm.train import TrainConfig, train
from diagnostics.checks import check_memorisation
from diagnostics.checks.generalisation import check_generalisation
from diagnostics.likelihood import likelihood_on_splits

NAME = "generalisation"


def write_pool(root: Path, n: int, seed: int = 0) -> Path:
    """n digits (8×8, classes balanced) as <root>/<class>/<i>.png: a small data set the trainer reads as a folder."""
    from PIL import Image
    from ddpm.data import to_uint8
    ds = load_dataset("digits", image_size=8)
    g = torch.Generator().manual_seed(seed)
    per_class = n // ds.num_classes
    for c in range(ds.num_classes):
        idx = torch.nonzero(ds.labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)[:per_class]]
        (root / str(c)).mkdir(parents=True, exist_ok=True)
        for i, img in zip(idx.tolist(), to_uint8(ds.images[idx])):
            Image.fromarray(img[..., 0].numpy(), mode="L").save(root / str(c) / f"{i}.png")
    return root


def evaluate(path: Path, data_root: Path, holdout: float, n: int, seed: int) -> dict:
    ck = load_checkpoint(path)
    real = load_dataset(str(data_root), image_size=8, channels=1)
    train_split, held = real.split(holdout, seed=DEFAULT_SPLIT_SEED)
    r = check_generalisation(ck.model, ck.diffusion, train_split.images, held.images, train_split.labels,
                             held.labels, n=n, draws=4, seed=seed)
    return {"step": ck.step, "verdict": r.verdict, "summary": str(r.summary), "max_gap_relative": r.numbers["max_gap_relative"],
            "low_noise_gap_relative": r.numbers["low_noise_gap_relative"],
            "per_band": [{k: row[k] for k in ("band", "train_loss", "heldout_loss", "gap_relative", "gap_se", "flagged")}
                         for row in r.numbers["per_band"]]}, ck, train_split, held


def run(quick: bool = False, train_images: int = 100, steps: int = 3000, every: int = 250, seed: int = 0,
        out_json: Optional[str] = None, argv: Optional[Sequence[str]] = None) -> dict:
    started = time.perf_counter()
    if quick:
        train_images, steps, every = 40, 300, 150
    holdout = 0.8                                   # 1 of 5 images trains, 4 are held out
    pool = train_images * 5
    payload = common.envelope(NAME, quick, common.cli_command("bench.generalisation", argv))
    path = common.results_path(NAME, quick, out_json)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = write_pool(Path(tmp) / "pool", pool, seed)
        cfg = TrainConfig(data=str(data_root), image_size=8, preset="tiny", steps=steps, batch_size=64,
                          holdout=holdout, seed=seed, sample_every=0, save_every=every, log_every=every,
                          warmup_steps=50, out=str(Path(tmp) / "run"), device="cpu")
        curve, t0 = [], time.perf_counter()

        def look(p):
            ckpt = Path(cfg.out) / "last.safetensors"
            if ckpt.exists():
                row = evaluate(ckpt, data_root, holdout, train_images, seed)[0]
                if not curve or curve[-1]["step"] != row["step"]:
                    row["train_seconds"] = round(time.perf_counter() - t0, 1)
                    curve.append(row)
                    common.log(f"step {row['step']}: {row['verdict']}, max gap {row['max_gap_relative']:+.0%}, "
                               f"lowest-noise band {row['low_noise_gap_relative']:+.0%}")
                    common.write_json({**payload, "complete": False, "curve": curve}, path)

        result = train(cfg, callback=look)
        final, ck, train_split, held = evaluate(Path(result.checkpoint), data_root, holdout, train_images, seed)
        final["train_seconds"] = round(time.perf_counter() - t0, 1)
        if not curve or curve[-1]["step"] != final["step"]:
            curve.append(final)
        samples = generate(ck.model, ck.diffusion, sampler="ddim", steps=50, n=100,
                           labels=list(range(ck.num_classes)) if ck.num_classes else None, seed=seed)
        mem = check_memorisation(samples.images, train_split.images, held.images)
        bpd = likelihood_on_splits(ck.model, ck.diffusion, train_split, held, n=train_images, stride=32, seed=seed)
    payload.update({
        "settings": {"train_images": len(train_split), "heldout_images": len(held), "steps": steps, "every": every,
                     "image_size": 8, "preset": "tiny", "batch_size": 64, "seed": seed, "weights": "ema"},
        "curve": curve, "final": final,
        "memorisation": {"verdict": mem.verdict, "summary": str(mem.summary),
                         "nn_ratio": mem.numbers.get("nn_ratio"), "frac_near_copies": mem.numbers.get("frac_near_copies")},
        "bits_per_dim": {"train": bpd.train.bpd, "train_se": bpd.train.standard_error, "heldout": bpd.heldout.bpd,
                         "heldout_se": bpd.heldout.standard_error, "gap": bpd.gap, "gap_se": bpd.gap_se,
                         "stride": 32, "stride_bound": bpd.train.interpolation_bound, "n": bpd.train.n},
        "complete": True,
        "flagged_at_step": next((r["step"] for r in curve if r["verdict"] == "warn"), None),
        "train_seconds": result.seconds,
    })
    rows = [[r["step"], r["verdict"], f"{r['low_noise_gap_relative']:+.1%}", f"{r['max_gap_relative']:+.1%}",
             r["train_seconds"]] for r in curve]
    payload["tables"] = [common.table("train / held-out denoising-loss gap over training",
                                      ["step", "verdict", "gap t∈[0,5%T)", "largest gap", "seconds"], rows,
                                      [f"memorisation check at the end: {mem.verdict} — {mem.summary}",
                                       f"bits/dim at the end: training {bpd.train.bpd:.3f}, held-out {bpd.heldout.bpd:.3f}, "
                                       f"gap {bpd.gap:+.3f} ± {bpd.gap_se:.3f} (n={bpd.train.n}, stride 32)"])]
    return common.finish_and_write(payload, started, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.generalisation", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--train-images", type=int, default=100)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the result here instead of bench/results/")
    common.add_threads_arg(p)
    args = p.parse_args(argv)
    common.set_threads(args.threads)
    payload = run(args.quick, args.train_images, args.steps, args.every, args.seed, args.json, argv)
    common.print_result(payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
