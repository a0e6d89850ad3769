"""Guidance against class fidelity and diversity: classifier-free guidance scale w and classifier-guidance
scale s, for the bundled model and its noise-aware classifier.

    python -m bench.guidance            # n=200 per row
    python -m bench.guidance --quick    # n=40, fewer rows
    python -m bench.guidance --ckpt checkpoints/mnist_tiny.safetensors --classifier none --cfg-scales 0 1 1.5 2 3 \
        --out-json bench/results/guidance_mnist.json    # classifier-free guidance only, for a model without one

Each row: conditional accuracy (the shipped feature network recognises the asked class) with its Wilson interval,
FID against the model's training split with the real-vs-real floor of the same class mix (class-matched where the
labels steer the samples, a random class mix for the unguided row) and FID/floor with its bootstrap interval, mean
pairwise distance of the samples (diversity), the within-class diversity of a conditional model (per class, the
samples' mean pairwise distance over the training images', averaged over classes, with its bootstrap interval: the
report's measure against the training split) and wall time. --eta sets DDIM's η (default 0); --guidance-interval
S_LO S_HI limits classifier-free guidance to the steps with S_LO < s ≤ S_HI, s = σ/α (ddpm.guidance.GuidanceInterval;
Kynkäänniemi et al. 2024). The sampling and
scoring are diagnostics.sweep's. w = 0 runs the model unconditionally (the null label), so the classifier rows show
classifier guidance alone steering an unconditional model, as in Dhariwal & Nichol (2021).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

import torch

from bench import common
from ddpm import load_checkpoint
from ddpm.classifier import load_classifier
from ddpm.guidance import as_guidance_interval
from diagnostics.checks.images import within_class_interval
from diagnostics.intervals import proportion_interval
from diagnostics.sweep import QualitySweep, SweepSetting

NAME = "guidance"
DEFAULT_CLASSIFIER = "checkpoints/digits_tiny_classifier.safetensors"
FULL_ROWS = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (4.0, 0.0), (0.0, 1.0), (0.0, 3.0), (0.0, 10.0), (1.0, 3.0)]
QUICK_ROWS = [(0.0, 0.0), (1.0, 0.0), (0.0, 3.0)]
FLOOR_NOTE = ("each row's floor matches its class mix: the held-out images with the samples' class counts where the "
              "labels steer the samples (w > 0 or s > 0), drawn at random for the unguided row (w = 0, s = 0), "
              "whose classes fall as an unconditional model's do (diagnostics.sweep.QualitySweep.conditioned)")


def mean_pairwise_distance(images: torch.Tensor) -> float:
    flat = images.flatten(1).double()
    d = torch.cdist(flat, flat) / flat.shape[1] ** 0.5     # RMS distance per pixel
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


WITHIN_NOTE = ("within-class diversity: per class, the samples' mean pairwise distance over that of the training "
               "images of the class (at most 500), averaged over classes; the report measures the same against a "
               "random draw of the whole data set")


def _within_class(res, reference) -> dict:
    """The within-class diversity interval (diagnostics.checks.images) of a row whose samples follow their labels
    (the caller asks QualitySweep.conditioned: not the unguided row, whose samples fall in classes as they may)."""
    return within_class_interval(res.images, reference.images, res.labels, reference.labels).as_dict()


def run(quick: bool = False, ckpt: Optional[str] = None, classifier: Optional[str] = DEFAULT_CLASSIFIER,
        n: Optional[int] = None, steps: int = 25, seed: int = 0, out_json: Optional[str] = None,
        command: Optional[str] = None, cfg_scales: Optional[Sequence[float]] = None, eta: float = 0.0,
        guidance_interval: Optional[Sequence[Optional[float]]] = None) -> dict:
    """classifier None (or "none"): classifier-free rows only, at cfg_scales (default: the w of FULL_ROWS);
    guidance_interval (s_lo, s_hi): every row's classifier-free guidance only there."""
    started = time.perf_counter()
    ckpt = ckpt or common.default_checkpoint()
    n = n or (40 if quick else 200)
    ck = load_checkpoint(ckpt)
    if classifier in (None, "", "none"):
        classifier, clf = None, None
        grid = [(float(w), 0.0) for w in (cfg_scales or sorted({w for w, _ in FULL_ROWS}))]
    else:
        clf = load_classifier(common.ROOT / classifier if not classifier.startswith("/") else classifier)
        grid = QUICK_ROWS if quick else FULL_ROWS
    sweep = QualitySweep(ck, n=n, seed=seed, classifier=clf)
    interval = as_guidance_interval(guidance_interval)
    where = "" if interval is None else f", guidance only on {interval}"
    rows = []
    for w, s in grid:
        setting = SweepSetting("ddim", steps, {"eta": float(eta), "guidance_scale": w, "classifier_scale": s,
                                               "guidance_interval": interval})
        res = sweep.sample(setting)
        r = sweep.score(setting, res)
        rows.append({"cfg_scale": w, "classifier_scale": s, "conditional_accuracy": r.conditional_accuracy,
                     "conditional_accuracy_interval": None if r.conditional_accuracy is None else
                     proportion_interval(round(r.conditional_accuracy * n), n).as_dict(),
                     "fid": r.fid, "fid_matched": r.fid_matched, "fid_floor": r.fid_floor,
                     "fid_floor_std": r.fid_floor_std,
                     "fid_ratio": None if r.fid_ratio is None else r.fid_ratio.as_dict(),
                     "floor_classes": r.floor_classes, "precision": r.precision, "recall": r.recall,
                     "pairwise_distance": mean_pairwise_distance(res.images),
                     "within_class_diversity": _within_class(res, sweep.reference) if sweep.conditioned(setting)
                     else None, "seconds": r.seconds,
                     "n": n, "sampler": f"DDIM-{steps}, eta {eta:g}",
                     "guidance_interval": None if interval is None else interval.as_list()})
    payload = common.envelope(NAME, quick, command, "cpu")
    payload.update(checkpoint=ckpt, classifier=None if classifier is None else str(classifier),
                   network=sweep.extractor.describe(),
                   reference=f"{sweep.reference.name} training split ({len(sweep.reference)} images)",
                   notes=sweep.notes + [FLOOR_NOTE], rows=rows)
    payload["tables"] = [common.table(
        f"Guidance on {payload['reference']}: DDIM-{steps} eta {eta:g}{where}, n={n} per row, features "
        f"{sweep.extractor.name}",
        ["cfg w", "classifier s", "cond. accuracy (95%)", "FID", "FID floor", "floor ±", "FID/floor (95%)",
         "floor classes", "recall", "pairwise RMS", "within-class diversity (95%)", "seconds"],
        [[r["cfg_scale"], r["classifier_scale"], common.interval_text(r["conditional_accuracy_interval"], ".3f"),
          r["fid"], r["fid_floor"], r["fid_floor_std"], common.interval_text(r["fid_ratio"]), r["floor_classes"],
          r["recall"], r["pairwise_distance"], common.interval_text(r["within_class_diversity"]), r["seconds"]]
         for r in rows],
        ["w = 0 is the unconditional model; rows with s > 0 add the noise-aware classifier's gradient", FLOOR_NOTE,
         WITHIN_NOTE])]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.guidance", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=None)
    p.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                   help="the noise-aware classifier for the s > 0 rows; 'none': classifier-free guidance only")
    p.add_argument("--cfg-scales", type=float, nargs="+", default=None,
                   help="with --classifier none: the w of the rows (default 0 1 2 4)")
    p.add_argument("--n", type=int, default=None, help="images per row (default 200; quick 40)")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--eta", type=float, default=0.0, help="DDIM's eta (0: deterministic, 1: DDPM-like noise)")
    p.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("S_LO", "S_HI"),
                   help="classifier-free guidance only where S_LO < s <= S_HI, s = sigma/alpha (inf: open; "
                        "Kynkäänniemi et al. 2024 used 0.28 5.42); default: every step")
    p.add_argument("--seed", type=int, default=0)
    common.add_threads_arg(p)
    p.add_argument("--out-json", default=None)
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    if a.cfg_scales and a.classifier not in ("", "none"):
        p.error("--cfg-scales goes with --classifier none (the classifier rows are a fixed grid)")
    if not 0 <= a.eta <= 1:
        p.error(f"--eta must be in [0, 1] (got {a.eta})")
    if any(w < 0 for w in a.cfg_scales or []):
        p.error("--cfg-scales: guidance scales are >= 0 (0 = unconditional, 1 = conditional, > 1 = guided)")
    try:
        interval = as_guidance_interval(a.guidance_interval)
    except ValueError as e:
        p.error(str(e))
    payload = run(a.quick, a.ckpt, a.classifier, a.n, a.steps, a.seed, a.out_json,
                  common.cli_command("bench.guidance", argv), a.cfg_scales, a.eta, interval)
    common.print_result(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
