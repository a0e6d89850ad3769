"""Colour: what a grey-scale check cannot see. The RGB mean and covariance of the samples' pixels against the real
data's (a Fréchet distance between two 3-D Gaussians), the HSV saturation of their pixels (a Wasserstein-1
distance between the two distributions), each beside its real-vs-real floor: the same distance for held-out real
images, drawn with the samples' class counts, against the same reference. Per channel: mean, spread, range and
histogram, samples beside real images. Grey models are skipped, saying so.

    r = check_colour(samples, labels, splits.reference, splits.heldout)      # ImageDatasets in [-1, 1]
    r.numbers["colour_distance"], r.numbers["colour_floor"], r.numbers["per_channel"]
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..text import Message, msg, sentences
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, Findings, nonfinite_samples, skipped

KEY, TITLE = "colour", "Colour (RGB statistics, saturation)"     # the title as check.colour.title reads in English
CHANNELS = ("red", "green", "blue")
SATURATION_BINS = 256          # W1 is computed on this many bins of [0, 1]: within 1/256 of the exact distance
PLOT_BINS = 32                 # histograms kept in the numbers for the report's plots
MAX_REFERENCE = 5000           # reference images the statistics are computed on (a seeded subset beyond that)


@dataclass(frozen=True)
class ColourStats:
    """Pixel colour statistics of a weighted set of RGB images (a weight per image; weights sum to 1)."""
    mean: np.ndarray            # (3,) float64: RGB mean in [0, 1]
    cov: np.ndarray             # (3, 3) float64: RGB covariance over pixels
    saturation_hist: np.ndarray  # (SATURATION_BINS,) float64: share of pixels per saturation bin of [0, 1]
    channel_hist: np.ndarray    # (3, PLOT_BINS) float64: share of pixels per value bin of [0, 1], per channel
    mean_saturation: float      # the pixels' mean HSV saturation


def to_unit_rgb(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, 3, H·W) float64 in [0, 1], clamped (a sample is shown clipped)."""
    x = images.detach().to("cpu", torch.float64).clamp(-1, 1)
    return ((x + 1) / 2).flatten(2).numpy()


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation S = (max − min) / max of each pixel (0 where max = 0, black). rgb: (N, 3, P) -> (N, P)."""
    hi, lo = rgb.max(axis=1), rgb.min(axis=1)
    return np.divide(hi - lo, hi, out=np.zeros_like(hi), where=hi > 0)


@dataclass(frozen=True)
class ImageColours:
    """Each image's own pixel statistics, from which the statistics of any weighted set of them follow by weighted
    sums (so the floor's many draws cost no pass over pixels)."""
    mean: np.ndarray            # (N, 3): mean RGB of each image's pixels
    second: np.ndarray          # (N, 3, 3): mean of the outer products rgb rgbᵀ over each image's pixels
    saturation_hist: np.ndarray  # (N, SATURATION_BINS): share of each image's pixels per saturation bin
    channel_hist: np.ndarray    # (N, 3, PLOT_BINS): share of each image's pixels per value bin, per channel
    mean_saturation: np.ndarray  # (N,)

    def __getitem__(self, idx) -> "ImageColours":
        return ImageColours(self.mean[idx], self.second[idx], self.saturation_hist[idx], self.channel_hist[idx],
                            self.mean_saturation[idx])

    def pooled(self, weights: Optional[np.ndarray] = None) -> ColourStats:
        """The pixel statistics of the set, image i weighted by weights[i] (default equal; normalised)."""
        n = len(self.mean)
        w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        mean = w @ self.mean
        cov = np.einsum("n,nij->ij", w, self.second) - np.outer(mean, mean)    # E[x xᵀ] − μ μᵀ
        return ColourStats(mean, cov, w @ self.saturation_hist, np.einsum("n,ncb->cb", w, self.channel_hist),
                           float(w @ self.mean_saturation))


def _shares(values: np.ndarray, bins: int) -> np.ndarray:
    """values (N, P) in [0, 1] -> (N, bins): the share of each row's values in each of `bins` equal bins."""
    n, p = values.shape
    b = np.minimum((values * bins).astype(np.int64), bins - 1) + bins * np.arange(n)[:, None]
    return np.bincount(b.ravel(), minlength=n * bins).reshape(n, bins) / p


def image_colours(images: Tensor) -> ImageColours:
    """Per-image statistics of images (N, 3, H, W) in [-1, 1]."""
    rgb = to_unit_rgb(images)                                                  # (N, 3, P)
    p = rgb.shape[-1]
    sat = saturation(rgb)                                                      # (N, P)
    chan = np.stack([_shares(rgb[:, c], PLOT_BINS) for c in range(3)], axis=1)  # (N, 3, PLOT_BINS)
    return ImageColours(rgb.mean(-1), rgb @ rgb.transpose(0, 2, 1) / p, _shares(sat, SATURATION_BINS), chan,
                        sat.mean(-1))


def colour_stats(images: Tensor, weights: Optional[np.ndarray] = None) -> ColourStats:
    """Weighted pixel statistics of images (N, 3, H, W) in [-1, 1]; weights (N,) (default equal) are normalised."""
    return image_colours(images).pooled(weights)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def colour_distance(a: ColourStats, b: ColourStats) -> float:
    """Fréchet distance of N(μ_a, Σ_a) and N(μ_b, Σ_b):
    d² = |μ_a − μ_b|² + Tr(Σ_a + Σ_b − 2 (Σ_a^½ Σ_b Σ_a^½)^½)
    (Dowson & Landau 1982; FID's formula in 3-D). Returns d (not squared), in the units of RGB in [0, 1]."""
    ra = _sqrtm_psd(a.cov)
    cross = np.trace(_sqrtm_psd(ra @ b.cov @ ra))
    d2 = float(np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov) + np.trace(b.cov) - 2 * cross)
    return float(np.sqrt(max(d2, 0.0)))


def saturation_distance(a: ColourStats, b: ColourStats) -> float:
    """Wasserstein-1 distance of the two saturation distributions: ∫ |F_a(s) − F_b(s)| ds over the binned CDFs."""
    return float(np.abs(np.cumsum(a.saturation_hist) - np.cumsum(b.saturation_hist)).sum() / SATURATION_BINS)


def _class_weights(labels: Tensor, target: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Image weights that give `labels` the class shares `target` (K,) (None: equal weights)."""
    if target is None:
        return None
    lab = labels.numpy()
    counts = np.bincount(lab, minlength=len(target)).astype(np.float64)
    return target[lab] / np.maximum(counts[lab], 1)


def _draw_like(labels: Tensor, counts: Optional[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of n images of `labels`, with `counts` (K,) per class when given (with replacement only where a
    class has fewer images than asked), else n drawn at random (all of them when there are no more)."""
    lab = labels.numpy()
    if counts is None:
        return rng.permutation(len(lab))[:n]
    picks = []
    for c, k in enumerate(counts):
        pool = np.flatnonzero(lab == c)
        if k and len(pool):
            picks.append(rng.choice(pool, size=int(k), replace=len(pool) < k))
    return np.concatenate(picks) if picks else rng.permutation(len(lab))[:n]


@dataclass(frozen=True)
class ColourComparison:
    """Samples against the reference beside the real-vs-real floor of each distance."""
    samples: ColourStats
    reference: ColourStats
    heldout: ColourStats                 # the first floor draw (for the per-channel table)
    colour_distance: float
    colour_floor: float                  # mean over the floor draws
    colour_floor_std: float
    saturation_distance: float
    saturation_floor: float
    saturation_floor_std: float
    n_floor: int                         # held-out images per floor draw
    draws: int
    weighted: bool                       # the reference weighted, the floor drawn, to the samples' class counts


def compare_colours(generated: Tensor, gen_labels: Optional[Tensor], reference, heldout, draws: int = 20,
                    seed: int = 0) -> ColourComparison:
    """generated (N, 3, H, W) in [-1, 1], gen_labels (N,) or None; reference / heldout: ImageDataset (RGB). With
    labels (and the same classes in the reference), the reference is weighted and the held-out draws are drawn to
    the samples' class counts, so a class-balanced batch is not judged against an unbalanced data set."""
    rng = np.random.default_rng(seed)
    k = reference.num_classes
    counts = None
    if gen_labels is not None and k and int(gen_labels.max()) < k:
        counts = np.bincount(gen_labels.cpu().numpy(), minlength=k)
    ref_idx = np.sort(rng.permutation(len(reference))[:MAX_REFERENCE])
    ref = colour_stats(reference.images[ref_idx],
                       _class_weights(reference.labels[ref_idx], None if counts is None else counts / counts.sum()))
    ours = colour_stats(generated)
    held = image_colours(heldout.images)
    floors_c, floors_s, first, n_floor = [], [], None, 0
    for _ in range(max(draws, 1)):
        idx = _draw_like(heldout.labels, counts, len(generated), rng)
        st = held[idx].pooled()
        first, n_floor = first or st, len(idx)
        floors_c.append(colour_distance(st, ref))
        floors_s.append(saturation_distance(st, ref))
    return ColourComparison(ours, ref, first, colour_distance(ours, ref), float(np.mean(floors_c)),
                            float(np.std(floors_c)), saturation_distance(ours, ref), float(np.mean(floors_s)),
                            float(np.std(floors_s)), n_floor, max(draws, 1), counts is not None)


def _per_channel(generated: Tensor, heldout_images: Tensor, c: ColourComparison) -> list[dict]:
    """Per channel: mean and std over pixels (samples, reference), range of the samples, spread across images."""
    g = generated.detach().float().cpu()
    rows = []
    for i, name in enumerate(CHANNELS):
        g_std, r_std = float(g[:, i].std(0).mean()), float(heldout_images[:, i].float().std(0).mean())
        rows.append({"channel": name, "generated_mean": float(c.samples.mean[i]),
                     "real_mean": float(c.reference.mean[i]), "generated_std": float(np.sqrt(c.samples.cov[i, i])),
                     "real_std": float(np.sqrt(c.reference.cov[i, i])),
                     "generated_min": float(g[:, i].min()), "generated_max": float(g[:, i].max()),
                     "outside_range_frac": float((g[:, i].abs() > 1).float().mean()),
                     "generated_pixel_std": g_std, "real_pixel_std": r_std,
                     "pixel_std_ratio": g_std / r_std if r_std > 0 else float("inf")})
    return rows


def check_colour(generated: Tensor, gen_labels: Optional[Tensor], reference, heldout, *, draws: int = 20,
                 seed: int = 0, heldout_seen: bool = False, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                 real_reason: Optional[Message | str] = None) -> CheckResult:
    """Colour statistics of the samples against the real data, each distance beside its real-vs-real floor.

    generated: (N, C, H, W) in [-1, 1]; gen_labels: (N,) long (the asked classes) or None; reference: the training
    split, heldout: real images the model never saw (ImageDataset, or None: the floor then uses the reference).
    """
    th, start = thresholds, time.perf_counter()
    if generated.shape[1] != 3:
        return skipped(KEY, TITLE, msg("check.colour.skip_grey", channels=int(generated.shape[1])))
    if reference is None or len(reference) < 2:
        return skipped(KEY, TITLE, msg("check.colour.skip_no_real_why", why=real_reason) if real_reason
                       else msg("check.colour.skip_no_real"))
    if tuple(reference.images.shape[1:]) != tuple(generated.shape[1:]):
        return skipped(KEY, TITLE, msg("check.colour.skip_shape", real=str(tuple(reference.images.shape[1:])),
                         samples=str(tuple(generated.shape[1:]))))
    if (bad := nonfinite_samples(KEY, TITLE, generated)) is not None:
        return bad
    notes: list = []
    if heldout is None or len(heldout) < 2:
        heldout, heldout_seen = reference, True
    if heldout_seen:
        notes.append(msg("check.colour.note_floor_seen"))
    c = compare_colours(generated, gen_labels, reference, heldout, draws, seed)
    c_ratio = c.colour_distance / c.colour_floor if c.colour_floor > 0 else float("inf")
    s_ratio = c.saturation_distance / c.saturation_floor if c.saturation_floor > 0 else float("inf")
    per_channel = _per_channel(generated, heldout.images, c)
    worst = max(per_channel, key=lambda r: abs(r["generated_mean"] - r["real_mean"]))
    shift = worst["generated_mean"] - worst["real_mean"]
    sat_gen, sat_real = c.samples.mean_saturation, c.reference.mean_saturation
    edges = np.linspace(0, 1, PLOT_BINS + 1).tolist()
    numbers = {"colour_distance": c.colour_distance, "colour_floor": c.colour_floor,
               "colour_floor_std": c.colour_floor_std, "colour_ratio": c_ratio,
               "saturation_distance": c.saturation_distance, "saturation_floor": c.saturation_floor,
               "saturation_floor_std": c.saturation_floor_std, "saturation_ratio": s_ratio,
               "generated_mean_saturation": sat_gen, "real_mean_saturation": sat_real,
               "generated_rgb_mean": c.samples.mean.tolist(), "real_rgb_mean": c.reference.mean.tolist(),
               "generated_rgb_cov": c.samples.cov.tolist(), "real_rgb_cov": c.reference.cov.tolist(),
               "per_channel": per_channel, "n_floor": c.n_floor, "floor_draws": c.draws,
               "saturation_histogram": {"bin_edges": edges,
                                        "generated": c.samples.saturation_hist.reshape(PLOT_BINS, -1).sum(1).tolist(),
                                        "real": c.reference.saturation_hist.reshape(PLOT_BINS, -1).sum(1).tolist()},
               "channel_histograms": {"bin_edges": edges, "generated": c.samples.channel_hist.tolist(),
                                      "real": c.reference.channel_hist.tolist()}}
    found = Findings()
    values = dict(d=c.colour_distance, floor=c.colour_floor, ratio=c_ratio, channel=msg(f"colour.{worst['channel']}"),
                  shift=shift, sat_gen=sat_gen, sat_real=sat_real, w=c.saturation_distance, w_floor=c.saturation_floor,
                  w_ratio=s_ratio)
    for ratio, problem, fix in ((c_ratio, msg("check.colour.off", **values), msg("check.colour.fix_off")),
                                (s_ratio, *_saturation_problem(values))):
        if ratio > th.colour_ratio_warn:
            found.add("fail" if ratio > th.colour_ratio_fail else "warn", problem, fix)
    summary = sentences(found.problems) or msg("check.colour.ok", **values)
    notes.insert(0, msg("check.colour.note_n", n=len(generated), n_ref=min(len(reference), MAX_REFERENCE),
                        draws=c.draws, n_floor=c.n_floor,
                        balanced=msg("check.colour.balanced" if c.weighted else "check.colour.unbalanced")))
    rule = msg("check.colour.rule", warn=th.colour_ratio_warn, fail=th.colour_ratio_fail)
    return CheckResult(KEY, TITLE, found.verdict, summary, numbers, rule, found.fix_message(), n=len(generated),
                       notes=notes, seconds=time.perf_counter() - start)


def _saturation_problem(values: dict) -> tuple[Message, Message]:
    """(what is wrong with the saturation, what to do): washed out below the data's, oversaturated above it, or
    spread differently when the means are close (their gap under half the Wasserstein distance, which is at least
    the gap of the means): then neither word is true."""
    if abs(values["sat_gen"] - values["sat_real"]) < 0.5 * values["w"]:
        return msg("check.colour.saturation_spread", **values), msg("check.colour.fix_saturation_spread")
    if values["sat_gen"] < values["sat_real"]:
        return msg("check.colour.washed_out", **values), msg("check.colour.fix_washed_out")
    return msg("check.colour.oversaturated", **values), msg("check.colour.fix_oversaturated")
