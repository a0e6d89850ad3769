"""The Compare tab: DDPM over all T steps beside DDIM with S steps, from the very same x_T; any two or more of
DDPM, DDIM, DPM-Solver++ and UniPC at the same number of network calls, from the same x_T; and the
checkpoint's sample quality against the number of sampling steps (benchmark results, else a quick
measurement cached by file hash)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from ddpm import generate, initial_noise

from .. import checkpoints, guard, limits, plots, quality
from .. import common as c
from ..model_cache import get_cache


@dataclass
class CompareView:
    ddpm: np.ndarray                 # the DDPM grid
    ddim: np.ndarray                 # the DDIM grid
    ddpm_info: str                   # Markdown captions
    ddim_info: str
    numbers: dict                    # network calls, seconds, speed-up, RMS difference


@dataclass
class QualityView:
    plot: go.Figure
    note: str                        # where the numbers come from, or how to get some


def compare(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
            guidance_scale: float = 1.0, steps: int = 25, eta: float = 0.0, seed: int = 0, n: int = 8,
            amp: str = "auto", progress=gr.Progress()) -> CompareView:
    """DDPM with all T steps beside DDIM with S = steps and η, from the same seed and the very same x_T."""
    ckpt = c.load_model(checkpoint, upload)
    T = ckpt.diffusion_config.T
    s = c.sampling_steps(steps, T)
    eta = c.eta(eta)
    n = c.number("number of images", n, 1, limits.MAX_COMPARE_IMAGES, integer=True,
                 hint=f"; at most {limits.MAX_COMPARE_IMAGES} here, since DDPM runs all T steps for each")
    seed = c.seed(seed)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    c.check_work(ckpt, [c.sampling_pass(f"DDPM, {T:,} steps", T, n, labels, w),
                        c.sampling_pass(f"DDIM, {s:,} steps", s, n, labels, w)],
                 "Lower the number of images (at most {max_images} fit these settings); DDPM always runs all "
                 "T steps, so a model with a smaller T compares faster.")
    amp = c.precision(amp)
    x_T = initial_noise(n, ckpt.image_shape, seed)
    total = T + s
    try:
        ddpm = generate(ckpt.model, ckpt.diffusion, sampler="ddpm", n=n, labels=labels, guidance_scale=w,
                        seed=seed, x_T=x_T, amp=amp,
                        callback=c.progress_callback(progress, f"DDPM, {T} steps", 0, total))
        ddim = generate(ckpt.model, ckpt.diffusion, sampler="ddim", steps=s, eta=eta, n=n, labels=labels,
                        guidance_scale=w, seed=seed, x_T=x_T, amp=amp,
                        callback=c.progress_callback(progress, f"DDIM, {s} steps", T, total))
    except ValueError as e:
        raise c.user_error(str(e)) from None
    nrow = c.grid_columns(n, labels)
    diff = float((ddpm.images - ddim.images).pow(2).mean().sqrt())
    numbers = {
        "checkpoint": c.checkpoint_title(ckpt, checkpoint, upload), "n": n, "seed": seed, "guidance_scale": w,
        "precision": ddpm.settings["precision"],
        "ddpm": {"steps": len(ddpm.timesteps), "network_calls": ddpm.network_calls, "seconds": round(ddpm.seconds, 3)},
        "ddim": {"steps": len(ddim.timesteps), "eta": eta, "network_calls": ddim.network_calls,
                 "seconds": round(ddim.seconds, 3)},
        "speedup": round(ddpm.seconds / max(ddim.seconds, 1e-9), 1),
        "rms_difference": round(diff, 4),
    }

    def caption(label, r):
        return (f"**{label}** · {r.network_calls} network calls per image · {r.settings['precision']} · "
                f"{r.seconds:.2f} s")
    return CompareView(c.grid_image(ddpm.images, nrow), c.grid_image(ddim.images, nrow),
                       caption(f"DDPM, all T = {T} steps", ddpm),
                       caption(f"DDIM, S = {s}, η = {eta:g}", ddim) + f" · {numbers['speedup']:g}× faster", numbers)


# -------------------------------------------------------------------------------- samplers side by side
COMPARE_SAMPLERS = {"DDPM": "ddpm", "DDIM": "ddim", "DPM-Solver++": "dpmpp_2m", "UniPC": "unipc"}
DEFAULT_COMPARE_SAMPLERS = ["DDIM", "DPM-Solver++", "UniPC"]


@dataclass
class SamplersView:
    gallery: list                    # [(grid, caption)], one per sampler, in the order picked
    table: list                      # rows: sampler, network calls, seconds, RMS difference to the reference
    samplers_info: str               # Markdown: the reference of the difference, the shared x_T


def compare_samplers(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
                     guidance_scale: float = 1.0, samplers: Any = None, calls: int = 10, seed: int = 0, n: int = 8,
                     amp: str = "auto", progress=gr.Progress()) -> SamplersView:
    """Two or more samplers with the same number of network calls (DDPM: always all T), from the very same x_T;
    the RMS difference of each grid to DDPM's if DDPM is picked, else to the first sampler's."""
    ckpt = c.load_model(checkpoint, upload)
    T = ckpt.diffusion_config.T
    picked = [c.choice("sampler", s, list(COMPARE_SAMPLERS)) for s in dict.fromkeys(samplers or [])]
    if len(picked) < 2:
        raise c.user_error(f"pick at least two samplers to compare (from {', '.join(COMPARE_SAMPLERS)})")
    s = c.sampling_steps(calls, T)
    n = c.number("number of images", n, 1, limits.MAX_COMPARE_IMAGES, integer=True,
                 hint=f"; at most {limits.MAX_COMPARE_IMAGES} here")
    seed = c.seed(seed)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    amp = c.precision(amp)
    x_T = initial_noise(n, ckpt.image_shape, seed)
    cost = {label: T if COMPARE_SAMPLERS[label] == "ddpm" else s for label in picked}
    c.check_work(ckpt, [c.sampling_pass(label, cost[label], n, labels, w) for label in picked],
                 "Lower the number of images (at most {max_images} fit these settings), the network calls, or the "
                 "number of samplers (DDPM always runs all T steps).")
    results, done = {}, 0
    try:
        for label in picked:
            name = COMPARE_SAMPLERS[label]
            results[label] = generate(ckpt.model, ckpt.diffusion, sampler=name, steps=None if name == "ddpm" else s,
                                      n=n, labels=labels, guidance_scale=w, seed=seed, x_T=x_T, amp=amp,
                                      callback=c.progress_callback(progress, f"{label}, {cost[label]} network calls",
                                                                   done, sum(cost.values())))
            done += cost[label]
    except ValueError as e:
        raise c.user_error(str(e)) from None
    reference = "DDPM" if "DDPM" in picked else picked[0]
    ref = results[reference].images
    nrow = c.grid_columns(n, labels)
    gallery, table = [], []
    for label, r in results.items():
        rms = float((r.images - ref).pow(2).mean().sqrt())
        gallery.append((c.grid_image(r.images, nrow, target=360),
                        f"{label} · {r.network_calls} network calls · {r.seconds:.2f} s"))
        table.append([label, r.network_calls, round(r.seconds, 3), round(rms, 4)])
    info = (f"All {len(picked)} start from the same x_T (seed {seed}); DDIM with η = 0, the solvers at order 2. "
            f"RMS difference (images in [−1, 1]) to **{reference}**'s images.")
    return SamplersView(gallery, table, info)


# ----------------------------------------------------------------------------------------------- quality
def quality_plot(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None) -> QualityView:
    """The quality-vs-steps plot for a checkpoint: benchmark results if they cover it, else the cached
    quick measurement, else an empty plot and a note offering the measurement."""
    path = c.checkpoint_path(checkpoint, upload)
    try:
        sha = get_cache().sha256(path)
    except OSError:
        raise c.user_error(f"checkpoint file {path.name!r} was not found") from None
    is_bundled = (checkpoint or checkpoints.BUNDLED) == checkpoints.BUNDLED and c.upload_path(upload) is None
    rows, note = quality.bench_rows(path, sha, is_bundled=is_bundled)
    if rows:
        return QualityView(plots.quality_figure(rows), f"Quality vs steps {note}.")
    cached = quality.cached_rows(sha)
    if cached:
        ddpm = "" if any(r.get("sampler") == "ddpm" for r in cached["rows"]) else \
            " DDPM over all T steps is left out of the quick measurement at this T (the benchmark has it)."
        return QualityView(plots.quality_figure(cached["rows"]),
                           f"Quality vs steps from a quick measurement on this file (n = {cached.get('n')} images "
                           f"per setting, features {cached.get('network')}; {note}). At small n, FID is biased "
                           f"upwards: read the ranking, not the absolute values.{ddpm}")
    return QualityView(plots.empty_figure("no quality measurements for this checkpoint yet"),
                       f"No quality numbers for this checkpoint: {note}. Press **Measure quality now** for a quick "
                       f"measurement (DDIM at S = {', '.join(map(str, limits.QUICK_QUALITY_STEPS))} with "
                       f"η = {' and '.join(f'{e:g}' for e in limits.QUICK_QUALITY_ETAS)}, "
                       f"n = {limits.QUICK_QUALITY_N} images each, about a minute on a CPU); it is cached, so the "
                       "plot is immediate next time.")


def measure_quality(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None,
                    progress=gr.Progress()) -> QualityView:
    """Run the quick quality-vs-steps measurement for a checkpoint (cached by file hash)."""
    ckpt = c.load_model(checkpoint, upload)
    sha = get_cache().sha256(ckpt.path)
    try:
        import diagnostics.metrics  # noqa: F401
    except ImportError:
        raise c.user_error("the quality measurement needs the diagnostics package, which is not installed "
                           "here") from None
    T = ckpt.diffusion_config.T
    settings = quality.quick_settings(T)
    c.check_work(ckpt, [limits.Pass(f"{st.sampler.upper()}, {st.steps or T:,} steps", st.steps or T,
                                    limits.QUICK_QUALITY_N) for st in settings],
                 "This model is too large for the quick measurement here; run `python -m bench.quality_vs_steps "
                 "--ckpt …` on your own machine.")

    def report(fraction: float, desc: str) -> None:
        guard.check(f"{100 * fraction:.0f}% of the measurement")
        progress(fraction, desc=desc)
    progress(0.0, desc="measuring sample quality")
    try:
        quality.measure(ckpt, sha, progress=report, settings=settings)
    except ValueError as e:
        raise c.user_error(str(e)) from None
    return quality_plot(checkpoint, upload)


def quality_plot_quiet(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None) -> QualityView:
    """quality_plot for a dropdown change: a bad choice shows a note instead of an error popup."""
    try:
        return quality_plot(checkpoint, upload)
    except gr.Error as e:
        return QualityView(plots.empty_figure("no checkpoint"), str(e.message))


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class CompareTab:
    checkpoint: gr.Dropdown


def build(classes: list[str], T: int) -> CompareTab:
    """The Compare tab's widgets and events (call inside gr.Tabs)."""
    info = limits.sample_info()
    with gr.Tab("Compare", id="compare") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                # the digits model: bench/results/quality_vs_steps.json (the quality plot) covers it, not the MNIST one
                ckpt, upload = c.checkpoint_picker(info["upload"], default=checkpoints.BUNDLED)
                cls = gr.CheckboxGroup(classes, value=[], label="Classes (none ticked = all)")
                guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.1, label="Guidance scale w",
                                     info=info["guidance"])
                steps = gr.Slider(1, T, value=25, step=1, label="DDIM steps S", info=info["steps"])
                eta = gr.Slider(0, 1, value=0.0, step=0.05, label="DDIM η", info=info["eta"])
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                    n = gr.Slider(1, limits.MAX_COMPARE_IMAGES, value=8, step=1, label="Images",
                                  elem_id="compare-n", info=info["n_compare"])
                amp = c.precision_picker()
                btn = gr.Button("Compare DDPM and DDIM", variant="primary", elem_id="compare-button")
                gr.Markdown("Both samplers start from the same seed and the very same x_T, so the difference is "
                            "the sampler alone.", elem_classes="caption")
            with gr.Column(scale=2):
                with gr.Row():
                    with gr.Column():
                        ddpm = gr.Image(label="DDPM (all T steps)", elem_id="compare-ddpm", type="numpy",
                                        format="png", interactive=False, height=300, elem_classes="pixelated")
                        ddpm_text = gr.Markdown(label="ddpm_info", show_label=False, elem_classes="caption")
                    with gr.Column():
                        ddim = gr.Image(label="DDIM (S steps)", elem_id="compare-ddim", type="numpy",
                                        format="png", interactive=False, height=300, elem_classes="pixelated")
                        ddim_text = gr.Markdown(label="ddim_info", elem_id="compare-ddim-info", show_label=False,
                                                elem_classes="caption")
                with gr.Accordion("Numbers", open=False):
                    numbers = gr.JSON(label="comparison")
                gr.Markdown("### Samplers side by side at the same number of network calls")
                with gr.Row():
                    pick = gr.CheckboxGroup(list(COMPARE_SAMPLERS), value=DEFAULT_COMPARE_SAMPLERS,
                                            label="Samplers (two or more)", elem_id="compare-samplers")
                    calls = gr.Slider(1, T, value=10, step=1, label="Network calls (DDPM: all T)",
                                      elem_id="compare-calls")
                s_btn = gr.Button("Compare samplers", elem_id="compare-samplers-button")
                s_info = gr.Markdown(label="samplers_info", show_label=False, elem_classes="caption")
                s_gallery = gr.Gallery(label="one grid per sampler", elem_id="compare-samplers-gallery",
                                       columns=4, height=320, format="png", elem_classes="pixelated")
                s_table = gr.Dataframe(headers=["sampler", "network calls", "seconds", "RMS difference"],
                                       label="calls, wall time and difference", interactive=False)
                gr.Markdown("### Sample quality against sampling steps")
                q_note = gr.Markdown(label="quality_note", show_label=False, elem_classes="caption")
                q_plot = gr.Plot(label="quality vs steps", elem_id="quality-plot")
                q_btn = gr.Button("Measure quality now (quick)", size="sm")

    view = dict(ddpm=ddpm, ddim=ddim, ddpm_info=ddpm_text, ddim_info=ddim_text, numbers=numbers)
    inputs = [ckpt, upload, cls, guidance, steps, eta, seed, n, amp]
    btn.click(c.bind(compare, view), inputs, c.components(view), api_name="compare", **c.COMPUTE)
    s_view = dict(gallery=s_gallery, table=s_table, samplers_info=s_info)
    s_btn.click(c.bind(compare_samplers, s_view), [ckpt, upload, cls, guidance, pick, calls, seed, n, amp],
                c.components(s_view), api_name="compare_samplers", **c.COMPUTE)
    q_view = dict(plot=q_plot, note=q_note)
    q_btn.click(c.bind(measure_quality, q_view), [ckpt, upload], c.components(q_view), api_name="quality",
                **c.COMPUTE)
    tab.select(c.bind(quality_plot, q_view), [ckpt, upload], c.components(q_view), api_name="quality_plot",
               show_progress="hidden", **c.RAW)
    c.follow_checkpoint(ckpt, upload, cls, steps)
    for trigger in (ckpt.change, upload.change):
        trigger(c.bind(quality_plot_quiet, q_view), [ckpt, upload], c.components(q_view), **c.QUIET)
        trigger(c.steps_update, [ckpt, upload, calls], [calls], **c.QUIET)
    return CompareTab(checkpoint=ckpt)
