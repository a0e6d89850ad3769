"""FID and its real-vs-real floor, with the floor's uncertainty across independent draws.

- FID (Heusel et al. 2017): fit Gaussians N(mu_r, Sigma_r), N(mu_g, Sigma_g) to the two feature sets,

      FID = ||mu_r - mu_g||^2 + Tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^{1/2})

  Covariances are unbiased (ddof = 1), as in pytorch-fid and torchmetrics.
- Real-vs-real floor: FID(n real held-out images, reference), what a perfect generator scores at n.
- Its uncertainty sigma_n: the spread of that FID across *independent* sets of n unseen images, estimated
  from disjoint subsets of the held-out split (see `floor_uncertainty`). Overlapping draws from a split
  barely larger than n share almost all their images and would report a spread near 0.

diagnostics.metrics re-exports everything here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import linalg

from ddpm.messages import MessageError
from .text import Message, Text, msg, say

# ----------------------------------------------------------------------------------------------- FID
def as_2d(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise MessageError("fid.not_2d", name=name, shape=tuple(a.shape))
    if not np.isfinite(a).all():
        raise MessageError("fid.not_finite", name=name)
    return a


def gaussian_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (mu (D,), Sigma (D, D)), Sigma unbiased (divides by N - 1)."""
    f = as_2d(feats, "features")
    if len(f) < 2:
        raise MessageError("fid.too_few", n=len(f))
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^{1/2})

    As in pytorch-fid: (sigma1 sigma2)^{1/2} by scipy.linalg.sqrtm; when it is not finite (singular
    covariances, e.g. fewer samples than feature dimensions) eps * I is added to both covariances;
    imaginary parts from round-off are dropped when small, else ValueError.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise MessageError("fid.shape_mismatch", mu1=tuple(mu1.shape), mu2=tuple(mu2.shape), sigma1=tuple(sigma1.shape),
                           sigma2=tuple(sigma2.shape))
    diff = mu1 - mu2                                                   # (D,)
    covmean = linalg.sqrtm(sigma1 @ sigma2)                            # (D, D), maybe complex
    if not np.isfinite(covmean).all() or (np.iscomplexobj(covmean)
                                          and not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)):
        offset = np.eye(d) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if max_imag > 1e-3:
            raise MessageError("fid.imaginary", imag=max_imag)
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(a, b, eps: float = 1e-6) -> float:
    """FID between two feature sets a (N1, D) and b (N2, D); see frechet_distance."""
    a, b = as_2d(a, "a"), as_2d(b, "b")
    if a.shape[1] != b.shape[1]:
        raise MessageError("metrics.dims_differ", a=a.shape[1], b=b.shape[1])
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    return frechet_distance(mu1, s1, mu2, s2, eps=eps)


# ----------------------------------------------------------------------------------------------- floor
FLOOR_DRAWS = 10             # held-out draws the floor averages over (when n is below the held-out size)


def fid_number(x: float) -> Message:
    """FID-like numbers: 2 decimals below 10 (the small feature network gives FIDs well below 1 for real
    images), 1 decimal above; formatted by the renderer."""
    return msg("num.fid_small" if abs(x) < 10 else "num.fid_large", x=x)


def fid_text(x: float) -> str:
    return say(fid_number(x))


@dataclass(frozen=True)
class FloorUncertainty:
    """sigma_n of the floor across independent draws of n unseen images, and how it was estimated."""
    std: Optional[float]     # None: cannot be estimated (fewer than 2 images per disjoint subset)
    subset_n: int            # images in each disjoint subset
    subsets: int             # disjoint subsets per partition (k)
    partitions: int          # random partitions pooled
    scaled: bool             # True: subsets smaller than n, sigma scaled by sqrt(subset_n / n)

    def message(self) -> Message:
        if self.std is None:
            return msg("floor.spread_unknown")
        if self.scaled:
            return msg("floor.spread_scaled", std=fid_number(self.std), m=self.subset_n)
        return msg("floor.spread", std=fid_number(self.std), k=self.subsets, m=self.subset_n)

    def describe(self) -> str:
        return say(self.message())


def random_class_counts(n: int, available: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images per class of a set of n drawn as an unconditional model's classes fall: Multinomial(n, p) with p
    the held-out split's class shares, each class capped at what it holds and the shortfall drawn from the
    classes with room (so the set has exactly n <= available.sum())."""
    available = np.asarray(available, dtype=np.int64)
    take = np.minimum(rng.multinomial(n, available / available.sum()), available)
    while take.sum() < n:
        room = available - take
        take += np.minimum(rng.multinomial(n - int(take.sum()), room / room.sum()), room)
    return take


def _disjoint(size: int, k: int, m: int, rng: np.random.Generator, labels: Optional[np.ndarray] = None,
              counts: Optional[list[np.ndarray]] = None) -> list[np.ndarray]:
    """k disjoint index sets of `size` items: m at random each, or with labels, counts[i][c] of class c in set i
    (fewer when the class runs out)."""
    if counts is None:
        perm = rng.permutation(size)
        return [np.sort(perm[i * m:(i + 1) * m]) for i in range(k)]
    parts: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in range(len(counts[0])):
        members, start = rng.permutation(np.flatnonzero(labels == c)), 0
        for i in range(k):
            parts[i].append(members[start:start + int(counts[i][c])])
            start += int(counts[i][c])
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def floor_uncertainty(ref: np.ndarray, heldout: np.ndarray, n: int, rng: np.random.Generator,
                      labels: Optional[np.ndarray] = None, used: Optional[np.ndarray] = None,
                      partitions: int = FLOOR_DRAWS) -> FloorUncertainty:
    """sigma_n = std over independent sets S of n unseen images of FID(S, reference), from disjoint subsets.

    Within a class the held-out images are an i.i.d. sample, so disjoint subsets are independent draws and the
    sample variance (ddof = 1) of their FIDs is an unbiased estimate of sigma_m^2 at their size m; it is pooled
    over `partitions` random partitions. The class mix is drawn as the floor draws it: used (K,) images per
    class in every set (class-matched floor); with labels but no `used`, Multinomial class counts per set
    (random class mix, `random_class_counts`); with neither, uniformly at random.
    - When the split holds k >= 2 disjoint sets of n, m = n: no assumption.
    - Otherwise 2 disjoint subsets of m < n (class-matched: the counts halved; random mix: m = N/3, so that two
      multinomial sets fit) give sigma_m, reported as sigma_n ~ sigma_m * sqrt(m/n): FID's noise falls
      between 1/sqrt(n) (its cross term with the fixed reference's own error) and 1/n (its quadratic terms),
      so this scaling errs on the large side.
    - With fewer than 2 images per subset: std None, cannot be estimated.
    """
    N = len(heldout)
    if used is not None:                                           # class-matched
        available = np.bincount(labels[(labels >= 0) & (labels < len(used))], minlength=len(used))
        asked = used > 0
        k = int(np.min(available[asked] // used[asked])) if asked.any() else 0
        sub_counts = used if k >= 2 else used // 2
        k, m = max(k, 2), int(sub_counts.sum())
        counts_for = lambda: [sub_counts] * k
    elif labels is not None:                                       # random class mix, as unconditional samples
        available = np.bincount(labels[labels >= 0])
        m = n if N >= 3 * n else N // 3
        k = max(2, N // (3 * m // 2)) if m == n else 2
        counts_for = lambda: [random_class_counts(m, available, rng) for _ in range(k)]
    else:
        k = N // n
        m = n if k >= 2 else N // 2
        k, counts_for = max(k, 2), (lambda: None)
    if m < 2:
        return FloorUncertainty(None, int(m), k, 0, m < n)
    variances = []
    for _ in range(partitions):
        fids = [fid_from_features(ref, heldout[idx]) for idx in _disjoint(N, k, m, rng, labels, counts_for())]
        variances.append(np.var(fids, ddof=1))
    std = math.sqrt(float(np.mean(variances))) * (math.sqrt(m / n) if m < n else 1.0)
    return FloorUncertainty(std, int(m), k, partitions, m < n)


@dataclass(frozen=True)
class FloorResult:
    fid: float               # mean FID over the draws
    n: int                   # held-out images used per draw (plays the generated set)
    n_requested: int
    n_reference: int         # training-split images used as the reference
    limited: bool            # True when the held-out split (or one of its classes) had fewer images than asked
    std: Optional[float] = None   # sigma_n across independent draws (floor_uncertainty); None: not estimable
    draws: int = 1
    class_counts: Optional[tuple[int, ...]] = None   # images per class in each draw; None: drawn at random
    uncertainty: Optional[FloorUncertainty] = None   # how std was estimated

    def message(self, heldout_name: Optional[Text] = None) -> Message:
        """e.g. "digits held-out split, n=64 with the samples' class counts, mean of 10 draws; ± 0.05: …"."""
        return msg("floor.describe", name=heldout_name or msg("floor.heldout_split"), n=self.n,
                   classes=msg("floor.class_counts") if self.class_counts is not None else "",
                   draws=msg("floor.draws", draws=self.draws) if self.draws > 1 else "",
                   spread=msg("floor.spread_part", spread=self.uncertainty.message()) if self.uncertainty else "",
                   limited=msg("floor.limited", requested=self.n_requested) if self.limited else "")

    def describe(self, heldout_name: Optional[Text] = None) -> str:
        return say(self.message(heldout_name))


def subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x[draw_indices(len(x), n, rng)]


def draw_indices(size: int, n: int, rng: np.random.Generator, labels: Optional[np.ndarray] = None,
          class_counts: Optional[np.ndarray] = None) -> np.ndarray:
    """Sorted indices of n of `size` items drawn at random without replacement (all of them when n >= size);
    with labels (size,) and class_counts (K,): class_counts[c] items of every class c (all of a class that
    has fewer)."""
    if class_counts is None:
        return np.arange(size) if n >= size else np.sort(rng.choice(size, size=n, replace=False))
    parts = []
    for c, want in enumerate(class_counts):
        members = np.flatnonzero(labels == c)
        parts.append(members if want >= len(members) else rng.choice(members, size=int(want), replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def class_matched_pairs(labels_a: Optional[np.ndarray], labels_b: Optional[np.ndarray], n: int, seed: int,
                        size_a: int, size_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (idx_a, idx_b) of up to n pairs, the k-th of each split of the same class, for a paired difference
    between two splits (training vs held-out bits/dim or denoising loss): comparing the first n images of each
    would compare different class mixes. n is shared over the classes both splits hold in proportion to the
    smaller count of each (largest remainders), capped by that count; images are drawn at random within a class.
    Without labels: n random images of each split. Each split draws from its own generator seeded alike, so two
    identical splits give identical pairs (a paired gap of exactly 0)."""
    rng_a, rng_b = np.random.default_rng(int(seed)), np.random.default_rng(int(seed))
    if labels_a is None or labels_b is None:
        n = min(int(n), size_a, size_b)
        return (np.sort(rng_a.choice(size_a, n, replace=False)), np.sort(rng_b.choice(size_b, n, replace=False)))
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    classes = np.intersect1d(labels_a, labels_b)
    cap = np.array([min((labels_a == c).sum(), (labels_b == c).sum()) for c in classes], dtype=np.int64)
    n = min(int(n), int(cap.sum()))
    share = n * cap / max(int(cap.sum()), 1)
    k = np.minimum(np.floor(share).astype(np.int64), cap)
    for i in np.argsort(-(share - k), kind="stable")[: n - int(k.sum())]:
        k[i] += 1
    idx_a, idx_b = [], []
    for c, kc in zip(classes, k):
        idx_a.append(rng_a.choice(np.flatnonzero(labels_a == c), int(kc), replace=False))
        idx_b.append(rng_b.choice(np.flatnonzero(labels_b == c), int(kc), replace=False))
    return np.concatenate(idx_a).astype(np.int64), np.concatenate(idx_b).astype(np.int64)


def real_vs_real_floor(train_feats, heldout_feats, n: int, seed: int = 0, n_reference: Optional[int] = None, *,
                       heldout_labels=None, class_counts=None, draws: int = 1) -> FloorResult:
    """FID of n real held-out images against the training split: what a perfect generator scores at n.

    The held-out split stands in for a perfect generator: n of its features are compared with the training
    split exactly as the generated samples are (the whole split by default, or subsampled to n_reference
    with the same seed). Same n, same reference, and the same class mix as the samples: the features of
    a classifier form one cluster per class, so most of an FID at small n is the noise of how many images
    of each class the set holds. A class-conditional sampler that cycles its labels has (almost) none of
    that noise, while a random draw of real images has all of it (on 16x16 digits at n=64: 0.6 with the
    samples' class counts, 2.4 drawn at random). So:

    - class_counts (K,): images per class in the generated set (its asked labels); with heldout_labels
      (N_held,), every draw takes exactly that many held-out images of each class (n must equal the sum);
    - None: drawn at random, as an unconditional generator's classes fall: with heldout_labels, each draw's
      class counts are Multinomial(n, the split's class shares) (`random_class_counts`), as independent
      samples of an unconditional model would hold; near n = N_held that mix cannot be drawn without
      repeating images, and the draws approach the split's own class counts.

    A class (or the split) with fewer images than asked gives all it has and sets `limited`: compare the
    floor with the generated FID at the floor's n and class counts then (sample_quality does). `draws`
    draws are averaged (one when every draw would take the same images); they may overlap, so their spread
    is not the floor's noise: `std` is sigma_n across independent draws (floor_uncertainty), None when it
    cannot be estimated. A generated FID can approach the floor but, beyond that, not go below it.
    """
    tr, ho = as_2d(train_feats, "train_feats"), as_2d(heldout_feats, "heldout_feats")
    if n < 2:
        raise MessageError("fid.n_small", n=n)
    if draws < 1:
        raise MessageError("fid.draws", draws=draws)
    labels = counts = None
    if class_counts is not None:
        if heldout_labels is None:
            raise MessageError("fid.counts_need_labels")
        counts = np.asarray(class_counts, dtype=np.int64).reshape(-1)
        labels = np.asarray(heldout_labels).astype(np.int64).reshape(-1)
        if len(labels) != len(ho):
            raise MessageError("fid.labels_count", n=len(labels), m=len(ho))
        if int(counts.sum()) != n or (counts < 0).any():
            raise MessageError("fid.counts_sum", n=n, counts=counts.tolist())
        available = np.bincount(labels[(labels >= 0) & (labels < len(counts))], minlength=len(counts))
        used = np.minimum(counts, available)
        limited, n_used = bool((counts > available).any()), int(used.sum())
        if n_used < 2:
            raise MessageError("fid.heldout_few", n=n_used)
        fixed = bool((used == available).all())
    else:
        limited, n_used = len(ho) < n, min(n, len(ho))
        used, fixed = None, n >= len(ho)
        if heldout_labels is not None:                     # a random class mix: Multinomial counts per draw
            labels = np.asarray(heldout_labels).astype(np.int64).reshape(-1)
            if len(labels) != len(ho):
                raise MessageError("fid.labels_count", n=len(labels), m=len(ho))
    rng = np.random.default_rng(seed)
    ref = tr if n_reference is None else subsample(tr, n_reference, rng)
    mix = (lambda: counts) if labels is None or counts is not None else (
        lambda: random_class_counts(n_used, np.bincount(labels[labels >= 0]), rng))
    fids = [fid_from_features(ref, ho[draw_indices(len(ho), n, rng, labels, mix())]) for _ in range(1 if fixed else draws)]
    unc = floor_uncertainty(ref, ho, n_used, rng, labels, used, partitions=FLOOR_DRAWS)
    return FloorResult(fid=float(np.mean(fids)), n=n_used, n_requested=int(n), n_reference=len(ref),
                       limited=limited, std=unc.std, draws=len(fids),
                       class_counts=None if used is None else tuple(int(c) for c in used), uncertainty=unc)
