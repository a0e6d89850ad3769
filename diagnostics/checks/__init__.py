"""The diagnostic checks of SPEC §6 (seed 001 §3.5.3 and exercise 3.5.3), each a function of tensors, a
model and a diffusion that returns a `CheckResult`: a verdict, one sentence, the numbers behind it, the rule
that decided it and, unless the verdict is ok, a fix in plain words.

    from ddpm import load_checkpoint
    from diagnostics.checks import run_all
    ck = load_checkpoint("checkpoints/digits_tiny.safetensors")
    for r in run_all(ck, real=None, quick=True):
        print(r.verdict, r.title, r.summary)

One file a concern:

    result.py        CheckResult, worst_verdict and the helpers every check shares
    model.py         model basics (eval mode, weight statistics, NaN/Inf, EMA)
    schedule.py      the noise schedule; the seed's timesteps scaled to any T
    noise.py         noise prediction on noised real data
    trajectory.py    x̂_0 range along sampling
    images.py        smoothness (edge energy) and diversity (mode collapse)
    colour.py        RGB mean and covariance, HSV saturation and per-channel statistics beside their floor
    quality.py       FID beside its real-vs-real floor, IS, precision/recall, conditional accuracy
    memorisation.py  copies of training images (nearest-neighbour distances against held-out images)
    generalisation.py  denoising loss per band of t, training vs held-out images (memorisation before copies)
    likelihood.py    bits/dim on the training and held-out splits (diagnostics.likelihood), the report section
    sampler.py       which sampler the model needs: the sampler doctor (diagnostics.doctor) as a check, full mode
    performance.py   time per call, projected sampling time, memory
    runner.py        quick / full settings, the shared samples, run_checks / run_all (the real-data split the
                     checks share is diagnostics.splits)

Nothing here reads files except the quality check's optional feature network; plots live in `plots.py`,
rendering in `report.py`. Every threshold is in `thresholds.py`.
"""
from .colour import check_colour, colour_distance, colour_stats, saturation_distance
from .images import check_diversity, check_smoothness, edge_energy, pairwise_rms_distance, pixel_std
from .generalisation import check_generalisation, generalisation_on_splits
from .likelihood import check_likelihood
from .memorisation import check_memorisation, nearest_distances
from .model import check_model_basics
from .noise import check_noise_prediction
from .performance import check_performance, forward_memory_bytes, time_network_call
from .quality import check_sample_quality, feature_net_mismatch
from .result import SEVERITY, VERDICTS, CheckResult, StageFn, overall_summary, worst_verdict
from .runner import (CheckRun, ModeSettings, RealSplits, SampleBatch, capture_steps_for, draw_samples,
                     mode_settings, run_all, run_checks, split_real_data)
from .schedule import QUARTER_FRACTIONS, TRAJECTORY_FRACTIONS, check_schedule, scaled_timesteps
from .trajectory import check_x0_range

__all__ = [
    "VERDICTS", "SEVERITY", "StageFn", "CheckResult", "worst_verdict", "overall_summary", "check_model_basics", "check_schedule",
    "scaled_timesteps", "QUARTER_FRACTIONS", "TRAJECTORY_FRACTIONS", "check_noise_prediction", "check_x0_range",
    "edge_energy", "check_smoothness", "pairwise_rms_distance", "pixel_std", "check_diversity",
    "check_colour", "colour_stats", "colour_distance", "saturation_distance",
    "time_network_call", "forward_memory_bytes", "check_performance", "feature_net_mismatch",
    "check_sample_quality", "nearest_distances", "check_memorisation", "check_generalisation",
    "generalisation_on_splits", "check_likelihood", "SampleBatch", "ModeSettings",
    "mode_settings", "capture_steps_for", "draw_samples", "CheckRun", "RealSplits", "split_real_data",
    "run_all", "run_checks",
]
