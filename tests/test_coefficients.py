"""Tests for ddpm.coefficients: the typed per-step table equals the float64 tensors it is derived from, the
clean-image entry, λ_t, and the one ε / x̂_0 / v conversion (float coefficients and tensor coefficients agree,
each parameterisation round-trips, and the equations hold for x_t built from known x_0 and ε)."""
import math

import numpy as np
import pytest
import torch

from ddpm.coefficients import NoiseLevel, output_from, split_output
from ddpm.diffusion import DiffusionConfig, GaussianDiffusion

F64 = torch.float64


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_table_equals_float64_tensors(schedule):
    d = GaussianDiffusion(DiffusionConfig(schedule=schedule, T=100))
    q = d.float64
    table = d.coefficients
    assert len(table) == 100
    fields = {"beta": "betas", "alpha_bar": "alphas_cumprod", "alpha_bar_prev": "alphas_cumprod_prev",
              "alpha": "sqrt_alphas_cumprod", "sigma": "sqrt_one_minus_alphas_cumprod",
              "posterior_variance": "posterior_variance",
              "posterior_log_variance_clipped": "posterior_log_variance_clipped",
              "posterior_mean_coef1": "posterior_mean_coef1", "posterior_mean_coef2": "posterior_mean_coef2"}
    for field, name in fields.items():
        assert table.column(field) == q[name].tolist(), field        # the same float64 numbers, exactly
    for t in (0, 37, 99):
        c = table.at(t)
        assert c.t == t and isinstance(c.alpha, float)
        # λ_t = log α_t − log σ_t = ½ log SNR_t (Lu et al. 2022 §2)
        assert c.lam == pytest.approx(0.5 * math.log(q["snr"][t].item()), rel=1e-12)
        assert c.alpha ** 2 + c.sigma ** 2 == pytest.approx(1.0, abs=1e-15)
    assert all(a > b for a, b in zip(table.column("alpha_bar"), table.column("alpha_bar")[1:]))


def test_clean_entry_and_range():
    table = GaussianDiffusion(DiffusionConfig(T=10)).coefficients
    c = table.at(-1)
    assert (c.t, c.alpha, c.sigma, c.alpha_bar, c.lam) == (-1, 1.0, 0.0, 1.0, math.inf)
    for bad in (10, -2, 1000):
        with pytest.raises(IndexError, match=r"timestep .* outside \[0, 10\)"):
            table.at(bad)


def test_sigma_ratio_round_trip():
    for s in (1e-3, 0.5, 1.0, 80.0):
        lvl = NoiseLevel.from_sigma_ratio(s)
        assert lvl.sigma_ratio == pytest.approx(s, rel=1e-14)
        assert lvl.alpha ** 2 + lvl.sigma ** 2 == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_conversion_equations_and_round_trip(objective):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 3, 3, generator=g, dtype=F64) * 2 - 1
    eps = torch.randn(4, 1, 3, 3, generator=g, dtype=F64)
    d = GaussianDiffusion(DiffusionConfig(schedule="cosine", T=1000, objective=objective), dtype=F64)
    t = torch.tensor([0, 10, 500, 998])
    alpha, sigma = d.alpha_sigma(t, x0)
    x_t = alpha * x0 + sigma * eps                                    # forward process, written out here
    out = {"eps": eps, "x0": x0, "v": alpha * eps - sigma * x0}[objective]
    assert torch.allclose(output_from(objective, eps, x0, alpha, sigma), out, rtol=0, atol=1e-12)
    back = split_output(objective, out, x_t, alpha, sigma)
    torch.testing.assert_close(back.eps, eps, rtol=0, atol=1e-8)
    torch.testing.assert_close(back.pred_xstart, x0, rtol=0, atol=1e-8)
    # the tensor path (t per sample) and the float path (one t for the batch) are the same function
    for i, ti in enumerate(t.tolist()):
        one = d.split_model_output_at(out[i:i + 1], x_t[i:i + 1], ti)
        torch.testing.assert_close(one.eps, back.eps[i:i + 1], rtol=0, atol=1e-12)
        torch.testing.assert_close(one.pred_xstart, back.pred_xstart[i:i + 1], rtol=0, atol=1e-12)


def test_unknown_objective():
    x = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unknown objective 'score'; choose from \['eps', 'v', 'x0'\]"):
        split_output("score", x, x, 1.0, 0.0)
    with pytest.raises(ValueError, match="unknown objective"):
        output_from("score", x, x, 1.0, 0.0)


def test_table_matches_numpy_reference():
    # ᾱ, √ᾱ and the posterior coefficients recomputed with numpy from the linear betas (Ho et al. eq. 7)
    b = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - b)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    c = GaussianDiffusion(DiffusionConfig()).coefficients
    for t in (0, 1, 500, 999):
        ct = c.at(t)
        assert ct.alpha_bar == pytest.approx(ab[t], rel=1e-12)
        assert ct.posterior_mean_coef1 == pytest.approx(b[t] * np.sqrt(ab_prev[t]) / (1 - ab[t]), rel=1e-12)
        assert ct.posterior_mean_coef2 == pytest.approx((1 - ab_prev[t]) * np.sqrt(1 - b[t]) / (1 - ab[t]), rel=1e-12)
