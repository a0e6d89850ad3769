"""The Diagnostics tab: the checks report (diagnostics.run_report) for a checkpoint, shown in the page and
offered as HTML + JSON downloads."""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from ddpm import CheckpointError, LoadedCheckpoint

from .. import checkpoints, guard, limits
from .. import common as c
from ..guided_calls import doubled_calls
from ..i18n import KEYS, L, current, t

DIAGNOSE_MODES = ("quick", "full")


@dataclass
class DiagnoseView:
    summary: str                     # Markdown: the verdict table
    report: str                      # HTML: the full report in an iframe
    files: list[str]                 # [report .html, report .json]


def diagnose(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, mode: str = "quick",
             seed: int = 0, reference: Any = None, train_features: bool = False, guidance_scale: float = 1.0,
             eta: float = 0.0, guidance_s_lo: Any = "", guidance_s_hi: Any = "",
             progress=gr.Progress()) -> DiagnoseView:
    """Run the diagnostics report on a checkpoint; `reference`: an uploaded .zip of images for the data checks
    of a model that records no data set (a diffusers model), `train_features`: train a feature network on it;
    `guidance_scale`, `eta` (DDIM's η, quick mode only) and the guidance interval (guidance only where
    s_lo < σ/α ≤ s_hi; empty: every step): how the report's shared samples are drawn."""
    mode = str(mode or "quick").strip().lower()
    if mode not in DIAGNOSE_MODES:
        raise c.user_error(t("diag.bad_mode", value=c.clip(mode)))
    seed = c.seed(seed)
    ckpt = c.load_model(checkpoint, upload)       # validates the file with the loader's own messages
    w, eta = c.guidance(guidance_scale, ckpt), c.eta(eta)
    interval = c.guidance_interval(guidance_s_lo, guidance_s_hi, w)
    if eta and mode == "full":
        raise c.user_error(t("diag.eta_full"))
    ref = c.upload_path(reference)          # a file someone uploaded: never a folder (the upload folder is everyone's)
    if ref is not None:
        c.check_upload_size(ref, "upload.what_reference")
    if c.upload_path(upload) is not None:
        ckpt = _shipped_data_only(ckpt)
    try:
        from diagnostics import run_report
        from diagnostics.checks.runner import mode_settings
        from diagnostics.report import to_markdown
    except ImportError:
        raise c.user_error(t("diag.no_package")) from None
    settings = mode_settings(mode == "quick", ckpt.diffusion_config.T, eta=eta)
    doubled = doubled_calls(ckpt, settings.sampler, settings.steps if settings.sampler == "ddim" else None, w,
                            interval, eta=settings.eta)
    c.check_work(ckpt, report_passes(settings, w, ckpt.num_classes, doubled),
                 "work.lower_report_full" if mode == "full" else "work.lower_report_quick")

    def report(stage: str, fraction: float) -> None:
        guard.check(f"the {stage} stage ({100 * float(fraction):.0f}%)")
        progress(float(fraction), desc=_stage(stage))
    out = c.output_dir()
    progress(0.0, desc=t("diag.starting"))
    try:
        # the cached model, not a reload; named by its file name only, so the report shows no server path
        files = run_report(replace(ckpt, path=Path(ckpt.path).name), out, quick=mode == "quick", seed=seed,
                           callback=report, reference=ref, train_features=bool(train_features) and ref is not None,
                           lang=current(), guidance_scale=w, eta=eta, guidance_interval=interval)
    except (CheckpointError, ValueError, FileNotFoundError, PermissionError) as e:
        raise c.core_error(c.without_path(e, ref)) from None        # the upload's name, not its server path
    page = Path(files.html_path).read_text(encoding="utf-8")
    frame = (f'<iframe title="{html.escape(t("diag.iframe_title"))}" srcdoc="{html.escape(page, quote=True)}" '
             'style="width:100%;height:780px;border:1px solid #ddd;border-radius:6px;background:white"></iframe>')
    return DiagnoseView(to_markdown(files.report, current()), frame, [str(files.html_path), str(files.json_path)])


SHIPPED_DATA = ("digits", "mnist", "emoji")      # the data sets the app reads with no path and no download


def _shipped_data_only(ckpt: LoadedCheckpoint) -> LoadedCheckpoint:
    """An uploaded checkpoint with the data set its header records dropped unless the app ships that set: the header
    is the uploader's, and a path there would have the report read any folder of the server (the upload folder:
    every user's images), a torchvision name a download. The report then asks for a reference .zip instead."""
    data = dict(ckpt.meta.get("data") or {})
    source = str(data.get("source") or data.get("name") or "").strip().lower()
    if not source or source in SHIPPED_DATA:
        return ckpt
    kept = {k: v for k, v in data.items() if k not in ("source", "name", "image_column", "label_column")}
    return replace(ckpt, meta={**ckpt.meta, "data": kept})


def report_passes(settings, guidance_scale: float = 1.0, num_classes: int = 0,
                  doubled: Optional[int] = None) -> list[limits.Pass]:
    """The report's network work for the budget (diagnostics.checks.runner.ModeSettings): the samples (twice
    the batch under classifier-free guidance, at every call or at `doubled` of them: demo.guided_calls), ε
    statistics at 5 noise levels on real and on generated images, the timings, and one call per memory batch."""
    labels = list(range(num_classes)) if num_classes else None
    return [c.sampling_pass(t("work.pass", sampler=settings.sampler.upper(), steps=settings.steps), settings.steps,
                            settings.n, labels, guidance_scale, doubled),
            limits.Pass(t("work.eps_stats"), 10, settings.noise_n),
            limits.Pass(t("work.timings"), settings.timing_repeats + 1, settings.timing_batch),
            limits.Pass(t("work.memory"), 1, sum(settings.memory_batch_sizes))]


def _stage(stage: str) -> str:
    """A progress stage of run_checks ("sampling", "quality", …) in the page's language."""
    return t("diag.stage", stage=t(f"stage.{stage}") if f"stage.{stage}" in KEYS else str(stage))


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class DiagnoseTab:
    checkpoint: gr.Dropdown
    upload: gr.File


def build() -> DiagnoseTab:
    """The Diagnostics tab's widgets and events (call inside gr.Tabs)."""
    with gr.Tab(L("tab.diagnostics"), id="diagnostics"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                ckpt, upload = c.checkpoint_picker("diagnose")
                mode = gr.Radio([(L(f"diag.mode_{m}"), m) for m in DIAGNOSE_MODES], value="quick", label=L("diag.mode"),
                                info=L("diag.mode_info"))
                seed = gr.Number(0, label=L("sample.seed"), precision=0, minimum=0, maximum=limits.MAX_SEED)
                with gr.Accordion(L("diag.reference_open"), open=False):
                    reference = gr.File(label=L("diag.reference"), type="filepath", file_count="single",
                                        elem_id="diagnose-reference")
                    train_features = gr.Checkbox(False, label=L("diag.train_features"),
                                                 info=L("diag.train_features_info"))
                with gr.Accordion(L("diag.sampling_open"), open=False):
                    guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.05, label=L("sample.guidance"),
                                         info=L("sample.guidance_info", max=limits.MAX_GUIDANCE))
                    guidance_lo, guidance_hi = c.guidance_interval_boxes("diagnose")
                    eta = gr.Slider(0, 1, value=0.0, step=0.05, label=L("name.eta"), info=L("diag.eta_info"))
                btn = gr.Button(L("diag.button"), variant="primary", elem_id="diagnose-button")
                files = gr.File(label=L("diag.files"), file_count="multiple", interactive=False)
            with gr.Column(scale=2):
                summary = gr.Markdown(L("diag.start"), label="summary", elem_id="diagnose-summary",
                                      show_label=False)
                report = gr.HTML(label="report", elem_id="diagnose-report")

    view = dict(summary=summary, report=report, files=files)
    btn.click(c.bind(diagnose, view),
              [ckpt, upload, mode, seed, reference, train_features, guidance, eta, guidance_lo, guidance_hi],
              c.components(view),
              api_name="diagnose",
              **c.COMPUTE)
    c.follow_checkpoint(ckpt, upload, guidance=guidance)          # the dropdown names the upload in use
    return DiagnoseTab(checkpoint=ckpt, upload=upload)
