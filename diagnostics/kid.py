"""Kernel Inception Distance and FID against n: sample-quality numbers that say how far a small n can be trusted.

- KID (Bińkowski et al. 2018, eq. 3): the unbiased estimate of the squared MMD between the real and generated
  feature distributions with the polynomial kernel k(a, b) = (aᵀb/d + 1)³ (d = feature dimension),

      MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/m² Σ_{i,j} k(x_i, y_j),

  averaged over `subsets` random subsets of m images of each set; its ± is the standard deviation over the
  subsets (as Bińkowski et al. and torchmetrics report it). m defaults to half the smaller set, so that every
  subset redraws both sets and the ± carries the noise of both. Unlike FID it has no bias in n: its expected
  value does not depend on m. But 0 is what a perfect generator scores only when its class mix is drawn as the
  reference's is: a set with exactly as many images of each class (a class-conditional sampler cycling its
  labels) scores below 0 even when its images are real (digits, 500 held-out images, 50 per class: about −0.6).
  So the report sets KID beside its floor, the KID of real held-out images with the samples' class counts
  (diagnostics.metrics), and gives KID − floor an interval (diagnostics.intervals).
- FID against n: FID is biased upwards by roughly c/n (Chong & Forsyth 2020), so the FID of random subsets of
  the samples at several n is fitted with FID(n) = FID_∞ + c/n; FID_∞ is the extrapolated value and n_stable the
  n at which the bias c/n falls to 5% of FID_∞: how many samples a stable FID needs for this model.

Features are numpy float64 (N, D), as diagnostics.metrics uses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ddpm.messages import MessageError
from .fid import as_2d, fid_from_features
from .text import Message, msg, say

STABLE_BIAS = 0.05          # n_stable: the n at which the fitted bias c/n is this share of FID_∞


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(a, b) = (aᵀb/d + coef0)^degree for every row pair: (m, d), (n, d) -> (m, n)."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² of two feature sets (m, d) and (n, d), m, n ≥ 2, polynomial kernel (module docstring)."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise MessageError("kid.too_few", m=m, n=n)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2 * k_xy.mean())


@dataclass
class KIDResult:
    kid: float                     # mean MMD²_u over the subsets
    std: float                     # standard deviation over the subsets (the ± to quote)
    subsets: int
    subset_size: int               # m: images of each set per subset
    n_real: int
    n_generated: int

    def message(self) -> Message:
        return msg("kid.describe", kid=self.kid, std=self.std, subsets=self.subsets, m=self.subset_size,
                   n_generated=self.n_generated, n_real=self.n_real)

    def describe(self) -> str:
        return say(self.message())


def kernel_inception_distance(real_feats, fake_feats, subsets: int = 100, subset_size: Optional[int] = None,
                              seed: int = 0) -> KIDResult:
    """KID of generated vs real features, over `subsets` subsets of m of each, drawn without replacement within a
    subset (torchmetrics' KernelInceptionDistance draws them the same way); m = min(subset_size, N_real, N_fake),
    and by default half the smaller set (at most 1000), so that the subsets vary both sets."""
    x, y = as_2d(real_feats, "real_feats"), as_2d(fake_feats, "fake_feats")
    if x.shape[1] != y.shape[1]:
        raise MessageError("kid.dims_differ", real=x.shape[1], generated=y.shape[1])
    if subsets < 1:
        raise MessageError("kid.subsets", subsets=subsets)
    m = min(int(subset_size), len(x), len(y)) if subset_size else max(2, min(1000, len(x) // 2, len(y) // 2))
    rng = np.random.default_rng(seed)
    scores = [mmd2_unbiased(x[rng.permutation(len(x))[:m]], y[rng.permutation(len(y))[:m]]) for _ in range(subsets)]
    return KIDResult(float(np.mean(scores)), float(np.std(scores)), int(subsets), m, len(x), len(y))


@dataclass
class FIDCurve:
    """FID of random subsets of the samples against the whole reference, at several n, and its 1/n fit."""
    n: list[int]
    fid_mean: list[float]
    fid_std: list[float]           # over the draws at each n (0 at the full n: one set)
    draws: int
    fid_infinity: Optional[float]  # FID_∞ of the fit FID(n) = FID_∞ + c/n; None when fewer than 3 n
    bias_coef: Optional[float]     # c
    n_stable: Optional[int]        # n with c/n = 5% of FID_∞ (None when not estimable)
    notes: list[Message] = field(default_factory=list)

    def message(self) -> Message:
        if self.fid_infinity is None:
            return msg("kid.curve_none", notes=self.notes)
        stable = (msg("kid.stable_n", bias=STABLE_BIAS, n=self.n_stable) if self.n_stable
                  else msg("kid.bias_unknown"))
        return msg("kid.curve", fid_inf=self.fid_infinity, c=self.bias_coef, lo=self.n[0], hi=self.n[-1],
                   stable=stable)

    def describe(self) -> str:
        return say(self.message())


def fid_against_n(ref_feats, fake_feats, ns: Optional[Sequence[int]] = None, draws: int = 5,
                  seed: int = 0) -> FIDCurve:
    """FID at several n (default: N/8, N/4, N/2, N of the N generated, those ≥ 10) and the fit FID_∞ + c/n."""
    ref, fake = as_2d(ref_feats, "ref_feats"), as_2d(fake_feats, "fake_feats")
    N = len(fake)
    ns = sorted({int(k) for k in (ns or (N // 8, N // 4, N // 2, N)) if 10 <= int(k) <= N})
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for k in ns:
        vals = [fid_from_features(ref, fake[rng.permutation(N)[:k]]) for _ in range(1 if k == N else draws)]
        means.append(float(np.mean(vals)))
        stds.append(float(np.std(vals)))
    curve = FIDCurve(ns, means, stds, draws, None, None, None)
    if len(ns) < 3:
        curve.notes.append(msg("kid.curve_too_few", n=N, k=len(ns)))
        return curve
    design = np.stack([np.ones(len(ns)), 1.0 / np.asarray(ns, dtype=np.float64)], axis=1)
    (f_inf, c), *_ = np.linalg.lstsq(design, np.asarray(means), rcond=None)
    curve.fid_infinity, curve.bias_coef = float(f_inf), float(c)
    if f_inf > 0 and c > 0:
        curve.n_stable = int(math.ceil(c / (STABLE_BIAS * f_inf)))
    else:
        curve.notes.append(msg("kid.curve_no_bias"))
    return curve
