"""The app's page: an introduction and four tabs (Train, Sample, Compare, Diagnostics), each built by its own
module in demo/tabs/ with its handlers beside it.

Each tab's main action is a public API endpoint (api_name); the helpers that only keep the page in step
(timer ticks, dropdown refreshes, the trajectory slider) are private.
"""
from __future__ import annotations

import gradio as gr

from . import common, limits
from .tabs import compare, diagnose, sample, train

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
.caption p { margin: 0.2em 0; }
#diagnose-summary td:nth-child(2), #diagnose-summary th:nth-child(2) { white-space: nowrap; }
"""

INTRO = """# DDPM Workbench
Train, sample, compare and diagnose denoising diffusion models (DDPM / DDIM). The **Sample** tab starts
with digits from the bundled model; a model you train in **Train** appears in every checkpoint list when it
finishes. Every button here is also an API endpoint (see "Use via API" at the bottom of the page)."""


def launch_kwargs() -> dict:
    """What gradio 6 takes at launch() rather than in Blocks(): theme and CSS; plus the upload limit."""
    return dict(theme=gr.themes.Soft(), css=CSS, max_file_size=f"{limits.MAX_UPLOAD_MB}mb")


def build_demo() -> gr.Blocks:
    classes, T = common.bundled_classes_and_T()
    with gr.Blocks(title="DDPM Workbench", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs(selected="sample"):
            train_tab = train.build()
            sample_tab = sample.build(demo, classes, T)
            compare_tab = compare.build(classes, T)
            diagnose_tab = diagnose.build()
        # a run that finishes joins every tab's checkpoint list
        train.poll(demo, train_tab, [sample_tab.checkpoint, compare_tab.checkpoint, diagnose_tab.checkpoint])
    return demo
