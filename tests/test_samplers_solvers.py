"""Tests for the multistep solvers (ddpm.solvers): timesteps and noise levels, every single step and whole loops
against diffusers' DPMSolverMultistepScheduler (algorithm "dpmsolver++" / "sde-dpmsolver++", order 2) and
UniPCMultistepScheduler ("bh2", order 2) at their defaults (linspace spacing, final σ = 0, lower_order_final),
properties from the papers, and the errors.

Step parity is checked with float64 noise levels on both sides: diffusers' ᾱ is replaced by ours (float64) before
set_timesteps, its float32 `sigmas` are checked against ours to float32 precision and then replaced by our float64
ones. What is left differs only by how each evaluates the same equations. Tolerances:
- UniPC runs in float64 throughout, so its steps agree to 1e-9 (round-off of float64 solves and exponentials,
  amplified by 1/α ≈ 160 at t = 999);
- DPMSolverMultistepScheduler.step casts the sample to float32 before the update ("upcast" — a downcast for
  float64 input). Inputs here are float32-representable so that cast is exact, but the product (σ'/σ)·x is then
  rounded to float32: agreement is to 1e-6 (float32's ε = 1.2e-7 times |x| ≲ 5). A wrong coefficient or order moves
  the result by ≫ 1e-3 (checked below: first order vs second order, corrector on vs off).
"""
import warnings

import pytest
import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.samplers import DDIMSampler, SAMPLERS, make_sampler
from ddpm.sampling import sample_loop
from ddpm.solvers import DPMSolverPP, UniPC
from ddpm.steps import solver_timesteps
from tests.diffusers_fixtures import TinyNet

F64 = torch.float64
PREDICTION_TYPE = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}
T = 1000
SHAPE = (2, 1, 4, 4)


@pytest.fixture(autouse=True)
def _quiet_diffusers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _diffusion(schedule="linear", objective="eps", T_=T):
    return GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T_, objective=objective), dtype=F64)


def _theirs(kind, d, steps, *, karras=False, clip=False, sde=False, spacing="linspace"):
    """A diffusers scheduler on our betas, its ᾱ replaced by our float64 one before set_timesteps."""
    common = dict(num_train_timesteps=d.T, trained_betas=d.float64["betas"].numpy(), solver_order=2,
                  prediction_type=PREDICTION_TYPE[d.objective], use_karras_sigmas=karras, timestep_spacing=spacing,
                  thresholding=clip, sample_max_value=1.0)   # thresholding with max 1 is clipping to [-1, 1]
    if kind == "unipc":
        s = UniPCMultistepScheduler(solver_type="bh2", **common)
    else:
        s = DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++" if sde else "dpmsolver++", **common)
    s.alphas_cumprod = d.float64["alphas_cumprod"].clone()
    s.set_timesteps(steps)
    return s


def _ours(kind, d, steps, *, karras=False, clip=False, sde=False, spacing="linspace"):
    order = min(2, steps)   # diffusers silently runs order 2 at S = 1 as order 1; ours asks for order 1 there
    if kind == "unipc":
        return UniPC(d, steps, order, spacing, karras=karras, clip_denoised=clip)
    return DPMSolverPP(d, steps, order, spacing, karras=karras, clip_denoised=clip, sde=sde)


def _share_sigmas(ours, theirs):
    """Check their float32 σ/α against ours, then give them our float64 values (see the module docstring)."""
    mine = torch.tensor([lv.sigma_ratio for lv in ours.levels], dtype=F64)
    assert theirs.timesteps.tolist() == ours.timesteps
    torch.testing.assert_close(theirs.sigmas.double(), mine, rtol=2e-7, atol=0)
    theirs.sigmas = mine


def _f32(x):  # float32-representable float64, so diffusers' internal float32 cast is exact
    return x.float().double()


def _run_steps(kind, d, steps, *, karras=False, clip=False, sde=False, seed=0, spacing="linspace"):
    """Drive both step by step with the same inputs: at each step both get the same x (ours from the previous
    step, rounded to float32) and the same model output. Returns the largest |difference| and the largest |x|."""
    kw = dict(karras=karras, clip=clip, sde=sde, spacing=spacing)
    ours, theirs = _ours(kind, d, steps, **kw), _theirs(kind, d, steps, **kw)
    _share_sigmas(ours, theirs)
    g = torch.Generator().manual_seed(seed)
    x = _f32(torch.randn(SHAPE, generator=g, dtype=F64))
    worst, scale = 0.0, 0.0
    for i, t in enumerate(ours.timesteps):
        out = torch.randn(SHAPE, generator=g, dtype=F64) * 1.3
        noise = torch.randn(SHAPE, generator=g, dtype=F64)
        t_prev = ours.timesteps[i + 1] if i + 1 < steps else -1
        got = ours.step(out, t, t_prev, x, noise).prev_sample
        kw = {"variance_noise": noise} if kind == "dpmpp_2m" else {}
        ref = theirs.step(out, t, x, **kw).prev_sample
        worst = max(worst, (got - ref).abs().max().item())
        scale = max(scale, ref.abs().max().item())
        x = _f32(got)
    return worst, scale


@pytest.mark.parametrize("kind", ["dpmpp_2m", "unipc"])
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("objective", ["eps", "v"])
@pytest.mark.parametrize("steps", [1, 2, 3, 10, 20])
def test_steps_match_diffusers(kind, schedule, objective, steps):
    worst, scale = _run_steps(kind, _diffusion(schedule, objective), steps)
    tol = 1e-9 if kind == "unipc" else 1e-6
    assert worst <= tol * max(1.0, scale), (worst, scale)


@pytest.mark.parametrize("kind,karras,clip,sde,objective", [
    ("dpmpp_2m", True, False, False, "eps"), ("unipc", True, False, False, "v"),
    ("dpmpp_2m", False, True, False, "x0"), ("unipc", False, True, False, "eps"),
    ("dpmpp_2m", False, False, True, "eps"), ("dpmpp_2m", True, False, True, "v")])
def test_karras_clip_sde_and_x0_match_diffusers(kind, karras, clip, sde, objective):
    # Karras σ on the cosine schedule crowd the first steps onto t = 999 (its σ_max is huge): linear here
    worst, scale = _run_steps(kind, _diffusion("linear" if karras else "cosine", objective), 12,
                              karras=karras, clip=clip, sde=sde)
    tol = 1e-9 if kind == "unipc" else 1e-6
    assert worst <= tol * max(1.0, scale), (worst, scale)


@pytest.mark.parametrize("kind,sde", [("dpmpp_2m", False), ("dpmpp_2m", True), ("unipc", False)])
@pytest.mark.parametrize("steps", [1, 2, 7, 20])
def test_leading_spacing_steps_match_diffusers(kind, sde, steps):
    """timestep_spacing="leading", as a saved pipeline's scheduler config hands it to DPMSolverMultistepScheduler /
    UniPCMultistepScheduler through from_config: k·(T // (S+1)), the last step from T // (S+1) to σ = 0."""
    worst, scale = _run_steps(kind, _diffusion("linear", "eps"), steps, sde=sde, spacing="leading")
    tol = 1e-9 if kind == "unipc" else 1e-6
    assert worst <= tol * max(1.0, scale), (worst, scale)


@pytest.mark.parametrize("T_", [10, 50, 999, 1000])
def test_leading_timesteps_equal_diffusers(T_):
    for S in range(1, min(T_ - 1, 60) + 1):
        want = [k * (T_ // (S + 1)) for k in range(S, 0, -1)]
        assert solver_timesteps(T_, S, "leading") == want
        for cls in (DPMSolverMultistepScheduler, UniPCMultistepScheduler):
            theirs = cls(num_train_timesteps=T_, timestep_spacing="leading")
            theirs.set_timesteps(S)
            assert theirs.timesteps.tolist() == want, (cls.__name__, T_, S)


def test_a_wrong_solver_is_far_outside_the_tolerance():
    # the tolerance above is small against the differences the checks are meant to catch
    d = _diffusion("linear", "eps")
    x = _f32(torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=F64))
    outs = [torch.randn(SHAPE, generator=torch.Generator().manual_seed(k), dtype=F64) for k in range(10)]

    def run(smp):
        y = x
        for i, t in enumerate(smp.timesteps):
            y = smp.step(outs[i], t, -1, y, None).prev_sample
        return y
    second, first = run(DPMSolverPP(d, 10)), run(DPMSolverPP(d, 10, order=1))
    corrected = run(UniPC(d, 10))
    assert (second - first).abs().max() > 1e-2 and (corrected - second).abs().max() > 1e-2


@pytest.mark.parametrize("T_", [10, 50, 999, 1000])
def test_linspace_timesteps_equal_diffusers(T_):
    for S in range(1, min(T_ - 1, 60) + 1):
        theirs = DPMSolverMultistepScheduler(num_train_timesteps=T_)
        theirs.set_timesteps(S)
        ts = solver_timesteps(T_, S)
        assert ts == theirs.timesteps.tolist(), (T_, S)
        assert ts[0] == T_ - 1 and len(ts) == S and all(a > b for a, b in zip(ts, ts[1:]))
        uni = UniPCMultistepScheduler(num_train_timesteps=T_)
        uni.set_timesteps(S)
        assert ts == uni.timesteps.tolist(), (T_, S)


def test_trailing_and_karras_timesteps_equal_diffusers():
    d = _diffusion("linear")
    for S in (3, 7, 10, 25):
        theirs = DPMSolverMultistepScheduler(num_train_timesteps=T, timestep_spacing="trailing")
        theirs.set_timesteps(S)
        assert DPMSolverPP(d, S, spacing="trailing").timesteps == theirs.timesteps.tolist()
        for kind in ("dpmpp_2m", "unipc"):
            ours, ref = _ours(kind, d, S, karras=True), _theirs(kind, d, S, karras=True)
            _share_sigmas(ours, ref)                      # timesteps equal, σ equal to float32 precision
            assert ours.levels[-1].sigma == 0.0 and ours.timesteps[0] == T - 1 and ours.timesteps[-1] == 0




@pytest.mark.parametrize("kind", ["dpmpp_2m", "unipc"])
@pytest.mark.parametrize("objective,schedule", [("eps", "linear"), ("v", "cosine")])
def test_whole_loop_equals_diffusers(kind, objective, schedule):
    """The one sample_loop with our solver vs a plain diffusers loop, same network and same x_T, in float32 with
    diffusers' own float32 tables (only the betas are ours): what a user of either gets."""
    net = TinyNet().eval()
    d = GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective))
    steps = 15
    x_T = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    ours, _ = sample_loop(lambda x, t: net(x, t), make_sampler(kind, d, steps=steps, clip_denoised=False), x_T)
    common = dict(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(), solver_order=2,
                  prediction_type=PREDICTION_TYPE[objective])
    theirs = (UniPCMultistepScheduler(solver_type="bh2", **common) if kind == "unipc"
              else DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", **common))
    theirs.set_timesteps(steps)
    x = x_T.clone()
    with torch.no_grad():
        for t in theirs.timesteps:
            x = theirs.step(net(x, t.repeat(len(x))), t, x).prev_sample
    assert ours.abs().max() > 0.1                              # a real image-scale output, not a collapse to 0
    # float32 tables and arithmetic on both sides; 1/α_999 ≈ 160 amplifies their round-off in the first x̂_0
    torch.testing.assert_close(ours, x, rtol=0, atol=2e-4)


def test_first_order_dpmpp_is_ddim_eta0():
    """DPM-Solver++ of order 1 is DDIM with η = 0 (Lu et al. 2022b, §3.1), at the same timesteps."""
    d = _diffusion("cosine", "v")
    net = TinyNet(seed=1).double().eval()
    x_T = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=F64)
    dpm = make_sampler("dpmpp_2m", d, steps=8, order=1, clip_denoised=False)
    ddim = DDIMSampler(d, steps=8, eta=0.0, spacing="linspace", clip_denoised=False)
    ddim.timesteps = dpm.timesteps
    with torch.no_grad():
        a, _ = sample_loop(lambda x, t: net(x, t), dpm, x_T)
        b, _ = sample_loop(lambda x, t: net(x, t), ddim, x_T)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_state_is_reset_per_loop_and_order_is_enforced():
    d = _diffusion("linear")
    smp = make_sampler("unipc", d, steps=5)
    net = TinyNet().double().eval()
    x_T = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        a, _ = sample_loop(lambda x, t: net(x, t), smp, x_T)
        smp.step(net(x_T, torch.tensor([smp.timesteps[0]])), smp.timesteps[0], smp.timesteps[1], x_T, None)
        b, _ = sample_loop(lambda x, t: net(x, t), smp, x_T)   # a half-run loop before does not leak in
    assert torch.equal(a, b)
    smp.reset()
    with pytest.raises(ValueError, match=r"unipc was called at t=500, but its step 0 of 5 is at t=999.*reset\(\)"):
        smp.step(x_T, 500, 400, x_T, None)


def test_errors_name_the_valid_range():
    d = _diffusion("linear")
    with pytest.raises(ValueError, match=r"unknown sampler 'euler'; choose from \['ddim', 'ddpm', 'dpmpp_2m', "
                                         r"'dpmpp_2m_sde', 'edm_heun', 'restart', 'unipc'\]"):
        make_sampler("euler", d)
    assert sorted(SAMPLERS) == ["ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde", "edm_heun", "restart", "unipc"]
    for name in ("dpmpp_2m", "dpmpp_2m_sde", "unipc"):
        for steps in (0, -3, 1001, 2.5, True):
            with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T=1000\]"):
                make_sampler(name, d, steps=steps)
        # S+1 linspace points on [0, 999] collide beyond S = 999 (diffusers then repeats timesteps)
        with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T−1=999\] with the solvers' linspace"):
            make_sampler(name, d, steps=1000)
        assert len(set(make_sampler(name, d, steps=999).timesteps)) == 999
        assert make_sampler(name, d, steps=1000, spacing="trailing").timesteps == list(range(999, -1, -1))
        with pytest.raises(ValueError, match=r"order 2 needs at least 2 steps \(got steps=1\).*\[1, 1\]"):
            make_sampler(name, d, steps=1, order=2)
        assert len(make_sampler(name, d, steps=1, order=1).timesteps) == 1
        with pytest.raises(ValueError, match=r"order must be one of \[1, 2\]"):
            make_sampler(name, d, steps=10, order=3)
        with pytest.raises(ValueError, match=r"unknown spacing 'uniform' for the multistep solvers; choose from "
                                             r"\['linspace', 'trailing', 'leading'\]"):
            make_sampler(name, d, steps=10, spacing="uniform")
        with pytest.raises(ValueError, match=r"steps must be an integer in \[1, T−1=999\] with the solvers' leading"):
            make_sampler(name, d, steps=1000, spacing="leading")
    assert make_sampler("dpmpp_2m", d).timesteps == solver_timesteps(T, 50)


# ---- issue 12: the t_prev the loop really passes, for spacings where it is not t − T//S -------------------------

class _Recording:
    """Wraps a sampler and records every call the loop makes: (t, t_prev, model output, x_t)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.timesteps, self.diffusion = inner.timesteps, inner.diffusion

    def reset(self):
        self.inner.reset()

    def step(self, out, t, t_prev, x, noise):
        self.calls.append((t, t_prev, out, x))
        return self.inner.step(out, t, t_prev, x, noise)


@pytest.mark.parametrize("eta,steps", [(1.0, 7), (0.0, 7), (1.0, 33), (0.0, 33)])
def test_ddim_steps_at_the_loops_t_prev_match_reference(eta, steps):
    """S = 7 or 33 does not divide T = 1000 and linspace gaps are uneven, so the t_prev the loop passes (the next
    timestep) differs from diffusers' DDIM rule t − T//S. The loop's calls are recorded, then each is compared with
    a diffusers scheduler that steps between exactly the same timesteps (custom timesteps):
    η = 1 — DDPMScheduler (DDIM with η = 1 is the forward posterior q(x_{t'} | x_t, x_0) over any gap);
    η = 0 — DPMSolverMultistepScheduler of order 1 (DPM-Solver++-1 is DDIM with η = 0, Lu et al. 2022b §3.1)."""
    d = _diffusion("linear", "eps")
    smp = _Recording(DDIMSampler(d, steps=steps, eta=eta, spacing="linspace", clip_denoised=False))
    ts = smp.timesteps
    assert any(a - b != T // steps for a, b in zip(ts, ts[1:]))   # the case a t − T//S rule gets wrong
    net = TinyNet().double().eval()
    x_T = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        sample_loop(lambda x, t: net(x, t), smp, x_T, torch.Generator().manual_seed(5))
    assert [(t, tp) for t, tp, _, _ in smp.calls] == list(zip(ts, ts[1:] + [-1]))
    common = dict(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy())
    ref = (DDPMScheduler(clip_sample=False, variance_type="fixed_small", **common) if eta == 1.0
           else DPMSolverMultistepScheduler(solver_order=1, **common))
    ref.alphas_cumprod = d.float64["alphas_cumprod"].clone()
    ref.one = torch.tensor(1.0, dtype=F64)
    ref.set_timesteps(timesteps=ts)
    if eta == 0.0:
        ab = d.float64["alphas_cumprod"]
        ref.sigmas = torch.cat([((1 - ab[ts]) / ab[ts]).sqrt(), torch.zeros(1, dtype=F64)])
    for k, (t, t_prev, out, x) in enumerate(smp.calls):
        x = _f32(x)
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(k), dtype=F64)   # what diffusers draws
        want = ref.step(out, t, x, generator=torch.Generator().manual_seed(k)).prev_sample
        got = smp.inner.step(out, t, t_prev, x, z if t_prev >= 0 else None).prev_sample
        # η = 0: diffusers' float32 cast of the sample (module docstring), relative to |x| which grows to ~100 here
        torch.testing.assert_close(got, want, rtol=1e-6 if eta == 0.0 else 0, atol=1e-6 if eta == 0.0 else 1e-9)


def test_clipping_uses_the_models_data_range():
    d = _diffusion("linear", "eps")
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=F64) * 3
    out = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=F64)
    t = DPMSolverPP(d, 5).timesteps[0]
    raw = DPMSolverPP(d, 5).step(out, t, -1, x, None).pred_xstart
    assert raw.abs().max() > 2                                  # x̂_0 at t = 999 leaves any small range
    for r in (1.0, 2.0):
        for cls in (DPMSolverPP, UniPC):
            got = cls(d, 5, clip_denoised=True, clip_range=r).step(out, t, -1, x, None).pred_xstart
            torch.testing.assert_close(got, raw.clamp(-r, r), rtol=0, atol=0)
