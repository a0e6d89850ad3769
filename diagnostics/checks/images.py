"""What the samples look like beside real images: smoothness (Sobel edge energy: blurred or noisy?) and
diversity (pairwise distance and per-pixel spread: mode collapse?)."""
from __future__ import annotations

import math
import time
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..intervals import MIN_INTERVAL_N, RESAMPLES, Interval, standard_interval
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Text, msg
from .result import CheckResult, histograms, nonfinite_samples, skipped, title_of, to_float


# ------------------------------------------------------------------------------------------- smoothness
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
_SOBEL_Y = _SOBEL_X.transpose(2, 3).contiguous()


def edge_energy(images: Tensor) -> Tensor:  # (N,) float32
    """Per-image mean Sobel gradient magnitude, per channel then averaged over channels (seed
    `compute_high_freq_energy`, which takes grey images; for grey, or RGB with R = G = B, the two agree). Per channel
    because an edge between two colours of equal channel mean (red beside green) vanishes in the channel mean.

    images: (N, C, H, W) in [-1, 1]. Borders are padded by replication, not zeros: zero padding would draw an
    artificial edge around every dark-background image.
    """
    x = images.detach().float().cpu()
    n, c = x.shape[:2]
    padded = F.pad(x.reshape(n * c, 1, *x.shape[2:]), (1, 1, 1, 1), mode="replicate")     # (N·C, 1, H+2, W+2)
    gx, gy = F.conv2d(padded, _SOBEL_X), F.conv2d(padded, _SOBEL_Y)
    return torch.sqrt(gx ** 2 + gy ** 2).reshape(n, -1).mean(1)


SIDE_MIN_SHARE = 0.05     # a tail counts as a finding of its own from 5% of the samples (real images: 1% per tail)


def beyond_real_tail(share: float, n: int, real_share: float = 0.01) -> bool:
    """Whether `share` of n samples beyond one of the real images' 1st / 99th percentiles is more than chance: at
    least SIDE_MIN_SHARE, and above n·p + 3·√(n·p·(1 − p)) samples, p = real_share (a binomial count's 3σ)."""
    p = real_share
    return share >= SIDE_MIN_SHARE and share * n > n * p + 3 * math.sqrt(n * p * (1 - p))


def check_smoothness(generated: Tensor, real: Optional[Tensor], bins: int = 20,
                     thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: Optional[Text] = None) -> CheckResult:
    """Sobel edge (high-frequency) energy of generated vs real images and their ratio (seed `diagnose_smoothness`).

    generated, real: (N, C, H, W) in [-1, 1], same C, H, W.
    """
    th = thresholds
    key, title = "smoothness", title_of("smoothness")
    if real is None or len(real) == 0:
        return skipped(key, title, msg("smooth.needs_real_why", why=real_reason) if real_reason
                       else msg("smooth.needs_real"))
    if tuple(real.shape[1:]) != tuple(generated.shape[1:]):
        return skipped(key, title, msg("common.shapes_differ", real=str(tuple(real.shape[1:])),
                                       samples=str(tuple(generated.shape[1:]))))
    if (bad := nonfinite_samples(key, title, generated)) is not None:
        return bad
    start = time.perf_counter()
    e_gen, e_real = edge_energy(generated), edge_energy(real)
    gen, ref = to_float(e_gen.mean()), to_float(e_real.mean())
    ratio = gen / ref if ref > 0 else float("inf")
    q_lo, q_hi = torch.quantile(e_real, 0.01), torch.quantile(e_real, 0.99)
    frac_noisy, frac_blurred = to_float((e_gen > q_hi).float().mean()), to_float((e_gen < q_lo).float().mean())
    numbers = {"generated_edge_energy": gen, "real_edge_energy": ref, "ratio": ratio,
               "frac_noisier_than_real_p99": frac_noisy, "frac_smoother_than_real_p1": frac_blurred,
               "real_p1": to_float(q_lo), "real_p99": to_float(q_hi),
               "histogram": histograms(bins, generated=e_gen, real=e_real)}
    rule = msg("smooth.rule", low=th.smooth_ratio_warn, high=th.smooth_ratio_high_warn,
               outside=th.smooth_outlier_frac_warn, real=0.02, side=SIDE_MIN_SHARE)
    outside = frac_blurred + frac_noisy
    values = dict(ratio=ratio, gen=gen, ref=ref, blurred=frac_blurred, noisy=frac_noisy)
    off = ratio < th.smooth_ratio_warn or ratio > th.smooth_ratio_high_warn or outside > th.smooth_outlier_frac_warn
    numbers["both_sides"] = both = off and all(beyond_real_tail(f, len(generated)) for f in (frac_blurred, frac_noisy))
    if both:              # some samples blurred, others noisy: the mean ratio hides both, so name both
        verdict, summary, fix = "warn", msg("smooth.both", **values), msg("smooth.both_fix")
    elif ratio < th.smooth_ratio_warn or (outside > th.smooth_outlier_frac_warn and frac_blurred >= frac_noisy):
        verdict, summary, fix = "warn", msg("smooth.blurred", **values), msg("smooth.blurred_fix")
    elif off:
        verdict, summary, fix = "warn", msg("smooth.noisy", **values), msg("smooth.noisy_fix")
    else:
        verdict, summary, fix = "ok", msg("smooth.ok", **values), None
    return CheckResult("smoothness", title, verdict, summary, numbers, rule, fix, n=len(generated),
                       notes=[msg("smooth.note", n=len(generated), real=len(real))], seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- diversity
def pairwise_rms_distance(images: Tensor, max_images: int = 1000) -> float:
    """Mean L2 distance over all pairs of different images, divided by √(C·H·W): an RMS distance per pixel
    (the seed's `pairwise_l2_distance`, made comparable across image sizes). images: (N, C, H, W)."""
    x = images.detach().float().cpu().flatten(1)[:max_images]
    n = len(x)
    if n < 2:
        return float("nan")
    d = torch.cdist(x.double(), x.double())
    return float(d.sum() / (n * (n - 1))) / math.sqrt(x.shape[1])


def within_class_interval(generated: Tensor, real: Tensor, gen_labels: Tensor, real_labels: Tensor,
                          resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean over classes of (mean pairwise distance of the samples of a class) / (that of its real images, at
    most 500), with the bootstrap standard interval of diagnostics.intervals: each resample redraws the samples and
    the real images within each class (distances computed once; a resample is a vector of multiplicities)."""
    mats = []
    for c in sorted(set(gen_labels.tolist())):
        g_c, r_c = generated[gen_labels == c], real[real_labels == c][:500]
        if len(g_c) >= 2 and len(r_c) >= 2:
            mats.append(tuple(torch.cdist(x.detach().double().cpu().flatten(1), x.detach().double().cpu().flatten(1))
                              .numpy() for x in (g_c, r_c)))
    pw = lambda d, w: float(w @ d @ w) / (w.sum() * (w.sum() - 1))      # mean over pairs of distinct positions
    ratio = lambda ws: float(np.mean([pw(dg, wg) / pw(dr, wr) for (dg, dr), (wg, wr) in zip(mats, ws)]))
    ones = [(np.ones(len(dg)), np.ones(len(dr))) for dg, dr in mats]
    estimate = ratio(ones)
    n = int(sum(len(dg) for dg, _ in mats))
    if n < MIN_INTERVAL_N:
        return Interval(estimate, reason=msg("interval.too_few", n=n, need=MIN_INTERVAL_N))
    rng = np.random.default_rng(seed)
    draw = lambda k: rng.multinomial(k, np.full(k, 1.0 / k)).astype(np.float64)
    resampled = [ratio([(draw(len(dg)), draw(len(dr))) for dg, dr in mats]) for _ in range(resamples)]
    return standard_interval(estimate, resampled, msg("interval.bootstrap_within_class", resamples=resamples),
                             log=True)


def pixel_std(images: Tensor) -> float:
    """Mean over pixels of the std across images (seed `_check_sampling_quality`). images: (N, C, H, W)."""
    if len(images) < 2:
        return float("nan")
    return to_float(images.detach().float().cpu().std(dim=0).mean())


def check_diversity(generated: Tensor, real: Optional[Tensor] = None, gen_labels: Optional[Tensor] = None,
                    real_labels: Optional[Tensor] = None, class_names: Optional[Sequence[str]] = None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: Optional[Text] = None) -> CheckResult:
    """Mean pairwise L2 (as RMS per pixel) and mean per-pixel std across samples, against the same statistics of
    real images, overall and per class for a conditional model (mode collapse; seed exercise 3.5.3).

    generated: (N, C, H, W) in [-1, 1]; real: (M, C, H, W) or None; labels (N,), (M,) long or None.
    """
    th = thresholds
    start = time.perf_counter()
    n = len(generated)
    if n < 2:
        return skipped("diversity", title_of("diversity"), msg("diversity.needs_two"))
    if (bad := nonfinite_samples("diversity", title_of("diversity"), generated)) is not None:
        return bad
    gen_pw, gen_std = pairwise_rms_distance(generated), pixel_std(generated)
    numbers: dict[str, Any] = {"generated_pairwise_rms": gen_pw, "generated_pixel_std": gen_std,
                               "generated_pairwise_l2": gen_pw * math.sqrt(generated[0].numel())}
    notes = [msg("diversity.note_n", n=n)]
    per_class = []
    have_real = real is not None and len(real) >= 2 and tuple(real.shape[1:]) == tuple(generated.shape[1:])
    if have_real:
        real_pw, real_std = pairwise_rms_distance(real), pixel_std(real)
        numbers.update(real_pairwise_rms=real_pw, real_pixel_std=real_std,
                       pairwise_ratio=gen_pw / real_pw if real_pw > 0 else float("inf"),
                       pixel_std_ratio=gen_std / real_std if real_std > 0 else float("inf"))
        notes.append(msg("diversity.note_real", n=len(real)))
        if gen_labels is not None and real_labels is not None:
            for c in sorted(set(gen_labels.tolist())):
                g_c, r_c = generated[gen_labels == c], real[real_labels == c][:500]
                if len(g_c) < 2 or len(r_c) < 2:
                    continue
                g_pw, r_pw = pairwise_rms_distance(g_c), pairwise_rms_distance(r_c)
                per_class.append({"class": class_names[c] if class_names and c < len(class_names) else str(c),
                                  "n": len(g_c), "generated_pairwise_rms": g_pw, "real_pairwise_rms": r_pw,
                                  "ratio": g_pw / r_pw if r_pw > 0 else float("inf"),
                                  "generated_pixel_std": pixel_std(g_c), "real_pixel_std": pixel_std(r_c)})
            if per_class:
                numbers["per_class"] = per_class
                numbers["min_class_ratio"] = min(r["ratio"] for r in per_class)
                within = within_class_interval(generated, real, gen_labels, real_labels)
                numbers["within_class_ratio"] = within.as_dict()
                notes.append(msg("diversity.note_within", ratio=within.message(".2f")))
    elif real_reason:
        notes.append(msg("diversity.note_no_real", why=real_reason))
    if have_real:
        overall = min(numbers["pairwise_ratio"], numbers["pixel_std_ratio"])
        low = min([overall] + [r["ratio"] for r in per_class])
        rule = msg("diversity.rule", fail=th.diversity_ratio_fail, warn=th.diversity_ratio_warn,
                   high=th.diversity_ratio_high_warn)
    else:
        overall = low = float("nan")
        rule = msg("diversity.rule_no_real", fail=th.diversity_abs_fail)
    where = None
    if per_class and low < overall:
        worst = min(per_class, key=lambda r: r["ratio"])
        where = msg("diversity.worst_class", cls=str(worst["class"]), ratio=worst["ratio"])
    collapse_fix = msg("diversity.collapse_fix")
    fix = None
    if (have_real and low < th.diversity_ratio_fail) or (not have_real and gen_pw < th.diversity_abs_fail):
        verdict, fix = "fail", collapse_fix
        summary = (msg("diversity.collapse_real", pw=gen_pw, ratio=overall, where=where or "") if have_real
                   else msg("diversity.collapse", pw=gen_pw))
    elif have_real and low < th.diversity_ratio_warn:
        verdict, fix = "warn", collapse_fix
        summary = msg("diversity.less", ratio=overall, where=where or "")
    elif have_real and max(numbers["pairwise_ratio"], numbers["pixel_std_ratio"]) > th.diversity_ratio_high_warn:
        verdict, fix = "warn", msg("diversity.more_fix")       # either spread: pairwise distance or pixel std
        summary = msg("diversity.more", pw=numbers["pairwise_ratio"], std=numbers["pixel_std_ratio"])
    else:
        verdict = "ok"
        summary = (msg("diversity.ok", pw=numbers["pairwise_ratio"], std=numbers["pixel_std_ratio"], where=where or "")
                   if have_real else msg("diversity.ok_no_real", pw=gen_pw))
    return CheckResult("diversity", title_of("diversity"), verdict, summary, numbers, rule, fix, n=n,
                       notes=notes, seconds=time.perf_counter() - start)
