"""Generalisation: is the model starting to fit its training images rather than the data distribution?

The denoising loss ℓ(x_0, t, ε) = mean over pixels of (ε̂(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t) − ε)², per band of timesteps, on
training images and on held-out images the model never saw. Image i of each split gets the same t and the same ε,
so the gap d_i = ℓ(held-out_i) − ℓ(training_i) is a paired difference, free of the spread that t and ε add.

A model that generalises denoises new images as well as its training images (gap ≈ 0 in every band). One that
memorises recognises its training images through the noise and denoises them better; the gap opens first at low
noise (small t), where fine detail decides the loss, long before its samples become copies (the memorisation
check, which looks at samples, sees it last). The time to memorise grows with the size of the data set.
"""
from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import torch
from scipy.stats import norm
from torch import Tensor

from ddpm import GaussianDiffusion

from ddpm.messages import MessageError
from ..fid import class_matched_pairs
from ..intervals import LEVEL
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Text, msg
from .result import CheckResult, skipped, title_of

KEY = "generalisation"
TITLE = title_of(KEY)
BANDS = (0.0, 0.05, 0.15, 0.35, 0.6, 1.0)     # band edges as fractions of T; the first band is the lowest noise
FIX = msg("generalisation.fix")
# The summaries of reports written before the gap had its interval: their report.json names these messages, and
# `python -m diagnostics render` still reads them (docs/report_emoji*, for one)
EARLIER_MESSAGES = ("generalisation.ok", "generalisation.band")
Z95 = float(norm.ppf(0.5 + LEVEL / 2))     # the relative gap's interval: ± Z95 standard errors (LEVEL = 95%)


def relative_gap_se(train_losses: Tensor, heldout_losses: Tensor) -> float:
    """Standard error of the relative gap r = mean(h)/mean(l) − 1 over paired losses (l_i, h_i), one per image pair
    (averaged over its draws, which share its images), by the delta method:
    Var(mean(h)/mean(l)) ≈ Var(h_i − R·l_i) / (m·mean(l)²), R = mean(h)/mean(l); the noise a pair shares cancels in
    h_i − R·l_i."""
    l, h = train_losses.double(), heldout_losses.double()
    m, mean_l = l.numel(), float(l.mean())
    if m < 2 or mean_l <= 0:
        return math.inf
    R = float(h.mean()) / mean_l
    return float((h - R * l).std() / (math.sqrt(m) * mean_l))


def band_edges(T: int, fractions: Sequence[float] = BANDS) -> list[tuple[int, int]]:
    """[(lo, hi)) timestep ranges for the bands, each non-empty, covering 0 … T−1."""
    cuts = sorted({min(T, max(0, round(f * T))) for f in fractions} | {0, T})
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]


@torch.no_grad()
def paired_denoising_losses(model, diffusion: GaussianDiffusion, train: Tensor, heldout: Tensor,
                            train_labels: Optional[Tensor] = None, heldout_labels: Optional[Tensor] = None, *,
                            bands: Sequence[tuple[int, int]], draws: int = 2, seed: int = 0,
                            batch: int = 256) -> tuple[Tensor, Tensor]:
    """ℓ for every (band, draw, pair): two tensors (len(bands), draws, n), training and held-out, n = len(train) =
    len(heldout). Pair i shares t ~ U[lo, hi) and ε in every draw; labels (n,) or None (null label)."""
    if train.shape != heldout.shape:
        raise MessageError("generalisation.paired_shapes", train=tuple(train.shape), heldout=tuple(heldout.shape))
    n = len(train)
    g = torch.Generator().manual_seed(int(seed))
    device = next(model.parameters()).device
    k = getattr(getattr(model, "config", None), "num_classes", 0)

    def labels(y: Optional[Tensor]) -> Optional[Tensor]:
        if not k:
            return None
        return torch.full((n,), k, dtype=torch.long) if y is None else y.long()

    t_all = torch.stack([torch.randint(lo, hi, (draws, n), generator=g) for lo, hi in bands])   # (Bands, D, n)
    eps_all = torch.randn((len(bands), draws, *train.shape), generator=g)                     # (Bands, D, n, C, H, W)
    was_training = model.training
    model.eval()
    out = []
    try:
        for x0, y in ((train, labels(train_labels)), (heldout, labels(heldout_labels))):
            x0s = x0.unsqueeze(0).unsqueeze(0).expand(len(bands), draws, *x0.shape).reshape(-1, *x0.shape[1:])
            ys = None if y is None else y.repeat(len(bands) * draws)
            ts, eps = t_all.reshape(-1), eps_all.reshape(-1, *x0.shape[1:])
            losses = []
            for i in range(0, len(ts), batch):
                t = ts[i:i + batch].to(device)
                e = eps[i:i + batch].to(device)
                x_t = diffusion.q_sample(x0s[i:i + batch].to(device), t, e)
                model_out = model(x_t, t, None if ys is None else ys[i:i + batch].to(device)).float()
                eps_hat, _ = diffusion.split_model_output(model_out, x_t, t)
                losses.append(((eps_hat - e) ** 2).flatten(1).mean(1).double().cpu())
            out.append(torch.cat(losses).reshape(len(bands), draws, n))
    finally:
        model.train(was_training)
    return out[0], out[1]


def check_generalisation(model, diffusion: GaussianDiffusion, train: Optional[Tensor], heldout: Optional[Tensor],
                         train_labels: Optional[Tensor] = None, heldout_labels: Optional[Tensor] = None, *,
                         n: int = 128, draws: int = 2, seed: int = 0, heldout_seen: bool = False,
                         thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: Optional[Text] = None,
                         fractions: Sequence[float] = BANDS) -> CheckResult:
    """Paired denoising loss per band of t, n training vs n held-out images (see the module docstring).

    Verdict: warn when, in some band, the held-out loss exceeds the training loss by more than
    thresholds.generalisation_gap_warn (relative) and the paired gap by more than 3 standard errors."""
    th = thresholds
    if train is None or heldout is None or len(train) < 2 or len(heldout) < 2:
        why = real_reason or (msg("generalisation.no_heldout") if train is not None else msg("common.no_real_data"))
        return skipped(KEY, TITLE, msg("memorisation.needs_split", why=why))
    if heldout_seen:
        return skipped(KEY, TITLE, msg("generalisation.seen", holdout=0.2))
    start = time.perf_counter()
    np_labels = lambda y: None if y is None else y.numpy()
    i_tr, i_he = (torch.from_numpy(i) for i in class_matched_pairs(    # pairs of the same class: like with like
        np_labels(train_labels), np_labels(heldout_labels), n, int(seed) + 1, len(train), len(heldout)))
    n = len(i_tr)
    pick = lambda x, y, idx: (x[idx], None if y is None else y[idx])
    x_tr, y_tr = pick(train, train_labels, i_tr)
    x_he, y_he = pick(heldout, heldout_labels, i_he)
    if not getattr(getattr(model, "config", None), "num_classes", 0):
        y_tr = y_he = None
    bands = band_edges(diffusion.T, fractions)
    l_tr, l_he = paired_denoising_losses(model, diffusion, x_tr, x_he, y_tr, y_he, bands=bands, draws=draws,
                                         seed=seed)
    rows, flagged = [], []
    for b, (lo, hi) in enumerate(bands):
        d = (l_he[b] - l_tr[b]).flatten()
        tr, he = float(l_tr[b].mean()), float(l_he[b].mean())
        gap, se = float(d.mean()), float(d.std() / math.sqrt(d.numel()))
        rel = gap / tr if tr > 0 else math.inf
        rel_se = relative_gap_se(l_tr[b].mean(0), l_he[b].mean(0))     # per pair: its draws share its images
        row = {"band": f"t ∈ [{lo}, {hi - 1}]", "t_lo": lo, "t_hi": hi - 1, "train_loss": tr, "heldout_loss": he,
               "gap": gap, "gap_se": se, "gap_relative": rel, "gap_relative_se": rel_se,
               "gap_relative_low": rel - Z95 * rel_se, "gap_relative_high": rel + Z95 * rel_se}
        if not (math.isfinite(tr) and math.isfinite(he)):
            return CheckResult(KEY, TITLE, "fail", msg("generalisation.nonfinite"), {"per_band": rows + [row]},
                               msg("generalisation.nonfinite_rule"), msg("generalisation.nonfinite_fix"), n=n,
                               seconds=time.perf_counter() - start)
        row["flagged"] = rel > th.generalisation_gap_warn and gap > 3 * se
        rows.append(row)
        if row["flagged"]:
            flagged.append(row)
    worst = max(rows, key=lambda r: r["gap_relative"])
    numbers = {"max_gap_relative": worst["gap_relative"], "max_gap_band": worst["band"],
               "low_noise_gap_relative": rows[0]["gap_relative"], "n_per_split": n, "draws": draws,
               "per_band": rows}
    rule = msg("generalisation.rule", gap=th.generalisation_gap_warn)
    notes = [msg("generalisation.note_sizes", n=n, draws=draws), msg("generalisation.note_low_noise")]
    if flagged:
        where = [msg("generalisation.band_interval", band=r["band"], gap=r["gap_relative"],
                     low=r["gap_relative_low"], high=r["gap_relative_high"]) for r in flagged]
        key = "generalisation.warn_low" if flagged[0] is rows[0] else "generalisation.warn"
        return CheckResult(KEY, TITLE, "warn", msg(key, where=where), numbers, rule,
                           FIX, n=n, notes=notes, seconds=time.perf_counter() - start)
    summary = msg("generalisation.ok_interval", gap=worst["gap_relative"], band=worst["band"],
                  gap_low=worst["gap_relative_low"], gap_high=worst["gap_relative_high"], low=rows[0]["gap_relative"])
    return CheckResult(KEY, TITLE, "ok", summary, numbers, rule, None, n=n, notes=notes,
                       seconds=time.perf_counter() - start)


def generalisation_on_splits(model, diffusion: GaussianDiffusion, splits, *, n: int = 128, draws: int = 2,
                             seed: int = 0, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                             real_reason: Optional[Text] = None) -> CheckResult:
    """check_generalisation on a RealSplits (the data cut as the model was trained), or skipped without one."""
    if splits is None:
        return check_generalisation(model, diffusion, None, None, thresholds=thresholds, real_reason=real_reason)
    if splits.trained_on in ("all", "none"):      # told: every reference image seen, or none of them
        return skipped(KEY, TITLE, msg("split.reference_all_skip" if splits.trained_on == "all"
                                       else "split.reference_none_skip"))
    held = splits.heldout
    r = check_generalisation(model, diffusion, splits.reference.images, None if held is None else held.images,
                             splits.reference.labels, None if held is None else held.labels, n=n, draws=draws,
                             seed=seed, heldout_seen=splits.heldout_seen, thresholds=thresholds,
                             real_reason=real_reason or (splits.notes or None))
    if r.verdict != "skip":
        r.notes += splits.notes
    return splits.said(r)
