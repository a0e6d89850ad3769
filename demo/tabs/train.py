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
from ddpm.safezip import UnsafeZipError, open_zip
from ddpm.diffusion import OBJECTIVES, WEIGHTINGS
from ddpm.messages import msg

from .. import checkpoints, limits, plots, train_estimate
from .. import common as c
from ..i18n import L, as_message, show, t
from ..jobs import (UPLOADED, CannotResumeError, JobBusyError, JobStatus, NoJobRunningError, TrainingJobs,
                    TrainRequest, app_default as D)
from ..runs import read_json
from ..paths import runs_dir

DATA_CHOICES = ("digits", "mnist", "emoji", "zip")   # built in (digits, 5,000 MNIST digits, 1,862 colour emoji), or
                                                    # an uploaded .zip
DATA_IMAGE_SIZE = {"mnist": 28, "emoji": 32}        # the size a built-in set opens with (digits: the default, 16)
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
    zoom), the runs Resume offers (gr.skip() unless the list changed), and the signatures to compare against next
    time (each tab's checkpoint dropdown follows listing_sig: demo/picker.follow_listing)."""
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
    c.check_upload_size(path, "upload.what_zip")
    if not zipfile.is_zipfile(path):
        raise c.user_error(t("train.not_zip", name=path.name))
    try:
        with open_zip(path) as zf:                 # its member count and directory size checked before it is parsed
            escaping = [n for n in zf.namelist() if PurePosixPath(n).is_absolute() or ".." in PurePosixPath(n).parts
                        or "\\" in n]
    except UnsafeZipError as e:
        raise c.core_error(c.without_path(e, path)) from None
    if escaping:
        raise c.user_error(t("train.zip_escaping", name=path.name, example=escaping[0]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # the notes are shown below, not logged
            ds = load_dataset(str(path), image_size=image_size)
        training_conditioning(ds, conditional)
    except ValueError as e:
        raise c.core_error(c.without_path(e, path)) from None
    for note in ds.notes:
        c.warning(c.without_path(note, path))
    if conditional and not ds.conditional:
        c.info(t("train.no_class_folders", name=path.name))


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
                amp: str = D("amp"), learn_sigma: bool = D("learn_sigma"), dropout: float = D("dropout"),
                hflip: bool = D("hflip")) -> TrainView:
    """Start a training run as a child process; refused while another run trains, before its upload is read."""
    data = str(data or "digits").strip().lower()
    if data not in DATA_CHOICES:
        raise c.user_error(t("train.bad_data", value=c.clip(data)))
    upload = c.upload_path(zip_file) if data == "zip" else None
    if data == "zip" and upload is None:
        raise c.user_error(t("train.need_zip"))
    req = TrainRequest(
        data=data if data in ("mnist", "emoji") else "digits",
        conditional=bool(conditional),
        learn_sigma=bool(learn_sigma),
        dropout=c.number("name.net_dropout", dropout, 0, limits.MAX_NET_DROPOUT),
        hflip=bool(hflip),
        preset=c.choice("name.preset", preset, limits.TRAIN_PRESETS),
        schedule=c.choice("name.schedule", schedule, tuple(SCHEDULES)),
        objective=c.choice("name.objective", objective, OBJECTIVES),
        weighting=c.choice("name.weighting", weighting, WEIGHTINGS),
        steps=c.number("name.train_steps", steps, 1, limits.MAX_TRAIN_STEPS, integer=True),
        batch_size=c.number("name.batch", batch_size, 1, limits.MAX_BATCH_SIZE, integer=True),
        lr=c.number("name.lr", lr, *limits.LR_RANGE),
        label_dropout=c.number("name.dropout", label_dropout, 0, 0.5),
        sample_every=c.number("name.sample_every", sample_every, 0, limits.MAX_TRAIN_STEPS, integer=True),
        image_size=int(c.choice("name.image_size", int(c.number("name.image_size", image_size, 1, 1024,
                                                                integer=True)), limits.IMAGE_SIZES)),
        base_channels=c.number("name.base", base_channels, 0, limits.MAX_BASE_CHANNELS, integer=True),
        T=c.number("name.T", T, limits.MIN_T, limits.MAX_T, integer=True),
        amp=c.precision(amp, "train"),
    )
    max_steps = limits.max_train_steps(req.image_size, req.batch_size)
    if req.steps > max_steps:
        raise c.user_error(t("train.over_budget", steps=req.steps, batch=req.batch_size, size=req.image_size,
                             max=max_steps))
    if req.base_channels % 8:
        raise c.user_error(t("train.base_multiple", value=req.base_channels))
    if 0 < req.sample_every < limits.MIN_SAMPLE_EVERY:
        raise c.user_error(t("train.sample_every_min", min=limits.MIN_SAMPLE_EVERY))
    jobs = get_jobs()
    try:
        with jobs.reserve(req.steps) as slot:      # one training at a time, decided before the upload is read
            expected = _expected_duration(req)     # refused here when over the limit, before anything starts
            if upload is not None:
                _check_zip(upload, req.image_size, req.conditional)
            jobs.start(req, upload, reservation=slot)
    except JobBusyError as e:
        raise c.core_error(e) from None
    if upload is not None:
        _discard_upload(upload)
    c.info(t("train.started_estimate", time=_duration(expected.seconds)))
    return train_status()


def _expected_duration(req: TrainRequest) -> train_estimate.TrainingEstimate:
    """The run's expected wall time on this machine (demo/train_estimate.py); a gr.Error saying what to change when
    it is over limits.MAX_TRAIN_HOURS."""
    est = train_estimate.estimate(req.data, req.preset, req.image_size, req.base_channels, req.conditional,
                                  req.learn_sigma, req.steps, req.batch_size, req.amp)
    limit = train_estimate.max_train_seconds()
    if est.seconds > limit:
        max_batch = est.max_batch(limit)
        raise c.user_error(t("train.too_long" if max_batch >= 1 else "train.too_long_steps",
                             time=_duration(est.seconds), hours=limit / 3600, steps=req.steps, batch=req.batch_size,
                             max_steps=est.max_steps(limit), max_batch=max_batch))
    return est


def estimate_text(est: train_estimate.TrainingEstimate) -> str:
    """What the Train tab says under its Start button: the expected duration, how it was had, and whether it is
    over the limit (with what to change)."""
    limit = train_estimate.max_train_seconds()
    text = t("train.estimate", time=_duration(est.seconds), steps=est.steps, step=est.seconds_per_step,
             batch=est.batch_size, measured=" / ".join(map(str, est.timing.batches)), precision=est.timing.precision)
    if est.seconds > limit:
        max_batch = est.max_batch(limit)
        text += " " + t("train.estimate_over" if max_batch >= 1 else "train.estimate_over_steps", hours=limit / 3600,
                        steps=est.steps, batch=est.batch_size, max_steps=est.max_steps(limit), max_batch=max_batch)
    return text


def train_estimate_text(data: str = "digits", preset: str = D("preset"), steps: int = D("steps"),
                        batch_size: int = D("batch_size"), image_size: int = D("image_size"),
                        base_channels: int = D("base_channels"), conditional: bool = D("conditional"),
                        amp: str = D("amp"), learn_sigma: bool = D("learn_sigma")) -> str:
    """The expected duration of the run the widgets describe (empty while a value is not valid: Start says why)."""
    try:
        data = str(data or "digits").strip().lower()
        steps = c.number("name.train_steps", steps, 1, limits.MAX_TRAIN_STEPS, integer=True)
        batch_size = c.number("name.batch", batch_size, 1, limits.MAX_BATCH_SIZE, integer=True)
        preset = c.choice("name.preset", preset, limits.TRAIN_PRESETS)
        image_size = int(c.choice("name.image_size", int(c.number("name.image_size", image_size, 1, 1024,
                                                                  integer=True)), limits.IMAGE_SIZES))
        base_channels = c.number("name.base", base_channels, 0, limits.MAX_BASE_CHANNELS, integer=True)
        amp = c.precision(amp, "train")
        est = train_estimate.estimate(data, preset, image_size, base_channels, bool(conditional), bool(learn_sigma),
                                      steps, batch_size, amp)
    except (gr.Error, ValueError):          # ValueError: a width the preset cannot take (Start says which)
        return ""
    return estimate_text(est)


def train_resume(run: Optional[str] = None, zip_file: Any = None) -> TrainView:
    """Go on training a stopped or failed run of this app from its last checkpoint, with its own settings (a run
    on an uploaded .zip needs that .zip again: uploads are deleted once read)."""
    jobs = get_jobs()
    upload = c.upload_path(zip_file)
    try:
        found = jobs.resumable_run(str(run or "").strip())
        with jobs.reserve(found.total, found) as slot:     # decided before the upload is read, as in train_start
            if upload is not None:          # read as the run's own settings will read it
                settings = (read_json(found.run_dir / "job.json") or {}).get("request") or {}
                _check_zip(upload, int(settings.get("image_size", 16)), bool(settings.get("conditional", True)))
            jobs.resume(found.run_id, upload, reservation=slot)
    except (JobBusyError, CannotResumeError) as e:
        raise c.core_error(e) from None
    if upload is not None:
        _discard_upload(upload)
    return train_status()


def resumable_choices() -> list[tuple[str, str]]:
    """(label, run id) of this app's runs that Resume can go on with, newest first."""
    return [(t("train.resumable_zip" if r.data == UPLOADED else "train.resumable", run=r.run_id,
               state=t(f"state.{r.state}"), step=r.step, total=r.total), r.run_id)
            for r in get_jobs().resumable_runs()]


def train_stop() -> TrainView:
    """Stop the running training cleanly (it saves its checkpoint)."""
    try:
        get_jobs().stop()
    except NoJobRunningError as e:
        raise c.core_error(e) from None
    return train_status()


def _duration(seconds: Optional[float]) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return t("time.s", s=seconds)
    if seconds < 3600:
        return t("time.min_s", m=seconds // 60, s=seconds % 60)
    return t("time.h_min", h=seconds // 3600, m=seconds % 3600 // 60)


def status_markdown(st: JobStatus) -> str:
    if st.state == "idle":
        return t("train.idle")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.started_at)) if st.started_at else "?"
    s = st.settings
    data = checkpoints.data_name(s["data"]) if s.get("data") else None
    what = ", ".join(str(x) for x in (data, s.get("preset"), s.get("schedule"), s.get("objective"),
                                      t("train.n_steps", n=s.get("steps", st.total))) if x)
    lines = [t("train.headline", head=t(f"train.head.{st.state}"), run=st.run_id, started=started, what=what)]
    if st.active:
        lines.append(t("train.one_at_a_time"))
    if st.message and st.state != "running":
        lines.append(show(st.message))
    lines += _data_lines(st.run_dir)
    return "  \n".join(lines)


def _data_lines(run_dir: Optional[str]) -> list[str]:
    """What the trainer detected and what its loader skipped or resized (progress.json: data_message and
    data_notes_messages, the trainer's Messages; a run written before them shows its English data and data_notes)."""
    progress = read_json(Path(run_dir) / "progress.json") if run_dir else None
    if not progress or not (progress.get("data_message") or progress.get("data")):
        return []
    data = as_message(progress.get("data_message")) or msg("note.core", msg=str(progress["data"]))
    notes = [as_message(n) for n in progress.get("data_notes_messages") or []] or \
        [msg("note.core", msg=str(n)) for n in progress.get("data_notes") or []]
    return [t("train.data_line", data=html.escape(show(data)))] + [f"⚠ {html.escape(show(n))}" for n in notes]


def progress_html(st: JobStatus) -> str:
    if st.state == "idle":
        return ""
    frac = st.step / st.total if st.total else 0.0
    color = {"failed": "#d62728", "stopped": "#ff7f0e", "stopping": "#ff7f0e"}.get(st.state, "#2ca02c")
    parts = [t("train.progress_step", step=st.step, total=st.total, pct=100 * frac)]
    if st.loss is not None:
        parts.append(t("train.progress_loss", loss=st.loss))
    if st.active:
        parts.append(t("train.progress_left", time=_duration(st.eta)) if st.eta is not None
                     else t("train.progress_estimating"))
    elif st.elapsed is not None:
        parts.append(t("train.progress_trained", time=_duration(st.elapsed)))
    parts.append(t(f"state.{st.state}"))
    return (f'<div class="train-progress" style="font-family:sans-serif">'
            f'<div style="background:#eee;border-radius:6px;height:18px;overflow:hidden">'
            f'<div style="width:{100 * frac:.1f}%;height:100%;background:{color};transition:width .5s"></div></div>'
            f'<div style="margin-top:4px">{html.escape(" · ".join(parts))}</div></div>')


def train_status() -> TrainView:
    """The training status everyone sees."""
    jobs = get_jobs()
    st = jobs.status()
    title = t("plot.loss_title_run", run=st.run_id) if st.run_id else t("plot.loss_title")
    fig: go.Figure = plots.loss_figure(jobs.history(), title=title)
    shown = {**st.to_dict(), "message": show(st.message) if st.message else ""}     # in the page's language
    return TrainView(status_markdown(st), progress_html(st), fig, st.sample_path, shown)


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
    resume = gr.update(choices=resumable, value=resumable[0][1] if resumable else None) if changed else gr.skip()
    return TrainPoll(**vars(view), resumable=resume, listing_sig=sig,
                     status_sig=new_status_sig)


# ------------------------------------------------------------------------------------------------ layout
@dataclass
class TrainTab:
    view: dict                       # TrainView field -> component
    resumable: gr.Dropdown           # this app's stopped or failed runs
    estimate: tuple                  # (handler, inputs, output) of the expected-duration line, run on page load


def build() -> TrainTab:
    """The Train tab's widgets and its own events (call inside gr.Tabs); `poll` wires the page's timer."""
    with gr.Tab(L("tab.train"), id="train"):
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                data = gr.Radio([(L("train.data_digits"), "digits"), (L("train.data_mnist"), "mnist"),
                                 (L("train.data_emoji"), "emoji"), (L("train.data_zip"), "zip")], value="digits",
                                label=L("train.data_set"))
                with gr.Group(visible=False) as zip_group:
                    zip_file = gr.File(label=L("train.zip"), type="filepath", file_count="single", height=140)
                    gr.Markdown(L("train.zip_info", mb=limits.MAX_UPLOAD_MB), elem_classes="caption", padding=True)
                with gr.Row():
                    preset = gr.Dropdown(list(limits.TRAIN_PRESETS), value=D("preset"), label=L("train.preset"))
                    schedule = gr.Dropdown(list(SCHEDULES), value=D("schedule"), label=L("train.schedule"))
                with gr.Row():
                    objective = gr.Dropdown(list(OBJECTIVES), value=D("objective"), label=L("train.objective"),
                                            info=L("train.objective_info"))
                    weighting = gr.Dropdown(list(WEIGHTINGS), value=D("weighting"), label=L("train.weighting"))
                with gr.Row():
                    steps = gr.Number(D("steps"), label=L("train.steps"), elem_id="train-steps", precision=0, minimum=1,
                                      maximum=limits.MAX_TRAIN_STEPS,
                                      info=L("train.steps_info", max=limits.MAX_TRAIN_STEPS))
                    batch = gr.Number(D("batch_size"), label=L("train.batch"), elem_id="train-batch", precision=0,
                                      minimum=1, maximum=limits.MAX_BATCH_SIZE,
                                      info=L("train.batch_info", max=limits.MAX_BATCH_SIZE))
                with gr.Row():
                    lr = gr.Number(D("lr"), label=L("train.lr"), minimum=limits.LR_RANGE[0], maximum=limits.LR_RANGE[1],
                                   info=L("train.lr_info", lo=limits.LR_RANGE[0], hi=limits.LR_RANGE[1]))
                    sample_every = gr.Number(D("sample_every"), label=L("train.sample_every"),
                                             elem_id="train-sample-every", precision=0, minimum=0,
                                             maximum=limits.MAX_TRAIN_STEPS,
                                             info=L("train.sample_every_info", min=limits.MIN_SAMPLE_EVERY))
                dropout = gr.Slider(0, 0.5, value=D("label_dropout"), step=0.05, label=L("train.dropout"),
                                    info=L("train.dropout_info"))
                with gr.Row():       # against fitting a small training set (the report's generalisation check)
                    net_dropout = gr.Slider(0, limits.MAX_NET_DROPOUT, value=D("dropout"), step=0.05,
                                            label=L("train.net_dropout"), elem_id="train-net-dropout",
                                            info=L("train.net_dropout_info", max=limits.MAX_NET_DROPOUT))
                    hflip = gr.Checkbox(D("hflip"), label=L("train.hflip"), info=L("train.hflip_info"),
                                        elem_id="train-hflip")
                conditional = gr.Checkbox(D("conditional"), label=L("train.conditional"), info=L("train.conditional_info"))
                learn_sigma = gr.Checkbox(D("learn_sigma"), label=L("train.learn_sigma"), elem_id="train-learn-sigma",
                                          info=L("train.learn_sigma_info"))
                with gr.Accordion(L("train.model_size"), open=False):
                    with gr.Row():
                        image_size = gr.Dropdown(list(limits.IMAGE_SIZES), value=D("image_size"), label=L("train.image_size"),
                                                 elem_id="train-image-size",
                                                 info=L("train.image_size_info", lo=limits.IMAGE_SIZES[0],
                                                        hi=limits.IMAGE_SIZES[-1], steps=limits.MAX_TRAIN_STEPS,
                                                        batch=limits.MAX_BATCH_SIZE, size=limits.TRAIN_WORK_SIZE))
                        base = gr.Number(D("base_channels"), label=L("train.base"), elem_id="train-base", precision=0,
                                         minimum=0, maximum=limits.MAX_BASE_CHANNELS,
                                         info=L("train.base_info", max=limits.MAX_BASE_CHANNELS))
                        T = gr.Number(D("T"), label="T", elem_id="train-T", precision=0, minimum=limits.MIN_T,
                                      maximum=limits.MAX_T, info=L("train.T_info", lo=limits.MIN_T, hi=limits.MAX_T))
                amp = c.precision_picker("train")
                estimate = gr.Markdown(label="estimate", elem_id="train-estimate", show_label=False,
                                       elem_classes="caption")
                with gr.Row():
                    start = gr.Button(L("train.start"), variant="primary", elem_id="train-start")
                    stop = gr.Button(L("train.stop"), variant="stop", elem_id="train-stop")
                    refresh = gr.Button(L("train.refresh"), size="sm")
                with gr.Accordion(L("train.resume_open"), open=False):
                    resume_run = gr.Dropdown([], label=L("train.resume_run"), elem_id="train-resume-run",
                                             info=L("train.resume_info"))
                    resume = gr.Button(L("train.resume"), elem_id="train-resume")
            with gr.Column(scale=2):
                status = gr.Markdown(L("train.loading"), label="status", show_label=False)
                progress = gr.HTML(label="progress", elem_id="train-progress")
                plot = gr.Plot(label=L("train.loss"), elem_id="train-plot")
                sample = gr.Image(label=L("train.latest"), elem_id="train-sample", type="filepath", format="png",
                                  interactive=False, height=300, elem_classes="pixelated")
                with gr.Accordion(L("train.json"), open=False):
                    status_json = gr.JSON(label=L("train.json_label"))

    view = dict(status=status, progress=progress, plot=plot, sample=sample, json=status_json)
    inputs = [data, zip_file, preset, schedule, objective, weighting, steps, batch, lr, dropout, sample_every,
              image_size, base, T, conditional, amp, learn_sigma, net_dropout, hflip]
    start.click(c.bind(train_start, view), inputs, c.components(view), api_name="train_start",
                concurrency_limit=None, **c.RAW)
    resume.click(c.bind(train_resume, view), [resume_run, zip_file], c.components(view), api_name="train_resume",
                 concurrency_limit=None, **c.RAW)
    stop.click(c.bind(train_stop, view), None, c.components(view), api_name="train_stop", concurrency_limit=None)
    refresh.click(c.bind(train_status, view), None, c.components(view), api_name="train_status",
                  concurrency_limit=None)
    estimate_inputs = [data, preset, steps, batch, image_size, base, conditional, amp, learn_sigma]
    for widget in estimate_inputs:
        widget.change(train_estimate_text, estimate_inputs, estimate, **c.QUIET, trigger_mode="always_last")
    demo_load_estimate = (train_estimate_text, estimate_inputs, estimate)
    data.change(lambda d: gr.update(visible=d == "zip"), data, zip_group, **c.QUIET, queue=False)
    data.change(lambda d: gr.update(value=DATA_IMAGE_SIZE[d]) if d in DATA_IMAGE_SIZE else gr.skip(), data,
                image_size, **c.QUIET, queue=False)
    return TrainTab(view=view, resumable=resume_run, estimate=demo_load_estimate)


def poll(demo: gr.Blocks, tab: TrainTab) -> list[gr.State]:
    """On page load and every POLL_SECONDS: the training status, and the listing signature every tab's checkpoint
    list follows. Returns the two signatures the poll compares (cleared, they make the next tick redraw both)."""
    listing_sig, status_sig = gr.State(None), gr.State(None)
    outputs = dict(tab.view, resumable=tab.resumable, listing_sig=listing_sig,
                   status_sig=status_sig)
    event = c.bind(train_poll, outputs)
    gr.Timer(POLL_SECONDS).tick(event, [listing_sig, status_sig], c.components(outputs), **c.QUIET,
                                concurrency_limit=None)
    demo.load(event, [listing_sig, status_sig], c.components(outputs), **c.QUIET)
    demo.load(*tab.estimate, **c.QUIET)
    return [listing_sig, status_sig]
