"""Tests for ddpm.samplers: single steps against diffusers' DDPMScheduler / DDIMScheduler (an independent
implementation), timestep spacings, DDIM's σ and determinism, and the errors.

The step math is compared in float64: the diffusers schedulers are built from our betas and their
ᾱ tables are then replaced by float64 ones computed here, so the comparison is of the formulas, not of
float32 round-off (their tables are float32 and 1/√ᾱ_999 ≈ 158 amplifies it).
"""
import math
import warnings

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.samplers import DDIMSampler, DDPMSampler, ddim_timesteps, make_sampler
from ddpm.sampling import sample_loop


F64 = torch.float64
PREDICTION_TYPE = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
DIFFUSERS_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
T = 1000
SHAPE = (3, 1, 4, 4)


@pytest.fixture(autouse=True)
def _quiet_diffusers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _diffusion(schedule, objective="eps"):
    return GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective), dtype=F64)


def _float64_tables(sched, betas):
    """Replace a diffusers scheduler's float32 tables by float64 ones computed here from the betas."""
    b = torch.as_tensor(betas, dtype=F64)
    sched.betas = b
    sched.alphas = 1 - b
    sched.alphas_cumprod = torch.cumprod(1 - b, 0)
    sched.one = torch.tensor(1.0, dtype=F64)
    if hasattr(sched, "final_alpha_cumprod"):
        sched.final_alpha_cumprod = torch.tensor(1.0, dtype=F64)   # set_alpha_to_one=True
    return sched


def _tensors(seed):
    g = torch.Generator().manual_seed(seed)
    model_out = torch.randn(SHAPE, generator=g, dtype=F64)
    x_t = torch.randn(SHAPE, generator=g, dtype=F64) * 1.5        # big enough that x̂_0 leaves [-1, 1] at times
    noise = torch.randn(SHAPE, generator=g, dtype=F64)
    return model_out, x_t, noise


def test_linear_betas_equal_diffusers():
    theirs = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear", beta_start=1e-4, beta_end=0.02).betas
    ours = _diffusion("linear").float64["betas"]
    # theirs is torch.linspace in float32; ours float64
    torch.testing.assert_close(ours.float(), theirs, rtol=1e-6, atol=0)


def test_cosine_betas_equal_diffusers_up_to_clipping():
    theirs = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2").betas.double()
    ours = _diffusion("cosine").float64["betas"]
    # Same formula 1 − f(t+1)/f(t). Clipping differs: diffusers caps at 0.999 only (so its last β is 0.999),
    # SPEC §1 clips to [1e-4, 0.9999] (so our first few β are raised to 1e-4 and the last is 0.9999).
    assert theirs[-1].item() == pytest.approx(0.999) and ours[-1].item() == pytest.approx(0.9999)
    assert (theirs[:3] < 1e-4).all()
    torch.testing.assert_close(ours[:-1], theirs[:-1].clamp(min=1e-4), rtol=1e-5, atol=0)


def _ddpm_pair(schedule, objective, variance, clip):
    d = _diffusion(schedule, objective)
    theirs = DDPMScheduler(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(),
                           variance_type=variance, clip_sample=clip, clip_sample_range=1.0,
                           prediction_type=PREDICTION_TYPE[objective], thresholding=False)
    return DDPMSampler(d, variance=variance, clip_denoised=clip), _float64_tables(theirs, d.float64["betas"])


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("clip", [True, False])
def test_ddpm_step_matches_diffusers(schedule, objective, variance, clip):
    ours, theirs = _ddpm_pair(schedule, objective, variance, clip)
    for i, t in enumerate([999, 998, 700, 250, 10, 1, 0]):
        model_out, x_t, _ = _tensors(seed=i)
        seed = 100 + i
        ref = theirs.step(model_out, t, x_t, generator=torch.Generator().manual_seed(seed))
        # diffusers draws its noise as torch.randn(shape, generator, dtype=model_out.dtype): the same draw
        noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=F64)
        got = ours.step(model_out, t, t - 1, x_t, noise)
        torch.testing.assert_close(got.pred_xstart, ref.pred_original_sample, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=1e-10, atol=1e-10)
        if clip:
            assert got.pred_xstart.abs().max() <= 1


def test_ddpm_clipping_is_exercised():
    # the random tensors above do push x̂_0 outside [-1, 1], so the clip branches differ from no-clip
    d = _diffusion("linear")
    model_out, x_t, _ = _tensors(seed=0)
    on = DDPMSampler(d, clip_denoised=True).step(model_out, 500, 499, x_t, None)
    off = DDPMSampler(d, clip_denoised=False).step(model_out, 500, 499, x_t, None)
    assert off.pred_xstart.abs().max() > 1 and not torch.allclose(on.prev_sample, off.prev_sample)


def _ddim_pair(schedule, objective, clip, steps, eta, spacing="trailing"):
    d = _diffusion(schedule, objective)
    theirs = DDIMScheduler(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(), clip_sample=clip,
                           clip_sample_range=1.0, set_alpha_to_one=True, steps_offset=0,
                           prediction_type=PREDICTION_TYPE[objective], timestep_spacing=spacing, thresholding=False)
    theirs.set_timesteps(steps)
    return DDIMSampler(d, steps=steps, eta=eta, spacing=spacing, clip_denoised=clip), \
        _float64_tables(theirs, d.float64["betas"])


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(schedule, objective, clip, eta):
    steps = 50
    ours, theirs = _ddim_pair(schedule, objective, clip, steps, eta)
    assert ours.timesteps == theirs.timesteps.tolist()
    for i, t in enumerate([999, 979, 499, 39, 19]):              # 19 is the last of 50 trailing steps
        # diffusers' DDIM always steps to t − T//S (and to ᾱ = 1 below 0); give ours the same t_prev
        t_prev = t - T // steps
        model_out, x_t, noise = _tensors(seed=i)
        ref = theirs.step(model_out, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=noise)
        got = ours.step(model_out, t, t_prev if t_prev >= 0 else -1, x_t, noise)
        torch.testing.assert_close(got.pred_xstart, ref.pred_original_sample, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=1e-9, atol=1e-9)
    assert ours.timesteps[-1] == 19


@pytest.mark.parametrize("spacing", ["leading", "linspace"])
def test_ddim_step_matches_diffusers_other_spacings(spacing):
    ours, theirs = _ddim_pair("linear", "eps", True, 20, 0.5, spacing)
    assert ours.timesteps == theirs.timesteps.tolist()
    for i, t in enumerate(ours.timesteps[:2] + ours.timesteps[-2:]):
        t_prev = t - T // 20
        model_out, x_t, noise = _tensors(seed=i)
        ref = theirs.step(model_out, t, x_t, eta=0.5, use_clipped_model_output=True, variance_noise=noise)
        got = ours.step(model_out, t, t_prev if t_prev >= 0 else -1, x_t, noise)
        torch.testing.assert_close(got.prev_sample, ref.prev_sample, rtol=1e-9, atol=1e-9)


# T divisible by S or not; S = 1 is left out for linspace (below)
SPACING_CASES = [(T_, S) for T_ in (10, 50, 100, 1000) for S in (2, 3, 4, 6, 7, 10, 13, 33, 50, 99, 100, 333, 1000)
                 if S <= T_]


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "leading"])
@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_timestep_spacing_equals_diffusers(spacing, cls):
    for T_, S in SPACING_CASES:
        s = cls(num_train_timesteps=T_, timestep_spacing=spacing, steps_offset=0)
        s.set_timesteps(S)
        assert ddim_timesteps(T_, S, spacing) == s.timesteps.tolist(), (T_, S)


def test_timestep_spacing_known_values_and_deliberate_differences():
    # hand-computed: trailing round(1000 − k·1000/S) − 1; leading k·(1000//S); linspace round(linspace(999, 0, S))
    assert ddim_timesteps(1000, 4, "trailing") == [999, 749, 499, 249]
    assert ddim_timesteps(1000, 4, "leading") == [750, 500, 250, 0]
    assert ddim_timesteps(1000, 4, "linspace") == [999, 666, 333, 0]
    assert ddim_timesteps(1000, 50, "leading")[0] == 980
    assert ddim_timesteps(1000, 1000, "trailing") == list(range(999, -1, -1))
    # S = 1: diffusers' linspace gives [0] (one step that starts at the clean end); ours starts from noise
    assert ddim_timesteps(1000, 1, "linspace") == [999] and ddim_timesteps(1000, 1, "trailing") == [999]
    # T = 999, S = 13: diffusers' float np.arange yields 14 "trailing" steps ending at −1; ours has 13
    assert len(ddim_timesteps(999, 13, "trailing")) == 13


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "leading"])
def test_timestep_properties(spacing):
    for T_ in (2, 10, 999, 1000):
        for S in range(1, min(T_, 40) + 1):
            ts = ddim_timesteps(T_, S, spacing)
            assert len(ts) == S and all(0 <= t < T_ for t in ts), (T_, S)
            assert all(a > b for a, b in zip(ts, ts[1:])), (T_, S, ts)
            if spacing == "trailing":
                assert ts[0] == T_ - 1            # the first DDIM step starts from pure noise


def _posterior_variance(schedule):
    b = GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T), dtype=F64).float64["betas"].numpy()
    ab = np.cumprod(1 - b)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    return b * (1 - ab_prev) / (1 - ab)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ddim_eta1_full_steps_has_ddpm_variance(schedule):
    d = _diffusion(schedule)
    smp = DDIMSampler(d, steps=T, eta=1.0)
    assert smp.timesteps == list(range(T - 1, -1, -1))
    sigma2 = np.array([smp.sigma(t, t - 1) ** 2 for t in range(T)])
    np.testing.assert_allclose(sigma2, _posterior_variance(schedule), rtol=1e-10, atol=1e-300)
    # and so one DDIM(η=1) step is the DDPM fixed_small step, given the same noise (for a consistent ε̂)
    ddpm = DDPMSampler(d, "fixed_small", clip_denoised=True)
    for i, t in enumerate([999, 500, 3, 1]):
        model_out, x_t, noise = _tensors(seed=i)
        a = smp.step(model_out, t, t - 1, x_t, noise)
        b = ddpm.step(model_out, t, t - 1, x_t, noise)
        torch.testing.assert_close(a.prev_sample, b.prev_sample, rtol=1e-9, atol=1e-9)


def test_ddim_sigma_formula():
    d = _diffusion("linear")
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    smp = DDIMSampler(d, steps=10, eta=0.5)
    for t, tp in [(999, 899), (99, -1), (500, 0)]:
        a_prev = ab[tp] if tp >= 0 else 1.0
        want = 0.5 * math.sqrt((1 - a_prev) / (1 - ab[t]) * (1 - ab[t] / a_prev))   # Song et al. eq. 16
        assert smp.sigma(t, tp) == pytest.approx(want, rel=1e-12)


def test_ddim_eta0_is_deterministic():
    d = _diffusion("cosine")
    smp = DDIMSampler(d, steps=10, eta=0.0)
    model_out, x_t, noise = _tensors(seed=0)
    a = smp.step(model_out, 999, 899, x_t, noise)
    b = smp.step(model_out, 999, 899, x_t, None)
    c = smp.step(model_out, 999, 899, x_t, noise * 5)
    assert torch.equal(a.prev_sample, b.prev_sample) and torch.equal(a.prev_sample, c.prev_sample)

    def toy_model(x, t):   # any deterministic function of (x_t, t)
        return torch.tanh(x) * (t.view(-1, 1, 1, 1).to(x.dtype) / 1000)

    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=F64)
    out1, _ = sample_loop(toy_model, smp, x_T, torch.Generator().manual_seed(1))
    out2, _ = sample_loop(toy_model, smp, x_T, torch.Generator().manual_seed(2))
    assert torch.equal(out1, out2)
    # with η > 0 the per-step noise does matter
    smp_eta = DDIMSampler(d, steps=10, eta=1.0)
    out3, _ = sample_loop(toy_model, smp_eta, x_T, torch.Generator().manual_seed(1))
    out4, _ = sample_loop(toy_model, smp_eta, x_T, torch.Generator().manual_seed(2))
    assert not torch.equal(out3, out4)


def test_ddpm_last_step_adds_no_noise():
    d = _diffusion("linear")
    model_out, x_t, noise = _tensors(seed=0)
    for variance in ("fixed_small", "fixed_large"):
        smp = DDPMSampler(d, variance)
        assert torch.equal(smp.step(model_out, 0, -1, x_t, noise).prev_sample,
                           smp.step(model_out, 0, -1, x_t, None).prev_sample)
    assert DDPMSampler(d).timesteps == list(range(999, -1, -1))


def test_make_sampler_and_errors():
    d = _diffusion("linear")
    assert isinstance(make_sampler("ddpm", d), DDPMSampler)
    assert isinstance(make_sampler("ddpm", d, steps=T), DDPMSampler)
    s = make_sampler("ddim", d)
    assert isinstance(s, DDIMSampler) and len(s.timesteps) == 50
    with pytest.raises(ValueError, match=r"unknown sampler 'euler'; choose from \[.ddim., .ddpm., .dpmpp_2m."):
        make_sampler("euler", d)
    with pytest.raises(ValueError, match="DDPM runs all T=1000 steps.*ddim"):
        make_sampler("ddpm", d, steps=50)
    with pytest.raises(ValueError, match=r"unknown variance 'learned'; choose from \['fixed_small', 'fixed_large', 'learned_range'\]"):
        make_sampler("ddpm", d, variance="learned")
    with pytest.raises(ValueError, match=r"unknown spacing 'uniform'; choose from"):
        make_sampler("ddim", d, spacing="uniform")
    for eta in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
            make_sampler("ddim", d, eta=eta)
    for steps in (0, -1, 1001, 2.5):
        with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T=1000\]"):
            make_sampler("ddim", d, steps=steps)
