"""Memorisation: does the model copy its training images?

A copy detector by nearest neighbours in pixel space. For every sample g, d(g) = min_x ||g − x||₂ over the
training images x; for every real held-out image h (never trained on), d(h) = min_x ||h − x||₂ over the same
training images. A model that generalises puts its samples as far from the training set as new real images
are (median d(g) / median d(h) ≈ 1); one that memorises puts them much closer (0 for verbatim copies).
FID cannot see this: verbatim training images score about the real-vs-real floor (see diagnostics.metrics).
"""
from __future__ import annotations

import time
from typing import Optional

import torch
from torch import Tensor

from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Text, msg
from .result import CheckResult, histograms, skipped, title_of, to_float

KEY = "memorisation"
TITLE = title_of(KEY)
COPY_QUANTILE = 0.01      # a "near copy" is closer to a training image than 99% of real held-out images are
CLOSEST_LISTED = 8        # samples listed with their nearest training image


@torch.no_grad()
def nearest_distances(queries: Tensor, pool: Tensor, chunk: int = 512) -> tuple[Tensor, Tensor]:
    """L2 distance from every query image to its nearest image in pool, and that image's index.

    queries: (Q, C, H, W), pool: (P, C, H, W), same C, H, W -> (Q,) float64, (Q,) long.
    """
    q = queries.detach().cpu().flatten(1).double()                # (Q, D)
    p = pool.detach().cpu().flatten(1).double()                   # (P, D)
    dist, index = [], []
    for i in range(0, len(q), chunk):
        nearest = torch.cdist(q[i:i + chunk], p).min(dim=1)       # over (B, P)
        dist.append(nearest.values)
        index.append(nearest.indices)
    return torch.cat(dist), torch.cat(index)


def check_memorisation(generated: Tensor, training: Optional[Tensor], heldout: Optional[Tensor], *,
                       heldout_seen: bool = False, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                       real_reason: Optional[Text] = None, bins: int = 30) -> CheckResult:
    """Nearest-training-image distance of the samples against that of real held-out images:

        ratio = median_g d(g) / median_h d(h),   near copies = share of g with d(g) < q_0.01(d(h))

    generated: (N, C, H, W) in [-1, 1]; training: (M, C, H, W) the images the model was trained on;
    heldout: (L, C, H, W) real images it never saw. heldout_seen: the model trained on the held-out images
    too (an older checkpoint); the samples are then compared with training and held-out images together.
    """
    th = thresholds
    if training is None or heldout is None or len(training) < 1 or len(heldout) < 2:
        why = real_reason or (msg("memorisation.no_heldout") if training is not None else msg("common.no_real_data"))
        return skipped(KEY, TITLE, msg("memorisation.needs_split", why=why))
    if tuple(training.shape[1:]) != tuple(generated.shape[1:]):
        return skipped(KEY, TITLE, msg("common.shapes_differ", real=str(tuple(training.shape[1:])),
                                       samples=str(tuple(generated.shape[1:]))))
    if not torch.isfinite(generated).all():
        return skipped(KEY, TITLE, msg("memorisation.nonfinite"))
    start = time.perf_counter()
    pool = torch.cat([training, heldout]) if heldout_seen else training
    d_gen, nearest = nearest_distances(generated, pool)            # (N,), (N,)
    d_held, _ = nearest_distances(heldout, training)               # (L,)
    gen_median, held_median = to_float(d_gen.median()), to_float(d_held.median())
    ratio = gen_median / held_median if held_median > 0 else float("inf")
    copy_radius = to_float(torch.quantile(d_held, COPY_QUANTILE))
    near_copies = to_float((d_gen < copy_radius).double().mean())
    pixels = generated[0].numel()
    order = torch.argsort(d_gen)[:CLOSEST_LISTED]
    numbers = {
        "nn_ratio": ratio, "frac_near_copies": near_copies,
        "generated_nn_median": gen_median, "heldout_nn_median": held_median,
        "copy_radius": copy_radius, "copy_radius_rms_per_pixel": copy_radius / pixels ** 0.5,
        "heldout_frac_near_copies": to_float((d_held < copy_radius).double().mean()),
        "n_training": len(pool), "n_heldout": len(heldout), "heldout_seen": heldout_seen,
        "closest": [{"sample": int(i), "distance": to_float(d_gen[i]), "nearest_training_image": int(nearest[i]),
                     "ratio_to_heldout_median": to_float(d_gen[i]) / held_median if held_median > 0 else None}
                    for i in order],
        "histogram": histograms(bins, generated=d_gen, heldout=d_held),
    }
    rule = msg("memorisation.rule", ratio=th.memorisation_ratio_warn, copies=th.memorisation_copy_frac_warn,
               share=1 - COPY_QUANTILE, real=COPY_QUANTILE)
    values = dict(copies=near_copies, share=1 - COPY_QUANTILE, ratio=ratio, gen=gen_median, held=held_median,
                  real=COPY_QUANTILE)
    if ratio < th.memorisation_ratio_warn or near_copies > th.memorisation_copy_frac_warn:
        verdict, summary, fix = "warn", msg("memorisation.warn", **values), msg("memorisation.fix")
    else:
        verdict, summary, fix = "ok", msg("memorisation.ok", **values), None
    notes = [msg("memorisation.note_sizes", n=len(generated), heldout=len(heldout), pool=len(pool)),
             msg("memorisation.note_detector")]
    if heldout_seen:
        notes.append(msg("memorisation.note_seen"))
    return CheckResult(KEY, TITLE, verdict, summary, numbers, rule, fix, n=len(generated), notes=notes,
                       seconds=time.perf_counter() - start)
