"""Intervals on the comparisons with real data (diagnostics.intervals), KID beside its class-matched floor, and
the one rule by which a target is met."""
import dataclasses

import numpy as np
import pytest

from diagnostics import intervals as iv
from diagnostics.intervals import Interval, proportion_interval, target_verdict
from diagnostics.kid import mmd2_unbiased


# ---- the rule -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("low, high, verdict", [(0.9, 1.49, "met"), (1.2, 1.51, "not resolved"), (1.49, 1.6, "not resolved"),
                                                (1.51, 2.0, "not met"), (1.0, 1.5, "not resolved")])
def test_a_target_at_most_t_is_met_only_below_the_interval_upper_end(low, high, verdict):
    assert target_verdict(Interval(1.3, low, high), 1.5) == verdict


@pytest.mark.parametrize("low, high, verdict", [(0.981, 0.995, "met"), (0.97, 0.99, "not resolved"),
                                                (0.95, 0.979, "not met")])
def test_a_target_at_least_t_mirrors_it(low, high, verdict):
    assert target_verdict(Interval(0.98, low, high), 0.98, at_most=False) == verdict


def test_without_an_interval_nothing_is_met_and_the_reason_is_said():
    no = Interval(1.1, reason="40 samples; an interval needs at least 50")
    assert target_verdict(no, 1.5) == "not resolved" and not no.known
    assert no.describe() == "1.10 (no interval: 40 samples; an interval needs at least 50)"


def test_proportion_interval_is_scipys_wilson_interval():
    from scipy.stats import binomtest
    ci = proportion_interval(992, 1000)
    ref = binomtest(992, 1000).proportion_ci(0.95, method="wilson")
    assert (ci.estimate, ci.low, ci.high) == (0.992, pytest.approx(ref.low), pytest.approx(ref.high))
    assert target_verdict(ci, 0.98, at_most=False) == "met"                         # 0.984 … 0.996
    assert target_verdict(proportion_interval(99, 100), 0.98, at_most=False) == "not resolved"   # n too small to say


# ---- the resample arithmetic equals the sets it stands for ---------------------------------------------------------
def test_weighted_statistics_equal_those_of_the_gathered_resample():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    w = iv._weights(rng, 30)
    idx = np.repeat(np.arange(30), w.astype(int))                 # the resample as a set with repeated rows
    mu, cov = iv._stats(x, w)
    assert np.allclose(mu, x[idx].mean(0)) and np.allclose(cov, np.cov(x[idx], rowvar=False))
    y = rng.normal(size=(20, 4))
    wy = iv._weights(rng, 20)
    idy = np.repeat(np.arange(20), wy.astype(int))
    from diagnostics.kid import polynomial_kernel
    k = polynomial_kernel(np.vstack([x, y]), np.vstack([x, y]))
    kxx, kyy, kxy = k[:30, :30], k[30:, 30:], k[:30, 30:]
    via_weights = iv._within(kxx, w) + iv._within(kyy, wy) - 2 * float(w @ kxy @ wy / (w.sum() * wy.sum()))
    assert via_weights == pytest.approx(mmd2_unbiased(x[idx], y[idy]), rel=1e-9)


def test_class_resamples_keep_the_class_counts_and_the_floor_set_repeats_alike():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), [10, 20, 30])
    w = iv._weights(rng, 60, labels, np.array([4, 5, 6]), None)
    assert [int(w[labels == c].sum()) for c in range(3)] == [4, 5, 6]
    assert [int((w[labels == c] > 0).sum()) <= k for c, k in enumerate([4, 5, 6])] == [True] * 3   # drawn from k distinct
    distinct = iv._without_repeats(rng, 60, labels, np.array([4, 5, 6]), 15)
    assert set(np.unique(distinct)) <= {0.0, 1.0} and [int(distinct[labels == c].sum()) for c in range(3)] == [4, 5, 6]


# ---- KID against its floor ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def balanced_real_sets(digits, extractor):
    """Disjoint class-balanced sets of real held-out digits (5 per class) and the rest of the held-out split, which
    plays the held-out split of the floor: real images a perfect generator would make, with a cycling sampler's
    class counts."""
    from diagnostics.metrics import sample_quality
    train, held = digits
    lab = held.labels.numpy()
    rng = np.random.default_rng(0)
    parts, rest = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(lab == c))
        parts.append(members[:15])
        rest.append(members[15:])
    floor_split = dataclasses.replace(held, images=held.images[np.sort(np.concatenate(rest))],
                                      labels=held.labels[np.sort(np.concatenate(rest))])
    out = []
    for i in range(3):
        idx = np.concatenate([p[i * 5:(i + 1) * 5] for p in parts])
        out.append(sample_quality(held.images[idx], held.labels[idx], train, floor_split, extractor, seed=i))
    return out


def test_class_balanced_real_sets_score_below_zero_kid_but_at_their_floor(balanced_real_sets):
    kids = [q.kid.kid for q in balanced_real_sets]
    excess = [q.kid_excess for q in balanced_real_sets]
    # raw KID calls these real images "better than perfect": below 0, each by more than its floor's spread / 5
    assert all(k < 0 for k in kids) and all(q.kid_floor.kid < 0 for q in balanced_real_sets)
    # against the floor drawn with the same class counts they are where real data is: every interval holds 0, and
    # the estimates sit far closer to 0 than the raw KIDs do
    assert all(e.known and e.low < 0 < e.high for e in excess), [e.describe() for e in excess]
    assert abs(np.mean([e.estimate for e in excess])) < 0.2 * abs(np.mean(kids))
    # and FID / floor's interval holds 1
    assert all(q.fid_ratio.low < 1 < q.fid_ratio.high for q in balanced_real_sets)
    assert "KID − floor" in balanced_real_sets[0].comparisons() and "95% interval" in balanced_real_sets[0].comparisons()


def test_fid_ratio_and_kid_excess_see_a_worse_generator(digits, extractor, balanced_real_sets):
    """The same sets with noise added (a generator that is off): the ratio's interval lies above 1, KID's above 0."""
    import torch
    from diagnostics.metrics import sample_quality
    train, held = digits
    q0 = balanced_real_sets[0]
    lab = held.labels.numpy()
    idx = np.concatenate([np.flatnonzero(lab == c)[:5] for c in range(10)])
    g = torch.Generator().manual_seed(0)
    noisy = (held.images[idx] + 0.5 * torch.randn(held.images[idx].shape, generator=g)).clamp(-1, 1)
    q = sample_quality(noisy, held.labels[idx], train, held, extractor, seed=0)
    assert q.fid_ratio.low > 1 and q.kid_excess.low > 0 and q.fid_ratio.estimate > 2 * q0.fid_ratio.estimate


def test_below_fifty_samples_no_interval_is_computed_and_the_report_says_why(digits, extractor):
    from diagnostics.metrics import sample_quality
    train, held = digits
    q = sample_quality(held.images[:40], held.labels[:40], train, held, extractor, seed=0)
    assert not q.fid_ratio.known and str(q.fid_ratio.reason) == "40 samples; an interval needs at least 50"
    assert "no interval: 40 samples" in q.comparisons()
    assert target_verdict(q.fid_ratio, 100.0) == "not resolved"


def test_within_class_diversity_interval_holds_1_for_real_images_and_sees_a_collapse(digits):
    import torch
    from diagnostics.checks.images import within_class_interval
    train, held = digits
    lab = held.labels
    real = within_class_interval(held.images, train.images, lab, train.labels)
    assert real.known and real.low < 1 < real.high and abs(real.estimate - 1) < 0.15
    collapsed = held.images.clone()
    for c in range(10):                                    # each class: its first image, faintly perturbed
        members = torch.nonzero(lab == c).flatten()
        collapsed[members] = held.images[members[0]] + 0.01 * torch.randn_like(held.images[members])
    low = within_class_interval(collapsed, train.images, lab, train.labels)
    assert low.high < 0.1 and target_verdict(low, 0.9, at_most=False) == "not met"
    few = within_class_interval(held.images[:40], train.images, lab[:40], train.labels)
    assert not few.known and "40 samples" in str(few.reason)


def _gauss(rng, n, d=8, shift=0.0, scale=1.0):
    return rng.standard_normal((n, d)) * scale + shift


def test_paired_ratio_of_a_set_with_itself_is_exactly_one_with_no_spread():
    """Pairing: both sets are redrawn with the same indices, so a sampler against itself never moves."""
    rng = np.random.default_rng(0)
    ref, a = _gauss(rng, 300), _gauss(rng, 200, shift=0.3)
    labels = np.arange(200) % 4
    r = iv.paired_fid_ratio(ref, a, a.copy(), labels, 1.0, resamples=50)
    assert r.known and r.low == pytest.approx(1.0) and r.high == pytest.approx(1.0)
    assert r.method.key == "interval.bootstrap_paired"


def test_paired_ratio_separates_a_worse_sampler_that_shares_the_starts():
    """b and worse share their 'starts' and differ by a shift. The paired interval of
    FID(worse)/FID(b) lies above 1 and holds its estimate."""
    from diagnostics.fid import frechet_distance
    rng = np.random.default_rng(1)
    ref, starts = _gauss(rng, 400), _gauss(rng, 200)
    b, worse = starts + 0.1, starts + 0.4
    fd = lambda x: frechet_distance(ref.mean(0), np.cov(ref, rowvar=False), x.mean(0), np.cov(x, rowvar=False))
    est = fd(worse) / fd(b)
    r = iv.paired_fid_ratio(ref, worse, b, None, est, resamples=100, seed=3)
    assert r.estimate == est and r.low > 1.0 and r.low < est < r.high


def test_paired_ratio_refuses_unpaired_sets_and_gives_no_interval_below_fifty():
    rng = np.random.default_rng(2)
    ref = _gauss(rng, 100)
    with pytest.raises(ValueError, match="same images"):
        iv.paired_fid_ratio(ref, _gauss(rng, 60), _gauss(rng, 61), None, 1.0)
    r = iv.paired_fid_ratio(ref, _gauss(rng, 40), _gauss(rng, 40), None, 1.2)
    assert not r.known and r.reason.key == "interval.too_few"
