"""The sampler doctor's measurements against their equations: x_t drawn from the forward process sits on its
marginal's second moment (δ_t within its standard error), an inflated path is found where it starts, and the grey-
pixel share counts the middle band."""
import math

import pytest
import torch

from ddpm import GaussianDiffusion
from diagnostics.sampler_doctor import exposure_curve, grey_pixels, score_error_onset


def _forward_frames(x0: torch.Tensor, ab: torch.Tensor, ts, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([ab[t].sqrt() * x0 + (1 - ab[t]).sqrt() * torch.randn(x0.shape, generator=g, dtype=x0.dtype)
                        for t in ts])


def test_forward_draws_sit_on_the_forward_marginal():
    ab = GaussianDiffusion().alphas_cumprod.double()
    g = torch.Generator().manual_seed(1)
    x0 = torch.where(torch.rand(4000, 1, 4, 4, generator=g, dtype=torch.float64) < 0.3, 1.0, -1.0)   # binary data
    ts = [999, 700, 400, 100, 10, 0]
    c = exposure_curve(_forward_frames(x0, ab, ts), ts, ab, x0)
    m2 = 1.0                                                   # E[x0²] of ±1 data
    assert c.forward == pytest.approx([float(ab[t] * m2 + 1 - ab[t]) for t in ts], abs=1e-12)
    z = [d / se for d, se in zip(c.delta, c.standard_error)]
    assert max(abs(v) for v in z) < 4.0                          # unbiased: within noise at every t
    assert max(c.standard_error) < 0.01
    assert score_error_onset(c) is None


def test_an_inflated_path_is_caught_from_where_it_leaves_the_marginal():
    ab = GaussianDiffusion().alphas_cumprod.double()
    x0 = torch.where(torch.rand(2000, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64) < .5,
                     1.0, -1.0)
    ts = [999, 700, 400, 100, 10, 0]
    frames = _forward_frames(x0, ab, ts)
    frames[3:] *= 1.1                                         # from t = 100 on, 10% too large: δ = 1.1² − 1 = 0.21
    c = exposure_curve(frames, ts, ab, x0)
    assert c.delta[3:] == pytest.approx([0.21] * 3, abs=0.03) and abs(c.delta[2]) < 0.02
    assert score_error_onset(c) == 100
    frames[-1] /= 1.1                                         # back on the marginal at the end: no onset
    assert score_error_onset(exposure_curve(frames, ts, ab, x0)) is None


def test_exposure_curve_refuses_what_it_cannot_measure():
    ab = GaussianDiffusion().alphas_cumprod
    with pytest.raises(ValueError, match="at least 2 samples"):
        exposure_curve(torch.zeros(2, 1, 1, 4, 4), [5, 0], ab, torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match="F = 3 timesteps"):
        exposure_curve(torch.zeros(2, 4, 1, 4, 4), [9, 5, 0], ab, torch.zeros(3, 1, 4, 4))


def test_grey_pixels_count_the_middle_band():
    real = torch.tensor([-1.0, 1.0, -1.0, 0.0]).view(1, 1, 2, 2).repeat(4, 1, 1, 1)    # 1 of 4 pixels grey
    samples = torch.tensor([-0.2, 0.3, -1.0, 0.9]).view(1, 1, 2, 2).repeat(4, 1, 1, 1)  # 2 of 4 grey
    g = grey_pixels(samples, real)
    assert (g.samples, g.real, g.excess) == (0.5, 0.25, 0.25) and g.excess_se == 0.0
    assert math.isclose(grey_pixels(samples, real, band=0.95).samples, 0.75)
    with pytest.raises(ValueError, match=r"band must be in \(0, 1\)"):
        grey_pixels(samples, real, band=1.5)
