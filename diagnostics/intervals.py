"""Intervals on the report's comparisons with real data, and the one rule by which a target is met.

A sample-quality number means something only beside what real data scores at the same n, reference and class mix
(the real-vs-real floor), and only with its noise. Two comparisons get a 95% interval here, from one bootstrap
that redraws every set that was sampled:

- FID / floor: FID(generated, reference) over the floor FID(held-out draw, reference);
- KID − floor: KID(generated, reference) − KID(held-out draw, reference), KID's unbiased MMD² (diagnostics.kid).

A third, `paired_fid_ratio`, compares two samplers run from the same starts (FID_a / FID_b, e.g. a 10-call sampler
against DDPM over all T steps): its resamples draw one set of image indices for both.

Each of B resamples draws, with replacement, the generated set (within each asked class, so its class counts
stay those of the samples), the reference set, and a held-out set of the samples' class counts from the held-out
split (a fresh set of that many distinct held-out images, itself then resampled with replacement, so that it
repeats images exactly as often as the resampled generated set does). The held-out set of a resample is a single
draw, while the point estimate averages several, so the spread errs on the wide side.

The interval is the bootstrap's standard interval (Efron & Tibshirani 1993, ch. 13.2): the point estimate ± 1.96
times the resampled values' standard deviation, on the log scale for the ratio. Not their percentiles: the images
a bootstrap set repeats raise both FIDs by about the same amount, which pulls the resampled ratio toward 1 when the
floor is small (on the MNIST model at n = 1,000, floor 0.08, the resampled ratios sat well below the measured one),
so their spread is a fair measure of the noise and their location is not.

The rule (`target_verdict`): a target "x ≤ t" is met when the interval's upper end is below t, not met when its
lower end is above t, and not resolved when the interval straddles t (mirrored for "x ≥ t"). A binomial share
(conditional accuracy) takes its Wilson interval (`proportion_interval`). Below MIN_INTERVAL_N samples no
interval is computed and the reason is kept instead of a number.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
from scipy.stats import norm

from ddpm.messages import MessageError

from .text import Message, Text, msg, say

MIN_INTERVAL_N = 50          # fewer samples than this: no interval (too few for the bootstrap to mean much)
RESAMPLES = 200              # bootstrap resamples
LEVEL = 0.95

MET, NOT_MET, NOT_RESOLVED = "met", "not met", "not resolved"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval (low, high), or with the reason there is none."""
    estimate: float
    low: Optional[float] = None
    high: Optional[float] = None
    level: float = LEVEL
    method: Text = ""             # how the interval was made, a Message
    reason: Optional[Text] = None  # why there is no interval (then low = high = None), a Message

    @property
    def known(self) -> bool:
        return self.low is not None and self.high is not None

    def as_dict(self) -> dict:
        return asdict(self)

    def message(self, spec: str = ".2f") -> Message:
        """"1.23 (95% interval 1.01–1.50)" or "1.23 (no interval: why)", numbers in the format `spec`."""
        if not self.known:
            return msg("interval.none", estimate=self.estimate, fmt=spec, reason=self.reason)
        return msg("interval.known", estimate=self.estimate, fmt=spec, level=self.level, low=self.low, high=self.high)

    def describe(self, fmt: str = "{:.2f}") -> str:
        """The message in English; fmt as "{:.3g}"."""
        return say(self.message(fmt.strip("{}").lstrip(":")))


def target_verdict(value: Interval, target: float, at_most: bool = True) -> str:
    """met / not met / not resolved for a target "value ≤ target" (at_most) or "value ≥ target". Without an
    interval a target is never called met: "not resolved"."""
    if not value.known:
        return NOT_RESOLVED
    lo, hi = value.low, value.high
    if at_most:
        return MET if hi < target else NOT_MET if lo > target else NOT_RESOLVED
    return MET if lo > target else NOT_MET if hi < target else NOT_RESOLVED


def proportion_interval(successes: int, n: int, level: float = LEVEL) -> Interval:
    """The Wilson score interval of a binomial share (scipy.stats.binomtest(...).proportion_ci)."""
    from scipy.stats import binomtest
    if n < 1:
        return Interval(float("nan"), reason=msg("interval.no_samples"))
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), level, msg("interval.wilson", n=n))


def _weights(rng: np.random.Generator, size: int, labels: Optional[np.ndarray] = None,
             counts: Optional[np.ndarray] = None, n: Optional[int] = None) -> np.ndarray:
    """How many times each of `size` items is taken by one resample: first a set of n distinct items (all of them
    by default; counts[c] of class c among `labels` when given), then as many draws with replacement from that
    set. Drawn so, the held-out set behind the floor repeats images exactly as often as the resampled generated
    set does, and the bias repeats bring to FID and KID falls on both alike."""
    w = np.zeros(size)
    groups = [np.arange(size)] if labels is None or counts is None else \
        [np.flatnonzero(labels == c) for c in range(len(counts))]
    wants = [size if n is None else n] if labels is None or counts is None else [int(k) for k in counts]
    for members, k in zip(groups, wants):
        k = min(k, len(members))
        if k > 0:
            chosen = members if k == len(members) else rng.choice(members, k, replace=False)
            w[chosen] = rng.multinomial(k, np.full(k, 1.0 / k))
    return w


def _stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of the rows of x, row i taken w_i times."""
    total = w.sum()
    mu = w @ x / total
    d = x - mu
    return mu, (d * w[:, None]).T @ d / (total - 1)


def _within(k: np.ndarray, w: np.ndarray) -> float:
    """Mean of k over ordered pairs of distinct positions of the resample: (wᵀKw − Σ w_i K_ii) / (m(m−1))."""
    m = w.sum()
    return float((w @ k @ w - w @ np.diagonal(k)) / (m * (m - 1)))


def bootstrap_floor_comparisons(ref_f: np.ndarray, fake_f: np.ndarray, held_f: np.ndarray,
                                fake_labels: Optional[np.ndarray], held_labels: Optional[np.ndarray],
                                class_counts: Optional[np.ndarray], fid_ratio: float, resamples: int = RESAMPLES,
                                draws: int = 10, seed: int = 0) -> tuple[Interval, Interval]:
    """(FID / floor, KID − floor) with their bootstrap intervals (module docstring).

    class_counts: images per class of the floor's sets (the samples' asked labels), None for a random class mix;
    fid_ratio: the point estimate the report shows (FID at the floor's n over the floor). KID − floor is the
    unbiased MMD² of the whole generated set against the reference minus its mean over `draws` held-out sets of
    the samples' class counts (the same statistic the resamples compute). A resample is a vector of multiplicities
    per image, so kernels and features are computed once and a resample costs a few matrix-vector products."""
    from .fid import frechet_distance
    from .kid import polynomial_kernel
    n = len(fake_f)
    counts = None
    if class_counts is not None and fake_labels is not None and held_labels is not None:
        counts = np.asarray(class_counts, dtype=np.int64)
        avail = np.bincount(held_labels[held_labels >= 0], minlength=len(counts))
        if (avail[counts > 0] == 0).any():        # a class the held-out split lacks: draw its share at random
            counts = None
    fake_counts = None if counts is None else np.bincount(fake_labels, minlength=len(counts))
    n_floor = int(counts.sum()) if counts is not None else min(n, len(held_f))
    k_rr, k_ff, k_hh = (polynomial_kernel(a, a) for a in (ref_f, fake_f, held_f))
    k_rf, k_rh = polynomial_kernel(ref_f, fake_f), polynomial_kernel(ref_f, held_f)
    rng = np.random.default_rng(seed)
    held_labels_or_none = held_labels if counts is not None else None

    def excess(w_r: np.ndarray, w_f: np.ndarray, w_h: np.ndarray) -> float:
        """MMD²_u(reference, generated) − MMD²_u(reference, held-out); the reference's own term cancels."""
        cross = lambda k, w: float(w_r @ k @ w / (w_r.sum() * w.sum()))
        return _within(k_ff, w_f) - 2 * cross(k_rf, w_f) - _within(k_hh, w_h) + 2 * cross(k_rh, w_h)

    ones_r, ones_f = np.ones(len(ref_f)), np.ones(n)
    held_sets = [_without_repeats(rng, len(held_f), held_labels_or_none, counts, n_floor) for _ in range(draws)]
    kid_excess = float(np.mean([excess(ones_r, ones_f, w_h) for w_h in held_sets]))
    if n < MIN_INTERVAL_N:
        why = msg("interval.too_few", n=n, need=MIN_INTERVAL_N)
        return Interval(fid_ratio, reason=why), Interval(kid_excess, reason=why)
    ratios, excesses = [], []
    for _ in range(resamples):
        w_r = _weights(rng, len(ref_f))
        w_f = _weights(rng, n, fake_labels, fake_counts)
        w_h = _weights(rng, len(held_f), held_labels_or_none, counts, n_floor)
        s_r, s_f, s_h = _stats(ref_f, w_r), _stats(fake_f, w_f), _stats(held_f, w_h)
        ratios.append(frechet_distance(*s_r, *s_f) / max(frechet_distance(*s_r, *s_h), 1e-12))
        excesses.append(excess(w_r, w_f, w_h))
    how = msg("interval.bootstrap_classes" if counts is not None else "interval.bootstrap", resamples=resamples)
    return standard_interval(fid_ratio, ratios, how, log=True), standard_interval(kid_excess, excesses, how)


def paired_fid_ratio(ref_f: np.ndarray, a_f: np.ndarray, b_f: np.ndarray, labels: Optional[np.ndarray],
                     estimate: float, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """FID(a) / FID(b), both against the reference ref_f, for two sample sets whose image i started from the same
    x_T with the same label (two samplers of one sweep), with a paired bootstrap interval: each resample redraws the
    reference and ONE set of image indices (within each class when labels are given) that both sets use, so the
    noise the sets share (their starts, their class mix) cancels in the ratio. estimate: the ratio shown (the two
    FIDs as the sweep computed them); the interval is the standard one on the log scale (module docstring)."""
    from .fid import frechet_distance
    n = len(a_f)
    if len(b_f) != n or (labels is not None and len(labels) != n):
        raise MessageError("interval.unpaired", n=n, m=len(b_f))
    if n < MIN_INTERVAL_N:
        return Interval(estimate, reason=msg("interval.too_few", n=n, need=MIN_INTERVAL_N))
    labels = None if labels is None else np.asarray(labels, dtype=np.int64)
    counts = None if labels is None else np.bincount(labels)
    rng, ratios = np.random.default_rng(seed), []
    for _ in range(resamples):
        w_r, w = _weights(rng, len(ref_f)), _weights(rng, n, labels, counts)
        s_r = _stats(ref_f, w_r)
        ratios.append(frechet_distance(*s_r, *_stats(a_f, w)) / max(frechet_distance(*s_r, *_stats(b_f, w)), 1e-12))
    how = msg("interval.bootstrap_paired", resamples=resamples)
    return standard_interval(estimate, ratios, how, log=True)


def standard_interval(estimate: float, resampled, method: Text, log: bool = False) -> Interval:
    """The bootstrap's standard interval: estimate ± z·sd(resampled values), on the log scale for a ratio (log=True).
    The resampled values give the spread only; their centre may be biased (module docstring)."""
    z = float(norm.ppf((1 + LEVEL) / 2))
    values = np.log(np.maximum(np.asarray(resampled, dtype=np.float64), 1e-12)) if log else np.asarray(resampled)
    spread = float(np.std(values, ddof=1))
    if log:
        return Interval(estimate, estimate * math.exp(-z * spread), estimate * math.exp(z * spread), LEVEL, method)
    return Interval(estimate, estimate - z * spread, estimate + z * spread, LEVEL, method)


def _without_repeats(rng: np.random.Generator, size: int, labels: Optional[np.ndarray],
                     counts: Optional[np.ndarray], n: int) -> np.ndarray:
    """0/1 multiplicities of a set of n distinct items (counts[c] of class c among `labels` when given)."""
    w = np.zeros(size)
    if labels is None or counts is None:
        w[rng.choice(size, min(n, size), replace=False)] = 1
        return w
    for c, k in enumerate(counts):
        members = np.flatnonzero(labels == c)
        if k > 0 and len(members):
            w[rng.choice(members, min(int(k), len(members)), replace=False)] = 1
    return w
