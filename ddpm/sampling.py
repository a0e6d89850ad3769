"""The one sampling loop every sampler uses, with classifier-free and classifier guidance, trajectories,
seeding and batching.

    result = generate(model, diffusion, sampler="ddim", steps=50, labels=[3, 3, 7], guidance_scale=2.0, seed=0)
    result.images  # (N, C, H, W) in [-1, 1]
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from .coefficients import join_variance, split_variance
from .device import Precision, resolve_precision
from .diffusion import GaussianDiffusion
from .formats.base import guidance_unavailable_message
from .guidance import GuidanceInterval, as_guidance_interval
from .messages import MessageError
from .samplers import SOLVERS, make_sampler
from .stochastic import Churn, EpsScaling, RestartSpec

MAX_SAMPLES = 50_000          # one call never generates more than this
DEFAULT_MAX_BATCH = 256       # the memory bound: images per forward pass (×2 under classifier-free guidance)

ProgressFn = Callable[[int, int], None]   # (done, total) network steps; raise inside it to cancel


@dataclass
class Trajectory:
    timesteps: list[int]          # the t at which each frame was taken (descending)
    x_t: Tensor                   # (F, N, C, H, W): the sample entering step t
    pred_xstart: Tensor           # (F, N, C, H, W): x̂_0 predicted at step t (unclipped)


@dataclass
class SampleResult:
    images: Tensor                # (N, C, H, W) in [-1, 1], on the CPU
    labels: Optional[Tensor]      # (N,) long, or None when unconditional
    x_T: Tensor                   # (N, C, H, W) the starting noise
    timesteps: list[int]          # the sampler's timesteps, descending
    network_calls: int            # forward passes of the network per image (a doubled CFG batch counts once)
    seconds: float
    trajectory: Optional[Trajectory] = None
    settings: dict = field(default_factory=dict)


def initial_noise(n: int, shape: Sequence[int], seed: int, temperature: float = 1.0) -> Tensor:
    """x_T ~ N(0, temperature² I), drawn on the CPU from `seed` so every device and sampler starts alike."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn((n, *shape), generator=g) * temperature


class GuidedModel:
    """model_fn(x_t, t) -> output in the network's parameterisation, with guidance applied.

    Classifier-free (Ho & Salimans 2022): out = out_∅ + w (out_y − out_∅); w = 0 is unconditional,
    w = 1 purely conditional; the two passes run as one doubled batch.
    Classifier guidance (Dhariwal & Nichol 2021, Alg. 2 in ε form): ε̂ ← ε̂ − s √(1−ᾱ_t) ∇_x log p(y | x_t, t).
    A learned-variance network (2C channels): guidance moves the mean output only and the variance output v is
    the conditional pass's (the unconditional one's at w = 0), as GLIDE / improved-diffusion do.
    A GuidanceInterval limits classifier-free guidance to the steps whose noise level lies in it (w = 1 elsewhere).
    ε scaling (ddpm.stochastic.EpsScaling, Ning et al. 2024), last: ε̂ ← ε̂/λ_t, for every sampler alike.
    `calls` counts the network calls (a doubled CFG batch once): every sampler's only way to the network.
    """

    def __init__(self, model, diffusion: GaussianDiffusion, labels: Optional[Tensor], guidance_scale: float = 1.0,
                 classifier=None, classifier_scale: float = 0.0, precision: Optional[Precision] = None,
                 eps_scaling: Optional[EpsScaling] = None, interval: Optional[GuidanceInterval] = None):
        self.diffusion, self.labels, self.interval = diffusion, labels, interval
        self.eps_scaling = None if eps_scaling is None or eps_scaling.off else eps_scaling
        self.model = model if precision is None else functools.partial(precision.run, model)  # output in fp32
        self.w = float(guidance_scale)
        self.classifier, self.s = classifier, float(classifier_scale)
        self.null = getattr(model.config, "num_classes", 0)
        self.calls = 0

    @property
    def doubles_batch(self) -> bool:
        return self.labels is not None and self.w != 1.0

    def _guided_rows(self, x_t: Tensor, t: Tensor) -> Optional[Tensor]:
        """(B,) bool: the rows whose noise level is in the guidance interval; None: every row (no interval)."""
        if self.interval is None:
            return None
        s = self.diffusion.sqrt_recipm1_alphas_cumprod.to(t.device)[t]     # s_t = √(1/ᾱ_t − 1), (B,)
        return self.interval.contains(s)

    def _cfg(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        if self.w == 0.0:
            return self.model(x_t, t, torch.full_like(y, self.null))
        both = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, self.null)]))
        (mean_y, v_y), (mean_null, _) = (split_variance(o, x_t) for o in both.chunk(2))
        return join_variance(mean_null + self.w * (mean_y - mean_null), v_y)

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        y = self.labels
        self.calls += 1
        with torch.no_grad():
            guided = None if y is None or self.w == 1.0 else self._guided_rows(x_t, t)
            if y is None:
                out = self.model(x_t, t, None)
            elif self.w == 1.0 or (guided is not None and not guided.any()):
                out = self.model(x_t, t, y)
            elif guided is None or guided.all():
                out = self._cfg(x_t, t, y)
            else:                              # a batch with rows either side of the interval's ends
                out = torch.where(guided.view(-1, *([1] * (x_t.dim() - 1))), self._cfg(x_t, t, y),
                                  self.model(x_t, t, y))
        if self.classifier is not None and self.s != 0.0 and y is not None:
            d = self.diffusion
            eps, _ = d.split_model_output(out, x_t, t)
            with torch.enable_grad():
                x_in = x_t.detach().requires_grad_(True)
                log_probs = torch.log_softmax(self.classifier(x_in, t), dim=-1)
                selected = log_probs[torch.arange(len(y)), y].sum()
                grad = torch.autograd.grad(selected, x_in)[0]
            _, sigma = d.alpha_sigma(t, x_t)                     # σ_t = √(1−ᾱ_t), (B, 1, 1, 1)
            out = join_variance(d.model_output_from_eps(x_t, t, eps - self.s * sigma * grad), split_variance(out, x_t)[1])
        if self.eps_scaling is not None:
            d = self.diffusion
            eps, _ = d.split_model_output(out, x_t, t)
            lam = self.eps_scaling.factor(t, d.T).to(eps.dtype).view(-1, *([1] * (eps.dim() - 1)))
            out = join_variance(d.model_output_from_eps(x_t, t, eps / lam), split_variance(out, x_t)[1])
        return out


def sample_loop(model_fn: Callable[[Tensor, Tensor], Tensor], sampler, x_T: Tensor,
                generator: Optional[torch.Generator] = None, noise_temperature: float = 1.0,
                capture: Sequence[int] = (), callback: Optional[ProgressFn] = None,
                progress_offset: int = 0, progress_total: Optional[int] = None):
    """Run `sampler` from x_T down to x_0. Returns (x_0, frames) where frames maps each captured t to
    (x_t, x̂_0). Step noise is drawn on the CPU from `generator` so results do not depend on the device.

    A sampler with `calls_model` (ddpm.stochastic: EDM Heun, Restart) gets model_fn itself, with a function that
    draws its next noise, and calls the network as often as its step needs; any other sampler gets the one output
    model_fn(x_t, t) and one noise per step."""
    x = x_T
    ts = sampler.timesteps
    sampler.reset()                       # multistep solvers start without memory of an earlier loop
    total = progress_total or len(ts)
    frames = {}
    capture = set(capture)

    def draw_noise() -> Optional[Tensor]:
        if noise_temperature <= 0:
            return None
        return torch.randn(x.shape, generator=generator).to(x.device, x.dtype) * noise_temperature

    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        if getattr(sampler, "calls_model", False):
            step = sampler.step_model(model_fn, t, t_prev, x, draw_noise)
            raw_x0 = step.raw_xstart
        else:
            tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
            out = model_fn(x, tt)
            step = sampler.step(out, t, t_prev, x, draw_noise() if t_prev >= 0 else None)
            raw_x0 = sampler.diffusion.split_model_output(out, x, tt)[1] if t in capture else None
        if t in capture:
            frames[t] = (x.detach().cpu(), raw_x0.detach().cpu())
        x = step.prev_sample
        if callback is not None:
            callback(progress_offset + i + 1, total)
    return x, frames


def pick_capture_steps(timesteps: Sequence[int], frames: int) -> list[int]:
    """`frames` timesteps spread evenly over the sampler's own (always including the first and last)."""
    if frames <= 0:
        return []
    if frames >= len(timesteps):
        return list(timesteps)
    idx = torch.linspace(0, len(timesteps) - 1, frames).round().long().tolist()
    return [timesteps[i] for i in sorted(set(idx))]


def _parse_labels(labels, n: int, num_classes: int) -> Optional[Tensor]:
    if labels is None:
        return None
    if num_classes == 0:
        raise MessageError("sampling.labels_unconditional")
    y = torch.as_tensor(list(labels) if not torch.is_tensor(labels) else labels, dtype=torch.long).flatten()
    if y.numel() == 0:
        return None
    if ((y < 0) | (y >= num_classes)).any():
        bad = y[(y < 0) | (y >= num_classes)][0].item()
        raise MessageError("sampling.label_range", label=bad, last=num_classes - 1)
    if y.numel() != n:  # cycle the given labels over n images: labels=[3, 7], n=4 -> 3, 7, 3, 7
        y = y.repeat((n + y.numel() - 1) // y.numel())[:n]
    return y


def generate(model, diffusion: GaussianDiffusion, *, sampler: str = "ddim", steps: Optional[int] = None,
             eta: float = 0.0, variance: Optional[str] = None, spacing: Optional[str] = None,
             clip_denoised: Optional[bool] = None, order: int = 2, karras: bool = False,
             n: int = 16, labels=None, guidance_scale: float = 1.0, classifier=None, classifier_scale: float = 0.0,
             seed: int = 0, temperature: float = 1.0, noise_temperature: float = 1.0, x_T: Optional[Tensor] = None,
             trajectory_frames: int = 0, capture_steps: Optional[Sequence[int]] = None,
             max_batch: int = DEFAULT_MAX_BATCH, callback: Optional[ProgressFn] = None,
             amp: str = "off", eps_from_clipped: Optional[bool] = None, churn: Optional[Churn] = None,
             restart: Optional[RestartSpec] = None, eps_scaling: Optional[EpsScaling] = None,
             convention: Optional[str] = None, guidance_interval=None) -> SampleResult:
    """Generate n images. labels: None (unconditional), or class indices cycled over n.

    sampler: one of ddpm.samplers.SAMPLERS; steps: network calls (DDPM: always T; result.network_calls is exact);
    spacing None: the sampler's default; order, karras: the solvers'. churn (edm_heun), restart (restart) and
    eps_scaling (every sampler): ddpm.stochastic.Churn / RestartSpec / EpsScaling, None: their defaults / off.
    guidance_interval: a GuidanceInterval or (s_lo, s_hi): classifier-free guidance only where s_lo < σ/α ≤ s_hi
    (None: at every step).
    convention: 'workbench' | 'diffusers' | None: the model's own (a pipeline's scheduler config: samplers.conventions).

    The same seed gives the same x_T for every sampler (so DDPM and DDIM can be compared from the very same
    noise) and the same images on the same device and precision. Images are produced in batches of at most
    max_batch. variance / spacing / clip_denoised left at None take the model's defaults
    (diffusion.sampling_defaults). amp: the network's precision ("off" = fp32, "auto", "bf16", "fp16" as in
    ddpm.device); the sampler's arithmetic stays fp32 whatever it is. eps_from_clipped: DDIM with clipping, ε̂
    recomputed from the clipped x̂_0 (None: the convention's; diffusers' DDIMPipeline keeps the network's ε̂).
    """
    if not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise MessageError("sampling.n_range", hi=MAX_SAMPLES, n=n)
    if max_batch < 1:
        raise MessageError("sampling.max_batch", value=max_batch)
    if temperature < 0 or noise_temperature < 0:
        raise MessageError("sampling.temperature")
    num_classes = getattr(model.config, "num_classes", 0)
    y = _parse_labels(labels, n, num_classes)
    if guidance_scale != 1.0 and y is None:
        raise MessageError("sampling.guidance_labels" if num_classes else "guidance.unconditional")
    if guidance_scale != 1.0 and not getattr(model.config, "has_null_class", True):
        raise MessageError("sampling.guidance_one", why=guidance_unavailable_message(model))
    interval = as_guidance_interval(guidance_interval)
    if classifier is not None:
        if y is None:
            raise MessageError("sampling.classifier_labels")
        check_classifier(classifier, model, diffusion)
    if classifier_scale and classifier is None:
        raise MessageError("sampling.no_classifier")
    smp = make_sampler(sampler, diffusion, steps=steps, eta=eta, variance=variance, spacing=spacing,
                       clip_denoised=clip_denoised, order=order, karras=karras, eps_from_clipped=eps_from_clipped,
                       churn=churn, restart=restart, convention=convention)
    if getattr(smp, "variance", None) == "learned_range" and not learns_variance(model):
        raise MessageError("sampling.needs_learned_variance")
    cfg = model.config
    device = next(model.parameters()).device
    precision = resolve_precision(amp, device)
    if precision.warning:
        warnings.warn(precision.warning, stacklevel=2)
    shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    if x_T is None:
        x_T = initial_noise(n, shape, seed, temperature)
    elif tuple(x_T.shape) != (n, *shape):
        raise MessageError("sampling.x_t_shape", shape=tuple(x_T.shape), expected=(n, *shape))
    capture = list(capture_steps) if capture_steps is not None else pick_capture_steps(smp.timesteps, trajectory_frames)
    missing = [t for t in capture if t not in smp.timesteps]
    if missing:  # they would never be captured (and used to end in a KeyError)
        raise MessageError("sampling.capture_steps", missing=missing[:5], n=len(smp.timesteps),
                           first=smp.timesteps[0], last=smp.timesteps[-1])
    was_training = model.training
    model.eval()
    batch = max_batch // 2 if (y is not None and guidance_scale not in (0.0, 1.0)) else max_batch
    batch = max(1, batch)
    n_batches = (n + batch - 1) // batch
    total = n_batches * len(smp.timesteps)
    images, frames_x, frames_x0 = [], [], []
    start = time.perf_counter()
    calls = 0
    try:
        for b in range(n_batches):
            sl = slice(b * batch, min(n, (b + 1) * batch))
            g = torch.Generator().manual_seed(int(seed) * 1_000_003 + b + 1)
            fn = GuidedModel(model, diffusion, None if y is None else y[sl].to(device), guidance_scale,
                             classifier, classifier_scale, precision, eps_scaling, interval)
            x0, frames = sample_loop(fn, smp, x_T[sl].to(device), g, noise_temperature, capture, callback,
                                     progress_offset=b * len(smp.timesteps), progress_total=total)
            calls = fn.calls
            if calls != smp.network_calls:   # the count every sampler states is the count it makes
                raise RuntimeError(f"{sampler} made {calls} network calls but states {smp.network_calls}")
            images.append(x0.detach().cpu().clamp(-1, 1))
            if frames:
                frames_x.append(torch.stack([frames[t][0] for t in capture]))
                frames_x0.append(torch.stack([frames[t][1] for t in capture]))
    finally:
        model.train(was_training)
    traj = None
    if frames_x:
        traj = Trajectory(list(capture), torch.cat(frames_x, 1), torch.cat(frames_x0, 1))
    settings = dict(sampler_settings(sampler, smp, eta, eps_scaling), clip_denoised=smp.clip_denoised,
                    guidance_scale=guidance_scale, classifier_scale=classifier_scale, seed=seed,
                    guidance_interval=None if interval is None else interval.as_list(),
                    temperature=temperature, noise_temperature=noise_temperature, n=n, precision=precision.name)
    return SampleResult(torch.cat(images), None if y is None else y.cpu(), x_T.cpu(), list(smp.timesteps), calls,
                        time.perf_counter() - start, traj, settings)


def sampler_settings(sampler: str, smp, eta: float, eps_scaling: Optional[EpsScaling]) -> dict:
    """What a sampler ran with, JSON-ready (None where the sampler has no such option): SampleResult.settings."""
    solver = sampler in SOLVERS
    return dict(sampler=sampler, steps=len(smp.timesteps), network_calls=smp.network_calls,
                eta=eta if sampler == "ddim" else None, variance=smp.variance if sampler == "ddpm" else None,
                spacing=getattr(smp, "spacing", None), order=smp.order if solver else None,
                karras=smp.karras if solver else None, convention=smp.convention,
                eps_from_clipped=smp.eps_from_clipped if sampler == "ddim" and smp.clip_denoised else None,
                churn=smp.churn.as_dict() if sampler == "edm_heun" else None,
                restart=asdict(smp.restart) if sampler == "restart" else None,
                eps_scaling=asdict(eps_scaling) if eps_scaling is not None and not eps_scaling.off else None)


def learns_variance(model) -> bool:
    """Whether the network also outputs the variance interpolation v (ours with learn_sigma, or a diffusers
    UNet2DModel with out_channels = 2C and a learned_range scheduler)."""
    return bool(getattr(getattr(model, "config", None), "learn_sigma", False))


def check_classifier(classifier, model, diffusion: GaussianDiffusion) -> None:
    """A guidance classifier must match the model's classes, image size and noise schedule."""
    cc, mc = classifier.config, model.config
    if cc.num_classes != mc.num_classes:
        raise MessageError("sampling.classifier_classes", k_classifier=cc.num_classes, k_model=mc.num_classes)
    if (cc.image_size, cc.in_channels) != (mc.image_size, mc.in_channels):
        raise MessageError("sampling.classifier_shape", c=cc.in_channels, size=cc.image_size, model_c=mc.in_channels,
                           model_size=mc.image_size)
    dcfg = getattr(classifier, "diffusion_config", None)
    if dcfg is not None and (dcfg.schedule, dcfg.T) != (diffusion.config.schedule, diffusion.config.T):
        raise MessageError("sampling.classifier_schedule", schedule=dcfg.schedule, T=dcfg.T,
                           model_schedule=diffusion.config.schedule, model_T=diffusion.config.T)
