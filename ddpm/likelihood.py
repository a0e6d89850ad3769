"""The variational bound on −log p(x_0) and bits per dimension (Ho et al. 2020 eq. 5; Nichol & Dhariwal 2021 §2).

    −log p(x_0) ≤ L_T + Σ_{t=2}^{T} L_{t−1} + L_0                                                (eq. 5)
    L_T     = KL(q(x_T | x_0) ‖ N(0, I))                        the prior term; no parameters
    L_{t−1} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))    two Gaussians, closed form
    L_0     = −log p_θ(x_0 | x_1)                                 the discretised Gaussian decoder (eq. 13)

With 0-based t as in the rest of the core (t = 0 is the paper's first step): the KL terms sit at t = 1 … T−1
and the decoder at t = 0, each evaluated at x_t ~ q(x_t | x_0). Bits per dimension = nats / (D ln 2) with D =
C·H·W; the decoder makes the bound a bound on the probability of 8-bit images (256 levels per sub-pixel), so it
is comparable with published numbers and between models.

Every term is returned in bits per dimension per image. `vlb_terms` evaluates every t, or with a stride every t
up to `stride` and then every stride-th t (see `vlb_timesteps`); the missing KL terms are filled by the mean of their two evaluated neighbours, and `VLBResult`
states the interpolation bound (exact when the mean term is monotone between evaluated timesteps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import Tensor

from .coefficients import VARIANCES, learned_range_log_variance, split_variance
from .diffusion import GaussianDiffusion, extract
from .messages import MessageError

LN2 = math.log(2.0)
BINS = 256                           # 8-bit data: the decoder's bins have half-width 1/255 on [−1, 1]


# ---------------------------------------------------------------------------------------------- the equations
def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = ½ (log σ₂² − log σ₁² + σ₁²/σ₂² + (μ₁ − μ₂)²/σ₂² − 1), elementwise, nats.

    With d = log σ₁² − log σ₂² the variance part is e^d − 1 − d, written expm1(d) − d so that nearly equal
    variances (the prior term: 1 − ᾱ_T ≈ 1) do not cancel to noise."""
    d = logvar1 - logvar2
    return 0.5 * (torch.expm1(d) - d + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def quantize_8bit(x: Tensor) -> Tensor:
    """x in [−1, 1] rounded to the nearest of the 256 levels k/127.5 − 1 (what an 8-bit image file holds)."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def _log_bin_mass(lo: Tensor, hi: Tensor) -> Tensor:
    """log(Φ(hi) − Φ(lo)) for lo < hi, accurate in both tails: above 0 it uses Φ(−lo) − Φ(−hi)."""
    upper = lo > 0
    a = torch.where(upper, -hi, lo)
    b = torch.where(upper, -lo, hi)
    # log(Φ(b) − Φ(a)) = log Φ(b) + log(1 − exp(log Φ(a) − log Φ(b))), with a < b ≤ … and b ≤ |…| on the near side
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    return log_b + torch.log(-torch.expm1(log_a - log_b)).clamp(min=-1e30)


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log p(x) = log ∫_{δ₋(x)}^{δ₊(x)} N(u; μ, σ²) du for x on the 8-bit grid of [−1, 1]  (Ho et al. eq. 13):

        δ₊(x) = +∞ if x = 1 else x + 1/255,   δ₋(x) = −∞ if x = −1 else x − 1/255.

    x, mean, log_scale (= log σ) broadcast together; returns nats, elementwise (each term ≤ 0)."""
    inv_sigma = torch.exp(-log_scale)
    hi = (x - mean + 1.0 / 255) * inv_sigma
    lo = (x - mean - 1.0 / 255) * inv_sigma
    inf = torch.full_like(hi, math.inf)
    hi = torch.where(x > 0.999, inf, hi)
    lo = torch.where(x < -0.999, -inf, lo)
    both_open = torch.isinf(hi) & torch.isinf(lo)                       # only when −1 and 1 share a bin: never
    return torch.where(both_open, torch.zeros_like(hi), _log_bin_mass(lo, hi))


def model_log_variance(diffusion: GaussianDiffusion, t: Tensor, x: Tensor, variance: str = "fixed_small",
                       v: Optional[Tensor] = None) -> Tensor:
    """log σ_t² of p_θ(x_{t−1} | x_t), broadcast to x: fixed_small σ² = β̃_t (log clipped at t = 0 by β̃_1);
    fixed_large σ² = β_t, with β̃_1 at t = 0 so the decoder is not wider than the posterior (as improved-diffusion);
    learned_range: eq. 15 of Nichol & Dhariwal between log β_t and the clipped log β̃_t, from the network's v
    (v: (B, C, H, W), the second half of a learned-variance output)."""
    if variance == "fixed_small":
        table = diffusion.posterior_log_variance_clipped
    elif variance == "fixed_large":
        q = diffusion.float64
        table = torch.log(torch.cat([q["posterior_variance"][1:2], q["betas"][1:]])).to(diffusion.dtype)
    elif variance == "learned_range":
        if v is None:
            raise MessageError("likelihood.needs_learned_variance")
        log_beta = extract(diffusion.float64["betas"].log().to(diffusion.dtype), t, x)
        return learned_range_log_variance(v, log_beta, extract(diffusion.posterior_log_variance_clipped, t, x))
    else:
        raise MessageError("choice.unknown", kind="variance", value=variance, choices=list(VARIANCES))
    return extract(table, t, x).expand_as(x)


def resolve_variance(diffusion: GaussianDiffusion, variance: Optional[str]) -> str:
    """None → the model's own reverse variance (diffusion.sampling_defaults: learned_range for a model trained with
    --learn-sigma, fixed_small for ours otherwise, a diffusers scheduler's variance_type)."""
    variance = diffusion.sampling_defaults.variance if variance is None else variance
    if variance not in VARIANCES:
        raise MessageError("choice.unknown", kind="variance", value=variance, choices=list(VARIANCES))
    return variance


def prior_bpd(diffusion: GaussianDiffusion, x_start: Tensor) -> Tensor:
    """L_T = KL(q(x_T | x_0) ‖ N(0, I)) = KL(N(√ᾱ_T x_0, 1 − ᾱ_T) ‖ N(0, 1)) in bits/dim, per image: (B,)."""
    t = torch.full((x_start.shape[0],), diffusion.T - 1, dtype=torch.long, device=x_start.device)
    mean, _, log_var = diffusion.q_mean_variance(x_start, t)
    zero = torch.zeros_like(mean)
    return normal_kl(mean, log_var, zero, zero).flatten(1).mean(1) / LN2


def vlb_term_bpd(diffusion: GaussianDiffusion, model_out: Tensor, x_start: Tensor, x_t: Tensor, t: Tensor, *,
                 variance: Optional[str] = None, clip_denoised: bool = True) -> Tensor:
    """L_{t−1} (t ≥ 1) or L_0 (t = 0) for each image, in bits/dim: (B,).

    model_out: the network's output at (x_t, t) in its own parameterisation (with v for a learned variance);
    p_θ(x_{t−1} | x_t) = N(μ̃_t(x_t, x̂_0), σ_t²) with x̂_0 from model_out (clipped to [−1, 1] if clip_denoised, as
    the samplers do) and σ_t² from `variance` (None: the model's own). x_start on the 8-bit grid."""
    variance = resolve_variance(diffusion, variance)
    _, pred_xstart = diffusion.split_model_output(model_out, x_t, t)
    if clip_denoised:
        pred_xstart = pred_xstart.clamp(-1, 1)
    model_mean, _, _ = diffusion.q_posterior_mean_variance(pred_xstart, x_t, t)
    model_log_var = model_log_variance(diffusion, t, x_t, variance, split_variance(model_out, x_t)[1])
    true_mean, _, true_log_var = diffusion.q_posterior_mean_variance(x_start, x_t, t)
    kl = normal_kl(true_mean, true_log_var, model_mean, model_log_var).flatten(1).mean(1) / LN2
    nll = -discretized_gaussian_log_likelihood(x_start, model_mean, 0.5 * model_log_var).flatten(1).mean(1) / LN2
    return torch.where(t == 0, nll, kl)


# ---------------------------------------------------------------------------------------------- the estimate
def vlb_timesteps(T: int, stride: int = 1) -> list[int]:
    """The timesteps evaluated (ascending): every t from 0 (the decoder) to `stride`, where the terms fall fastest
    (by ~100× over the first 50 steps of a linear schedule), then every stride-th t, and always T − 1.
    About stride + T/stride network passes per image; stride 1 evaluates all T."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise MessageError("likelihood.stride_int", stride=stride)
    if T < 2:
        raise MessageError("likelihood.t_small", T=T)
    if stride > T - 1:
        raise MessageError("likelihood.stride_large", stride=stride, kl=T - 1, T=T)
    ts = list(range(0, stride + 1)) + list(range(2 * stride, T, stride))
    if ts[-1] != T - 1:
        ts.append(T - 1)
    return ts


def timestep_noise(shape, seed: int, t: int, dtype=torch.float32) -> Tensor:
    """ε for timestep t, drawn on the CPU from (seed, t): the same t gets the same noise whatever the stride."""
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(t))
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


@dataclass
class VLBResult:
    """The bound for a batch of images, every term in bits/dim."""
    total: Tensor                  # (B,) the bound per image: prior + Σ KL (interpolated with a stride) + decoder
    prior: Tensor                  # (B,) L_T
    decoder: Tensor                # (B,) L_0
    timesteps: list[int]           # evaluated t, ascending, starting at 0
    terms: Tensor                  # (B, len(timesteps)) L_{t−1} at each evaluated t (the decoder at t = 0)
    weights: list[float]           # how many timesteps each evaluated term stands for (sums to T)
    interpolation_bound: float     # |error of the mean total| from the stride, if the mean term is monotone between
                                   # evaluated t (0 for stride 1)
    stride: int = 1
    clip_denoised: bool = True
    variance: str = "fixed_small"  # the reverse variance used (learned_range: the network's own, eq. 15)
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(self.total.double().mean())

    @property
    def standard_error(self) -> float:
        """Standard error of the mean bound over the images (image-to-image spread and the noise draws)."""
        n = self.total.numel()
        return float(self.total.double().std() / math.sqrt(n)) if n > 1 else math.nan


def stride_weights(ts: list[int]) -> list[float]:
    """How many timesteps each evaluated term stands for when each missing KL term (t ≥ 1) is the mean of its two
    evaluated neighbours: 1 + (missing on the left)/2 + (missing on the right)/2; they sum to T."""
    w = [1.0] * len(ts)
    for i in range(1, len(ts) - 1):
        missing = ts[i + 1] - ts[i] - 1
        w[i] += missing / 2
        w[i + 1] += missing / 2
    return w


def interpolation_bound(ts: list[int], mean_terms: Tensor) -> float:
    """Σ_gaps (missing/2)·|L̄_b − L̄_a| over consecutive evaluated KL timesteps a < b: if the mean term L̄ is monotone
    between them, every missing term lies between L̄_a and L̄_b, so the mean (L̄_a + L̄_b)/2 errs by at most half
    their difference."""
    return sum((ts[i + 1] - ts[i] - 1) / 2 * abs(float(mean_terms[i + 1] - mean_terms[i])) for i in range(1, len(ts) - 1))


@torch.no_grad()
def vlb_terms(model_fn: Callable[[Tensor, Tensor], Tensor], diffusion: GaussianDiffusion, x_start: Tensor, *,
              stride: int = 1, seed: int = 0, variance: Optional[str] = None, clip_denoised: bool = True,
              quantize: bool = True, callback: Optional[Callable[[int, int], None]] = None) -> VLBResult:
    """The variational bound of each image in bits/dim (see the module docstring).

    model_fn(x_t, t) -> the network's output; x_start: (B, C, H, W) in [−1, 1], quantised to 8 bits first unless
    quantize=False (then it must already lie on the grid). stride: see vlb_timesteps.
    Noise for timestep t comes from timestep_noise(shape, seed, t). callback(done, total) after each timestep.
    variance: the reverse variance σ_t² (VARIANCES); None is the model's own (learned_range for a learned one)."""
    variance = resolve_variance(diffusion, variance)
    ts = vlb_timesteps(diffusion.T, stride)
    x = quantize_8bit(x_start) if quantize else x_start
    if not quantize and not torch.allclose(quantize_8bit(x), x, atol=1e-5):
        raise MessageError("likelihood.not_8bit")
    B = x.shape[0]
    terms = torch.empty(B, len(ts), dtype=torch.float64)
    for i, t in enumerate(ts):
        tt = torch.full((B,), t, dtype=torch.long, device=x.device)
        noise = timestep_noise(x.shape, seed, t, x.dtype).to(x.device)
        x_t = diffusion.q_sample(x, tt, noise)
        out = model_fn(x_t, tt)
        terms[:, i] = vlb_term_bpd(diffusion, out, x, x_t, tt, variance=variance,
                                   clip_denoised=clip_denoised).double().cpu()
        if callback is not None:
            callback(i + 1, len(ts))
    weights = stride_weights(ts)
    prior = prior_bpd(diffusion, x).double().cpu()
    total = prior + terms @ torch.tensor(weights, dtype=torch.float64)
    bound = interpolation_bound(ts, terms.mean(0))
    notes = [] if stride == 1 else [
        f"KL terms evaluated at every t ≤ {stride} then every {stride}-th t ({len(ts) - 1} of {diffusion.T - 1}); "
        "each missing term is "
        f"the mean of its evaluated neighbours, within ±{bound:.3g} bits/dim of the full sum if the mean term is "
        "monotone between them"]
    return VLBResult(total, prior, terms[:, 0].clone(), ts, terms, weights, bound, stride, clip_denoised, variance,
                     notes)
