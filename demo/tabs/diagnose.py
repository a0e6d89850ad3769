"""The Diagnostics tab: the checks report (diagnostics.run_report) for a checkpoint, shown in the page and
offered as HTML + JSON downloads."""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from ddpm import CheckpointError

from .. import checkpoints, guard, limits
from .. import common as c

DIAGNOSE_MODES = ("quick", "full")


@dataclass
class DiagnoseView:
    summary: str                     # Markdown: the verdict table
    report: str                      # HTML: the full report in an iframe
    files: list[str]                 # [report .html, report .json]


def diagnose(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, mode: str = "quick",
             seed: int = 0, reference: Any = None, train_features: bool = False,
             progress=gr.Progress()) -> DiagnoseView:
    """Run the diagnostics report on a checkpoint; `reference`: an uploaded .zip of images for the data checks
    of a model that records no data set (a diffusers model), `train_features`: train a feature network on it."""
    mode = str(mode or "quick").strip().lower()
    if mode not in DIAGNOSE_MODES:
        raise c.user_error(f"mode must be 'quick' or 'full' (got {mode!r})")
    seed = c.seed(seed)
    ckpt = c.load_model(checkpoint, upload)       # validates the file with the loader's own messages
    ref = c.upload_path(reference)
    if ref is not None:
        c.check_upload_size(ref, "reference set")
    try:
        from diagnostics import run_report
        from diagnostics.checks.runner import mode_settings
        from diagnostics.report import to_markdown
    except ImportError:
        raise c.user_error("the diagnostics package is not installed here, so no report can be made") from None
    c.check_work(ckpt, report_passes(mode_settings(mode == "quick", ckpt.diffusion_config.T)),
                 "Choose the quick report, or run `python -m diagnostics report <checkpoint> --out <folder>` on your "
                 "own machine." if mode == "full" else "Run `python -m diagnostics report <checkpoint> --out <folder> "
                 "--quick` on your own machine.")

    def report(stage: str, fraction: float) -> None:
        guard.check(f"the {stage} stage ({100 * float(fraction):.0f}%)")
        progress(float(fraction), desc=str(stage))
    out = c.output_dir()
    progress(0.0, desc="starting")
    try:
        # the cached model, not a reload; named by its file name only, so the report shows no server path
        files = run_report(replace(ckpt, path=Path(ckpt.path).name), out, quick=mode == "quick", seed=seed,
                           callback=report, reference=ref, train_features=bool(train_features) and ref is not None)
    except (CheckpointError, ValueError, FileNotFoundError, PermissionError) as e:
        raise c.user_error(str(e)) from None
    page = Path(files.html_path).read_text(encoding="utf-8")
    frame = (f'<iframe title="diagnostics report" srcdoc="{html.escape(page, quote=True)}" '
             'style="width:100%;height:780px;border:1px solid #ddd;border-radius:6px;background:white"></iframe>')
    return DiagnoseView(to_markdown(files.report), frame, [str(files.html_path), str(files.json_path)])


def report_passes(settings) -> list[limits.Pass]:
    """The report's network work for the budget (diagnostics.checks.runner.ModeSettings): the samples, ε
    statistics at 5 noise levels on real and on generated images, the timings, and one call per memory batch."""
    return [limits.Pass(f"{settings.sampler.upper()} sampling, {settings.steps:,} steps", settings.steps, settings.n),
            limits.Pass("ε statistics", 10, settings.noise_n),
            limits.Pass("timings", settings.timing_repeats + 1, settings.timing_batch),
            limits.Pass("memory by batch size", 1, sum(settings.memory_batch_sizes))]


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class DiagnoseTab:
    checkpoint: gr.Dropdown


def build() -> DiagnoseTab:
    """The Diagnostics tab's widgets and events (call inside gr.Tabs)."""
    info = limits.sample_info()
    with gr.Tab("Diagnostics", id="diagnostics"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                ckpt, upload = c.checkpoint_picker(info["upload"])
                mode = gr.Radio(list(DIAGNOSE_MODES), value="quick", label="Report",
                                info="quick: DDIM-20, n = 64, about a minute on a CPU; full: DDPM over all T steps, "
                                     "n = 500, tens of minutes on a CPU")
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                with gr.Accordion("Reference images (for a model with no data set, e.g. a diffusers upload)",
                                  open=False):
                    reference = gr.File(label="reference images (.zip: class folders or flat)", type="filepath",
                                        file_count="single", elem_id="diagnose-reference")
                    train_features = gr.Checkbox(False, label="train a feature network on them",
                                                 info="where the shipped one does not fit (labelled images; "
                                                      "a few CPU minutes, cached)")
                btn = gr.Button("Run diagnostics", variant="primary", elem_id="diagnose-button")
                files = gr.File(label="Download the report (HTML + JSON)", file_count="multiple",
                                interactive=False)
            with gr.Column(scale=2):
                summary = gr.Markdown("Pick a checkpoint and press **Run diagnostics**.", label="summary",
                                      elem_id="diagnose-summary", show_label=False)
                report = gr.HTML(label="report", elem_id="diagnose-report")

    view = dict(summary=summary, report=report, files=files)
    btn.click(c.bind(diagnose, view), [ckpt, upload, mode, seed, reference, train_features], c.components(view),
              api_name="diagnose",
              **c.COMPUTE)
    return DiagnoseTab(checkpoint=ckpt)
