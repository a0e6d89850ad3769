"""The Compare tab: DDPM over all T steps beside DDIM with S steps, from the very same x_T; any two or more of
DDPM, DDIM, DPM-Solver++ and UniPC at the same number of network calls, from the same x_T; and the
checkpoint's sample quality against the number of sampling steps (benchmark results, else a quick
measurement cached by file hash); and the sampler doctor, which says which sampler the model needs at a number of
network calls (diagnostics.doctor)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from ddpm import generate, initial_noise

from .. import checkpoints, guard, i18n, limits, plots, quality
from .. import common as c
from ..guided_calls import doubled_calls
from ..i18n import L, show, t
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
            amp: str = "auto", guidance_s_lo: Any = "", guidance_s_hi: Any = "",
            progress=gr.Progress()) -> CompareView:
    """DDPM with all T steps beside DDIM with S = steps and η, from the same seed and the very same x_T; both guided
    alike (guidance_s_lo, guidance_s_hi: only where s_lo < σ/α ≤ s_hi; empty: every step)."""
    ckpt = c.load_model(checkpoint, upload)
    T = ckpt.diffusion_config.T
    s = c.sampling_steps(steps, T)
    eta = c.eta(eta)
    n = c.number("name.n", n, 1, limits.MAX_COMPARE_IMAGES, integer=True,
                 hint=t("hint.max_compare", n=limits.MAX_COMPARE_IMAGES))
    seed = c.seed(seed)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    interval = c.guidance_interval(guidance_s_lo, guidance_s_hi, w)
    c.check_work(ckpt, [c.sampling_pass(t("work.pass", sampler="DDPM", steps=T), T, n, labels, w,
                                        doubled_calls(ckpt, "ddpm", None, w, interval)),
                        c.sampling_pass(t("work.pass", sampler="DDIM", steps=s), s, n, labels, w,
                                        doubled_calls(ckpt, "ddim", s, w, interval, eta=eta))],
                 "work.lower_compare")
    amp = c.precision(amp)
    x_T = initial_noise(n, ckpt.image_shape, seed)
    total = T + s
    try:
        ddpm = generate(ckpt.model, ckpt.diffusion, sampler="ddpm", n=n, labels=labels, guidance_scale=w,
                        seed=seed, x_T=x_T, amp=amp, guidance_interval=interval,
                        callback=c.progress_callback(progress, t("compare.progress_ddpm", T=T), 0, total))
        ddim = generate(ckpt.model, ckpt.diffusion, sampler="ddim", steps=s, eta=eta, n=n, labels=labels,
                        guidance_scale=w, seed=seed, x_T=x_T, amp=amp, guidance_interval=interval,
                        callback=c.progress_callback(progress, t("compare.progress_ddim", s=s), T, total))
    except ValueError as e:
        raise c.core_error(e) from None
    nrow = c.grid_columns(n, labels)
    diff = float((ddpm.images - ddim.images).pow(2).mean().sqrt())
    numbers = {
        "checkpoint": c.checkpoint_title(ckpt, checkpoint, upload), "n": n, "seed": seed, "guidance_scale": w,
        "guidance_interval": ddpm.settings.get("guidance_interval"), "precision": ddpm.settings["precision"],
        "ddpm": {"steps": len(ddpm.timesteps), "network_calls": ddpm.network_calls, "seconds": round(ddpm.seconds, 3)},
        "ddim": {"steps": len(ddim.timesteps), "eta": eta, "network_calls": ddim.network_calls,
                 "seconds": round(ddim.seconds, 3)},
        "speedup": round(ddpm.seconds / max(ddim.seconds, 1e-9), 1),
        "rms_difference": round(diff, 4),
    }

    def caption(label, r):
        return t("compare.caption", label=label, calls=r.network_calls, precision=r.settings["precision"],
                 seconds=r.seconds) + guided(w, interval)
    return CompareView(c.grid_image(ddpm.images, nrow), c.grid_image(ddim.images, nrow),
                       caption(t("compare.ddpm_label", T=T), ddpm),
                       caption(t("compare.ddim_label", s=s, eta=eta), ddim) + t("compare.faster", x=numbers["speedup"]),
                       numbers)


# -------------------------------------------------------------------------------- samplers side by side
COMPARE_SAMPLERS = {"DDPM": "ddpm", "DDIM": "ddim", "DPM-Solver++": "dpmpp_2m", "UniPC": "unipc",
                    "SDE-DPM-Solver++": "dpmpp_2m_sde", "EDM Heun": "edm_heun", "Restart": "restart"}
DEFAULT_COMPARE_SAMPLERS = ["DDIM", "DPM-Solver++", "UniPC"]


SAMPLER_COLUMNS = ("samplers.col_sampler", "samplers.col_calls", "samplers.col_seconds", "samplers.col_rms")


@dataclass
class SamplersView:
    gallery: list                    # [(grid, caption)], one per sampler, in the order picked
    table: dict                      # {"headers": the columns in the page's language, "data": rows of sampler,
                                     # network calls, seconds, RMS difference to the reference}
    samplers_info: str               # Markdown: the reference of the difference, the shared x_T


def compare_samplers(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
                     guidance_scale: float = 1.0, samplers: Any = None, calls: int = 10, seed: int = 0, n: int = 8,
                     amp: str = "auto", guidance_s_lo: Any = "", guidance_s_hi: Any = "",
                     progress=gr.Progress()) -> SamplersView:
    """Two or more samplers with the same number of network calls (DDPM: always all T), from the very same x_T and
    with the same guidance (and guidance interval, as compare's); the RMS difference of each grid to DDPM's if DDPM
    is picked, else to the first sampler's."""
    ckpt = c.load_model(checkpoint, upload)
    T = ckpt.diffusion_config.T
    sent = samplers if isinstance(samplers, (list, tuple)) else [samplers] if samplers else []   # an API caller's
    picked = list(dict.fromkeys(c.choice("name.sampler", s, list(COMPARE_SAMPLERS)) for s in sent))
    if len(picked) < 2:
        raise c.user_error(t("samplers.too_few", options=", ".join(COMPARE_SAMPLERS)))
    s = c.sampling_steps(calls, T)
    n = c.number("name.n", n, 1, limits.MAX_COMPARE_IMAGES, integer=True,
                 hint=t("hint.max_here", n=limits.MAX_COMPARE_IMAGES))
    seed = c.seed(seed)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    interval = c.guidance_interval(guidance_s_lo, guidance_s_hi, w)
    amp = c.precision(amp)
    x_T = initial_noise(n, ckpt.image_shape, seed)
    cost = {label: T if COMPARE_SAMPLERS[label] == "ddpm" else s for label in picked}
    steps = {label: None if COMPARE_SAMPLERS[label] == "ddpm" else s for label in picked}
    c.check_work(ckpt, [c.sampling_pass(label, cost[label], n, labels, w,
                                        doubled_calls(ckpt, COMPARE_SAMPLERS[label], steps[label], w, interval))
                        for label in picked], "work.lower_samplers")
    results, done = {}, 0
    try:
        for label in picked:
            name = COMPARE_SAMPLERS[label]
            running = c.progress_callback(progress, t("samplers.progress", sampler=label, calls=cost[label]),
                                          done, sum(cost.values()))
            results[label] = generate(ckpt.model, ckpt.diffusion, sampler=name, steps=steps[label],
                                      n=n, labels=labels, guidance_scale=w, seed=seed, x_T=x_T, amp=amp,
                                      guidance_interval=interval, callback=running)
            done += cost[label]
    except ValueError as e:
        raise c.core_error(e) from None
    reference = "DDPM" if "DDPM" in picked else picked[0]
    ref = results[reference].images
    nrow = c.grid_columns(n, labels)
    gallery, table = [], []
    for label, r in results.items():
        rms = float((r.images - ref).pow(2).mean().sqrt())
        gallery.append((c.grid_image(r.images, nrow, target=360),
                        t("samplers.caption", sampler=label, calls=r.network_calls, seconds=r.seconds)))
        table.append([label, r.network_calls, round(r.seconds, 3), round(rms, 4)])
    info = t("samplers.info", k=len(picked), seed=seed, reference=reference) + guided(w, interval)
    if any(r.settings.get("convention") == "diffusers" for r in results.values()):   # whose conventions ran
        info += "  \n" + t("sample.convention_diffusers", spacing=next(iter(results.values())).settings["spacing"])
    return SamplersView(gallery, {"headers": [t(k) for k in SAMPLER_COLUMNS], "data": table}, info)


def guided(w: float, interval: Optional[tuple]) -> str:
    """' · guidance 3 on s ∈ (0.28, 5.42] only' after a guided comparison's caption, in the page's language;
    '' for w = 1."""
    return "" if w == 1.0 else t("compare.guided", w=c.guidance_words(w, interval))


# ----------------------------------------------------------------------------------------------- quality
def quality_plot(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None) -> QualityView:
    """The quality-vs-steps plot for a checkpoint: benchmark results if they cover it, else the cached
    quick measurement, else an empty plot and a note offering the measurement."""
    path = c.checkpoint_path(checkpoint, upload)
    try:
        sha = get_cache().sha256(path)
    except OSError:
        raise c.user_error(t("ckpt.gone", name=path.name)) from None
    is_bundled = (checkpoint or checkpoints.BUNDLED) == checkpoints.BUNDLED and c.upload_path(upload) is None
    rows, note = quality.bench_rows(path, sha, is_bundled=is_bundled)
    note = show(note)
    if rows:
        return QualityView(plots.quality_figure(rows), t("steps_quality.from_bench", note=note))
    cached = quality.cached_rows(sha)
    if cached:
        ddpm = "" if any(r.get("sampler") == "ddpm" for r in cached["rows"]) else t("steps_quality.no_ddpm")
        against = t("steps_quality.against_reference", name=c.escaped(cached["reference_set"])) \
            if cached.get("reference_set") else ""
        return QualityView(plots.quality_figure(cached["rows"]),
                           t("steps_quality.quick", n=cached.get("n"), note=note, ddpm=ddpm,
                             network=cached.get("network_id") or quality.network_name(cached.get("rows") or [])
                             or cached.get("network")) + against)
    try:
        no_record = not quality.records_data(c.load_model(checkpoint, upload))
    except gr.Error:                        # a file the loader refuses: the buttons say why when pressed
        no_record = False
    return QualityView(plots.empty_figure(t("plot.no_quality")),
                       t("steps_quality.none_reference" if no_record else "steps_quality.none", note=note,
                         steps=", ".join(map(str, limits.QUICK_QUALITY_STEPS)),
                         etas=" / ".join(f"{e:g}" for e in limits.QUICK_QUALITY_ETAS), n=limits.QUICK_QUALITY_N))


REFERENCE_SETS = ("digits", "mnist", "emoji")     # the built-in sets a reference may name (read with no download)


def quality_reference(ckpt, reference: Any = "", reference_zip: Any = None) -> Optional[str]:
    """The real images a quality measurement compares with for a model that records no data set: an uploaded .zip
    (its path), else a built-in set's name; None for a model that records its own (which is used: a reference
    given then only gets a note). A gr.Error saying what to give when the model has none and none is given."""
    zip_path = c.upload_path(reference_zip)
    name = str(reference or "").strip().lower()
    if name:
        c.choice("name.reference", name, REFERENCE_SETS)
    if quality.records_data(ckpt):
        if zip_path is not None or name:
            c.info(t("steps_quality.reference_unused"))
        return None
    if zip_path is not None:
        c.check_upload_size(zip_path, "upload.what_reference")
        return str(zip_path)
    if not name:
        raise c.user_error(t("steps_quality.needs_reference"))
    return name


def measure_quality(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, reference: Any = "",
                    reference_zip: Any = None, train_features: bool = False,
                    progress=gr.Progress()) -> QualityView:
    """Run the quick quality-vs-steps measurement for a checkpoint (cached by file hash). reference /
    reference_zip: a built-in set's name / a .zip of real images, for a model that records no data set (a diffusers
    upload); train_features: train a feature network on the .zip where the shipped one does not fit."""
    ckpt = c.load_model(checkpoint, upload)
    sha = get_cache().sha256(ckpt.path)
    try:
        import diagnostics.metrics  # noqa: F401
    except ImportError:
        raise c.user_error(t("steps_quality.no_diagnostics")) from None
    ref = quality_reference(ckpt, reference, reference_zip)
    T = ckpt.diffusion_config.T
    settings = quality.quick_settings(T)
    c.check_work(ckpt, [limits.Pass(t("work.pass", sampler=st.sampler.upper(), steps=st.steps or T), st.steps or T,
                                    limits.QUICK_QUALITY_N) for st in settings], "work.lower_quality")

    def report(fraction: float, desc: str) -> None:
        guard.check(f"{100 * fraction:.0f}%")
        progress(fraction, desc=desc)
    progress(0.0, desc=t("steps_quality.progress"))
    try:
        quality.measure(ckpt, sha, progress=report, settings=settings, reference=ref,
                        train_features=bool(train_features))
    except (ValueError, FileNotFoundError) as e:
        raise c.core_error(c.without_path(e, c.upload_path(reference_zip))) from None
    return quality_plot(checkpoint, upload)


def quality_plot_quiet(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None) -> QualityView:
    """quality_plot for a dropdown change: a bad choice shows a note instead of an error popup."""
    try:
        return quality_plot(checkpoint, upload)
    except gr.Error as e:
        return QualityView(plots.empty_figure(t("plot.no_checkpoint")), str(e.message))


# ------------------------------------------------------------------------------------------ sampler doctor
@dataclass
class DoctorView:
    verdict: str                     # Markdown: the verdict, what it rests on, the fix
    table: dict                      # every candidate's calls, FID, FID / floor with its interval, grey pixels
    plot: go.Figure                  # the exposure-bias curves


DOCTOR_COLUMNS = ("doctor.col_sampler", "doctor.col_calls", "doctor.col_fid", "doctor.col_ratio", "doctor.col_paired",
                  "doctor.col_grey")


def doctor(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, calls: int = 10, n: int = 100,
           guidance_scale: float = 1.0, guidance_s_lo: Any = "", guidance_s_hi: Any = "",
           progress=gr.Progress()) -> DoctorView:
    """Which sampler this model needs at `calls` network calls (diagnostics.doctor): every candidate from the same
    x_T and labels (and guidance, with the tab's interval), FID against the model's training split beside the
    real-vs-real floor with its interval."""
    from diagnostics.doctor import CANDIDATES, MAX_CALLS, MIN_CALLS, MIN_N, sampler_doctor
    from diagnostics.report import load_real_data
    ckpt = c.load_model(checkpoint, upload)
    calls = c.number("name.calls", calls, MIN_CALLS, min(MAX_CALLS, ckpt.diffusion_config.T), integer=True)
    n = c.number("name.n", n, MIN_N, limits.MAX_DOCTOR_IMAGES, integer=True,
                 hint=t("hint.max_here", n=limits.MAX_DOCTOR_IMAGES))
    w = c.guidance(guidance_scale, ckpt)
    interval = c.guidance_interval(guidance_s_lo, guidance_s_hi, w)
    real, why = load_real_data(ckpt)
    if real is None:
        raise c.user_error(t("doctor.no_data", why=show(why)))
    labels = list(range(ckpt.num_classes)) if ckpt.num_classes else None
    c.check_work(ckpt, [c.sampling_pass(name, calls, n, labels, w, doubled_calls(ckpt, steps=calls, guidance_scale=w,
                                                                                 interval=interval, **kw))
                        for name, kw in CANDIDATES.items()], "work.lower_doctor")
    progress(0.0, desc=t("doctor.progress"))
    try:
        r = sampler_doctor(ckpt, real, calls=calls, n=n, guidance_scale=w, guidance_interval=interval,
                           callback=lambda done, total: (guard.check(f"{done}/{total}"),
                                                         progress(done / total, desc=t("doctor.progress"))))
    except ValueError as e:
        raise c.core_error(e) from None
    ratio = lambda iv: t("doctor.ratio", est=iv.estimate, low=iv.low, high=iv.high) if iv is not None and iv.known \
        else "—"                                                                               # noqa: E731
    rows = [[row.sampler, row.calls, round(row.fid, 4), ratio(row.fid_ratio), ratio(row.vs_ode),
             t("doctor.grey", excess=row.grey_excess, se=row.grey_excess_se)] for row in r.rows]
    verdict = t("doctor.verdict", verdict=t(f"doctor.verdict_{r.verdict}"), summary=show(r.summary),
                fix=t("doctor.fix", fix=show(r.fix)) if r.fix is not None else "",
                n=r.n, seed=r.seed, floor=r.floor if r.floor is not None else float("nan"), network=show(r.network))
    verdict += guided(w, interval) + "".join("  \n" + show(note) for note in r.notes)
    return DoctorView(verdict, {"headers": [t(k) for k in DOCTOR_COLUMNS], "data": rows},
                      plots.exposure_figure(r.curves))


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class CompareTab:
    checkpoint: gr.Dropdown
    upload: gr.File


def build(classes: list[str], T: int) -> CompareTab:
    """The Compare tab's widgets and events (call inside gr.Tabs)."""
    with gr.Tab(L("tab.compare"), id="compare") as tab:
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                ckpt, upload = c.checkpoint_picker("compare")   # the MNIST showcase (bench/results covers it, digits)
                cls = gr.CheckboxGroup(classes, value=[], label=L("sample.classes"))
                guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.1, label=L("sample.guidance"),
                                     info=L("sample.guidance_info", max=limits.MAX_GUIDANCE),
                                     elem_id="compare-guidance")
                guidance_lo, guidance_hi = c.guidance_interval_boxes("compare")
                steps = gr.Slider(1, T, value=25, step=1, label=L("compare.steps"), info=L("sample.steps_info"))
                eta = gr.Slider(0, 1, value=0.0, step=0.05, label=L("compare.eta"), info=L("sample.eta_info"))
                with gr.Row():
                    seed = gr.Number(0, label=L("sample.seed"), precision=0, minimum=0, maximum=limits.MAX_SEED)
                    n = gr.Slider(1, limits.MAX_COMPARE_IMAGES, value=8, step=1, label=L("sample.n"),
                                  elem_id="compare-n", info=L("compare.n_info", max=limits.MAX_COMPARE_IMAGES))
                amp = c.precision_picker()
                btn = gr.Button(L("compare.button"), variant="primary", elem_id="compare-button")
                gr.Markdown(L("compare.same_xT"), elem_classes="caption")
            with gr.Column(scale=2):
                with gr.Row():
                    with gr.Column():
                        ddpm = gr.Image(label=L("compare.ddpm"), elem_id="compare-ddpm", type="numpy",
                                        format="png", interactive=False, height=300, elem_classes="pixelated")
                        ddpm_text = gr.Markdown(label="ddpm_info", show_label=False, elem_classes="caption")
                    with gr.Column():
                        ddim = gr.Image(label=L("compare.ddim"), elem_id="compare-ddim", type="numpy",
                                        format="png", interactive=False, height=300, elem_classes="pixelated")
                        ddim_text = gr.Markdown(label="ddim_info", elem_id="compare-ddim-info", show_label=False,
                                                elem_classes="caption")
                with gr.Accordion(L("compare.numbers"), open=False):
                    numbers = gr.JSON(label=L("compare.numbers_label"))
                gr.Markdown(L("samplers.title"))
                with gr.Row():
                    pick = gr.CheckboxGroup(list(COMPARE_SAMPLERS), value=DEFAULT_COMPARE_SAMPLERS,
                                            label=L("samplers.pick"), elem_id="compare-samplers")
                    calls = gr.Slider(1, T, value=10, step=1, label=L("samplers.calls"), elem_id="compare-calls")
                s_btn = gr.Button(L("samplers.button"), elem_id="compare-samplers-button")
                s_info = gr.Markdown(label="samplers_info", show_label=False, elem_classes="caption")
                s_gallery = gr.Gallery(label=L("samplers.gallery"), elem_id="compare-samplers-gallery",
                                       columns=4, height=320, format="png", elem_classes="pixelated")
                s_table = gr.Dataframe(headers=i18n.headers(*SAMPLER_COLUMNS), label=L("samplers.table"),
                                       interactive=False, elem_id="compare-samplers-table")
                gr.Markdown(L("compare.quality_title"))
                q_note = gr.Markdown(label="quality_note", show_label=False, elem_classes="caption")
                q_plot = gr.Plot(label=L("compare.quality_plot"), elem_id="quality-plot")
                with gr.Accordion(L("steps_quality.reference_open"), open=False, elem_id="quality-reference"):
                    q_ref = gr.Dropdown([(L("steps_quality.reference_none"), "")] + [(r, r) for r in REFERENCE_SETS],
                                        value="", label=L("steps_quality.reference_set"),
                                        info=L("steps_quality.reference_set_info"), elem_id="quality-reference-set")
                    q_ref_zip = gr.File(label=L("diag.reference"), type="filepath", file_count="single",
                                        elem_id="quality-reference-zip")
                    q_train = gr.Checkbox(False, label=L("diag.train_features"), info=L("diag.train_features_info"))
                q_btn = gr.Button(L("compare.measure"), size="sm", elem_id="quality-button")
                with gr.Accordion(L("doctor.title"), open=False, elem_id="doctor"):
                    gr.Markdown(L("doctor.intro"), elem_classes="caption")
                    with gr.Row():
                        d_calls = gr.Slider(4, min(T, 200), value=10, step=1, label=L("samplers.calls"))
                        d_n = gr.Slider(50, limits.MAX_DOCTOR_IMAGES, value=100, step=10, label=L("sample.n"))
                    d_btn = gr.Button(L("doctor.button"), elem_id="doctor-button")
                    d_verdict = gr.Markdown(label="doctor_verdict", show_label=False, elem_id="doctor-verdict")
                    d_table = gr.Dataframe(headers=i18n.headers(*DOCTOR_COLUMNS), interactive=False,
                                           label=L("doctor.table"), elem_id="doctor-table")
                    d_plot = gr.Plot(label=L("doctor.plot_title"), elem_id="doctor-plot")

    view = dict(ddpm=ddpm, ddim=ddim, ddpm_info=ddpm_text, ddim_info=ddim_text, numbers=numbers)
    inputs = [ckpt, upload, cls, guidance, steps, eta, seed, n, amp, guidance_lo, guidance_hi]
    btn.click(c.bind(compare, view), inputs, c.components(view), api_name="compare", **c.COMPUTE)
    s_view = dict(gallery=s_gallery, table=s_table, samplers_info=s_info)
    s_inputs = [ckpt, upload, cls, guidance, pick, calls, seed, n, amp, guidance_lo, guidance_hi]
    s_btn.click(c.bind(compare_samplers, s_view), s_inputs, c.components(s_view), api_name="compare_samplers",
                **c.COMPUTE)
    q_view = dict(plot=q_plot, note=q_note)
    q_btn.click(c.bind(measure_quality, q_view), [ckpt, upload, q_ref, q_ref_zip, q_train], c.components(q_view),
                api_name="quality", **c.COMPUTE)
    d_view = dict(verdict=d_verdict, table=d_table, plot=d_plot)
    d_btn.click(c.bind(doctor, d_view), [ckpt, upload, d_calls, d_n, guidance, guidance_lo, guidance_hi],
                c.components(d_view), api_name="doctor", **c.COMPUTE)
    tab.select(c.bind(quality_plot, q_view), [ckpt, upload], c.components(q_view), api_name="quality_plot",
               show_progress="hidden", **c.RAW)
    for changed in c.follow_checkpoint(ckpt, upload, cls, steps, guidance):
        changed.then(c.bind(quality_plot_quiet, q_view), [ckpt, upload], c.components(q_view), **c.QUIET)
        changed.then(c.steps_update, [ckpt, upload, calls], [calls], **c.QUIET)
    return CompareTab(checkpoint=ckpt, upload=upload)
