"""Running every check on a checkpoint: quick / full settings, one shared batch of samples, the real data cut
as the model was trained (training split and held-out split), progress, and the results in report order."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import torch
from torch import Tensor

from ddpm import GaussianDiffusion, Trajectory, generate
from ddpm.messages import MessageError
from ddpm.sampling import DEFAULT_MAX_BATCH

from ..text import Text, msg
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .colour import check_colour
from .sampler import KEY as SAMPLER_KEY, TITLE as SAMPLER_TITLE, check_sampler
from .images import check_diversity, check_smoothness
from .generalisation import generalisation_on_splits
from .likelihood import KEY as LIKELIHOOD_KEY, TITLE as LIKELIHOOD_TITLE, likelihood_on_report_splits
from .memorisation import KEY as MEMORISATION_KEY, TITLE as MEMORISATION_TITLE, check_memorisation
from .model import check_model_basics, model_config
from .noise import check_noise_prediction
from .performance import check_performance
from ..extractors import load_extractor
from .quality import KEY as QUALITY_KEY, TITLE as QUALITY_TITLE, check_sample_quality
from .result import CheckResult, StageFn, skipped
from ..splits import RealSplits, split_real_data
from .schedule import TRAJECTORY_FRACTIONS, check_schedule, scaled_timesteps
from .trajectory import check_x0_range


@dataclass
class SampleBatch:
    """One batch of samples shared by the x̂_0 range, smoothness, diversity, quality and memorisation checks."""
    images: Tensor                  # (N, C, H, W) in [-1, 1]
    labels: Optional[Tensor]        # (N,) long, or None for an unconditional model
    trajectory: Optional[Trajectory]
    sampler: str
    steps: int
    seconds: float
    clip_denoised: bool = True
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModeSettings:
    """What quick and full mode do; see `mode_settings`."""
    quick: bool
    n: int                          # samples shared by the sample-based checks
    sampler: str                    # ddim (quick) | ddpm (full)
    steps: int                      # sampler steps
    noise_n: int                    # real images per t in the noise-prediction check
    timing_batch: int               # the "typical batch" of the performance check
    timing_repeats: int
    memory_batch_sizes: tuple
    quality_k: int = 3
    generalisation_n: int = 64      # training and held-out images in the generalisation check
    generalisation_draws: int = 2   # (t, ε) draws per image and band there
    likelihood_n: int = 0           # images per split for bits/dim (0: not computed)
    likelihood_stride: int = 32     # bits/dim evaluates every t up to this, then every stride-th t
    amp: str = "off"                # the network's precision while drawing the samples (ddpm.device)
    eta: float = 0.0                # DDIM's η: 0 deterministic, 1 the DDPM posterior's variance on DDIM's steps
    doctor_n: int = 0               # samples per candidate sampler in the sampler check (0: not run)
    doctor_calls: int = 10          # network calls per image at which the sampler check compares them

    def as_dict(self) -> dict:
        return asdict(self)


def mode_settings(quick: bool, T: int, n: Optional[int] = None, sampler: Optional[str] = None,
                  steps: Optional[int] = None, likelihood: Optional[bool] = None, amp: str = "off",
                  eta: float = 0.0) -> ModeSettings:
    """quick: DDIM with 20 steps, 64 samples, short timings (well under a minute for a tiny 16×16 model on CPU);
    full: DDPM over all T steps, 500 samples, more timings and batch sizes.
    likelihood: compute bits/dim (default: in full mode only; it costs ~2·(stride + T/stride) passes per image).
    eta: DDIM's η in [0, 1] (DDIM only; DDPM's variance is the model's)."""
    if n is not None and (not isinstance(n, int) or n < 2):
        raise MessageError("settings.bad_n", n=repr(n))
    sampler = sampler or ("ddim" if quick else "ddpm")
    if sampler not in ("ddim", "ddpm"):
        raise MessageError("settings.bad_sampler", sampler=repr(sampler))
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise MessageError("settings.bad_steps", steps=repr(steps))
    if not 0.0 <= float(eta) <= 1.0:
        raise MessageError("settings.bad_eta", eta=repr(eta))
    if sampler == "ddpm" and eta:
        raise MessageError("settings.eta_ddpm")
    if sampler == "ddpm":
        steps = T
    else:
        steps = min(int(steps or (20 if quick else 100)), T)
    n = n or (64 if quick else 500)
    likelihood = (not quick) if likelihood is None else bool(likelihood)
    stride = max(1, min(32, T - 1))
    if quick:
        return ModeSettings(True, n, sampler, steps, noise_n=64, timing_batch=min(n, 64), timing_repeats=2,
                            memory_batch_sizes=(1, 16, 64), generalisation_n=64, likelihood_n=64 if likelihood else 0,
                            likelihood_stride=stride, amp=amp, eta=float(eta))
    return ModeSettings(False, n, sampler, steps, noise_n=256, timing_batch=min(n, DEFAULT_MAX_BATCH),
                        timing_repeats=5, memory_batch_sizes=(1, 4, 16, 64, 256), generalisation_n=500,
                        generalisation_draws=4, likelihood_n=256 if likelihood else 0, likelihood_stride=stride,
                        amp=amp, eta=float(eta), doctor_n=min(n, 200), doctor_calls=min(10, T - 1))


def capture_steps_for(timesteps: Sequence[int], T: int) -> list[int]:
    """The sampler timesteps nearest to 999, 800, 600, 400, 200, 0 (scaled to T), descending, unique."""
    targets = scaled_timesteps(T, TRAJECTORY_FRACTIONS)
    chosen = {min(timesteps, key=lambda s: (abs(s - tgt), s)) for tgt in targets}
    return sorted(chosen, reverse=True)


def draw_samples(model, diffusion: GaussianDiffusion, settings: ModeSettings, seed: int = 0,
                 guidance_scale: float = 1.0, callback: Optional[Callable[[int, int], None]] = None,
                 guidance_interval=None) -> SampleBatch:
    """Generate settings.n images (classes cycled for a conditional model) with a captured x̂_0 trajectory;
    guidance_interval: ddpm.generate's (classifier-free guidance only at those noise levels)."""
    from ddpm import make_sampler
    cfg = model_config(model)
    T = diffusion.T
    steps = settings.steps if settings.sampler == "ddim" else None
    ts = make_sampler(settings.sampler, diffusion, steps=steps).timesteps   # with the model's own spacing
    labels = list(range(cfg.num_classes)) if getattr(cfg, "num_classes", 0) else None
    res = generate(model, diffusion, sampler=settings.sampler, steps=steps, eta=settings.eta, n=settings.n,
                   labels=labels, guidance_scale=guidance_scale if labels else 1.0, seed=seed,
                   capture_steps=capture_steps_for(ts, T), callback=callback, amp=settings.amp,
                   guidance_interval=guidance_interval if labels else None)
    return SampleBatch(res.images, res.labels, res.trajectory, settings.sampler, len(res.timesteps), res.seconds,
                       bool(res.settings.get("clip_denoised", True)), dict(res.settings))


class _Progress:
    """Maps stage work onto one overall fraction; weights are rough shares of the run time."""

    def __init__(self, callback: Optional[StageFn], weights: dict[str, float]):
        self.callback, self.weights = callback, weights
        total = sum(weights.values())
        self.offsets, acc = {}, 0.0
        for k, w in weights.items():
            self.offsets[k] = acc / total
            acc += w
        self.total = total

    def __call__(self, stage: str, fraction: float = 0.0) -> None:
        if self.callback is not None and stage == "done":
            self.callback(stage, 1.0)
        elif self.callback is not None:
            f = self.offsets.get(stage, 0.0) + self.weights.get(stage, 0.0) / self.total * min(max(fraction, 0.0), 1.0)
            self.callback(stage, min(f, 1.0))


def _subset(images: Tensor, labels: Optional[Tensor], n: int, seed: int) -> tuple[Tensor, Optional[Tensor]]:
    if len(images) <= n:
        return images, labels
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    idx = idx.sort().values
    return images[idx], None if labels is None else labels[idx]


@dataclass
class CheckRun:
    """What `run_checks` did: the results, the shared sample batch and the settings used."""
    results: list[CheckResult]
    samples: SampleBatch
    settings: ModeSettings


def run_all(ck, real=None, quick: bool = False, n: Optional[int] = None, seed: int = 0,
            callback: Optional[StageFn] = None, **kwargs) -> list[CheckResult]:
    """Every check on a LoadedCheckpoint -> list of CheckResult (see `run_checks` for the keyword options)."""
    return run_checks(ck, real, quick, n, seed, callback, **kwargs).results


def run_checks(ck, real=None, quick: bool = False, n: Optional[int] = None, seed: int = 0,
               callback: Optional[StageFn] = None, *, samples: Optional[SampleBatch] = None,
               settings: Optional[ModeSettings] = None, feature_net=None, real_reason: Optional[Text] = None,
               guidance_scale: float = 1.0, thresholds: Thresholds = DEFAULT_THRESHOLDS,
               guidance_interval=None) -> CheckRun:
    """Every check on a LoadedCheckpoint, sharing one sample batch among x̂_0 range, smoothness, diversity,
    quality and memorisation (and, without real data, noise prediction).

    real: the checkpoint's whole data set (ImageDataset) or None (checks that need it are skipped, citing
    real_reason, a Message); it is split as the model was trained (see `split_real_data`): quality and memorisation
    compare the samples with the training split and judge them against the held-out split.
    callback(stage, fraction): stage is one of "model", "schedule", "noise", "performance", "sampling",
    "smoothness", "diversity", "colour", "quality", "memorisation", "generalisation", "likelihood", "sampler", "done"; fraction is the overall progress in [0, 1].
    settings: a ModeSettings (default mode_settings(quick, T, n)); samples: a SampleBatch to reuse.
    feature_net: a FeatureExtractor, a path, or None for the default file (the check is skipped, with the
    reason, if it cannot be loaded or does not fit the data).
    """
    model, diffusion = ck.model, ck.diffusion
    settings = settings or mode_settings(quick, diffusion.T, n)
    th = thresholds
    weights = {"model": 0.5, "schedule": 0.5, "noise": 3, "performance": 6 if settings.quick else 10,
               "sampling": 0 if samples is not None else (15 if settings.quick else 60), "smoothness": 0.5,
               "diversity": 1, "colour": 0.5, "quality": 4, "memorisation": 0.5, "generalisation": 2,
               "likelihood": 20 if settings.likelihood_n else 0, "sampler": 10 if settings.doctor_n else 0}
    progress = _Progress(callback, weights)
    splits = None if real is None else split_real_data(real, dict(ck.meta.get("data") or {}))
    results: list[Optional[CheckResult]] = []

    progress("model")
    results.append(check_model_basics(model, ck.weights, th))
    progress("schedule")
    results.append(check_schedule(diffusion, th))

    progress("noise")
    if real is not None:
        x_real, y_real = _subset(real.images, real.labels, settings.noise_n, seed)
        y = None
        if ck.num_classes:
            y = y_real if real.num_classes == ck.num_classes else torch.full_like(y_real, ck.num_classes)
        results.append(check_noise_prediction(model, diffusion, x_real, y, seed=seed,
                                              source=msg("data.real_images", name=str(real.name)), thresholds=th))
    else:
        results.append(None)          # filled after sampling: the model's own samples stand in for real data

    progress("performance")
    perf = check_performance(model, diffusion, batch=settings.timing_batch,
                             memory_batch_sizes=settings.memory_batch_sizes, repeats=settings.timing_repeats,
                             thresholds=th)

    if samples is None:
        progress("sampling", 0.0)
        samples = draw_samples(model, diffusion, settings, seed, guidance_scale,
                               callback=lambda done, total: progress("sampling", done / max(total, 1)),
                               guidance_interval=guidance_interval)
    if results[-1] is None:
        x_own, y_own = _subset(samples.images, samples.labels, settings.noise_n, seed)
        r = check_noise_prediction(model, diffusion, x_own, y_own, seed=seed,
                                   source=msg("data.generated_no_real"), thresholds=th)
        r.notes.append(msg("data.noised_own_samples", why=real_reason or msg("common.none_given")))
        results[-1] = r

    results.append(check_x0_range(samples.trajectory, diffusion.T, samples.sampler, samples.clip_denoised, th))
    progress("smoothness")
    real_cmp = real_cmp_labels = None
    if real is not None:
        real_cmp, real_cmp_labels = _subset(real.images, real.labels, max(len(samples.images), 2), seed + 1)
    real_edges = None if real is None else _subset(real.images, None, 5000, seed + 2)[0]   # quantiles need many
    results.append(check_smoothness(samples.images, real_edges, thresholds=th, real_reason=real_reason))
    progress("diversity")
    per_class = bool(real is not None and ck.num_classes and real.num_classes == ck.num_classes)
    results.append(check_diversity(samples.images, real_cmp, samples.labels if per_class else None,
                                   real_cmp_labels if per_class else None, ck.class_names, th, real_reason))
    progress("colour")
    results.append(_colour(ck, samples, splits, seed, real_reason, th))
    progress("quality")
    results.append(_quality(ck, samples, splits, feature_net, settings, seed, real_reason, th))
    progress("memorisation")
    results.append(_memorisation(samples, splits, real_reason, th))
    progress("generalisation")
    results.append(generalisation_on_splits(model, diffusion, splits, n=settings.generalisation_n,
                                            draws=settings.generalisation_draws, seed=seed, thresholds=th,
                                            real_reason=real_reason))
    progress("likelihood")
    results.append(_likelihood(model, diffusion, splits, settings, seed, real_reason, th))
    progress("sampler")
    results.append(_sampler(ck, real, settings, seed, guidance_scale, feature_net, real_reason, guidance_interval))
    results.append(perf)
    progress("done", 1.0)
    return CheckRun(results, samples, settings)


def _quality(ck, samples: SampleBatch, splits: Optional[RealSplits], feature_net, settings: ModeSettings, seed: int,
             real_reason: Optional[Text], th: Thresholds) -> CheckResult:
    if splits is None:
        return skipped(QUALITY_KEY, QUALITY_TITLE, msg("quality.needs_data_why", why=real_reason) if real_reason
                       else msg("quality.needs_data"))
    extractor, why_not = load_extractor(feature_net, ck.meta.get("data"))
    if extractor is None:
        return skipped(QUALITY_KEY, QUALITY_TITLE, why_not)
    r = check_sample_quality(samples.images, samples.labels, splits.reference, splits.heldout, extractor,
                             k=settings.quality_k, seed=seed, data=dict(ck.meta.get("data") or {}),
                             heldout_seen=splits.heldout_seen, thresholds=th, trained_on=splits.trained_on)
    if r.verdict != "skip":
        r.notes += splits.notes
        fraction, split_seed = getattr(extractor, "holdout_fraction", None), getattr(extractor, "split_seed", None)
        if (fraction is not None and split_seed is not None and math.isfinite(fraction)
                and (fraction, split_seed) != (splits.holdout_fraction, splits.split_seed)):
            r.notes.append(msg("split.feature_net_other", fraction=fraction, seed=split_seed,
                               model_fraction=splits.holdout_fraction, model_seed=splits.split_seed))
    return r


def _colour(ck, samples: SampleBatch, splits: Optional[RealSplits], seed: int, real_reason,
            th: Thresholds) -> CheckResult:
    """The colour check on the shared samples, weighted to their classes where those are the data's."""
    if splits is None:
        return check_colour(samples.images, None, None, None, thresholds=th, real_reason=real_reason)
    per_class = bool(ck.num_classes and splits.reference.num_classes == ck.num_classes)
    r = check_colour(samples.images, samples.labels if per_class else None, splits.reference, splits.heldout,
                     seed=seed, heldout_seen=splits.heldout_seen, thresholds=th)
    if r.verdict != "skip":
        r.notes += splits.notes
    return r


def _memorisation(samples: SampleBatch, splits: Optional[RealSplits], real_reason: Optional[Text],
                  th: Thresholds) -> CheckResult:
    if splits is None:
        return check_memorisation(samples.images, None, None, thresholds=th, real_reason=real_reason)
    if splits.trained_on == "none":
        return skipped(MEMORISATION_KEY, MEMORISATION_TITLE, msg("split.reference_none_skip"))
    r = check_memorisation(samples.images, splits.reference.images,
                           None if splits.heldout is None else splits.heldout.images,
                           heldout_seen=splits.heldout_seen, thresholds=th, real_reason=real_reason)
    if r.verdict != "skip":
        r.notes += splits.notes
    return splits.said(r)


def _likelihood(model, diffusion: GaussianDiffusion, splits: Optional[RealSplits], settings: ModeSettings, seed: int,
                real_reason: Optional[Text], th: Thresholds) -> CheckResult:
    """Bits/dim where settings ask for it; a skip says why: quick mode, or turned off in a full run."""
    if not settings.likelihood_n and not settings.quick:
        return skipped(LIKELIHOOD_KEY, LIKELIHOOD_TITLE, msg("likelihood.off"))
    if splits is not None and splits.trained_on == "none":
        return skipped(LIKELIHOOD_KEY, LIKELIHOOD_TITLE, msg("split.reference_none_skip"))
    r = likelihood_on_report_splits(model, diffusion, splits, n=settings.likelihood_n,
                                    stride=settings.likelihood_stride, seed=seed, thresholds=th,
                                    real_reason=real_reason)
    if splits is not None and r.verdict != "skip":
        r.notes += splits.notes
        if "heldout_bpd" in r.numbers:        # a gap between the splits: only as true as the assumed split
            splits.said(r)
    return r


def _sampler(ck, real, settings: ModeSettings, seed: int, guidance_scale: float, feature_net,
             real_reason: Optional[Text], guidance_interval=None) -> CheckResult:
    """The sampler doctor in full mode; quick mode skips it, saying how to run it alone."""
    if not settings.doctor_n:
        return skipped(SAMPLER_KEY, SAMPLER_TITLE, msg("check.sampler.quick"))
    return check_sampler(ck, real, calls=settings.doctor_calls, n=settings.doctor_n, seed=seed,
                         guidance_scale=guidance_scale, feature_net=feature_net, real_reason=real_reason,
                         guidance_interval=guidance_interval)
