"""The variational bound and bits/dim (ddpm.likelihood) against their equations in float64: the Gaussian KL
against its closed form and a numerical integral, the discretised decoder against scipy's integral of the
Gaussian over every bin, L_T against its closed form, and bits/dim against an independent per-image loop."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from ddpm import DiffusionConfig, GaussianDiffusion, SamplingDefaults, make_betas
from ddpm.likelihood import (discretized_gaussian_log_likelihood, model_log_variance, normal_kl, prior_bpd,
                             quantize_8bit, timestep_noise, vlb_terms, vlb_timesteps)

F64 = torch.float64


def test_normal_kl_matches_closed_form_and_integral():
    m1, v1, m2, v2 = 0.3, 0.5, -0.4, 1.7
    got = normal_kl(*(torch.tensor(v, dtype=F64) for v in (m1, math.log(v1), m2, math.log(v2)))).item()
    closed = math.log(math.sqrt(v2 / v1)) + (v1 + (m1 - m2) ** 2) / (2 * v2) - 0.5
    p, q = stats.norm(m1, math.sqrt(v1)), stats.norm(m2, math.sqrt(v2))
    numeric, _ = integrate.quad(lambda u: p.pdf(u) * (p.logpdf(u) - q.logpdf(u)), -np.inf, np.inf)
    assert got == pytest.approx(closed, rel=1e-12)
    assert got == pytest.approx(numeric, rel=1e-8)
    same = normal_kl(torch.tensor(0.2, dtype=F64), torch.tensor(-1.0, dtype=F64),
                     torch.tensor(0.2, dtype=F64), torch.tensor(-1.0, dtype=F64))
    assert same.item() == 0.0


@pytest.mark.parametrize("mean,sigma", [(0.0, 0.5), (0.37, 0.01), (-0.98, 0.003), (0.9, 2.0), (3.0, 0.05)])
def test_discretized_decoder_matches_integral_over_each_bin(mean, sigma):
    levels = torch.arange(256, dtype=F64) / 127.5 - 1                       # the 8-bit grid of [−1, 1]
    got = discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=F64),
                                              torch.tensor(math.log(sigma), dtype=F64))
    dist = stats.norm(mean, sigma)
    for k in (0, 1, 100, 127, 128, 200, 254, 255):
        x = levels[k].item()
        lo = -np.inf if k == 0 else x - 1 / 255
        hi = np.inf if k == 255 else x + 1 / 255
        # the mass of the bin, integrated directly (quad over the pdf; the tails through the survival function)
        if k == 0:
            mass = dist.cdf(hi)
        elif k == 255:
            mass = dist.sf(lo)
        else:
            mass, _ = integrate.quad(dist.pdf, lo, hi, epsabs=0, epsrel=1e-12, points=[mean] if lo < mean < hi else None)
        if mass > 1e-200:
            assert got[k].item() == pytest.approx(math.log(mass), rel=1e-7, abs=1e-9), k
    assert torch.logsumexp(got, 0).item() == pytest.approx(0.0, abs=1e-9)      # the 256 bins hold all the mass


def test_decoder_far_tail_is_finite_and_accurate():
    x = torch.tensor([0.5], dtype=F64)
    got = discretized_gaussian_log_likelihood(x, torch.tensor([-0.5], dtype=F64), torch.tensor([math.log(0.02)], dtype=F64))
    lo, hi = (0.5 - 1 / 255 + 0.5) / 0.02, (0.5 + 1 / 255 + 0.5) / 0.02
    expected = stats.norm.logsf(lo) + math.log(-math.expm1(stats.norm.logsf(hi) - stats.norm.logsf(lo)))
    assert math.isfinite(got.item()) and got.item() == pytest.approx(expected, rel=1e-9)


def test_prior_term_matches_closed_form():
    diff = GaussianDiffusion(DiffusionConfig(schedule="linear", T=1000), dtype=F64)
    x = torch.rand(3, 1, 4, 4, dtype=F64) * 2 - 1
    ab = diff.float64["alphas_cumprod"][-1].item()
    # ½(v + m² − 1 − log v) with v = 1 − ᾱ_T, m = √ᾱ_T x_0, written without cancellation: v − 1 − log v = −ᾱ − log1p(−ᾱ)
    closed = (0.5 * (ab * x ** 2 - ab - math.log1p(-ab))).flatten(1).mean(1) / math.log(2)
    assert torch.allclose(prior_bpd(diff, x), closed, rtol=1e-9, atol=0)


def test_quantize_8bit_puts_values_on_the_grid():
    x = torch.linspace(-1.2, 1.2, 1001, dtype=F64)
    q = quantize_8bit(x)
    k = (q + 1) * 127.5
    assert torch.allclose(k, k.round(), atol=1e-9) and q.min() == -1 and q.max() == 1
    assert (q - x.clamp(-1, 1)).abs().max() <= 1 / 255 + 1e-12


class _ToyModel(torch.nn.Module):
    """A smooth, deterministic stand-in for a network: ε̂ = a(t) x_t + b tanh(3 x_t)."""

    def forward(self, x_t, t):
        a = 0.5 + 0.4 * torch.cos(t.to(x_t.dtype) / 7.0)
        return a.view(-1, 1, 1, 1) * x_t + 0.2 * torch.tanh(3 * x_t)


class _ToyLearnedModel(_ToyModel):
    """The same ε̂, plus a variance output v = 1.2 sin(x_t + t/5) (beyond [−1, 1] at times): 2C channels."""

    def forward(self, x_t, t):
        v = 1.2 * torch.sin(x_t + t.to(x_t.dtype).view(-1, 1, 1, 1) / 5.0)
        return torch.cat([super().forward(x_t, t), v], 1)


def _independent_bpd(betas: np.ndarray, x0: np.ndarray, model, seed: int, variance: str) -> np.ndarray:
    """−log p(x_0) bound per image, bits/dim, written straight from Ho et al. eq. 5, 7, 13 with numpy/scipy (float64),
    one image and one timestep at a time, clipping x̂_0 to [−1, 1]."""
    T = len(betas)
    alphas = 1 - betas
    ab = np.cumprod(alphas)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    B, D = x0.shape[0], x0[0].size
    total = np.zeros(B)
    # L_T: KL(N(√ᾱ_T x_0, 1 − ᾱ_T) ‖ N(0, 1))
    m, v = np.sqrt(ab[-1]) * x0, 1 - ab[-1]
    total += (0.5 * (v + m ** 2 - 1 - np.log(v))).reshape(B, -1).sum(1)
    post_var = betas * (1 - ab_prev) / (1 - ab)
    for t in range(T):
        eps = timestep_noise(x0.shape, seed, t, F64).numpy()
        x_t = np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * eps
        out = model(torch.from_numpy(x_t), torch.full((B,), t)).numpy()
        eps_hat, v = out[:, :x0.shape[1]], out[:, x0.shape[1]:]
        x0_hat = np.clip((x_t - np.sqrt(1 - ab[t]) * eps_hat) / np.sqrt(ab[t]), -1, 1)
        c1, c2 = np.sqrt(ab_prev[t]) * betas[t] / (1 - ab[t]), np.sqrt(alphas[t]) * (1 - ab_prev[t]) / (1 - ab[t])
        mu_model = c1 * x0_hat + c2 * x_t
        if variance == "fixed_small":
            var_model = np.full(x0.shape, post_var[1] if t == 0 else post_var[t])
        elif variance == "fixed_large":
            var_model = np.full(x0.shape, post_var[1] if t == 0 else betas[t])
        else:               # Nichol & Dhariwal eq. 15 between log β_t and log β̃_t (β̃_1 at t = 0), per pixel
            frac = (v + 1) / 2
            var_model = np.exp(frac * np.log(betas[t]) + (1 - frac) * np.log(post_var[1] if t == 0 else post_var[t]))
        for i in range(B):
            if t == 0:      # −log ∫ N(u; μ, σ²) over each pixel's bin, edge bins open
                lo = np.where(x0[i] < -0.999, -np.inf, x0[i] - 1 / 255)
                hi = np.where(x0[i] > 0.999, np.inf, x0[i] + 1 / 255)
                d = stats.norm(mu_model[i], np.sqrt(var_model[i]))
                total[i] -= np.log(d.cdf(hi) - d.cdf(lo)).sum()
            else:           # KL(N(μ̃, β̃_t) ‖ N(μ_θ, σ_t²))
                mu_true = c1 * x0[i] + c2 * x_t[i]
                total[i] += (0.5 * np.log(var_model[i] / post_var[t]) + (post_var[t] + (mu_true - mu_model[i]) ** 2)
                             / (2 * var_model[i]) - 0.5).sum()
    return total / (D * math.log(2))


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large", "learned_range"])
def test_bits_per_dim_equals_independent_computation(variance):
    T = 30
    diff = GaussianDiffusion(DiffusionConfig(schedule="linear", T=T), dtype=F64)
    x0 = quantize_8bit(torch.rand(4, 1, 3, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 2.2 - 1.1)
    model = _ToyLearnedModel() if variance == "learned_range" else _ToyModel()
    res = vlb_terms(model, diff, x0, stride=1, seed=5, variance=variance)
    expected = _independent_bpd(make_betas("linear", T).numpy(), x0.numpy(), model, 5, variance)
    assert res.timesteps == list(range(T)) and res.interpolation_bound == 0.0 and sum(res.weights) == T
    np.testing.assert_allclose(res.total.numpy(), expected, rtol=1e-9)
    assert res.mean == pytest.approx(expected.mean(), rel=1e-9)
    # the decoder term is the t = 0 column; every term is non-negative
    assert torch.equal(res.decoder, res.terms[:, 0]) and (res.terms >= 0).all() and (res.prior >= 0).all()
    if variance == "learned_range":  # the model's own variance by default: learned for a learned-variance model
        own = GaussianDiffusion(diff.config, dtype=F64, sampling_defaults=SamplingDefaults(variance="learned_range"))
        assert torch.equal(vlb_terms(model, own, x0, seed=5).total, res.total)
        assert vlb_terms(model, diff, x0, seed=5).variance == "fixed_small"
        with pytest.raises(ValueError, match="does not learn its variance"):
            vlb_terms(_ToyModel(), diff, x0, seed=5, variance="learned_range")


def test_stride_estimate_within_its_stated_bound():
    T = 200
    diff = GaussianDiffusion(DiffusionConfig(schedule="cosine", T=T), dtype=F64)
    x0 = quantize_8bit(torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=F64) * 2 - 1)
    model = lambda x_t, t: 0.9 * x_t                                     # smooth in t
    full = vlb_terms(model, diff, x0, stride=1, seed=0)
    for stride in (3, 10, 40):
        est = vlb_terms(model, diff, x0, stride=stride, seed=0)
        assert est.timesteps[0] == 0 and est.timesteps[-1] == T - 1 and sum(est.weights) == pytest.approx(T)
        assert est.interpolation_bound > 0 and est.notes
        assert abs(est.mean - full.mean) <= est.interpolation_bound, (stride, est.mean, full.mean)
        # the same t gets the same noise whatever the stride: the evaluated columns agree exactly
        cols = [full.timesteps.index(t) for t in est.timesteps]
        assert torch.equal(est.terms, full.terms[:, cols])


def test_model_log_variance_tables():
    diff = GaussianDiffusion(DiffusionConfig(T=100), dtype=F64)
    q = diff.float64
    x = torch.zeros(3, 1, 2, 2, dtype=F64)
    t = torch.tensor([0, 1, 99])
    small = model_log_variance(diff, t, x, "fixed_small")[:, 0, 0, 0]
    large = model_log_variance(diff, t, x, "fixed_large")[:, 0, 0, 0]
    post = q["posterior_variance"]
    assert torch.allclose(small.exp(), torch.stack([post[1], post[1], post[99]]), rtol=1e-12)
    assert torch.allclose(large.exp(), torch.stack([post[1], q["betas"][1], q["betas"][99]]), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown variance"):
        model_log_variance(diff, t, x, "learned")


def test_bad_strides_refused_with_reason():
    assert vlb_timesteps(10, 1) == list(range(10))
    assert vlb_timesteps(10, 4) == [0, 1, 2, 3, 4, 8, 9]
    assert vlb_timesteps(1000, 32)[:34] == list(range(33)) + [64] and vlb_timesteps(1000, 32)[-2:] == [992, 999]
    with pytest.raises(ValueError, match="larger than the model's 9 KL timesteps"):
        vlb_timesteps(10, 10)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            vlb_timesteps(1000, bad)
    diff = GaussianDiffusion(DiffusionConfig(T=1000), dtype=F64)
    with pytest.raises(ValueError, match="not on the 8-bit grid"):
        vlb_terms(lambda x, t: x, diff, torch.full((1, 1, 2, 2), 0.1234, dtype=F64), stride=500, quantize=False)
