"""Tests for the samplers that call the network themselves (ddpm.stochastic: EDM Heun with churn, Restart), the
SDE-DPM-Solver++(2M) whole loop, ε scaling and the exact network-call counts.

- EDM Heun with S_churn = 0 against diffusers' HeunDiscreteScheduler, every step (float64 on both sides: diffusers'
  float32 σ are checked against ours, then replaced by ours, as in test_samplers_solvers.py) and whole loops (float32,
  a small random network). Step tolerance 1e-10 relative: both evaluate the same float64 equations.
- Churn and Restart have no diffusers counterpart: they are compared in float64 with a line-by-line transcription of
  Karras et al. 2022 Alg. 2 / Xu et al. 2023 Alg. 1 in EDM's own coordinates (x̃ = x/α, s = σ/α), driven by the exact
  denoiser of Gaussian data, D(x̃; s) = c²/(c² + s²) x̃ for x_0 ~ N(0, c² I), from the same noise.
- Restart's forward jump keeps q(x_t | x_0)'s marginal: its moments over 400,000 float64 draws, within 5 standard
  errors, and its variance exactly (algebraically) in float64.
"""
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ddpm import load_checkpoint
from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.messages import MessageError
from ddpm.samplers import SAMPLERS, make_sampler
from ddpm.sampling import GuidedModel, generate, sample_loop
from ddpm.stochastic import Churn, EDMHeun, EpsScaling, Restart, RestartSpec, heun_plan, restart_jump
from tests.diffusers_fixtures import TinyNet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DPMSolverMultistepScheduler, HeunDiscreteScheduler

F64 = torch.float64
T = 1000
C = 0.5                     # the Gaussian data's standard deviation
PREDICTION_TYPE = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}


def _diffusion(schedule="linear", objective="eps", dtype=F64):
    return GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective), dtype=dtype)


def _gaussian_model(d):
    """The exact network for x_0 ~ N(0, C² I), in d's parameterisation: x̂_0 = α C²/(α² C² + σ²) x_t."""
    def fn(x, tt):
        c = d.coefficients.at(int(tt[0]))
        x0 = c.alpha * C * C / (c.alpha_bar * C * C + c.sigma ** 2) * x
        eps = (x - c.alpha * x0) / c.sigma
        return {"eps": eps, "x0": x0, "v": c.alpha * eps - c.sigma * x0}[d.objective]
    return fn


class _Scripted:
    """A 'network' that returns given outputs in order and records the inputs it was called with."""

    def __init__(self, outputs):
        self.outputs, self.inputs = list(outputs), []

    def __call__(self, x, tt):
        self.inputs.append((x.clone(), int(tt[0])))
        return self.outputs[len(self.inputs) - 1]


class _Net(torch.nn.Module):
    """fn(x, t) as an unconditional network GuidedModel can wrap."""
    config = SimpleNamespace(num_classes=0)

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t, y=None):
        return self.fn(x, t)




# ------------------------------------------------------------------------------------- EDM Heun vs diffusers
def _heun_theirs(d, levels, spacing, clip, float64=True):
    """diffusers' Heun on our betas; float64: its ᾱ replaced by ours before set_timesteps (as for the solvers)."""
    s = HeunDiscreteScheduler(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(), clip_sample=clip,
                              prediction_type=PREDICTION_TYPE[d.objective], timestep_spacing=spacing)
    if float64:
        s.alphas_cumprod = d.float64["alphas_cumprod"].clone()
    s.set_timesteps(levels)
    return s


@pytest.mark.parametrize("spacing", ["trailing", "leading"])
@pytest.mark.parametrize("objective,schedule,clip", [("eps", "linear", False), ("v", "cosine", False),
                                                     ("eps", "cosine", True), ("x0", "linear", False)])
@pytest.mark.parametrize("calls", [1, 3, 9, 19])
def test_heun_steps_match_diffusers(spacing, objective, schedule, clip, calls):
    d = _diffusion(schedule, objective)
    ours = make_sampler("edm_heun", d, steps=calls, spacing=spacing, clip_denoised=clip)
    levels = (calls + 1) // 2
    theirs = _heun_theirs(d, levels, spacing, clip)
    # their timesteps (each but the first twice: Heun's two calls) and float32 σ = ours, then our float64 σ
    assert theirs.timesteps[::2].long().tolist() == ours.timesteps and len(theirs.timesteps) == calls
    mine = torch.tensor([d.coefficients.at(t).sigma_ratio for t in ours.timesteps] + [0.0], dtype=F64)
    torch.testing.assert_close(theirs.sigmas[::2].double(), mine[:-1], rtol=2e-7, atol=0)
    assert theirs.sigmas[-1] == 0
    theirs.sigmas = torch.cat([mine[:1], mine[1:-1].repeat_interleave(2), mine[-1:]])
    g = torch.Generator().manual_seed(calls)
    outs = [torch.randn((2, 1, 4, 4), generator=g, dtype=F64) * 1.3 for _ in range(calls)]
    x = torch.randn((2, 1, 4, 4), generator=g, dtype=F64)
    net = _Scripted(outs)
    sample = x / d.coefficients.at(ours.timesteps[0]).alpha          # their x̃ = x/α
    k = 0
    for i, t in enumerate(ours.timesteps):
        t_prev = ours.timesteps[i + 1] if i + 1 < len(ours.timesteps) else -1
        x = ours.step_model(net, t, t_prev, x, lambda: None).prev_sample
        for _ in range(2 if t_prev >= 0 else 1):
            seen, t_seen = net.inputs[k]
            assert t_seen == int(theirs.timesteps[k])
            torch.testing.assert_close(theirs.scale_model_input(sample, theirs.timesteps[k]), seen, rtol=1e-12, atol=0)
            sample = theirs.step(outs[k], theirs.timesteps[k], sample).prev_sample
            k += 1
        alpha = d.coefficients.at(t_prev).alpha
        torch.testing.assert_close(x / alpha, sample, rtol=1e-10, atol=1e-10)
    assert k == len(net.inputs) == calls == ours.network_calls


def test_heun_whole_loop_equals_diffusers():
    """The one sample_loop with edm_heun vs a plain diffusers Heun loop, same network and x_T, float32."""
    net = TinyNet().eval()
    d = GaussianDiffusion(DiffusionConfig(schedule="linear", T=T, objective="eps"))
    x_T = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    ours, _ = sample_loop(lambda x, t: net(x, t), make_sampler("edm_heun", d, steps=15, clip_denoised=False), x_T)
    theirs = _heun_theirs(d, 8, "trailing", False, float64=False)
    x = x_T * (theirs.sigmas[0] ** 2 + 1).sqrt()
    with torch.no_grad():
        for t in theirs.timesteps:
            x = theirs.step(net(theirs.scale_model_input(x, t), t.repeat(len(x))), t, x).prev_sample
    assert ours.abs().max() > 0.1
    torch.testing.assert_close(ours, x, rtol=0, atol=2e-4)


# ------------------------------------------------------------------------------------- churn, in EDM's own terms
def _edm_reference(d, ts, x_T, churn, heun_steps, gen):
    """Karras et al. 2022, Algorithm 2 in x̃ = x/α, s = σ/α, with round_sigma to the schedule's levels."""
    ratios = np.array([d.coefficients.at(t).sigma_ratio for t in range(T)])
    s_of = lambda t: 0.0 if t < 0 else ratios[t]                                       # noqa: E731
    D = lambda x, t: C * C / (C * C + ratios[t] ** 2) * x                              # noqa: E731
    x = x_T / d.coefficients.at(ts[0]).alpha
    N = len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < N else -1
        s = ratios[t]
        gamma = min(churn.s_churn / N, math.sqrt(2) - 1) if churn.s_tmin <= s <= churn.s_tmax else 0.0
        t_hat = int(np.abs(ratios - s * (1 + gamma)).argmin()) if gamma > 0 else t
        if t_hat > t:
            z = torch.randn(x.shape, generator=gen).double()          # the loop draws float32 noise on the CPU
            x = x + math.sqrt(ratios[t_hat] ** 2 - s ** 2) * churn.s_noise * z
        s_hat = ratios[t_hat]
        dx = (x - D(x, t_hat)) / s_hat
        x_next = x + (s_of(t_next) - s_hat) * dx
        if t_next >= 0 and i < heun_steps:
            dx2 = (x_next - D(x_next, t_next)) / s_of(t_next)
            x_next = x + (s_of(t_next) - s_hat) * (dx + dx2) / 2
        x = x_next
    return x


@pytest.mark.parametrize("churn", [Churn(40.0), Churn(5.0, s_tmin=0.05, s_tmax=10.0, s_noise=1.007), Churn(1e4)])
@pytest.mark.parametrize("calls,objective", [(9, "eps"), (20, "v")])
def test_churn_follows_edm_algorithm_2(churn, calls, objective):
    d = _diffusion("linear", objective)
    smp = make_sampler("edm_heun", d, steps=calls, churn=churn, clip_denoised=False)
    x_T = torch.randn((4, 1, 4, 4), generator=torch.Generator().manual_seed(1), dtype=F64)
    ours, _ = sample_loop(_gaussian_model(d), smp, x_T, torch.Generator().manual_seed(7))
    ref = _edm_reference(d, smp.timesteps, x_T, churn, heun_plan(calls)[1], torch.Generator().manual_seed(7))
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    plain, _ = sample_loop(_gaussian_model(d), make_sampler("edm_heun", d, steps=calls, clip_denoised=False), x_T)
    assert (ours - plain).abs().max() > 1e-2                   # the churn really moved the samples


def test_zero_churn_is_the_deterministic_heun_sampler():
    d = _diffusion("cosine", "eps")
    x_T = torch.randn((4, 1, 4, 4), generator=torch.Generator().manual_seed(2), dtype=F64)
    plain = make_sampler("edm_heun", d, steps=11, clip_denoised=False)
    want = _edm_reference(d, plain.timesteps, x_T, Churn(), heun_plan(11)[1], None)
    for churn in (Churn(0.0, s_noise=1.007), Churn(80.0, s_tmin=1e6, s_tmax=1e7)):   # no churn, or an empty window
        got, _ = sample_loop(_gaussian_model(d), make_sampler("edm_heun", d, steps=11, churn=churn,
                                                              clip_denoised=False), x_T,
                             torch.Generator().manual_seed(0))
        # |x̃| ≈ 150 at cosine's t = 999: the VP ↔ x̃ conversions leave ~1e-10 relative round-off
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_heun_converges_at_second_order_to_the_exact_ode_solution():
    """For Gaussian data the probability-flow ODE dx̃/ds = (x̃ − D)/s = s x̃/(C² + s²) is solved exactly:
    x̃(s) = x̃(s_0) √(C² + s²)/√(C² + s_0²). Up to the last level (the step to s = 0 is Euler by design), Heun's error
    shrinks ~4× per doubling of the steps (second order); the Euler/DDIM path's only ~2×."""
    d = _diffusion("linear", "eps")
    x_T = torch.randn((2, 1, 4, 4), generator=torch.Generator().manual_seed(0), dtype=F64)
    top = d.coefficients.at(T - 1)
    model = _gaussian_model(d)
    err = {}
    for heun in (True, False):
        for levels in (25, 50, 100):
            smp = make_sampler("edm_heun", d, steps=2 * levels - 1 if heun else 1, spacing="trailing",
                               clip_denoised=False)
            smp.timesteps = make_sampler("ddim", d, steps=levels, spacing="trailing").timesteps
            smp.heun_steps = levels - 1 if heun else 0
            x = x_T
            for t, t_next in zip(smp.timesteps, smp.timesteps[1:]):
                x = smp.step_model(model, t, t_next, x, lambda: None).prev_sample
            last = d.coefficients.at(smp.timesteps[-1])
            exact = x_T / top.alpha * math.sqrt(C * C + last.sigma_ratio ** 2) / math.sqrt(C * C + top.sigma_ratio ** 2)
            err[heun, levels] = (x / last.alpha - exact).abs().max().item()
    assert err[True, 50] < err[True, 25] / 3.5 and err[True, 100] < err[True, 50] / 3.5, err
    assert err[False, 50] > err[False, 25] / 2.5 and err[True, 25] < err[False, 25] / 5, err


# ------------------------------------------------------------------------------------- Restart
def test_restart_jump_keeps_the_forward_marginal():
    d = _diffusion("linear", "eps")
    lo, hi = d.coefficients.at(40), d.coefficients.at(300)
    # exact: ratio·(1 − ᾱ_min) + (1 − ratio) = 1 − ᾱ_max, mean √ratio·√ᾱ_min = √ᾱ_max
    ratio = hi.alpha_bar / lo.alpha_bar
    assert abs(ratio * (1 - lo.alpha_bar) + (1 - ratio) - (1 - hi.alpha_bar)) < 1e-15
    g = torch.Generator().manual_seed(0)
    n = 400_000
    x0 = torch.linspace(-1, 1, 8, dtype=F64).repeat(n // 8)
    x_lo = lo.alpha * x0 + lo.sigma * torch.randn(n, generator=g, dtype=F64)
    x_hi = restart_jump(x_lo, lo, hi, torch.randn(n, generator=g, dtype=F64))
    resid = x_hi - hi.alpha * x0                           # should be N(0, 1 − ᾱ_max)
    var = 1 - hi.alpha_bar
    assert abs(resid.mean().item()) < 5 * math.sqrt(var / n)
    assert abs(resid.var().item() - var) < 5 * var * math.sqrt(2 / (n - 1))
    # and in EDM's coordinates it is x̃_max = x̃_min + √(s_max² − s_min²) z (Xu et al. Alg. 1, line 5)
    z = torch.randn(16, generator=g, dtype=F64)
    x = torch.randn(16, generator=g, dtype=F64)
    want = x / lo.alpha + math.sqrt(hi.sigma_ratio ** 2 - lo.sigma_ratio ** 2) * z
    torch.testing.assert_close(restart_jump(x, lo, hi, z) / hi.alpha, want, rtol=1e-13, atol=1e-13)


def _restart_reference(d, smp, x_T, gen):
    """Xu et al. 2023, Alg. 1 in x̃, s: the main Heun/Euler path with K restarts at t_min."""
    spec = smp.restart
    ratios = [d.coefficients.at(t).sigma_ratio for t in range(T)]
    s_of = lambda t: 0.0 if t < 0 else ratios[t]                                       # noqa: E731
    D = lambda x, t: C * C / (C * C + ratios[t] ** 2) * x                              # noqa: E731

    def ode(x, t, t_next, heun):
        dx = (x - D(x, t)) / s_of(t)
        x_next = x + (s_of(t_next) - s_of(t)) * dx
        if heun and t_next >= 0:
            x_next = x + (s_of(t_next) - s_of(t)) * (dx + (x_next - D(x_next, t_next)) / s_of(t_next)) / 2
        return x_next
    heun = spec.ode == "heun"
    x = x_T / d.coefficients.at(smp.timesteps[0]).alpha
    for i, t in enumerate(smp.timesteps):
        if t == spec.t_min:
            for _ in range(spec.k):
                x = x + math.sqrt(s_of(spec.t_max) ** 2 - s_of(t) ** 2) * torch.randn(x.shape, generator=gen).double()
                sub = np.round(np.linspace(spec.t_max, spec.t_min, spec.steps + 1)).astype(int).tolist()
                for a, b in zip(sub, sub[1:]):
                    x = ode(x, a, b, heun)
        t_next = smp.timesteps[i + 1] if i + 1 < len(smp.timesteps) else -1
        x = ode(x, t, t_next, heun and i < smp.heun_steps)
    return x


@pytest.mark.parametrize("calls,spec", [(15, RestartSpec()), (16, RestartSpec(t_min=100, t_max=400, k=2, steps=3)),
                                        (10, RestartSpec(t_min=50, t_max=200, k=3, steps=2, ode="euler"))])
def test_restart_follows_xu_algorithm_1_and_its_call_budget(calls, spec):
    d = _diffusion("linear", "eps")
    smp = make_sampler("restart", d, steps=calls, restart=spec, clip_denoised=False)
    assert smp.restart.t_min in smp.timesteps and smp.timesteps[0] == T - 1
    x_T = torch.randn((4, 1, 4, 4), generator=torch.Generator().manual_seed(3), dtype=F64)
    counted = GuidedModel(_Net(_gaussian_model(d)), d, None)
    ours, _ = sample_loop(counted, smp, x_T, torch.Generator().manual_seed(9))
    assert counted.calls == calls == smp.network_calls
    ref = _restart_reference(d, smp, x_T, torch.Generator().manual_seed(9))
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_restart_defaults_are_the_authors_interval():
    d = _diffusion("linear", "eps")
    smp = make_sampler("restart", d, steps=15)
    assert smp.timesteps == make_sampler("edm_heun", d, steps=11).timesteps    # the main grid is not moved
    s = [d.coefficients.at(t).sigma_ratio for t in smp.timesteps[1:]]
    s_min, s_max = (d.coefficients.at(t).sigma_ratio for t in (smp.restart.t_min, smp.restart.t_max))
    assert s_min == min(s, key=lambda v: abs(v - 0.1))               # the main step nearest s = 0.1
    assert abs(s_max - 2.0) < 0.05                                   # the level nearest s = 2
    assert smp.restart_timesteps[0] == smp.restart.t_max and smp.restart_timesteps[-1] == smp.restart.t_min


# ------------------------------------------------------------------------------------- SDE-DPM-Solver++(2M)
@pytest.mark.parametrize("objective,schedule", [("eps", "linear"), ("v", "cosine")])
def test_sde_dpmpp_whole_loop_equals_diffusers_with_the_same_noise(objective, schedule):
    """float32 tables and arithmetic on both sides, as test_samplers_solvers' ODE whole loops (same tolerance)."""
    net = TinyNet(seed=2).eval()
    d = GaussianDiffusion(DiffusionConfig(schedule=schedule, T=T, objective=objective))
    x_T = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(4))
    smp = make_sampler("dpmpp_2m_sde", d, steps=12, clip_denoised=False)
    ours, _ = sample_loop(lambda x, t: net(x, t), smp, x_T, torch.Generator().manual_seed(5))
    theirs = DPMSolverMultistepScheduler(num_train_timesteps=T, trained_betas=d.float64["betas"].numpy(),
                                         solver_order=2, prediction_type=PREDICTION_TYPE[objective],
                                         algorithm_type="sde-dpmsolver++")
    theirs.set_timesteps(12)
    g, x = torch.Generator().manual_seed(5), x_T.clone()
    with torch.no_grad():
        for i, t in enumerate(theirs.timesteps):
            z = torch.randn(x.shape, generator=g) if i + 1 < len(theirs.timesteps) else torch.zeros_like(x)
            x = theirs.step(net(x, t.repeat(len(x))), t, x, variance_noise=z).prev_sample
    ode, _ = sample_loop(lambda x, t: net(x, t), make_sampler("dpmpp_2m", d, steps=12, clip_denoised=False), x_T)
    assert (ours - ode).abs().max() > 1e-2                     # the noise really entered
    torch.testing.assert_close(ours, x, rtol=0, atol=2e-4)


# ------------------------------------------------------------------------------------- ε scaling
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_eps_scaling_divides_the_predicted_noise(objective):
    d = _diffusion("linear", objective)
    x = torch.randn((3, 1, 4, 4), generator=torch.Generator().manual_seed(0), dtype=F64)
    t = torch.tensor([10, 500, 999])
    net = TinyNet().double().eval()
    plain = GuidedModel(_Net(net), d, None)
    scaled = GuidedModel(_Net(net), d, None, eps_scaling=EpsScaling(1.02, 0.05))
    eps, _ = d.split_model_output(plain(x, t), x, t)
    eps_s, x0_s = d.split_model_output(scaled(x, t), x, t)
    lam = (1.02 + 0.05 * t.double() / T).view(-1, 1, 1, 1)
    torch.testing.assert_close(eps_s, eps / lam, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x0_s, d.predict_xstart_from_eps(x, t, eps / lam), rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def tiny():
    return load_checkpoint("checkpoints/digits_tiny.safetensors")


@pytest.mark.parametrize("sampler,steps", [("ddim", 6), ("dpmpp_2m", 6), ("dpmpp_2m_sde", 6),
                                           ("unipc", 6), ("edm_heun", 7), ("edm_heun", 6), ("restart", 9)])
def test_every_sampler_states_its_calls_and_takes_eps_scaling(tiny, sampler, steps):
    kw = dict(sampler=sampler, steps=steps, n=3, labels=[1, 4, 7], guidance_scale=2.0, seed=1, max_batch=2,
              trajectory_frames=3)
    assert make_sampler("ddpm", tiny.diffusion).network_calls == tiny.diffusion.T   # (its run: test_sampling)
    plain = generate(tiny.model, tiny.diffusion, **kw)
    assert plain.network_calls == steps == plain.settings["network_calls"]
    assert plain.trajectory.x_t.shape[:2] == (3, 3) and plain.trajectory.timesteps[0] == plain.timesteps[0]
    again = generate(tiny.model, tiny.diffusion, **kw)
    assert torch.equal(plain.images, again.images)             # seeded: the same images, batches of 2
    scaled = generate(tiny.model, tiny.diffusion, eps_scaling=EpsScaling(1.05), **kw)
    assert scaled.network_calls == steps and scaled.settings["eps_scaling"] == {"b": 1.05, "k": 0.0}
    assert (scaled.images - plain.images).abs().max() > 1e-3
    off = generate(tiny.model, tiny.diffusion, eps_scaling=EpsScaling(), **kw)
    assert torch.equal(off.images, plain.images)


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make,message", [
    (lambda: Churn(-1.0), r"S_churn must be a finite number in \[0, 10000\] \(got -1.0\)"),
    (lambda: Churn(float("nan")), r"S_churn must be a finite number in \[0, 10000\]"),
    (lambda: Churn(10.0, s_tmin=2.0, s_tmax=1.0), r"needs 0 ≤ S_tmin ≤ S_tmax .*got S_tmin=2.0, S_tmax=1.0"),
    (lambda: Churn(10.0, s_noise=1.2), r"S_noise must be in \[1, 1.1\] \(got 1.2\)"),
    (lambda: RestartSpec(k=-1), r"K \(how many restarts\) must be an integer in \[0, 100\] \(got -1\)"),
    (lambda: RestartSpec(steps=0), r"ODE steps of each restart\) must be an integer in \[1, 1000\]"),
    (lambda: RestartSpec(t_min=1.5), r"restart t_min must be an integer timestep"),
    (lambda: RestartSpec(ode="rk4"), r"restart ode must be one of \['heun', 'euler'\] \(got 'rk4'\)"),
    (lambda: EpsScaling(3.0), r"λ_t = b \+ k·t/T must stay in \[0.5, 2\] \(got b=3.0, k=0.0\)"),
    (lambda: EpsScaling(1.0, -0.8), r"must stay in \[0.5, 2\]"),
])
def test_parameters_out_of_range_are_refused_with_the_range(make, message):
    with pytest.raises(MessageError, match=message):
        make()


def test_sampler_level_refusals_name_what_to_choose():
    d = _diffusion("linear", "eps")
    with pytest.raises(MessageError, match=r"K=4 restarts of 2 heun steps cost 16 network calls, leaving too few of "
                                           r"steps=10 for the main path; choose K in \[0, 1\].*steps ≥ 19"):
        make_sampler("restart", d, steps=10, restart=RestartSpec(k=4))
    with pytest.raises(MessageError, match=r"restart interval \[t_min=970, t_max=990\] lies outside the schedule: it "
                                           r"needs 0 ≤ t_min < 960 \(the first timestep\) and t_min < t_max ≤ 999"):
        make_sampler("restart", d, steps=27, spacing="leading", restart=RestartSpec(t_min=970, t_max=990, ode="euler"))
    with pytest.raises(MessageError, match=r"t_min < t_max ≤ 999"):
        make_sampler("restart", d, steps=30, restart=RestartSpec(t_min=100, t_max=1000))
    with pytest.raises(MessageError, match=r"t_min < t_max"):
        make_sampler("restart", d, steps=30, restart=RestartSpec(t_min=300, t_max=200))
    with pytest.raises(MessageError, match=r"5 restart steps do not fit between t_max=103 and t_min=100: choose "
                                           r"restart steps in \[1, 3\]"):
        make_sampler("restart", d, steps=30, restart=RestartSpec(t_min=100, t_max=103, steps=5))
    for name, hi in (("edm_heun", 1999), ("restart", 4000)):
        for bad in (0, hi + 1, 2.5, True):
            with pytest.raises(MessageError, match=rf"steps \(network calls\) of {name} must be an integer in "
                                                   rf"\[1, {hi}\]"):
                make_sampler(name, d, steps=bad)
    with pytest.raises(MessageError, match=r"ddim takes neither churn nor a restart interval"):
        make_sampler("ddim", d, steps=10, churn=Churn(10.0))
    with pytest.raises(MessageError, match=r"edm_heun takes neither churn nor a restart"):
        make_sampler("edm_heun", d, steps=10, restart=RestartSpec())
    with pytest.raises(MessageError, match=r"edm_heun takes no solver order or Karras spacing"):
        make_sampler("edm_heun", d, steps=10, karras=True)
    with pytest.raises(MessageError, match=r"unknown convention 'k-diffusion'; choose from \['workbench', "
                                           r"'diffusers'\]"):
        make_sampler("ddim", d, steps=10, convention="k-diffusion")
    assert set(SAMPLERS) >= {"edm_heun", "restart"}


def test_heun_plan_spends_exactly_the_budget():
    for calls in range(1, 60):
        levels, heun = heun_plan(calls)
        assert 2 * heun + (levels - heun) == calls and 0 <= heun < levels
        assert heun == levels - 1 or calls % 2 == 0
    assert isinstance(EDMHeun(_diffusion(), 5).timesteps[0], int) and Restart(_diffusion(), 20).network_calls == 20


def test_sample_cli_flags(tmp_path, capsys):
    import json

    from ddpm.sample import main
    out = tmp_path / "g.png"
    assert main(["--sampler", "edm_heun", "--steps", "5", "--churn", "40", "--s-noise", "1.003", "--n", "2",
                 "--eps-scaling", "1.01", "--quiet", "--out", str(out)]) == 0
    settings = json.loads(str(np.load(out.with_suffix(".npz"))["settings"]))
    assert settings["churn"] == {"s_churn": 40.0, "s_tmin": 0.0, "s_tmax": None, "s_noise": 1.003}
    assert settings["network_calls"] == 5 and settings["eps_scaling"] == {"b": 1.01, "k": 0.0}
    assert "5 network calls each" in capsys.readouterr().out
    assert main(["--sampler", "restart", "--steps", "12", "--restart-interval", "50", "300", "--restart-k", "2",
                 "--restart-ode", "euler", "--n", "2", "--quiet", "--convention", "diffusers", "--out", str(out)]) == 0
    settings = json.loads(str(np.load(out.with_suffix(".npz"))["settings"]))
    assert settings["restart"] == {"t_min": 50, "t_max": 300, "k": 2, "steps": 2, "ode": "euler"}
    assert settings["convention"] == "diffusers" and settings["network_calls"] == 12
    assert main(["--sampler", "ddim", "--churn", "40", "--n", "1", "--quiet", "--out", str(out)]) == 2
    assert "error: ddim takes neither churn nor a restart interval" in capsys.readouterr().err
    assert main(["--sampler", "edm_heun", "--churn-window", "5", "1", "--n", "1", "--quiet", "--out", str(out)]) == 2
    assert "error: the churn window needs 0 ≤ S_tmin ≤ S_tmax" in capsys.readouterr().err


def test_quality_bench_plans_the_stochastic_rows():
    from bench.quality_vs_steps import StochasticRows, plan_rows
    rows = plan_rows(T, False, [10], [0.0], False, solvers=[], stochastic=StochasticRows(
        ("edm_heun", "restart"), (5, 9), (0.0, 40.0), RestartSpec(k=1, steps=2), (1.0, 1.005)))
    plain = [(r.sampler, r.steps, r.series) for r in rows[:len(rows) // 2]]
    assert plain == [("ddim", 10, "DDIM η=0"), ("edm_heun", 5, "EDM Heun (S_churn=0)"),
                     ("edm_heun", 5, "EDM Heun (S_churn=40)"), ("edm_heun", 9, "EDM Heun (S_churn=0)"),
                     ("edm_heun", 9, "EDM Heun (S_churn=40)"), ("restart", 9, "Restart (K=1×2 heun on [s=0.1, s=2])")]
    assert [r.series for r in rows[len(rows) // 2:]][:2] == ["DDIM η=0 (λ=1.005)", "EDM Heun (S_churn=0, λ=1.005)"]
    assert plan_rows(T, False, [10], [0.0], False, solvers=[]) == rows[:1]    # nothing new unless asked
