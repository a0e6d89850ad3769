"""KID against torchmetrics' KernelInceptionDistance (custom feature module) and a naive double loop in float64;
FID against n recovers a known 1/n bias."""
import numpy as np
import pytest
import torch

from diagnostics.kid import fid_against_n, kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def _naive_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_formula_pair_by_pair():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.2, size=(9, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(_naive_mmd2(x, y), rel=1e-12)
    assert polynomial_kernel(x, y).shape == (7, 9)
    with pytest.raises(ValueError, match="at least 2"):
        mmd2_unbiased(x[:1], y)


def test_kid_matches_torchmetrics():
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):      # the "images" are already feature vectors
        num_features = 6

        def forward(self, x):
            return x

    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 6)), rng.normal(0.3, 1.1, size=(40, 6))
    tm = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=40, normalize=True)
    tm.update(torch.from_numpy(real), real=True)
    tm.update(torch.from_numpy(fake), real=False)
    mean, std = tm.compute()
    # one subset holding every image: the permutation cannot matter, so the two must agree exactly
    ours = kernel_inception_distance(real, fake, subsets=1, subset_size=40)
    assert ours.kid == pytest.approx(float(mean), rel=1e-9) and ours.std == 0.0 == float(std)
    # many subsets: the same estimator, so the means agree within the subsets' spread
    tm = KernelInceptionDistance(feature=Identity(), subsets=200, subset_size=20, normalize=True)
    tm.update(torch.from_numpy(real), real=True)
    tm.update(torch.from_numpy(fake), real=False)
    mean, _ = tm.compute()
    ours = kernel_inception_distance(real, fake, subsets=200, subset_size=20)
    assert abs(ours.kid - float(mean)) < 3 * ours.std / np.sqrt(200) * 2 and ours.std > 0


def test_kid_is_unbiased_where_fid_is_not():
    from diagnostics.fid import fid_from_features
    rng = np.random.default_rng(2)
    real = rng.normal(size=(2000, 4))
    # 400 independent sets of 12 images from the real distribution itself: KID's mean is 0 within its standard
    # error, FID's is far above 0 (its bias at small n)
    kids, fids = [], []
    for s in range(400):
        fake = rng.normal(size=(12, 4))
        kids.append(kernel_inception_distance(real, fake, subsets=1, subset_size=12, seed=s).kid)
        fids.append(fid_from_features(real, fake))
    se = np.std(kids) / np.sqrt(len(kids))
    assert abs(np.mean(kids)) < 3 * se
    assert np.mean(fids) > 10 * np.std(fids) / np.sqrt(len(fids))
    assert "subsets of" in kernel_inception_distance(real, real[:50]).describe()


def test_fid_against_n_recovers_the_bias():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(3000, 4))
    fake = rng.normal(0.5, 1.0, size=(800, 4))           # FID_∞ = ‖Δμ‖² = 4·0.25 = 1
    curve = fid_against_n(ref, fake, draws=8)
    assert curve.n == [100, 200, 400, 800]
    assert curve.fid_mean[0] > curve.fid_mean[-1]        # biased upwards at small n
    assert curve.fid_infinity == pytest.approx(1.0, abs=0.15) and curve.bias_coef > 0
    assert curve.n_stable == int(np.ceil(curve.bias_coef / (0.05 * curve.fid_infinity)))
    short = fid_against_n(ref, fake[:30])
    assert short.fid_infinity is None and "3 or more" in str(short.notes[0])


def test_quality_check_reports_kid_beside_fid(digits, extractor):
    from diagnostics.checks import check_sample_quality
    train, held = digits
    fake = held.images[:80]                                  # real unseen images stand in for samples
    r = check_sample_quality(fake, held.labels[:80], train, held, extractor)
    kid = r.numbers["kid"]
    assert kid["subset_size"] == 40 and kid["subsets"] == 100 and kid["std"] > 0       # half of each set: both vary
    assert "KID" in str(r.summary) and "KID" in str(r.numbers["captions"]["kid"])
    assert r.numbers["fid_curve"]["n"] == [10, 20, 40, 80] and "FID(n)" in str(r.numbers["captions"]["fid_curve"])
