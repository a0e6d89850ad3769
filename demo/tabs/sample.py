"""The Sample tab: n images from a checkpoint with DDIM, DDPM, DPM-Solver++ or UniPC, and how they form (x_t
beside x̂_0 at each trajectory frame). It opens with digits from the bundled model, computed once per file."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Optional

import gradio as gr
import numpy as np

from ddpm import LoadedCheckpoint, generate
from ddpm.data import make_grid, save_image_grid, to_uint8

from .. import checkpoints, limits
from .. import common as c
from ..model_cache import file_key

SAMPLERS = ("DDIM", "DDPM", "DPM-Solver++", "UniPC")   # the Radio's choices; SAMPLER_NAMES maps them to generate()'s
SAMPLER_NAMES = {"ddim": "ddim", "ddpm": "ddpm", "dpm-solver++": "dpmpp_2m", "unipc": "unipc"}


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
        raise c.user_error(f"sampler must be one of {', '.join(SAMPLERS)} (got {sampler!r})")
    return SAMPLER_NAMES[s]


def sampler_text(name: str, steps: int, eta: float) -> str:
    """How a run is described to the user: 'DDIM, 25 steps, η = 0', 'UniPC, 10 network calls', ..."""
    if name == "ddim":
        return f"DDIM, {steps} steps, η = {eta:g}"
    if name == "ddpm":
        return f"DDPM, all {steps} steps (fixed_small variance)"
    return f"{dict(zip(SAMPLER_NAMES.values(), SAMPLERS))[name]}, {steps} network calls (order 2)"


def sample(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
           guidance_scale: float = 1.0, sampler: str = "DDIM", steps: int = 25, eta: float = 0.0,
           temperature: float = 1.0, noise_temperature: float = 1.0, seed: int = 0, n: int = 16,
           amp: str = "auto", progress=gr.Progress()) -> SampleView:
    """Generate n images and their trajectory."""
    ckpt = c.load_model(checkpoint, upload)
    name = sampler_name(sampler)
    T = ckpt.diffusion_config.T
    s = c.sampling_steps(steps, T) if name != "ddpm" else None
    eta = c.eta(eta)
    n = c.number("number of images", n, 1, limits.MAX_IMAGES, integer=True,
                 hint=f"; at most {limits.MAX_IMAGES} per request")
    seed = c.seed(seed)
    temperature = c.number("temperature", temperature, 0, limits.MAX_TEMPERATURE)
    noise_temperature = c.number("step-noise temperature", noise_temperature, 0, limits.MAX_TEMPERATURE)
    labels = c.parse_classes(classes, ckpt)
    w = c.guidance(guidance_scale, ckpt)
    calls = T if name == "ddpm" else s
    c.check_work(ckpt, [c.sampling_pass(sampler_text(name, calls, eta), calls, n, labels, w)],
                 "Lower the number of images (at most {max_images} fit these settings)"
                 + (", or use DDIM with fewer steps." if name == "ddpm" else " or the steps."))
    amp = c.precision(amp)
    try:
        res = generate(ckpt.model, ckpt.diffusion, sampler=name, steps=s, eta=eta, n=n, labels=labels,
                       guidance_scale=w, seed=seed, temperature=temperature, noise_temperature=noise_temperature,
                       trajectory_frames=limits.TRAJECTORY_FRAMES, amp=amp,
                       callback=c.progress_callback(progress, f"{sampler_text(name, s or T, eta)}: sampling"))
    except ValueError as e:
        raise c.user_error(str(e)) from None
    nrow = c.grid_columns(n, labels)
    sampler_txt = sampler_text(name, len(res.timesteps), eta)
    cls = "all classes" if labels is None or labels == list(range(ckpt.num_classes)) else \
        "classes " + ", ".join(ckpt.class_names[i] for i in dict.fromkeys(labels))
    info = (f"**{n} images** · {sampler_txt} · {cls} · guidance {w:g} · seed {seed} · "
            f"temperature {temperature:g} / {noise_temperature:g}  \n"
            f"{res.network_calls} network calls per image · network in {res.settings['precision']} · "
            f"{res.seconds:.2f} s · "
            f"checkpoint {c.checkpoint_title(ckpt, checkpoint, upload)}")
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
    return gr.update(minimum=0, maximum=k - 1, value=value, step=1,
                     label=f"trajectory frame (0 = pure noise at t = {frames['t'][0] if frames['t'] else '?'}, "
                           f"{k - 1} = last step)")


def show_frame(frames: Optional[dict], index: Any = None) -> FrameView:
    """x_t and x̂_0 of one trajectory frame, with the t in each label."""
    if not frames or not frames.get("t"):
        return FrameView(gr.update(value=None), gr.update(value=None))
    k = len(frames["t"])
    i = k - 1 if index is None else int(min(max(0, int(float(index))), k - 1))
    t = frames["t"][i]
    return FrameView(gr.update(value=c.upscale(np.asarray(frames["x_t"][i], np.uint8), 400),
                               label=f"x_t at t = {t} (frame {i + 1}/{k})"),
                     gr.update(value=c.upscale(np.asarray(frames["x0"][i], np.uint8), 400),
                               label=f"x̂_0 predicted at t = {t}"))


_FIRST_VISIT: dict = {}     # file key -> (grid, info, files, frames) of the opening run


def sample_on_load(progress=gr.Progress()) -> SampleView:
    """The Sample tab's first view: limits.DEFAULT_SAMPLE from the bundled model, computed once per file."""
    d = limits.DEFAULT_SAMPLE
    try:
        key = file_key(checkpoints.resolve(checkpoints.default_name()))
    except (ValueError, OSError):
        return _view(None, "No bundled checkpoint is available: upload one, or train a model in the Train tab.",
                     None, None)
    cached = _FIRST_VISIT.get(key)
    if cached is None or not all(os.path.exists(f) for f in cached[2]):
        v = sample(checkpoints.default_name(), None, None, d["guidance"], d["sampler"], d["steps"], d["eta"],
                   d["temperature"], d["temperature"], d["seed"], d["n"], progress=progress)
        _FIRST_VISIT.clear()
        _FIRST_VISIT[key] = cached = (v.grid, v.info, v.files, v.frames)
    return _view(*cached)


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class SampleTab:
    checkpoint: gr.Dropdown


def build(demo: gr.Blocks, classes: list[str], T: int) -> SampleTab:
    """The Sample tab's widgets and events (call inside gr.Tabs)."""
    info = limits.sample_info()
    with gr.Tab("Sample", id="sample"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                ckpt, upload = c.checkpoint_picker(info["upload"])
                cls = gr.CheckboxGroup(classes, value=[], label="Classes (none ticked = all)")
                guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.1, label="Guidance scale w",
                                     info=info["guidance"])
                sampler = gr.Radio(list(SAMPLERS), value="DDIM", label="Sampler")
                steps = gr.Slider(1, T, value=25, step=1, label="Steps", info=info["steps"])
                eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η (eta)", info=info["eta"])
                with gr.Row():
                    temp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05, label="Temperature",
                                     info=info["temperature"])
                    ntemp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05,
                                      label="Step-noise temperature", info=info["noise_temperature"])
                with gr.Row():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                    n = gr.Slider(1, limits.MAX_IMAGES, value=16, step=1, label="Images", elem_id="sample-n",
                                  info=info["n"])
                amp = c.precision_picker()
                btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
            with gr.Column(scale=2):
                grid = gr.Image(label="Samples", elem_id="sample-grid", type="numpy", format="png",
                                interactive=False, height=420, elem_classes="pixelated")
                text = gr.Markdown(label="info", elem_id="sample-info", show_label=False, elem_classes="caption")
                gr.Markdown("**How the samples form**: x_t (the noisy sample) and x̂_0 (the model's guess of the "
                            "final image) at each frame.")
                with gr.Row():
                    xt = gr.Image(label="x_t", elem_id="sample-xt", type="numpy", format="png", interactive=False,
                                  height=260, elem_classes="pixelated")
                    x0 = gr.Image(label="x̂_0", elem_id="sample-x0", type="numpy", format="png",
                                  interactive=False, height=260, elem_classes="pixelated")
                frame = gr.Slider(0, limits.TRAJECTORY_FRAMES - 1, value=limits.TRAJECTORY_FRAMES // 2, step=1,
                                  label="trajectory frame")
                files = gr.File(label="Download: PNG grid + .npz (images, labels, x_T, settings)",
                                file_count="multiple", interactive=False)
        frames = gr.State(None)

    # the API's outputs keep this order: grid, info, files, frame, x_t, x̂_0 (the State is not part of it)
    view = dict(grid=grid, info=text, files=files, frame=frame, xt=xt, x0=x0, frames=frames)
    inputs = [ckpt, upload, cls, guidance, sampler, steps, eta, temp, ntemp, seed, n, amp]
    btn.click(c.bind(sample, view), inputs, c.components(view), api_name="sample", **c.COMPUTE)
    frame_view = dict(xt=xt, x0=x0)
    frame.input(c.bind(show_frame, frame_view), [frames, frame], c.components(frame_view), **c.QUIET,
                trigger_mode="always_last", concurrency_limit=None)
    c.follow_checkpoint(ckpt, upload, cls, steps)
    demo.load(c.bind(sample_on_load, view), None, c.components(view), api_visibility="private", **c.COMPUTE)
    return SampleTab(checkpoint=ckpt)
