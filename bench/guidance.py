"""Guidance against class fidelity and diversity: classifier-free guidance scale w and classifier-guidance
scale s, for the bundled model and its noise-aware classifier.

    python -m bench.guidance            # n=200 per row
    python -m bench.guidance --quick    # n=40, fewer rows

Each row: conditional accuracy (the shipped feature network recognises the asked class), FID against the
digits training split with the real-vs-real floor, mean pairwise distance of the samples (diversity), and
wall time. w = 0 runs the model unconditionally (the null label), so the classifier rows show classifier
guidance alone steering an unconditional model, as in Dhariwal & Nichol (2021).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

import torch

from bench import common
from ddpm import generate, load_checkpoint
from ddpm.classifier import load_classifier
from ddpm.data import load_dataset

NAME = "guidance"
DEFAULT_CLASSIFIER = "checkpoints/digits_tiny_classifier.safetensors"
FULL_ROWS = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (4.0, 0.0), (0.0, 1.0), (0.0, 3.0), (0.0, 10.0), (1.0, 3.0)]
QUICK_ROWS = [(0.0, 0.0), (1.0, 0.0), (0.0, 3.0)]


def mean_pairwise_distance(images: torch.Tensor) -> float:
    flat = images.flatten(1).double()
    d = torch.cdist(flat, flat) / flat.shape[1] ** 0.5     # RMS distance per pixel
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


def run(quick: bool = False, ckpt: Optional[str] = None, classifier: str = DEFAULT_CLASSIFIER, n: Optional[int] = None,
        steps: int = 25, seed: int = 0, out_json: Optional[str] = None, command: Optional[str] = None) -> dict:
    from diagnostics.features import load_feature_net
    from diagnostics.metrics import sample_quality
    started = time.perf_counter()
    ckpt = ckpt or common.default_checkpoint()
    n = n or (40 if quick else 200)
    ck = load_checkpoint(ckpt)
    clf = load_classifier(common.ROOT / classifier if not classifier.startswith("/") else classifier)
    fx = load_feature_net()
    data = load_dataset(ck.meta["data"].get("source", "digits"), image_size=ck.unet_config.image_size)
    train, held = data.split_as_recorded(ck.meta.get("data"))
    labels = list(range(ck.num_classes))
    rows = []
    for w, s in (QUICK_ROWS if quick else FULL_ROWS):
        res = generate(ck.model, ck.diffusion, sampler="ddim", steps=steps, n=n, labels=labels, guidance_scale=w,
                       classifier=clf if s else None, classifier_scale=s, seed=seed)
        q = sample_quality(res.images, res.labels, train, held, fx, seed=seed)
        rows.append({"cfg_scale": w, "classifier_scale": s, "conditional_accuracy": q.conditional_accuracy,
                     "fid": q.fid, "fid_floor": q.fid_floor, "precision": q.precision, "recall": q.recall,
                     "pairwise_distance": mean_pairwise_distance(res.images), "seconds": res.seconds,
                     "n": n, "sampler": f"DDIM-{steps}, eta 0"})
    payload = common.envelope(NAME, quick, command, "cpu")
    payload.update(checkpoint=ckpt, classifier=str(classifier), network=fx.describe(),
                   reference=f"{data.name} training split ({len(train)} images)", rows=rows)
    payload["tables"] = [common.table(
        f"Guidance on {payload['reference']}: DDIM-{steps}, n={n} per row, features {fx.name}",
        ["cfg w", "classifier s", "cond. accuracy", "FID", "FID floor", "recall", "pairwise RMS", "seconds"],
        [[r["cfg_scale"], r["classifier_scale"], r["conditional_accuracy"], r["fid"], r["fid_floor"], r["recall"],
          r["pairwise_distance"], r["seconds"]] for r in rows],
        ["w = 0 is the unconditional model; rows with s > 0 add the noise-aware classifier's gradient"])]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.guidance", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=None)
    p.add_argument("--classifier", default=DEFAULT_CLASSIFIER)
    p.add_argument("--n", type=int, default=None, help="images per row (default 200; quick 40)")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    common.add_threads_arg(p)
    p.add_argument("--out-json", default=None)
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    payload = run(a.quick, a.ckpt, a.classifier, a.n, a.steps, a.seed, a.out_json,
                  common.cli_command("bench.guidance", argv))
    common.print_result(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
