"""DDPM Workbench diagnostics: checks with verdicts and fixes, the offline feature network and sample-quality metrics.

    from diagnostics import run_report
    files = run_report("checkpoints/digits_tiny.safetensors", "reports/tiny", quick=True)

Checks (diagnostics.checks, a package with one module a concern) take tensors, a model and a diffusion and
return CheckResult dataclasses; every threshold lives in diagnostics.thresholds; figures in diagnostics.plots;
running in diagnostics.report, rendering in diagnostics.render. Every sentence a check writes is a Message (a key of
diagnostics/locales/en.toml and zh.toml and its values: diagnostics.text), rendered in English or 中文 where shown.
The feature network and metrics (diagnostics.features, diagnostics.metrics) are imported only when the
sample-quality check runs. Nothing here imports gradio.
"""
from . import text  # noqa: F401  (registers diagnostics/locales before any check builds a message)
from .thresholds import DEFAULT_THRESHOLDS, Thresholds
from .checks import (CheckResult, CheckRun, ModeSettings, SampleBatch, check_diversity, check_memorisation,
                     check_model_basics, check_noise_prediction, check_performance, check_sample_quality,
                     check_schedule, check_smoothness, check_x0_range, draw_samples, edge_energy, mode_settings,
                     run_all, run_checks, worst_verdict)
from .report import Report, ReportFiles, load_real_data, run_report, to_html, to_json, to_markdown

__all__ = [
    "DEFAULT_THRESHOLDS", "Thresholds", "CheckResult", "CheckRun", "ModeSettings", "SampleBatch",
    "check_diversity", "check_memorisation", "check_model_basics", "check_noise_prediction", "check_performance",
    "check_sample_quality", "check_schedule", "check_smoothness", "check_x0_range", "draw_samples", "edge_energy",
    "mode_settings", "run_all", "run_checks", "worst_verdict", "Report", "ReportFiles", "load_real_data",
    "run_report", "to_html", "to_json", "to_markdown",
]
