"""The app's handlers: plain functions from widget values to images, plots and messages.

Each one checks its inputs against demo/limits.py, calls the core (ddpm, diagnostics) through the one
model cache and the one training-job manager, and turns every user mistake into a `gr.Error` that says
what to do. They run without a server, so tests call them directly.
"""
from __future__ import annotations

import atexit
import html
import json
import math
import os
import shutil
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Optional, Sequence

import gradio as gr
import numpy as np
import torch

from ddpm import SCHEDULES, CheckpointError, LoadedCheckpoint, generate, initial_noise
from ddpm.data import IMAGE_EXTENSIONS, make_grid, save_image_grid, to_uint8
from ddpm.diffusion import OBJECTIVES, WEIGHTINGS

from . import checkpoints, limits, plots, quality
from .jobs import JobBusyError, JobStatus, NoJobRunningError, TrainingJobs, TrainRequest
from .model_cache import get_cache
from .paths import output_root, runs_dir

SAMPLERS = ("DDIM", "DDPM")
DATA_CHOICES = ("digits", "zip")          # the built-in data set, or an uploaded .zip of class folders
DIAGNOSE_MODES = ("quick", "full")
OUTPUT_MAX_AGE_S = 3600                   # per-request output folders are deleted after an hour


# ------------------------------------------------------------------------------------------------ errors
def user_error(message: str) -> gr.Error:
    """A gr.Error for a user mistake: no traceback in the log; angle brackets kept visible (gradio renders
    the message as HTML)."""
    return gr.Error(str(message).replace("<", "‹").replace(">", "›"), print_exception=False)


def _number(name: str, value: Any, lo: float, hi: float, integer: bool = False, hint: str = "") -> float | int:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a number (got {value!r}){hint}") from None
    if not math.isfinite(v):
        raise user_error(f"{name} must be a finite number (got {value!r})")
    if integer:
        if v != int(v):
            raise user_error(f"{name} must be a whole number (got {value!r})")
        v = int(v)
    if not lo <= v <= hi:
        raise user_error(f"{name} must be between {lo:g} and {hi:g} (got {value!r}){hint}")
    return v


# ------------------------------------------------------------------------------------------- checkpoints
def _upload_path(upload: Any) -> Optional[Path]:
    """A gr.File value (a path string, or a dict / FileData with a path) -> Path, or None."""
    if upload is None or upload == "" or upload == []:
        return None
    if isinstance(upload, (list, tuple)):
        upload = upload[0]
    if isinstance(upload, dict):
        upload = upload.get("path") or upload.get("name")
    path = getattr(upload, "path", None) or getattr(upload, "name", None) or upload
    return Path(str(path))


def _check_upload_size(path: Path, what: str) -> None:
    if not path.exists():
        raise user_error(f"the uploaded {what} {path.name!r} is no longer on the server (uploads are deleted "
                         "once used, or after an hour); upload it again")
    size = path.stat().st_size
    if size > limits.MAX_UPLOAD_BYTES:
        raise user_error(f"{path.name} is {size / 2**20:.1f} MB; uploads are limited to {limits.MAX_UPLOAD_MB} MB")


def checkpoint_path(checkpoint: Optional[str], upload: Any = None) -> Path:
    """The file to use: an uploaded .safetensors if given, else the listed checkpoint `checkpoint` names."""
    up = _upload_path(upload)
    if up is not None:
        _check_upload_size(up, "checkpoint")
        return up
    try:
        return checkpoints.resolve(checkpoint)
    except ValueError as e:
        raise user_error(str(e)) from None


def load_model(checkpoint: Optional[str], upload: Any = None) -> LoadedCheckpoint:
    """Through the shared cache; a bad file raises gr.Error with the CheckpointError's own message."""
    path = checkpoint_path(checkpoint, upload)
    try:
        return get_cache().get(path, max_bytes=limits.MAX_UPLOAD_BYTES if upload else None)
    except FileNotFoundError:
        raise user_error(f"checkpoint file {path.name!r} was not found; pick another checkpoint or upload "
                         "a .safetensors file") from None
    except CheckpointError as e:
        raise user_error(str(e)) from None


def _ckpt_title(ckpt: LoadedCheckpoint, checkpoint: Optional[str], upload: Any) -> str:
    name = f"upload {Path(ckpt.path).name}" if _upload_path(upload) else (checkpoint or checkpoints.BUNDLED)
    return (f"{name} (step {ckpt.step:,}, T={ckpt.diffusion_config.T}, {ckpt.diffusion_config.schedule}, "
            f"{ckpt.unet_config.image_size}×{ckpt.unet_config.image_size})")


def class_names(checkpoint: Optional[str], upload: Any = None) -> list[str]:
    ckpt = load_model(checkpoint, upload)
    return list(ckpt.class_names) if ckpt.num_classes else []


def checkpoint_choices() -> list[tuple[str, str]]:
    return checkpoints.choices()


# ----------------------------------------------------------------------------------------- sample inputs
def parse_classes(classes: Any, ckpt: LoadedCheckpoint) -> Optional[list[int]]:
    """Ticked class names (or indices) -> label indices; nothing ticked or "all" -> every class in order.
    None for an unconditional model."""
    if classes is None or classes == "":
        classes = []
    if isinstance(classes, (str, int)):
        classes = [c.strip() for c in str(classes).split(",")] if isinstance(classes, str) else [classes]
    classes = [c for c in classes if str(c).strip() != ""]
    everything = not classes or any(str(c).strip().lower() == "all" for c in classes)
    if not ckpt.num_classes:
        if not everything:
            raise user_error("this model is unconditional (trained without labels): untick the classes")
        return None
    if everything:
        return list(range(ckpt.num_classes))
    names = list(ckpt.class_names)
    labels = []
    for c in classes:
        s = str(c).strip()
        if s in names:
            labels.append(names.index(s))
            continue
        try:
            i = int(s)
        except ValueError:
            i = None
        if i is None or not 0 <= i < ckpt.num_classes:
            raise user_error(f"class {s!r} is not one of this model's {ckpt.num_classes} classes "
                             f"({', '.join(names)}); tick classes from the list, or none for all")
        labels.append(i)
    return labels


def _sampler_name(sampler: Any) -> str:
    s = str(sampler or "").strip().lower()
    if s not in ("ddim", "ddpm"):
        raise user_error(f"sampler must be DDIM or DDPM (got {sampler!r})")
    return s


def _steps(steps: Any, T: int) -> int:
    s = _number("steps", steps, 1, float("inf"), integer=True)
    if s > T:
        raise user_error(f"steps = {s} is more than this model's T = {T} diffusion steps; choose 1 to {T}")
    return s


def _guidance(guidance: Any, ckpt: LoadedCheckpoint) -> float:
    w = _number("guidance scale", guidance, 0, limits.MAX_GUIDANCE)
    return w if ckpt.num_classes else 1.0   # an unconditional model has nothing to guide towards


def upscale(grid: np.ndarray, target: int = 720, cap: int = 12) -> np.ndarray:
    """(H, W, 3) uint8 -> upscaled (nearest) by an integer factor so the long side is about `target`
    pixels: tiny images stay crisp when the page scales them down."""
    s = max(1, min(cap, target // max(grid.shape[:2])))
    return grid.repeat(s, axis=0).repeat(s, axis=1) if s > 1 else grid


def grid_image(images: torch.Tensor, nrow: Optional[int] = None, target: int = 720) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> an upscaled uint8 grid for display."""
    return upscale(make_grid(images, nrow), target)


def _nrow(n: int, labels: Optional[Sequence[int]]) -> int:
    k = len(labels) if labels else 0
    if k and n % k == 0 and 2 <= k <= 12:
        return k                              # one column per class
    return math.ceil(math.sqrt(n))


def _output_dir() -> Path:
    root = output_root()
    now = time.time()
    for d in root.iterdir():
        try:
            if d.is_dir() and now - d.stat().st_mtime > OUTPUT_MAX_AGE_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass
    d = root / uuid.uuid4().hex
    d.mkdir()
    return d


def _progress_cb(progress, desc: str, offset: int = 0, grand_total: Optional[int] = None):
    """generate()'s (done, total) callback -> gr.Progress, at most ~50 updates per run."""
    last = [-1]

    def cb(done: int, total: int):
        tot = grand_total or total
        k = int(50 * (offset + done) / tot)
        if k != last[0] or done == total:
            last[0] = k
            progress((offset + done, tot), desc=desc, unit="network calls")
    return cb


# ------------------------------------------------------------------------------------------------ sample
def sample(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
           guidance_scale: float = 1.0, sampler: str = "DDIM", steps: int = 25, eta: float = 0.0,
           temperature: float = 1.0, noise_temperature: float = 1.0, seed: int = 0, n: int = 16,
           progress=gr.Progress()):
    """Generate n images and their trajectory.

    Returns (grid image, info markdown, [grid .png, .npz] download paths, frame-slider update,
    x_t frame, x̂_0 frame, frames state)."""
    ckpt = load_model(checkpoint, upload)
    name = _sampler_name(sampler)
    T = ckpt.diffusion_config.T
    s = _steps(steps, T) if name == "ddim" else None
    eta = _number("η (eta)", eta, 0, 1)
    n = _number("number of images", n, 1, limits.MAX_IMAGES, integer=True,
                hint=f"; at most {limits.MAX_IMAGES} per request")
    seed = _number("seed", seed, 0, limits.MAX_SEED, integer=True)
    temperature = _number("temperature", temperature, 0, limits.MAX_TEMPERATURE)
    noise_temperature = _number("step-noise temperature", noise_temperature, 0, limits.MAX_TEMPERATURE)
    labels = parse_classes(classes, ckpt)
    w = _guidance(guidance_scale, ckpt)
    try:
        res = generate(ckpt.model, ckpt.diffusion, sampler=name, steps=s, eta=eta, n=n, labels=labels,
                       guidance_scale=w, seed=seed, temperature=temperature, noise_temperature=noise_temperature,
                       trajectory_frames=limits.TRAJECTORY_FRAMES,
                       callback=_progress_cb(progress, f"{name.upper()} sampling"))
    except ValueError as e:
        raise user_error(str(e)) from None
    nrow = _nrow(n, labels)
    grid = grid_image(res.images, nrow)
    files = _write_sample_files(res, ckpt, nrow)
    frames = _trajectory_frames(res, nrow)
    middle = len(frames["t"]) // 2          # half-way: noisy x_t beside a first guess of x̂_0
    sampler_txt = (f"DDIM, {len(res.timesteps)} steps, η = {eta:g}" if name == "ddim"
                   else f"DDPM, all {len(res.timesteps)} steps (fixed_small variance)")
    cls = "all classes" if labels is None or labels == list(range(ckpt.num_classes)) else \
        "classes " + ", ".join(ckpt.class_names[i] for i in dict.fromkeys(labels))
    info = (f"**{n} images** · {sampler_txt} · {cls} · guidance {w:g} · seed {seed} · "
            f"temperature {temperature:g} / {noise_temperature:g}  \n"
            f"{res.network_calls} network calls per image · {res.seconds:.2f} s · "
            f"checkpoint {_ckpt_title(ckpt, checkpoint, upload)}")
    return (grid, info, files, _frame_slider(frames, middle), *show_frame(frames, middle), frames)


def _write_sample_files(res, ckpt: LoadedCheckpoint, nrow: int) -> list[str]:
    out = _output_dir()
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


def show_frame(frames: Optional[dict], index: Any = None):
    """(x_t image, x̂_0 image) of one trajectory frame, with the t in each label."""
    if not frames or not frames.get("t"):
        return gr.update(value=None), gr.update(value=None)
    k = len(frames["t"])
    i = k - 1 if index is None else int(min(max(0, int(float(index))), k - 1))
    t = frames["t"][i]
    return (gr.update(value=upscale(np.asarray(frames["x_t"][i], np.uint8), 400),
                      label=f"x_t at t = {t} (frame {i + 1}/{k})"),
            gr.update(value=upscale(np.asarray(frames["x0"][i], np.uint8), 400), label=f"x̂_0 predicted at t = {t}"))


_FIRST_VISIT: dict = {}


def sample_on_load(progress=gr.Progress()):
    """The Sample tab's first view: DDIM-25, 16 images from the bundled model, computed once per file."""
    from .model_cache import file_key
    d = limits.DEFAULT_SAMPLE
    try:
        key = file_key(checkpoints.resolve(checkpoints.BUNDLED))
    except (ValueError, OSError):
        return (None, "No bundled checkpoint is available: upload one, or train a model in the Train tab.",
                None, gr.update(), gr.update(value=None), gr.update(value=None), None)
    cached = _FIRST_VISIT.get(key)
    if cached is not None and all(os.path.exists(f) for f in cached[2]):
        return cached
    out = sample(checkpoints.BUNDLED, None, None, d["guidance"], d["sampler"], d["steps"], d["eta"],
                 d["temperature"], d["temperature"], d["seed"], d["n"], progress=progress)
    _FIRST_VISIT.clear()
    _FIRST_VISIT[key] = out
    return out


# ----------------------------------------------------------------------------------------------- compare
def compare(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, classes: Any = None,
            guidance_scale: float = 1.0, steps: int = 25, eta: float = 0.0, seed: int = 0, n: int = 8,
            progress=gr.Progress()):
    """DDPM with all T steps beside DDIM with S = steps and η, from the same seed and the very same x_T.

    Returns (DDPM grid, DDIM grid, DDPM caption, DDIM caption, numbers dict)."""
    ckpt = load_model(checkpoint, upload)
    T = ckpt.diffusion_config.T
    s = _steps(steps, T)
    eta = _number("η (eta)", eta, 0, 1)
    n = _number("number of images", n, 1, limits.MAX_COMPARE_IMAGES, integer=True,
                hint=f"; at most {limits.MAX_COMPARE_IMAGES} here, since DDPM runs all T steps for each")
    seed = _number("seed", seed, 0, limits.MAX_SEED, integer=True)
    labels = parse_classes(classes, ckpt)
    w = _guidance(guidance_scale, ckpt)
    x_T = initial_noise(n, ckpt.image_shape, seed)
    total = T + s
    try:
        ddpm = generate(ckpt.model, ckpt.diffusion, sampler="ddpm", n=n, labels=labels, guidance_scale=w,
                        seed=seed, x_T=x_T, callback=_progress_cb(progress, f"DDPM, {T} steps", 0, total))
        ddim = generate(ckpt.model, ckpt.diffusion, sampler="ddim", steps=s, eta=eta, n=n, labels=labels,
                        guidance_scale=w, seed=seed, x_T=x_T,
                        callback=_progress_cb(progress, f"DDIM, {s} steps", T, total))
    except ValueError as e:
        raise user_error(str(e)) from None
    nrow = _nrow(n, labels)
    diff = float((ddpm.images - ddim.images).pow(2).mean().sqrt())
    numbers = {
        "checkpoint": _ckpt_title(ckpt, checkpoint, upload), "n": n, "seed": seed, "guidance_scale": w,
        "ddpm": {"steps": len(ddpm.timesteps), "network_calls": ddpm.network_calls, "seconds": round(ddpm.seconds, 3)},
        "ddim": {"steps": len(ddim.timesteps), "eta": eta, "network_calls": ddim.network_calls,
                 "seconds": round(ddim.seconds, 3)},
        "speedup": round(ddpm.seconds / max(ddim.seconds, 1e-9), 1),
        "rms_difference": round(diff, 4),
    }
    cap = lambda label, r: f"**{label}** · {r.network_calls} network calls per image · {r.seconds:.2f} s"
    return (grid_image(ddpm.images, nrow), grid_image(ddim.images, nrow),
            cap(f"DDPM, all T = {T} steps", ddpm),
            cap(f"DDIM, S = {s}, η = {eta:g}", ddim) + f" · {numbers['speedup']:g}× faster", numbers)


# ----------------------------------------------------------------------------------------------- quality
def quality_plot(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None):
    """The quality-vs-steps plot for a checkpoint: benchmark results if they cover it, else the cached
    quick measurement, else an empty plot and a note offering the measurement. Returns (figure, note)."""
    path = checkpoint_path(checkpoint, upload)
    try:
        sha = get_cache().sha256(path)
    except OSError:
        raise user_error(f"checkpoint file {path.name!r} was not found") from None
    rows, note = quality.bench_rows(path, sha, is_bundled=(checkpoint or checkpoints.BUNDLED) == checkpoints.BUNDLED
                                    and _upload_path(upload) is None)
    if rows:
        return plots.quality_figure(rows), f"Quality vs steps {note}."
    cached = quality.cached_rows(sha)
    if cached:
        ddpm = "" if any(r.get("sampler") == "ddpm" for r in cached["rows"]) else \
            " DDPM over all T steps is left out of the quick measurement at this T (the benchmark has it)."
        return (plots.quality_figure(cached["rows"]),
                f"Quality vs steps from a quick measurement on this file (n = {cached.get('n')} images per "
                f"setting, features {cached.get('network')}; {note}). At small n, FID is biased upwards: read "
                f"the ranking, not the absolute values.{ddpm}")
    return (plots.empty_figure("no quality measurements for this checkpoint yet"),
            f"No quality numbers for this checkpoint: {note}. Press **Measure quality now** for a quick "
            f"measurement (DDIM at S = {', '.join(map(str, limits.QUICK_QUALITY_STEPS))} with "
            f"η = {' and '.join(f'{e:g}' for e in limits.QUICK_QUALITY_ETAS)}, n = {limits.QUICK_QUALITY_N} "
            "images each, about a minute on a CPU); it is cached, so the plot is immediate next time.")


def measure_quality(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, progress=gr.Progress()):
    """Run the quick quality-vs-steps measurement for a checkpoint (cached by file hash); (figure, note)."""
    ckpt = load_model(checkpoint, upload)
    sha = get_cache().sha256(ckpt.path)
    try:
        import diagnostics.metrics  # noqa: F401
    except ImportError:
        raise user_error("the quality measurement needs the diagnostics package, which is not installed here") from None
    progress(0.0, desc="measuring sample quality")
    try:
        quality.measure(ckpt, sha, progress=lambda f, d: progress(f, desc=d))
    except ValueError as e:
        raise user_error(str(e)) from None
    return quality_plot(checkpoint, upload)


# ------------------------------------------------------------------------------------------- diagnostics
def diagnose(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None, mode: str = "quick",
             seed: int = 0, progress=gr.Progress()):
    """Run the diagnostics report. Returns (Markdown summary, HTML for the page, [report .html, .json])."""
    mode = str(mode or "quick").strip().lower()
    if mode not in DIAGNOSE_MODES:
        raise user_error(f"mode must be 'quick' or 'full' (got {mode!r})")
    seed = _number("seed", seed, 0, limits.MAX_SEED, integer=True)
    ckpt = load_model(checkpoint, upload)       # validates the file with the loader's own messages
    try:
        from diagnostics import run_report
        from diagnostics.report import to_markdown
    except ImportError:
        raise user_error("the diagnostics package is not installed here, so no report can be made") from None
    out = _output_dir()
    progress(0.0, desc="starting")
    try:
        files = run_report(ckpt, out, quick=mode == "quick", seed=seed,      # the cached model, not a reload
                           callback=lambda stage, frac: progress(float(frac), desc=str(stage)))
    except (CheckpointError, ValueError, FileNotFoundError, PermissionError) as e:
        raise user_error(str(e)) from None
    summary = to_markdown(files.report)
    page = Path(files.html_path).read_text(encoding="utf-8")
    frame = (f'<iframe title="diagnostics report" srcdoc="{html.escape(page, quote=True)}" '
             'style="width:100%;height:780px;border:1px solid #ddd;border-radius:6px;background:white"></iframe>')
    return summary, frame, [str(files.html_path), str(files.json_path)]


# ----------------------------------------------------------------------------------------------- training
_JOBS: dict[str, TrainingJobs] = {}


def get_jobs() -> TrainingJobs:
    """The process-wide training-job manager for the current runs folder."""
    root = str(runs_dir().resolve())
    if root not in _JOBS:
        _JOBS[root] = jobs = TrainingJobs(root)
        atexit.register(jobs.shutdown)
    return _JOBS[root]


def _check_zip(path: Path) -> None:
    _check_upload_size(path, ".zip")
    if not zipfile.is_zipfile(path):
        raise user_error(f"{path.name} is not a .zip file; upload a .zip of class folders "
                         "(<class_name>/<image>.png)")
    with zipfile.ZipFile(path) as zf:
        names = [PurePosixPath(n) for n in zf.namelist() if not n.endswith("/")]
    images = [p for p in names if p.suffix.lower() in IMAGE_EXTENSIONS and len(p.parts) >= 2
              and not any(part.startswith(".") or part == "__MACOSX" for part in p.parts)]
    if not images:
        raise user_error(f"{path.name} holds no PNG/JPEG images inside class folders; lay it out as "
                         "<class_name>/<image>.png (one folder per class)")


def _discard_upload(path: Path) -> None:
    """Delete gradio's temporary copy of an upload once we have our own (never a file outside it)."""
    try:
        from gradio.utils import get_upload_folder
        folder = Path(get_upload_folder()).resolve()
        if folder in path.resolve().parents:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def train_start(data: str = "digits", zip_file: Any = None, preset: str = "tiny", schedule: str = "linear",
                objective: str = "eps", weighting: str = "min_snr", steps: int = 2000, batch_size: int = 128,
                lr: float = 1e-3, label_dropout: float = 0.1, sample_every: int = 250, image_size: int = 16,
                base_channels: int = 0, T: int = 1000):
    """Start a training run as a child process; refused while another run trains. Returns the status outputs."""
    data = str(data or "digits").strip().lower()
    if data not in DATA_CHOICES:
        raise user_error(f"data must be 'digits' or 'zip' (an uploaded .zip of class folders), not {data!r}")
    upload = _upload_path(zip_file) if data == "zip" else None
    if data == "zip":
        if upload is None:
            raise user_error("choose a .zip of class folders to upload, or pick the 'digits' data set")
        _check_zip(upload)

    def choice(name, value, options):
        if value not in options:
            raise user_error(f"unknown {name} {value!r}; choose from {', '.join(map(str, options))}")
        return value
    req = TrainRequest(
        data="digits",
        preset=choice("preset", preset, limits.TRAIN_PRESETS),
        schedule=choice("schedule", schedule, tuple(SCHEDULES)),
        objective=choice("objective", objective, OBJECTIVES),
        weighting=choice("weighting", weighting, WEIGHTINGS),
        steps=_number("training steps", steps, 1, limits.MAX_TRAIN_STEPS, integer=True),
        batch_size=_number("batch size", batch_size, 1, limits.MAX_BATCH_SIZE, integer=True),
        lr=_number("learning rate", lr, *limits.LR_RANGE),
        label_dropout=_number("guidance (label) dropout", label_dropout, 0, 0.5),
        sample_every=_number("sample every", sample_every, 0, limits.MAX_TRAIN_STEPS, integer=True),
        image_size=int(choice("image size", int(_number("image size", image_size, 1, 1024, integer=True)),
                              limits.IMAGE_SIZES)),
        base_channels=_number("base channels", base_channels, 0, limits.MAX_BASE_CHANNELS, integer=True),
        T=_number("T (diffusion steps)", T, limits.MIN_T, limits.MAX_T, integer=True),
    )
    if req.base_channels % 8:
        raise user_error(f"base channels must be 0 (the preset's) or a multiple of 8 (got {req.base_channels})")
    if 0 < req.sample_every < limits.MIN_SAMPLE_EVERY:
        raise user_error(f"sample every must be 0 (only at the end) or at least {limits.MIN_SAMPLE_EVERY} steps")
    try:
        get_jobs().start(req, upload)
    except JobBusyError as e:
        raise user_error(str(e)) from None
    if upload is not None:
        _discard_upload(upload)
    return train_status()


def train_stop():
    """Stop the running training cleanly (it saves its checkpoint). Returns the status outputs."""
    try:
        get_jobs().stop()
    except NoJobRunningError as e:
        raise user_error(str(e)) from None
    return train_status()


def _duration(seconds: Optional[float]) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status_markdown(st: JobStatus) -> str:
    if st.state == "idle":
        return "No training run yet. Choose the settings and press **Start training**."
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.started_at)) if st.started_at else "?"
    s = st.settings
    what = ", ".join(str(x) for x in (s.get("data"), s.get("preset"), s.get("schedule"), s.get("objective"),
                                      f"{s.get('steps', st.total):,} steps") if x)
    head = {"starting": "Training is starting", "running": "Training is running", "stopping": "Training is stopping",
            "finished": "The last run finished", "stopped": "The last run was stopped",
            "failed": "The last run failed"}[st.state]
    lines = [f"**{head}** — run `{st.run_id}`, started {started} ({what})."]
    if st.active:
        lines.append("Only one training job runs at a time; everyone who opens this page sees this run.")
    if st.message and st.state != "running":
        lines.append(st.message)
    return "  \n".join(lines)


def progress_html(st: JobStatus) -> str:
    if st.state == "idle":
        return ""
    frac = st.step / st.total if st.total else 0.0
    color = {"failed": "#d62728", "stopped": "#ff7f0e", "stopping": "#ff7f0e"}.get(st.state, "#2ca02c")
    parts = [f"step {st.step:,} / {st.total:,} ({100 * frac:.0f}%)"]
    if st.loss is not None:
        parts.append(f"loss {st.loss:.4f}")
    if st.active:
        parts.append(f"about {_duration(st.eta)} left" if st.eta is not None else "estimating time left")
    elif st.elapsed is not None:
        parts.append(f"trained for {_duration(st.elapsed)}")
    parts.append(st.state)
    return (f'<div class="train-progress" style="font-family:sans-serif">'
            f'<div style="background:#eee;border-radius:6px;height:18px;overflow:hidden">'
            f'<div style="width:{100 * frac:.1f}%;height:100%;background:{color};transition:width .5s"></div></div>'
            f'<div style="margin-top:4px">{html.escape(" · ".join(parts))}</div></div>')


def train_status():
    """The training status everyone sees. Returns (status markdown, progress bar HTML, loss figure,
    latest sample grid path or None, status dict)."""
    jobs = get_jobs()
    st = jobs.status()
    title = f"Training loss — run {st.run_id}" if st.run_id else "Training loss"
    fig = plots.loss_figure(jobs.history(), title=title)
    return status_markdown(st), progress_html(st), fig, st.sample_path, st.to_dict()


def listing_signature() -> str:
    return "|".join(e.name + ":" + str(e.path) for e in checkpoints.list_checkpoints())


def _status_signature(st: JobStatus) -> str:
    def mtime(p):
        try:
            return os.stat(p).st_mtime_ns
        except (OSError, TypeError):
            return 0
    run = st.run_dir or ""
    return f"{st.run_id}|{st.state}|{st.step}|{mtime(os.path.join(run, 'metrics.jsonl'))}|{mtime(st.sample_path)}"


def train_poll(listing_sig: Optional[str] = None, status_sig: Optional[str] = None):
    """What the page's timer refreshes. Returns the five status outputs (skipped when nothing changed, so
    the plot keeps its zoom), the three checkpoint dropdowns (updated only when the list changed, e.g. a
    run just finished) and the two new signatures."""
    st = get_jobs().status()
    new_status_sig = _status_signature(st)
    status = (train_status() if new_status_sig != status_sig else (gr.skip(),) * 5)
    sig = listing_signature()
    dropdowns = (gr.skip(),) * 3 if sig == listing_sig else (gr.update(choices=checkpoint_choices()),) * 3
    return (*status, *dropdowns, sig, new_status_sig)


def quality_plot_quiet(checkpoint: Optional[str] = checkpoints.BUNDLED, upload: Any = None):
    """quality_plot for a dropdown change: a bad choice shows a note instead of an error popup."""
    try:
        return quality_plot(checkpoint, upload)
    except gr.Error as e:
        return plots.empty_figure("no checkpoint"), str(e.message)


def class_choices_update(checkpoint: Optional[str], upload: Any = None):
    """New checkbox choices (and a reset selection) when the checkpoint changes; no error popups here."""
    try:
        names = class_names(checkpoint, upload)
    except gr.Error:
        return gr.update(choices=[], value=[])
    return gr.update(choices=names, value=[])


def steps_update(checkpoint: Optional[str], upload: Any = None, steps: Any = None):
    """The steps slider's maximum follows the model's T."""
    try:
        T = load_model(checkpoint, upload).diffusion_config.T
    except gr.Error:
        return gr.update()
    try:
        value = min(int(float(steps)), T)
    except (TypeError, ValueError):
        value = min(25, T)
    return gr.update(maximum=T, value=value, info=f"DDIM steps S, 1 to this model's T = {T}")
