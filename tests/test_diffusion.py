"""Tests for ddpm.diffusion in float64: every derived quantity against its SPEC §1 formula recomputed here
with numpy, the three ways of computing μ̃_t (seed 001 exercise 3.3), q_sample statistics, the ε / x_0 / v
conversions, the loss weightings and training_losses."""
import math

import numpy as np
import pytest
import torch

from ddpm.diffusion import LOSSES, OBJECTIVES, WEIGHTINGS, DiffusionConfig, GaussianDiffusion


F64 = torch.float64
SCHEDULE_CASES = [("linear", 1000), ("cosine", 1000), ("sigmoid", 50), ("quadratic", 10), ("cosine", 2)]


def _ref_betas(schedule, T):
    """The betas recomputed from their formulas (tests/test_schedules.py checks the same)."""
    scale = 1000 / T
    lo, hi = 1e-4 * scale, min(0.02 * scale, 0.999)
    if schedule == "linear":
        return np.linspace(lo, hi, T)
    if schedule == "quadratic":
        return np.linspace(math.sqrt(lo), math.sqrt(hi), T) ** 2
    if schedule == "sigmoid":
        return lo + (hi - lo) / (1 + np.exp(-np.linspace(-6, 6, T)))
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(max(1 - f(i + 1) / f(i), 1e-4), 0.9999) for i in range(T)])


def _reference_table(b):
    """SPEC §1, one numpy line per quantity."""
    a = 1 - b
    ab = np.cumprod(a)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    pv = b * (1 - ab_prev) / (1 - ab)
    return {
        "betas": b, "alphas": a, "alphas_cumprod": ab, "alphas_cumprod_prev": ab_prev,
        "sqrt_alphas_cumprod": np.sqrt(ab), "sqrt_one_minus_alphas_cumprod": np.sqrt(1 - ab),
        "log_one_minus_alphas_cumprod": np.log(1 - ab), "sqrt_recip_alphas_cumprod": 1 / np.sqrt(ab),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1 / ab - 1), "posterior_variance": pv,
        "posterior_log_variance_clipped": np.log(np.concatenate([[pv[1]], pv[1:]])),
        "posterior_mean_coef1": np.sqrt(ab_prev) * b / (1 - ab),
        "posterior_mean_coef2": np.sqrt(a) * (1 - ab_prev) / (1 - ab),
        "snr": ab / (1 - ab),
    }


def _diffusion(schedule="linear", T=1000, objective="eps"):
    return GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective), dtype=F64)


@pytest.mark.parametrize("schedule,T", SCHEDULE_CASES)
def test_derived_quantities_equal_their_formulas(schedule, T):
    d = _diffusion(schedule, T)
    ref = _reference_table(_ref_betas(schedule, T))
    assert set(ref) <= set(d.float64)
    for name, want in ref.items():
        got64 = d.float64[name]
        got = getattr(d, name)
        assert got64.dtype == F64 and got.dtype == F64 and got.shape == (T,), name
        np.testing.assert_allclose(got64.numpy(), want, rtol=1e-10, atol=1e-14, err_msg=name)
        assert torch.equal(got, got64), name
    assert d.float64["alphas_cumprod_prev"][0].item() == 1.0    # ᾱ_{-1} = 1
    assert d.float64["posterior_variance"][0].item() == 0.0     # β̃_0 = 0, hence the clipped log


def test_default_dtype_is_float32_rounded_from_float64():
    d32 = GaussianDiffusion(DiffusionConfig(schedule="cosine"))
    for name, v in d32.float64.items():
        assert v.dtype == F64
        assert getattr(d32, name).dtype == torch.float32
        assert torch.equal(getattr(d32, name), v.float()), name


def _xs(shape=(64, 2, 3, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=g, dtype=F64) * 2 - 1
    eps = torch.randn(shape, generator=g, dtype=F64)
    return x0, eps


def _all_t(T, n):
    return torch.arange(n) * (T - 1) // (n - 1) if n > 1 else torch.tensor([T - 1])


@pytest.mark.parametrize("schedule,T", SCHEDULE_CASES)
def test_three_ways_of_posterior_mean_agree(schedule, T):
    """Seed 001 exercise 3.3: μ̃_t from the true x_0, from x̂_0(x_t, ε) and from ε directly."""
    d = _diffusion(schedule, T)
    ref = _reference_table(_ref_betas(schedule, T))
    x0, eps = _xs()
    t = _all_t(T, x0.shape[0])
    x_t = d.q_sample(x0, t, eps)
    mu_true, var, log_var = d.q_posterior_mean_variance(x0, x_t, t)
    x0_hat = d.predict_xstart_from_eps(x_t, t, eps)
    mu_via_x0, _, _ = d.q_posterior_mean_variance(x0_hat, x_t, t)
    mu_via_eps = d.posterior_mean_from_eps(x_t, t, eps)
    # independent: eq. 7 and eq. 11 with numpy coefficients
    tn = t.numpy()[:, None, None, None]
    b, a, ab, abp = (ref[k][tn] for k in ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev"))
    mu_eq7 = np.sqrt(abp) * b / (1 - ab) * x0.numpy() + np.sqrt(a) * (1 - abp) / (1 - ab) * x_t.numpy()
    mu_eq11 = (x_t.numpy() - b / np.sqrt(1 - ab) * eps.numpy()) / np.sqrt(a)
    tol = dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(mu_true.numpy(), mu_eq7, **tol)
    np.testing.assert_allclose(mu_via_x0.numpy(), mu_true.numpy(), **tol)
    np.testing.assert_allclose(mu_via_eps.numpy(), mu_true.numpy(), **tol)
    np.testing.assert_allclose(mu_eq11, mu_eq7, **tol)
    np.testing.assert_allclose(x0_hat.numpy(), x0.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(var.numpy(), np.broadcast_to(ref["posterior_variance"][tn], x0.shape), rtol=1e-12)
    np.testing.assert_allclose(log_var.numpy(),
                               np.broadcast_to(ref["posterior_log_variance_clipped"][tn], x0.shape), rtol=1e-12)


def test_q_mean_variance_and_q_sample_formula():
    d = _diffusion("cosine", 100)
    ref = _reference_table(_ref_betas("cosine", 100))
    x0, eps = _xs((100, 1, 2, 2))
    t = torch.arange(100)
    tn = t.numpy()[:, None, None, None]
    mean, var, log_var = d.q_mean_variance(x0, t)
    ab = ref["alphas_cumprod"][tn]
    np.testing.assert_allclose(mean.numpy(), np.sqrt(ab) * x0.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var.numpy(), np.broadcast_to(1 - ab, x0.shape), rtol=1e-12)
    np.testing.assert_allclose(log_var.numpy(), np.broadcast_to(np.log(1 - ab), x0.shape), rtol=1e-12)
    np.testing.assert_allclose(d.q_sample(x0, t, eps).numpy(),
                               np.sqrt(ab) * x0.numpy() + np.sqrt(1 - ab) * eps.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("t_value", [0, 100, 500, 999])
def test_q_sample_empirical_moments(t_value):
    """200k draws of x_t | x_0: mean √ᾱ x_0, variance 1−ᾱ, within 5 standard errors of the estimators."""
    d = _diffusion("linear", 1000)
    n = 200_000
    x0 = torch.full((n, 1, 1, 1), 0.7, dtype=F64)
    t = torch.full((n,), t_value, dtype=torch.long)
    torch.manual_seed(1234)
    x_t = d.q_sample(x0, t).flatten().numpy()          # noise drawn inside q_sample
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[t_value]
    want_mean, want_var = math.sqrt(ab) * 0.7, 1 - ab
    se_mean = math.sqrt(want_var / n)                       # std error of a sample mean
    se_var = want_var * math.sqrt(2 / (n - 1))              # std error of a Gaussian sample variance
    assert abs(x_t.mean() - want_mean) < 5 * se_mean
    assert abs(x_t.var(ddof=1) - want_var) < 5 * se_var


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("schedule,T", [("linear", 1000), ("cosine", 1000), ("sigmoid", 10)])
def test_parameterisation_round_trips(objective, schedule, T):
    d = _diffusion(schedule, T, objective)
    x0, eps = _xs()
    t = _all_t(T, x0.shape[0])
    x_t = d.q_sample(x0, t, eps)
    out = d.model_output_from_eps(x_t, t, eps)
    # the network's target for this objective, computed here from the definitions
    sa = torch.from_numpy(np.sqrt(np.cumprod(1 - _ref_betas(schedule, T))))[t].view(-1, 1, 1, 1)
    s1m = (1 - sa ** 2).sqrt()
    want = {"eps": eps, "x0": x0, "v": sa * eps - s1m * x0}[objective]
    tol = dict(rtol=0, atol=1e-9)
    torch.testing.assert_close(out, want, **tol)
    torch.testing.assert_close(d.training_target(x0, eps, t), want, rtol=0, atol=1e-13)
    eps_back, x0_back = d.split_model_output(out, x_t, t)
    torch.testing.assert_close(eps_back, eps, **tol)
    torch.testing.assert_close(x0_back, x0, **tol)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_eps_x0_v_conversions(schedule):
    d = _diffusion(schedule, 1000)
    x0, eps = _xs()
    t = _all_t(1000, x0.shape[0])
    x_t = d.q_sample(x0, t, eps)
    ab = torch.from_numpy(np.cumprod(1 - _ref_betas(schedule, 1000)))[t].view(-1, 1, 1, 1)
    v_ref = ab.sqrt() * eps - (1 - ab).sqrt() * x0                     # Salimans & Ho 2022
    v = d.get_v(x0, eps, t)
    torch.testing.assert_close(v, v_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(d.predict_xstart_from_v(x_t, t, v), x0, rtol=0, atol=1e-12)
    torch.testing.assert_close(d.predict_eps_from_v(x_t, t, v), eps, rtol=0, atol=1e-12)
    torch.testing.assert_close(d.predict_eps_from_xstart(x_t, t, x0), eps, rtol=0, atol=1e-9)
    torch.testing.assert_close(d.predict_xstart_from_eps(x_t, t, eps), x0, rtol=0, atol=1e-9)
    assert d.predict_x0_from_eps == d.predict_xstart_from_eps     # the SPEC §2 name


def test_loss_weightings_equal_their_formulas():
    d = _diffusion("linear", 1000)
    ref = _reference_table(_ref_betas("linear", 1000))
    snr = ref["snr"]
    sigma2 = ref["posterior_variance"].copy()
    sigma2[0] = ref["betas"][0]                         # β̃_0 = 0: documented fallback σ_0² = β_0
    imp = ref["betas"] ** 2 / (2 * sigma2 * ref["alphas"] * (1 - ref["alphas_cumprod"]))
    want = {
        "simple": np.ones(1000),
        "snr": 1 / (1 + snr),
        "min_snr": np.minimum(snr, 5.0) / snr,
        "importance": imp / imp.mean(),
    }
    assert set(WEIGHTINGS) == set(want)
    for name, w in want.items():
        table = d.weighting_table(name)
        assert table.shape == (1000,) and table.dtype == torch.float32
        np.testing.assert_allclose(table.numpy(), w, rtol=2e-7, err_msg=name)
    assert d.weighting_table("importance").double().mean().item() == pytest.approx(1.0, abs=1e-6)
    # min_snr with another γ; min(SNR, γ)/SNR is 1 where SNR <= γ
    np.testing.assert_allclose(d.weighting_table("min_snr", 2.0).numpy(), np.minimum(snr, 2.0) / snr, rtol=2e-7)
    t = torch.tensor([0, 10, 999, 10])
    for name, w in want.items():
        np.testing.assert_allclose(d.loss_weights(t, name).numpy(), w[t.numpy()], rtol=2e-7)


def test_weighting_stats_are_print_ready():
    """Seed 001 §3.4.3 prints min/max/mean/std of each weighting (std is torch's unbiased std there)."""
    d = _diffusion("linear", 1000)
    snr = _reference_table(_ref_betas("linear", 1000))["snr"]
    w = 1 / (1 + snr)
    stats = d.weighting_stats("snr")
    assert set(stats) == {"min", "max", "mean", "std"}
    assert all(isinstance(v, float) for v in stats.values())
    assert stats["min"] == pytest.approx(w.min(), rel=1e-6)
    assert stats["max"] == pytest.approx(w.max(), rel=1e-6)
    assert stats["mean"] == pytest.approx(w.mean(), rel=1e-6)
    assert stats["std"] == pytest.approx(w.std(ddof=1), rel=1e-5)
    line = ", ".join(f"{k}={v:.6f}" for k, v in stats.items())
    assert "nan" not in line
    for name in WEIGHTINGS:
        s = d.weighting_stats(name)
        assert s["min"] <= s["mean"] <= s["max"] and s["std"] >= 0
    assert d.weighting_stats("simple") == {"min": 1.0, "max": 1.0, "mean": 1.0, "std": 0.0}


def test_bad_names_list_choices():
    d = _diffusion("linear", 10)
    with pytest.raises(ValueError, match=r"unknown weighting 'snr2'; choose from \["):
        d.weighting_table("snr2")
    with pytest.raises(ValueError, match="min_snr_gamma must be > 0"):
        d.weighting_table("min_snr", 0.0)
    with pytest.raises(ValueError, match=r"unknown objective 'epsilon'.*'eps'.*'v'.*'x0'"):
        DiffusionConfig(objective="epsilon")
    with pytest.raises(ValueError, match=r"unknown loss 'l2'.*'l1'.*'mse'"):
        d.training_losses(lambda x, t, y: x, torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long),
                          loss_type="l2")
    with pytest.raises(ValueError, match="unknown schedule"):
        DiffusionConfig(schedule="cosinus")
    with pytest.raises(ValueError, match="needs betas"):
        DiffusionConfig(schedule="custom")


def test_custom_config_round_trip():
    cfg = DiffusionConfig(schedule="custom", betas=[0.1, 0.2, 0.3], objective="v")
    assert cfg.T == 3 and cfg.betas == (0.1, 0.2, 0.3)
    assert DiffusionConfig.from_dict(cfg.to_dict()) == cfg
    d = GaussianDiffusion(cfg, dtype=F64)
    np.testing.assert_allclose(d.alphas_cumprod.numpy(), [0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7], rtol=1e-15)


class _Oracle(torch.nn.Module):
    """A 'network' that returns the exact training target, knowing x_0 and ε."""

    def __init__(self, d, x0, eps):
        super().__init__()
        self.d, self.x0, self.eps = d, x0, eps

    def forward(self, x_t, t, y=None):
        return self.d.model_output_from_eps(x_t, t, self.eps)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("loss_type", LOSSES)
def test_training_loss_of_exact_prediction_is_zero(objective, weighting, loss_type):
    d = _diffusion("cosine", 100, objective)
    x0, eps = _xs((8, 1, 4, 4))
    t = torch.tensor([0, 1, 5, 20, 50, 80, 98, 99])
    loss = d.training_losses(_Oracle(d, x0, eps), x0, t, None, eps, loss_type, weighting)
    assert loss.shape == (8,)
    # float64 round-off: at t = 99 the ε -> x_0 conversion multiplies by 1/√ᾱ ≈ 1e4 (cosine, T = 100) and the
    # importance weight is large there, so "zero" is ~1e-11 rather than ~1e-16
    assert loss.abs().max().item() < 1e-9


def test_training_loss_value_and_weighting():
    """A zero-output model: MSE loss is w(t)·mean(target²), here checked for ε (target = ε) and x_0."""
    zero = lambda x, t, y=None: torch.zeros_like(x)
    x0, eps = _xs((6, 1, 4, 4))
    t = torch.tensor([0, 3, 7, 11, 15, 19])
    d = _diffusion("linear", 20, "eps")
    snr = _reference_table(_ref_betas("linear", 20))["snr"][t.numpy()]
    want = (eps ** 2).flatten(1).mean(1).numpy() / (1 + snr)
    np.testing.assert_allclose(d.training_losses(zero, x0, t, None, eps, "mse", "snr").numpy(), want, rtol=1e-6)
    d = _diffusion("linear", 20, "x0")
    want = x0.abs().flatten(1).mean(1).numpy()
    np.testing.assert_allclose(d.training_losses(zero, x0, t, None, eps, "l1").numpy(), want, rtol=1e-6)


def test_min_snr_weights_the_same_error_equally_for_every_objective():
    """Hang et al. 2023: min-SNR is one weighting of the x_0 error whatever the network predicts. A prediction
    that is off by the same ε-error must get the same weighted loss under ε, x_0 and v objectives."""
    torch.manual_seed(0)
    x0 = torch.rand(6, 1, 4, 4, dtype=torch.float64) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 50, 200, 500, 800, 999])
    eps_error = 0.1 * torch.randn_like(x0)
    losses = {}
    for objective in ("eps", "x0", "v"):
        d = GaussianDiffusion(DiffusionConfig(objective=objective), dtype=torch.float64)
        x_t = d.q_sample(x0, t, noise)
        wrong = d.model_output_from_eps(x_t, t, noise + eps_error)    # the same mistake, in this objective's terms
        model = lambda x, tt, y, out=wrong: out
        losses[objective] = d.training_losses(model, x0, t, None, noise, weighting="min_snr").double()
    torch.testing.assert_close(losses["x0"], losses["eps"], rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(losses["v"], losses["eps"], rtol=1e-5, atol=1e-12)
