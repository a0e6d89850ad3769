"""The Train tab: start, watch, stop and resume the one training run (a `python -m ddpm.train` child process run
by demo/jobs.py). Everyone who opens the page sees the same run; a finished or stopped run's checkpoint (and a
failed run's last one) joins every tab's checkpoint list, and a stopped or failed run can be resumed."""
from __future__ import annotations

import atexit
import html
import math
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import gradio as gr
import plotly.graph_objects as go

from ddpm import SCHEDULES
from ddpm.data import load_dataset, training_conditioning
from ddpm.diffusion import OBJECTIVES, WEIGHTINGS

from .. import checkpoints, limits, plots
from .. import common as c
from ..jobs import (UPLOADED, CannotResumeError, JobBusyError, JobStatus, NoJobRunningError, TrainingJobs,
                    TrainRequest, app_default as D)
from ..runs import read_json
from ..paths import runs_dir

DATA_CHOICES = ("digits", "mnist", "zip")   # built in (digits, 5,000 MNIST digits), or an uploaded .zip
POLL_SECONDS = 2.0


@dataclass
class TrainView:
    """The training status everyone sees."""
    status: Any                      # Markdown: what runs, since when, how it ended
    progress: Any                    # HTML: the progress bar and step / loss / time left
    plot: Any                        # the loss figure
    sample: Any                      # path of the latest sample grid, or None
    json: Any                        # JobStatus.to_dict()


@dataclass
class TrainPoll(TrainView):
    """What the page's timer refreshes: the status (gr.skip() when nothing changed, so the plot keeps its
    zoom), the checkpoint dropdowns of every tab (gr.skip() unless the list changed), and the signatures to
    compare against next time."""
    checkpoints: Any = field(default_factory=gr.skip)
    resumable: Any = field(default_factory=gr.skip)
    listing_sig: str = ""
    status_sig: str = ""


# --------------------------------------------------------------------------------------------- handlers
_JOBS: dict[str, TrainingJobs] = {}


def get_jobs() -> TrainingJobs:
    """The process-wide training-job manager for the current runs folder."""
    root = str(runs_dir().resolve())
    if root not in _JOBS:
        _JOBS[root] = jobs = TrainingJobs(root)
        atexit.register(jobs.shutdown)
    return _JOBS[root]


def _check_zip(path: Path, image_size: int, conditional: bool) -> None:
    """Read the upload with the trainer's own loader before anything starts: its refusals (no images, one class
    asked to train class-conditionally, ...) become the user's message, and what it skipped or resized is
    shown as a warning."""
    c.check_upload_size(path, ".zip")
    if not zipfile.is_zipfile(path):
        raise c.user_error(f"{path.name} is not a .zip file; upload a .zip of PNG/JPEG images, one folder per "
                           "class (<class_name>/<image>.png) or all at the top (unconditional)")
    with zipfile.ZipFile(path) as zf:
        escaping = [n for n in zf.namelist() if PurePosixPath(n).is_absolute() or ".." in PurePosixPath(n).parts
                    or "\\" in n]
    if escaping:
        raise c.user_error(f"{path.name} holds paths that leave its folder (e.g. {escaping[0]!r}); make the .zip "
                           "again from the image folders themselves")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # the notes are shown below, not logged
            ds = load_dataset(str(path), image_size=image_size)
        training_conditioning(ds, conditional)
    except ValueError as e:
        raise c.user_error(str(e).replace(str(path), path.name)) from None
    for note in ds.notes:
        gr.Warning(note.replace(str(path), path.name))
    if conditional and not ds.conditional:
        gr.Info(f"{path.name} has no class folders: it trains unconditionally")


def _discard_upload(path: Path) -> None:
    """Delete gradio's temporary copy of an upload once we have our own (never a file outside it)."""
    try:
        from gradio.utils import get_upload_folder
        folder = Path(get_upload_folder()).resolve()
        if folder in path.resolve().parents:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def train_start(data: str = "digits", zip_file: Any = None, preset: str = D("preset"), schedule: str = D("schedule"),
                objective: str = D("objective"), weighting: str = D("weighting"), steps: int = D("steps"),
                batch_size: int = D("batch_size"), lr: float = D("lr"), label_dropout: float = D("label_dropout"),
                sample_every: int = D("sample_every"), image_size: int = D("image_size"),
                base_channels: int = D("base_channels"), T: int = D("T"), conditional: bool = D("conditional"),
                amp: str = D("amp")) -> TrainView:
    """Start a training run as a child process; refused while another run trains."""
    data = str(data or "digits").strip().lower()
    if data not in DATA_CHOICES:
        raise c.user_error(f"data must be 'digits', 'mnist' or 'zip' (an uploaded .zip of images), not {data!r}")
    upload = c.upload_path(zip_file) if data == "zip" else None
    if data == "zip" and upload is None:
        raise c.user_error("choose a .zip of images to upload, or pick a built-in data set ('digits' or 'mnist')")
    req = TrainRequest(
        data="mnist" if data == "mnist" else "digits",
        conditional=bool(conditional),
        preset=c.choice("preset", preset, limits.TRAIN_PRESETS),
        schedule=c.choice("schedule", schedule, tuple(SCHEDULES)),
        objective=c.choice("objective", objective, OBJECTIVES),
        weighting=c.choice("weighting", weighting, WEIGHTINGS),
        steps=c.number("training steps", steps, 1, limits.MAX_TRAIN_STEPS, integer=True),
        batch_size=c.number("batch size", batch_size, 1, limits.MAX_BATCH_SIZE, integer=True),
        lr=c.number("learning rate", lr, *limits.LR_RANGE),
        label_dropout=c.number("guidance (label) dropout", label_dropout, 0, 0.5),
        sample_every=c.number("sample every", sample_every, 0, limits.MAX_TRAIN_STEPS, integer=True),
        image_size=int(c.choice("image size", int(c.number("image size", image_size, 1, 1024, integer=True)),
                                limits.IMAGE_SIZES)),
        base_channels=c.number("base channels", base_channels, 0, limits.MAX_BASE_CHANNELS, integer=True),
        T=c.number("T (diffusion steps)", T, limits.MIN_T, limits.MAX_T, integer=True),
        amp=c.precision(amp),
    )
    max_steps = limits.max_train_steps(req.image_size, req.batch_size)
    if req.steps > max_steps:
        raise c.user_error(f"{req.steps:,} steps of batch {req.batch_size} at {req.image_size}×{req.image_size} is "
                           f"over this server's training budget: at most {max_steps:,} steps at this size and batch "
                           "(the limit shrinks with the pixel count); lower the steps, the batch or the image size")
    if upload is not None:
        _check_zip(upload, req.image_size, req.conditional)
    if req.base_channels % 8:
        raise c.user_error(f"base channels must be 0 (the preset's) or a multiple of 8 (got {req.base_channels})")
    if 0 < req.sample_every < limits.MIN_SAMPLE_EVERY:
        raise c.user_error(f"sample every must be 0 (only at the end) or at least {limits.MIN_SAMPLE_EVERY} steps")
    try:
        get_jobs().start(req, upload)
    except JobBusyError as e:
        raise c.user_error(str(e)) from None
    if upload is not None:
        _discard_upload(upload)
    return train_status()


def train_resume(run: Optional[str] = None, zip_file: Any = None) -> TrainView:
    """Go on training a stopped or failed run of this app from its last checkpoint, with its own settings (a run
    on an uploaded .zip needs that .zip again: uploads are deleted once read)."""
    jobs = get_jobs()
    upload = c.upload_path(zip_file)
    try:
        found = jobs.resumable_run(str(run or "").strip())
        if upload is not None:          # read as the run's own settings will read it
            settings = (read_json(found.run_dir / "job.json") or {}).get("request") or {}
            _check_zip(upload, int(settings.get("image_size", 16)), bool(settings.get("conditional", True)))
        jobs.resume(found.run_id, upload)
    except (JobBusyError, CannotResumeError) as e:
        raise c.user_error(str(e)) from None
    if upload is not None:
        _discard_upload(upload)
    return train_status()


def resumable_choices() -> list[tuple[str, str]]:
    """(label, run id) of this app's runs that Resume can go on with, newest first."""
    return [(f"{r.run_id} ({r.state} at step {r.step:,} of {r.total:,}"
             + (", needs its .zip again" if r.data == UPLOADED else "") + ")", r.run_id)
            for r in get_jobs().resumable_runs()]


def train_stop() -> TrainView:
    """Stop the running training cleanly (it saves its checkpoint)."""
    try:
        get_jobs().stop()
    except NoJobRunningError as e:
        raise c.user_error(str(e)) from None
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
    lines += _data_lines(st.run_dir)
    return "  \n".join(lines)


def _data_lines(run_dir: Optional[str]) -> list[str]:
    """What the trainer detected and what its loader skipped or resized (progress.json: data, data_notes)."""
    progress = read_json(Path(run_dir) / "progress.json") if run_dir else None
    if not progress or not progress.get("data"):
        return []
    return [f"Data: {html.escape(str(progress['data']))}"] + [f"⚠ {html.escape(str(n))}"
                                                            for n in progress.get("data_notes") or []]


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


def train_status() -> TrainView:
    """The training status everyone sees."""
    jobs = get_jobs()
    st = jobs.status()
    title = f"Training loss — run {st.run_id}" if st.run_id else "Training loss"
    fig: go.Figure = plots.loss_figure(jobs.history(), title=title)
    return TrainView(status_markdown(st), progress_html(st), fig, st.sample_path, st.to_dict())


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


def train_poll(listing_sig: Optional[str] = None, status_sig: Optional[str] = None) -> TrainPoll:
    """What the page's timer refreshes (see TrainPoll)."""
    new_status_sig = _status_signature(get_jobs().status())
    view = train_status() if new_status_sig != status_sig else TrainView(*(gr.skip(),) * 5)
    resumable = resumable_choices()
    sig = listing_signature() + "|resumable:" + ",".join(r for _, r in resumable)
    changed = sig != listing_sig
    dropdowns = gr.update(choices=c.checkpoint_choices()) if changed else gr.skip()
    resume = gr.update(choices=resumable, value=resumable[0][1] if resumable else None) if changed else gr.skip()
    return TrainPoll(**vars(view), checkpoints=dropdowns, resumable=resume, listing_sig=sig,
                     status_sig=new_status_sig)


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class TrainTab:
    view: dict                       # TrainView field -> component
    resumable: gr.Dropdown           # this app's stopped or failed runs


def build() -> TrainTab:
    """The Train tab's widgets and its own events (call inside gr.Tabs); `poll` wires the page's timer."""
    info = limits.train_info()
    with gr.Tab("Train", id="train"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                data = gr.Radio([("digits (built in: 1,797 labelled 8×8 digits)", "digits"),
                                 ("MNIST (built in: 5,000 real 28×28 digits)", "mnist"),
                                 ("my .zip of images", "zip")], value="digits", label="Data set")
                with gr.Group(visible=False) as zip_group:
                    zip_file = gr.File(label="training data (.zip)", type="filepath", file_count="single",
                                       height=140)
                    gr.Markdown(info["zip"], elem_classes="caption", padding=True)
                with gr.Row():
                    preset = gr.Dropdown(list(limits.TRAIN_PRESETS), value=D("preset"), label="Preset")
                    schedule = gr.Dropdown(list(SCHEDULES), value=D("schedule"), label="Noise schedule")
                with gr.Row():
                    objective = gr.Dropdown(list(OBJECTIVES), value=D("objective"), label="Objective",
                                            info="what the network predicts")
                    weighting = gr.Dropdown(list(WEIGHTINGS), value=D("weighting"), label="Loss weighting")
                with gr.Row():
                    steps = gr.Number(D("steps"), label="Training steps", elem_id="train-steps", precision=0, minimum=1,
                                      maximum=limits.MAX_TRAIN_STEPS, info=info["steps"])
                    batch = gr.Number(D("batch_size"), label="Batch size", elem_id="train-batch", precision=0,
                                      minimum=1, maximum=limits.MAX_BATCH_SIZE, info=info["batch_size"])
                with gr.Row():
                    lr = gr.Number(D("lr"), label="Learning rate", minimum=limits.LR_RANGE[0],
                                   maximum=limits.LR_RANGE[1], info=info["lr"])
                    sample_every = gr.Number(D("sample_every"), label="Sample grid every",
                                             elem_id="train-sample-every", precision=0, minimum=0,
                                             maximum=limits.MAX_TRAIN_STEPS, info=info["sample_every"])
                dropout = gr.Slider(0, 0.5, value=D("label_dropout"), step=0.05, label="Guidance (label) dropout",
                                    info=info["label_dropout"])
                conditional = gr.Checkbox(D("conditional"), label="Class-conditional", info=info["conditional"])
                with gr.Accordion("Model size", open=False):
                    with gr.Row():
                        image_size = gr.Dropdown(list(limits.IMAGE_SIZES), value=D("image_size"), label="Image size",
                                                 elem_id="train-image-size", info=info["image_size"])
                        base = gr.Number(D("base_channels"), label="Base channels", elem_id="train-base",
                                         precision=0, minimum=0, maximum=limits.MAX_BASE_CHANNELS,
                                         info=info["base_channels"])
                        T = gr.Number(D("T"), label="T", elem_id="train-T", precision=0, minimum=limits.MIN_T,
                                      maximum=limits.MAX_T, info=info["T"])
                amp = c.precision_picker()
                with gr.Row():
                    start = gr.Button("Start training", variant="primary", elem_id="train-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
                    refresh = gr.Button("Refresh", size="sm")
                with gr.Accordion("Resume a stopped or failed run", open=False):
                    resume_run = gr.Dropdown([], label="Run", elem_id="train-resume-run",
                                             info="goes on from the run's last checkpoint with its own settings; "
                                                  "a run on an uploaded .zip needs the .zip above again")
                    resume = gr.Button("Resume", elem_id="train-resume")
            with gr.Column(scale=2):
                status = gr.Markdown("Loading the training status…", label="status", show_label=False)
                progress = gr.HTML(label="progress", elem_id="train-progress")
                plot = gr.Plot(label="Loss", elem_id="train-plot")
                sample = gr.Image(label="Latest sample grid", elem_id="train-sample", type="filepath", format="png",
                                  interactive=False, height=300, elem_classes="pixelated")
                with gr.Accordion("Status as JSON", open=False):
                    status_json = gr.JSON(label="status")

    view = dict(status=status, progress=progress, plot=plot, sample=sample, json=status_json)
    inputs = [data, zip_file, preset, schedule, objective, weighting, steps, batch, lr, dropout, sample_every,
              image_size, base, T, conditional, amp]
    start.click(c.bind(train_start, view), inputs, c.components(view), api_name="train_start",
                concurrency_limit=None, **c.RAW)
    resume.click(c.bind(train_resume, view), [resume_run, zip_file], c.components(view), api_name="train_resume",
                 concurrency_limit=None, **c.RAW)
    stop.click(c.bind(train_stop, view), None, c.components(view), api_name="train_stop", concurrency_limit=None)
    refresh.click(c.bind(train_status, view), None, c.components(view), api_name="train_status",
                  concurrency_limit=None)
    data.change(lambda d: gr.update(visible=d == "zip"), data, zip_group, **c.QUIET, queue=False)
    data.change(lambda d: gr.update(value=28) if d == "mnist" else gr.skip(), data, image_size, **c.QUIET,
                queue=False)
    return TrainTab(view=view, resumable=resume_run)


def poll(demo: gr.Blocks, tab: TrainTab, checkpoint_dropdowns: list) -> None:
    """On page load and every POLL_SECONDS: the training status, and every tab's checkpoint list."""
    listing_sig, status_sig = gr.State(None), gr.State(None)
    outputs = dict(tab.view, checkpoints=checkpoint_dropdowns, resumable=tab.resumable, listing_sig=listing_sig,
                   status_sig=status_sig)
    event = c.bind(train_poll, outputs)
    gr.Timer(POLL_SECONDS).tick(event, [listing_sig, status_sig], c.components(outputs), **c.QUIET,
                                concurrency_limit=None)
    demo.load(event, [listing_sig, status_sig], c.components(outputs), **c.QUIET)
