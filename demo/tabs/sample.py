"""The Sample tab: n images from a checkpoint with DDIM, DDPM, DPM-Solver++, SDE-DPM-Solver++, UniPC, EDM Heun or
Restart (their options in an accordion: demo/sampler_options.py), and how they form (x_t beside x̂_0 at each
trajectory frame). It opens with digits from the bundled model, computed once per file."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from typing import Any, Optional

import gradio as gr
import numpy as np

from ddpm import LoadedCheckpoint, generate
from ddpm.recommended import DEFAULT as DEFAULT_SETTING, SamplingSetting, recommended_setting
from ddpm.data import make_grid, save_image_grid, to_uint8

from .. import checkpoints, limits
from .. import common as c
from .. import sampler_options
from ..guided_calls import doubled_calls
from ..i18n import L, current, t
from ..model_cache import file_key

SAMPLERS = ("DDIM", "DDPM", "DPM-Solver++", "SDE-DPM-Solver++", "UniPC", "EDM Heun", "Restart")   # the Radio's
SAMPLER_NAMES = {"ddim": "ddim", "ddpm": "ddpm", "dpm-solver++": "dpmpp_2m",                    # choices, mapped
                 "sde-dpm-solver++": "dpmpp_2m_sde", "unipc": "unipc",                          # to generate()'s
                 "edm heun": "edm_heun", "restart": "restart"}                                  # names


@dataclass
class SampleView:
    """What the tab shows after a run; field names are the output components' names in `build`."""
    grid: Optional[np.ndarray]       # (H, W, 3) uint8, upscaled
    info: str                        # Markdown: what ran, how many network calls, how long
    files: Optional[list[str]]       # [grid .png, .npz] downloads
    frame: Any                       # the trajectory slider's update
    xt: Any                          # x_t of the frame on view (an update with value and label)
    x0: Any                          # x̂_0 of that frame
    frames: Optional[dict]           # every frame at native size, kept per browser session


@dataclass
class FrameView:
    xt: Any
    x0: Any


def sampler_name(sampler: Any) -> str:
    """A sampler as the widgets name it ("DPM-Solver++") -> generate()'s name ("dpmpp_2m")."""
    s = str(sampler or "").strip().lower()
    if s not in SAMPLER_NAMES:
        raise c.user_error(t("err.sampler", options=", ".join(SAMPLERS), value=c.clip(sampler)))
    return SAMPLER_NAMES[s]


def sampler_text(name: str, steps: int, eta: float, variance: str = "fixed_small", options: str = "") -> str:
    """How a run is described to the user: 'DDIM, 25 steps, η = 0', 'UniPC, 10 network calls', 'DDPM, all 1000
    steps (learned_range variance)' (variance: the model's own reverse variance, which DDPM samples with), then
    the few-step options (sampler_options.describe: churn, restart, ε scaling) where any applies."""
    if name == "ddim":
        run = t("sample.ddim_run", steps=steps, eta=eta)
    elif name == "ddpm":
        run = t("sample.ddpm_run", steps=steps, variance=variance)
    elif name in ("edm_heun", "restart"):
        run = t(f"sample.{name}_run", steps=steps)
    else:
        run = t("sample.solver_run", sampler=dict(zip(SAMPLER_NAMES.values(), SAMPLERS))[name], steps=steps)
    return t("sample.with_options", run=run, options=options) if options else run


def sample(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
           guidance_scale: float = 1.0, sampler: str = "DDIM", steps: int = 25, eta: float = 0.0,
           temperature: float = 1.0, noise_temperature: float = 1.0, seed: int = 0, n: int = 16,
           amp: str = "auto", churn: float = 0.0, churn_tmin: float | str | None = "",
           churn_tmax: float | str | None = "", s_noise: float = 1.0, restart_k: int = 1, restart_steps: int = 2,
           restart_tmin: int | str | None = "", restart_tmax: int | str | None = "", restart_ode: str = "heun",
           eps_scaling: float = 1.0, guidance_s_lo: float | str | None = "", guidance_s_hi: float | str | None = "",
           progress=gr.Progress()) -> SampleView:
    """Generate n images and their trajectory. churn … eps_scaling: the few-step samplers' options
    (demo.sampler_options; EDM Heun's churn, Restart's interval, ε scaling for every sampler; the window and the
    interval empty, "" or None, by default). guidance_s_lo, guidance_s_hi: classifier-free guidance only where
    s_lo < σ/α ≤ s_hi (an empty end is open; both empty: every step)."""
    ckpt = c.load_model(checkpoint, upload)
    name = sampler_name(sampler)
    T = ckpt.diffusion_config.T
    few = sampler_options.parse(name, sampler_options.SamplerOptions(
        churn, churn_tmin, churn_tmax, s_noise, restart_k, restart_steps, restart_tmin, restart_tmax, restart_ode,
        eps_scaling))
    options = sampler_options.describe(few)
    s = c.sampling_steps(steps, T) if name != "ddpm" else None
    eta = c.eta(eta)
    n = c.number("name.n", n, 1, limits.MAX_IMAGES, integer=True, hint=t("hint.max_images", n=limits.MAX_IMAGES))
    seed = c.seed(seed)
    temperature = c.number("name.temperature", temperature, 0, limits.MAX_TEMPERATURE)
    noise_temperature = c.number("name.noise_temperature", noise_temperature, 0, limits.MAX_TEMPERATURE)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    interval = c.guidance_interval(guidance_s_lo, guidance_s_hi, w)
    calls = T if name == "ddpm" else s
    variance = ckpt.diffusion.sampling_defaults.variance
    doubled = doubled_calls(ckpt, name, s, w, interval, eta=eta, **few)
    c.check_work(ckpt, [c.sampling_pass(sampler_text(name, calls, eta, variance, options), calls, n, labels, w,
                                        doubled)],
                 "work.lower_sample_ddpm" if name == "ddpm" else "work.lower_sample")
    amp = c.precision(amp)
    running = t("sample.progress", run=sampler_text(name, s or T, eta, variance, options))
    try:
        res = generate(ckpt.model, ckpt.diffusion, sampler=name, steps=s, eta=eta, n=n, labels=labels,
                       guidance_scale=w, seed=seed, temperature=temperature, noise_temperature=noise_temperature,
                       trajectory_frames=limits.TRAJECTORY_FRAMES, amp=amp,
                       callback=c.progress_callback(progress, running), guidance_interval=interval, **few)
    except ValueError as e:
        raise c.core_error(e) from None
    nrow = c.grid_columns(n, labels)
    run = sampler_text(name, len(res.timesteps) if name in ("ddim", "ddpm") else res.network_calls, eta, variance,
                       options)
    # the class names and the file name are the uploader's: escaped, as the info is Markdown
    cls = t("sample.all_classes") if labels is None or labels == list(range(ckpt.num_classes)) else \
        t("sample.some_classes", names=", ".join(c.escaped(ckpt.class_names[i]) for i in dict.fromkeys(labels)))
    info = t("sample.info", n=n, run=run, classes=cls, w=c.guidance_words(w, interval), seed=seed, temp=temperature,
             ntemp=noise_temperature, calls=res.network_calls, precision=res.settings["precision"],
             seconds=res.seconds, ckpt=c.escaped(c.checkpoint_title(ckpt, checkpoint, upload)))
    if res.settings.get("convention") == "diffusers":       # whose conventions ran, named under the images
        info += "  \n" + t("sample.convention_diffusers", spacing=res.settings["spacing"])
    return _view(c.grid_image(res.images, nrow), info, _write_sample_files(res, ckpt, nrow),
                 _trajectory_frames(res, nrow))


def _view(grid: Optional[np.ndarray], info: str, files: Optional[list[str]], frames: Optional[dict]) -> SampleView:
    """A fresh view of a run, opened half-way along the trajectory (noisy x_t beside a first guess of x̂_0).
    Built anew each time: gradio consumes the updates it is given, so a cached one would arrive empty."""
    if not frames or not frames.get("t"):
        return SampleView(grid, info, files, gr.update(), gr.update(value=None), gr.update(value=None), frames)
    middle = len(frames["t"]) // 2
    shown = show_frame(frames, middle)
    return SampleView(grid, info, files, _frame_slider(frames, middle), shown.xt, shown.x0, frames)


def _write_sample_files(res, ckpt: LoadedCheckpoint, nrow: int) -> list[str]:
    out = c.output_dir()
    png = save_image_grid(res.images, out / "samples.png", nrow=nrow, scale=4)
    npz = out / "samples.npz"
    np.savez_compressed(
        npz, images=res.images.numpy().astype(np.float32), images_uint8=to_uint8(res.images).numpy(),
        labels=(res.labels.numpy() if res.labels is not None else np.zeros(0, np.int64)),
        x_T=res.x_T.numpy().astype(np.float32), timesteps=np.asarray(res.timesteps),
        class_names=np.asarray(ckpt.class_names or [""]), settings=json.dumps(res.settings))
    return [str(png), str(npz)]


def _trajectory_frames(res, nrow: int) -> dict:
    tr = res.trajectory
    if tr is None:
        return {"t": [], "x_t": [], "x0": []}
    # kept per browser session (gr.State), so at native size; show_frame upscales the one on view
    return {"t": [int(t) for t in tr.timesteps],
            "x_t": [make_grid(tr.x_t[i], nrow) for i in range(len(tr.timesteps))],
            "x0": [make_grid(tr.pred_xstart[i], nrow) for i in range(len(tr.timesteps))]}


def _frame_slider(frames: dict, value: int):
    k = max(1, len(frames["t"]))
    # one frame (DDIM with 1 step): a slider must have minimum < maximum, so it spans 0..1 and stays still
    return gr.update(minimum=0, maximum=max(k - 1, 1), value=value, step=1, interactive=k > 1,
                     label=t("sample.frame_range", t=frames["t"][0] if frames["t"] else "?", last=k - 1))


def show_frame(frames: Optional[dict], index: Any = None) -> FrameView:
    """x_t and x̂_0 of one trajectory frame, with the t in each label."""
    if not frames or not frames.get("t"):
        return FrameView(gr.update(value=None), gr.update(value=None))
    k = len(frames["t"])
    try:
        i = k - 1 if index is None else int(min(max(0, float(index)), k - 1))
    except (TypeError, ValueError):          # not a number: what no slider sends (an API caller), the last frame
        i = k - 1
    step = frames["t"][i]
    return FrameView(gr.update(value=c.upscale(np.asarray(frames["x_t"][i], np.uint8), 400),
                               label=t("sample.xt_at", t=step, i=i + 1, k=k)),
                     gr.update(value=c.upscale(np.asarray(frames["x0"][i], np.uint8), 400),
                               label=t("sample.x0_at", t=step)))


# ------------------------------------------------------------------------------ the recommended setting
@dataclass
class SettingView:
    """The sampler widgets at a model's recommended setting (ddpm.recommended); field names: components."""
    sampler: Any
    steps: Any
    eta: Any
    guidance: Any
    guidance_lo: Any
    guidance_hi: Any


def recommended(ckpt: LoadedCheckpoint) -> tuple[SamplingSetting, Optional[str]]:
    """The model's recommended sampling setting, and None; for a file recording an unusable one, the default and
    what is wrong with the record (the core's message: which field, its valid range), in the page's language."""
    try:
        return recommended_setting(ckpt), None
    except ValueError as e:                  # MessageError: a recorded setting out of range
        return replace(DEFAULT_SETTING, guidance_scale=1.0), c.show(e)


def recommended_update(checkpoint: Optional[str] = None, upload: Any = None) -> SettingView:
    """When the model changes: sampler, steps, η and guidance at its recommended setting, the sampler's info saying
    what it is and where it comes from; steps at most T; guidance off (with the reason) where it does not apply. A
    recommended sampler the tab does not offer leaves the sampler as it is; a file whose recorded setting is unusable
    gets the default, and the info says what is wrong with the record. No popups: a file the loader refuses changes
    nothing (Generate says why)."""
    try:
        ckpt = c.load_model(checkpoint, upload)
    except gr.Error:
        return SettingView(*(gr.update() for _ in range(6)))
    (s, problem), T = recommended(ckpt), ckpt.diffusion_config.T
    label = dict(zip(SAMPLER_NAMES.values(), SAMPLERS)).get(s.sampler)
    info = t("sample.recommended", setting=s.describe(current())) if problem is None else \
        t("sample.recommended_unusable", setting=s.describe(current()), problem=problem)
    guidance = c.guidance_update(checkpoint, upload)
    if guidance.get("interactive", True):
        guidance["value"] = s.guidance_scale
    lo, hi = _interval_boxes(s.guidance_interval)
    return SettingView(gr.update(value=label, info=info) if label else gr.update(info=info),
                       gr.update(maximum=T, value=T if s.steps is None else min(s.steps, T), info=t("steps.info_T", T=T)),
                       gr.update(value=s.eta), guidance, gr.update(value=lo), gr.update(value=hi))


def _interval_boxes(interval: Optional[tuple]) -> tuple[str, str]:
    """A recommended guidance interval as the two boxes' text ("" for an open end or no interval)."""
    lo, hi = interval or (None, None)
    return ("" if lo is None else f"{lo:g}"), ("" if hi is None else f"{hi:g}")


def locked():
    """Generate while the widgets move to a newly picked model's setting (runs in the browser: js=True)."""
    return gr.Button(interactive=False)


def unlocked():
    """Generate once they hold it (also after a pick the loader refuses: the widgets keep what they had)."""
    return gr.Button(interactive=True)


def opening_setting() -> SamplingSetting:
    """The first view's setting: the default model's recommended one (limits.DEFAULT_SAMPLE's without the model)."""
    try:
        return recommended(c.load_model(checkpoints.default_name()))[0]
    except gr.Error:
        d = limits.DEFAULT_SAMPLE
        return SamplingSetting(SAMPLER_NAMES[d["sampler"].lower()], d["steps"], d["eta"], d["guidance"])


_FIRST_VISIT: dict = {}     # (file key, language) -> (grid, info, files, frames) of the opening run


def sample_on_load(progress=gr.Progress()) -> SampleView:
    """The Sample tab's first view: the default model at its recommended setting (limits.DEFAULT_SAMPLE's n, seed and
    temperature), computed once per file."""
    d = limits.DEFAULT_SAMPLE
    try:
        key = file_key(checkpoints.resolve(checkpoints.default_name()))
    except (ValueError, OSError):
        return _view(None, t("sample.no_bundled"), None, None)
    cached = _FIRST_VISIT.get((key, current()))
    if cached is None or not all(os.path.exists(f) for f in cached[2]):
        s = opening_setting()
        label = dict(zip(SAMPLER_NAMES.values(), SAMPLERS)).get(s.sampler, d["sampler"])
        lo, hi = _interval_boxes(s.guidance_interval)
        v = sample(checkpoints.default_name(), None, None, s.guidance_scale, label, s.steps or d["steps"], s.eta,
                   d["temperature"], d["temperature"], d["seed"], d["n"], guidance_s_lo=lo, guidance_s_hi=hi,
                   progress=progress)
        for old in [k for k in _FIRST_VISIT if k[0] != key]:      # a replaced bundled file
            del _FIRST_VISIT[old]
        _FIRST_VISIT[key, current()] = cached = (v.grid, v.info, v.files, v.frames)
    return _view(*cached)


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class SampleTab:
    checkpoint: gr.Dropdown
    upload: gr.File


def build(demo: gr.Blocks, classes: list[str], T: int) -> SampleTab:
    """The Sample tab's widgets and events (call inside gr.Tabs)."""
    d, s = limits.DEFAULT_SAMPLE, opening_setting()          # the widgets open at what the first view ran
    with gr.Tab(L("tab.sample"), id="sample"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                ckpt, upload = c.checkpoint_picker("sample")
                cls = gr.CheckboxGroup(classes, value=[], label=L("sample.classes"))
                guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=s.guidance_scale, step=0.05,
                                     label=L("sample.guidance"), info=L("sample.guidance_info", max=limits.MAX_GUIDANCE))
                guidance_lo, guidance_hi = c.guidance_interval_boxes("sample", _interval_boxes(s.guidance_interval))
                sampler = gr.Radio(list(SAMPLERS), label=L("sample.sampler"), elem_id="sample-sampler",
                                   value=dict(zip(SAMPLER_NAMES.values(), SAMPLERS)).get(s.sampler, d["sampler"]))
                steps = gr.Slider(1, T, value=min(s.steps or T, T), step=1, label=L("sample.steps"),
                                  info=L("sample.steps_info"), elem_id="sample-steps")
                eta = gr.Slider(0, 1, value=s.eta, step=0.05, label=L("name.eta"), info=L("sample.eta_info"))
                with gr.Row():
                    temp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05, label=L("sample.temperature"),
                                     info=L("sample.temperature_info", max=limits.MAX_TEMPERATURE))
                    ntemp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05,
                                      label=L("sample.noise_temperature"),
                                      info=L("sample.noise_temperature_info", max=limits.MAX_TEMPERATURE))
                with gr.Row():
                    seed = gr.Number(0, label=L("sample.seed"), precision=0, minimum=0, maximum=limits.MAX_SEED)
                    n = gr.Slider(1, limits.MAX_IMAGES, value=16, step=1, label=L("sample.n"), elem_id="sample-n",
                                  info=L("sample.n_info", max=limits.MAX_IMAGES))
                amp = c.precision_picker()
                few = sampler_options.build(T)
                btn = gr.Button(L("sample.button"), variant="primary", elem_id="sample-button")
            with gr.Column(scale=2):
                grid = gr.Image(label=L("sample.grid"), elem_id="sample-grid", type="numpy", format="png",
                                interactive=False, height=420, elem_classes="pixelated")
                text = gr.Markdown(label="info", elem_id="sample-info", show_label=False, elem_classes="caption")
                gr.Markdown(L("sample.how"))
                with gr.Row():
                    xt = gr.Image(label="x_t", elem_id="sample-xt", type="numpy", format="png", interactive=False,
                                  height=260, elem_classes="pixelated")
                    x0 = gr.Image(label="x̂_0", elem_id="sample-x0", type="numpy", format="png",
                                  interactive=False, height=260, elem_classes="pixelated")
                frame = gr.Slider(0, limits.TRAJECTORY_FRAMES - 1, value=limits.TRAJECTORY_FRAMES // 2, step=1,
                                  label=L("sample.frame"))
                files = gr.File(label=L("sample.files"), file_count="multiple", interactive=False)
        frames = gr.State(None)

    # the API's outputs keep this order: grid, info, files, frame, x_t, x̂_0 (the State is not part of it)
    view = dict(grid=grid, info=text, files=files, frame=frame, xt=xt, x0=x0, frames=frames)
    inputs = [ckpt, upload, cls, guidance, sampler, steps, eta, temp, ntemp, seed, n, amp,
              *(getattr(few, name) for name in sampler_options.NAMES), guidance_lo, guidance_hi]
    btn.click(c.bind(sample, view), inputs, c.components(view), api_name="sample", **c.COMPUTE)
    frame_view = dict(xt=xt, x0=x0)
    frame.input(c.bind(show_frame, frame_view), [frames, frame], c.components(frame_view), **c.QUIET,
                trigger_mode="always_last", concurrency_limit=None)
    setting = dict(sampler=sampler, steps=steps, eta=eta, guidance=guidance, guidance_lo=guidance_lo,
                   guidance_hi=guidance_hi)
    # a pick locks Generate at once, in the browser, until the widgets hold the new model's setting: a click in
    # between would sample the new model at the previous one's setting
    for picked in (ckpt.input, upload.change):
        picked(locked, None, btn, js=True, **c.QUIET)
    for changed in c.follow_checkpoint(ckpt, upload, cls):    # the dropdown names the upload in use, too
        changed.then(c.bind(recommended_update, setting), [ckpt, upload], c.components(setting), **c.QUIET) \
               .then(unlocked, None, btn, **c.QUIET)
    demo.load(c.bind(sample_on_load, view), None, c.components(view), api_visibility="private", **c.COMPUTE)
    return SampleTab(checkpoint=ckpt, upload=upload)
