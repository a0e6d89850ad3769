"""What every tab shares: input checks that raise a `gr.Error` saying what to do, the checkpoint a request
names (or uploads) loaded through the one model cache, grids for display, progress, and `bind`, which turns
a handler's typed result into the dict keyed by component that gradio takes.

Handlers (in demo/tabs/) return a dataclass whose field names are the names of their output components;
`bind(handler, {"grid": grid_image, ...})` makes the function gradio calls. So no list of outputs has to be
kept in the same order as a tuple somewhere else, and tests read results by name.
"""
from __future__ import annotations

import functools
import html
import math
import shutil
import time
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import gradio as gr
import numpy as np
import torch

from ddpm import CheckpointError, LoadedCheckpoint
from ddpm.data import make_grid
from ddpm.device import AMP_CHOICES, cpu_has_native_bf16, pick_device, resolve_precision
from ddpm.formats.base import clip
from ddpm.messages import Message, catalogue, msg, placeholders, replace_text
from ddpm.recommended import guidance_text
from ddpm.guidance import as_guidance_interval

from . import checkpoints, guard, limits, picker
from .i18n import L, show, t
from .model_cache import get_cache
from .paths import output_root
from .errors import core_error, info, user_error, warning  # noqa: F401  (the tabs use them as c.user_error, …)
from .uploads import check_upload_size, refuse_malformed_requests, upload_path  # noqa: F401  (as c.upload_path, …)

OUTPUT_MAX_AGE_S = 3600                   # per-request output folders are deleted after an hour
# The handlers check every value they are sent themselves (a message that says what to do, one log line), so
# gradio's own input checks, which print a traceback for each bad value, are skipped: preprocess=False.
RAW = dict(preprocess=False)
# Everything that runs the network shares one concurrency group: at most ADMITTED_REQUESTS such requests in their
# handlers at once over the whole app (gradio's limits are per event otherwise), the rest wait in the queue; of
# those, CONCURRENCY_LIMIT compute at once, in the lane their work takes (check_work: guard.enter_lane).
COMPUTE = dict(concurrency_id="compute", concurrency_limit=limits.ADMITTED_REQUESTS, **RAW)
QUIET = dict(api_visibility="private", show_progress="hidden")   # events that only keep the page in step


# --------------------------------------------------------------------------------------- outputs by name
Outputs = Mapping[str, Union[gr.components.Component, Sequence[gr.components.Component]]]


def bind(handler: Callable, outputs: Outputs) -> Callable:
    """handler (returning a dataclass) -> the function an event calls, returning {component: value}.

    A field maps to one component or to several (each gets the same value); fields not in `outputs` are
    not shown. The wrapper keeps the handler's signature, so the API's parameter names and gr.Progress
    work as before. A refusal (gr.Error) or a request whose client went away leaves one line in the log. The lane
    the handler's work waited for (check_work) is given back when it ends, however it ends."""
    @functools.wraps(handler)
    def event(*args, **kwargs):
        try:
            with guard.request():               # gives back the lane check_work's request entered
                result = handler(*args, **kwargs)
        except guard.ClientGone as gone:
            guard.log_cancelled(handler.__name__, str(gone))
            raise user_error(t("err.cancelled")) from None
        except gr.Error as e:
            guard.log_refused(handler.__name__, str(e.message))
            raise
        out = {}
        for f in fields(result):
            target = outputs.get(f.name)
            if target is None:
                continue
            for comp in (target if isinstance(target, (list, tuple)) else (target,)):
                out[comp] = getattr(result, f.name)
        return out
    return event


def components(outputs: Outputs) -> list:
    """The flat list of components an event's `outputs=` takes, in a stable order."""
    flat = []
    for target in outputs.values():
        flat += list(target) if isinstance(target, (list, tuple)) else [target]
    return flat


# ------------------------------------------------------------------------------------------ input checks
def number(name: str, value: Any, lo: float, hi: float, integer: bool = False, hint: str = "") -> float | int:
    """A widget value as a finite number in [lo, hi] (a whole number if `integer`), else a gr.Error.
    `name` is the message key of the value's name; `hint` an already translated tail."""
    name = t(name)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):      # OverflowError: an int of 400 digits
        raise user_error(t("err.not_number", name=name, value=clip(value), hint=hint)) from None
    if not math.isfinite(v):
        raise user_error(t("err.not_finite", name=name, value=clip(value)))
    if integer:
        if v != int(v):
            raise user_error(t("err.not_whole", name=name, value=clip(value)))
        v = int(v)
    if not lo <= v <= hi:
        raise user_error(t("err.range", name=name, lo=lo, hi=hi, value=clip(value), hint=hint))
    return v


def choice(name: str, value: Any, options: Sequence) -> Any:
    """`value` if it is one of `options`, else a gr.Error (`name`: the message key of the value's name)."""
    try:
        known = value in options
    except TypeError:                   # an unhashable value (a list, a dict) against a dict's keys
        known = False
    if not known:
        raise user_error(t("err.choice", name=t(name), value=clip(value), options=", ".join(map(str, options))))
    return value


def escaped(text: Any) -> str:
    """Text a user supplied (a class name, a file name) as it goes into Markdown or HTML: clipped and escaped, so
    markup in it shows as typed and is never rendered."""
    return html.escape(str(clip(str(text))), quote=False)


def without_path(e: BaseException | Message, path: Optional[Path]) -> Message:
    """What to show for an error (or a note) about an upload: its Message (else the error's text under the generic
    "err.core"), with the upload's server path replaced by its file name wherever a value holds it."""
    m = e if isinstance(e, Message) else getattr(e, "message", None)
    m = m if isinstance(m, Message) else msg("err.core", msg=str(e))
    return m if path is None else replace_text(m, str(path), Path(path).name)


def checkpoint_path(checkpoint: Optional[str], upload: Any = None) -> Path:
    """The file to use: an uploaded .safetensors or diffusers .zip if given, else the listed checkpoint."""
    up = upload_path(upload)
    if up is not None:
        check_upload_size(up, "upload.what_checkpoint")
        return up
    if str(checkpoint or "").strip() == checkpoints.UPLOAD:     # the dropdown's upload entry, with no file sent
        raise user_error(t("ckpt.upload_missing"))
    try:
        return checkpoints.resolve(checkpoint)
    except ValueError as e:               # checkpoints.resolve's message (a MessageError)
        raise core_error(e) from None


def load_model(checkpoint: Optional[str], upload: Any = None) -> LoadedCheckpoint:
    """Through the shared cache; a bad file raises gr.Error with the CheckpointError's own message."""
    path = checkpoint_path(checkpoint, upload)
    try:
        return get_cache().get(path, max_bytes=limits.MAX_UPLOAD_BYTES if upload else None)
    except FileNotFoundError:
        raise user_error(t("ckpt.not_found", name=path.name)) from None
    except CheckpointError as e:
        raise core_error(e) from None


def checkpoint_title(ckpt: LoadedCheckpoint, checkpoint: Optional[str], upload: Any) -> str:
    name = t("ckpt.upload_name", name=Path(ckpt.path).name) if upload_path(upload) else \
        (checkpoint or checkpoints.BUNDLED)
    origin = t("ckpt.step", step=ckpt.step) if ckpt.source == "ddpm-workbench" else ckpt.source   # a diffusers zip
    return t("ckpt.title", name=name, origin=origin, T=ckpt.diffusion_config.T,
             schedule=ckpt.diffusion_config.schedule, size=ckpt.unet_config.image_size)


def class_names(checkpoint: Optional[str], upload: Any = None) -> list[str]:
    ckpt = load_model(checkpoint, upload)
    return list(ckpt.class_names) if ckpt.num_classes else []


def checkpoint_choices() -> list[tuple[str, str]]:
    return checkpoints.choices()


def bundled_classes_and_T() -> tuple[list[str], int]:
    """What the widgets start with: the default model's classes and T (none and the app's largest T without it)."""
    try:
        ckpt = load_model(checkpoints.default_name())
        return (list(ckpt.class_names) if ckpt.num_classes else []), ckpt.diffusion_config.T
    except gr.Error:
        return [], limits.MAX_T


# ------------------------------------------------------------------------------------------ model inputs
def parse_classes(classes: Any, ckpt: LoadedCheckpoint) -> Optional[list[int]]:
    """Ticked class names (or indices) -> label indices; nothing ticked or "all" -> every class in order.
    None for an unconditional model."""
    if classes is None or classes == "":
        classes = []
    if isinstance(classes, str):
        classes = [c.strip() for c in classes.split(",")]
    elif not isinstance(classes, (list, tuple)):          # one index, or a value of another type sent to the API
        classes = [classes]
    classes = [c for c in classes if str(c).strip() != ""]
    everything = not classes or any(str(c).strip().lower() == "all" for c in classes)
    if not ckpt.num_classes:
        if not everything:
            raise user_error(t("err.unconditional"))
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
            raise user_error(t("err.class", value=clip(s), k=ckpt.num_classes, names=clip(", ".join(names))))
        labels.append(i)
    return labels


def precision(value: Any, use: str = "sample") -> str:
    """The network precision a request asks for (--amp) for a use ("sample" or "train"), checked on this machine
    before any work: fp16 on a CPU is refused with the reason, and so is bf16 where the CPU only emulates it (many
    times slower than fp32, bench/amp.py: a shared server's work budget assumes native speed; the CLI warns and
    runs it)."""
    amp = choice("name.precision", str(value or "auto").strip().lower(), AMP_CHOICES)
    try:
        p = resolve_precision(amp, pick_device("auto"), use)
    except ValueError as e:
        raise core_error(e) from None
    if p.warning:
        raise user_error(t("err.precision_refused", why=p.notice or msg("note.core", msg=p.warning)))
    return amp


def precision_picker(use: str = "sample") -> gr.Dropdown:
    """auto | off | bf16 where it is native (| fp16 on a GPU), with what auto means here, for this use, as its
    info text."""
    dev = pick_device("auto")
    auto = resolve_precision("auto", dev, use)
    choices = [a for a in AMP_CHOICES if (a != "fp16" or dev.type == "cuda")
               and (a != "bf16" or not resolve_precision("bf16", dev, use).warning)]
    return gr.Dropdown(choices, value="auto", label=L("precision.label"),
                       info=L("precision.info", auto=msg(_auto_key(auto, use), name=auto.name)))


def _auto_key(auto, use: str) -> str:
    """The message key that says what `auto` resolved to on this machine, for this use."""
    if auto.device_type != "cpu":
        return "precision.auto_device"
    if auto.name == "bf16":
        return "precision.auto_cpu_train_bf16"
    return "precision.auto_cpu_sample_fp32" if use == "sample" and cpu_has_native_bf16() else \
        "precision.auto_cpu_fp32"


def sampling_steps(steps: Any, T: int) -> int:
    s = number("name.steps", steps, -math.inf, math.inf, integer=True)
    if s < 1:
        raise user_error(t("err.steps_low", T=T, s=s))
    if s > T:
        raise user_error(t("err.steps_over_T", s=s, T=T))
    return s


def guidance(value: Any, ckpt: LoadedCheckpoint) -> float:
    w = number("name.guidance", value, 0, limits.MAX_GUIDANCE)
    if not ckpt.num_classes:
        return 1.0                          # an unconditional model has nothing to guide towards
    if w != 1.0 and ckpt.guidance_unavailable:
        raise user_error(t("err.guidance_unavailable", why=ckpt.guidance_unavailable_message))
    return w


def eta(value: Any) -> float:
    return number("name.eta", value, 0, 1)


def optional_number(name: str, value: Any, integer: bool = False) -> Optional[float | int]:
    """An empty box (None, "") as None, else the value as a number (a whole one if `integer`; the app's message
    naming the field if it is not one). Its range is the core's to check, so each range is stated in one place."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return number(name, value, -math.inf, math.inf, integer=integer)


def guidance_interval(s_lo: Any, s_hi: Any, w: float) -> Optional[tuple]:
    """The guidance interval's two boxes as generate()'s (s_lo, s_hi or None), or None (every step) when both are
    empty or guidance is off (w = 1); an empty end is open. Not a number: the app's message; an interval the core
    refuses: the core's, with the valid range."""
    lo, hi = optional_number("name.guidance_s_lo", s_lo), optional_number("name.guidance_s_hi", s_hi)
    if (lo is None and hi is None) or w == 1.0:
        return None
    try:
        return tuple(as_guidance_interval((lo, hi)).as_list())
    except ValueError as e:
        raise core_error(e) from None


def guidance_words(w: float, interval: Optional[tuple]) -> str:
    """'2', or '4 on s ∈ (0.28, 5.42] only' in the page's language (ddpm.recommended.guidance_text)."""
    return show(guidance_text(w, interval))


def optional_box(label: str, empty: str, help_key: Optional[str] = None, elem_id: Optional[str] = None,
                 value: Any = "", **kw) -> gr.Textbox:
    """A value that may be left empty: a text box, as a browser's number box sends 0 for empty (label, empty and
    help_key: message keys of its label, its placeholder and its help; kw: the help's values)."""
    return gr.Textbox("" if value is None else value, label=L(label), placeholder=L(empty),
                      info=L(help_key, **kw) if help_key else None, max_lines=1, elem_id=elem_id)


def guidance_interval_boxes(prefix: str, interval: Optional[tuple] = None) -> tuple[gr.Textbox, gr.Textbox]:
    """The two boxes of the guidance interval (call inside a tab's column), opening at `interval`."""
    lo, hi = interval or (None, None)
    with gr.Row():
        return (optional_box("sample.guidance_s_lo", "sample.guidance_interval_empty", "sample.guidance_interval_info",
                             f"{prefix}-guidance-lo", lo),
                optional_box("sample.guidance_s_hi", "sample.guidance_interval_empty", None,
                             f"{prefix}-guidance-hi", hi))


def seed(value: Any) -> int:
    return number("name.seed", value, 0, limits.MAX_SEED, integer=True)


# ------------------------------------------------------------------------------------- images and files
def upscale(grid: np.ndarray, target: int = 720, cap: int = 12) -> np.ndarray:
    """(H, W, 3) uint8 -> upscaled (nearest) by an integer factor so the long side is about `target`
    pixels: tiny images stay crisp when the page scales them down."""
    s = max(1, min(cap, target // max(grid.shape[:2])))
    return grid.repeat(s, axis=0).repeat(s, axis=1) if s > 1 else grid


def grid_image(images: torch.Tensor, nrow: Optional[int] = None, target: int = 720) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> an upscaled uint8 grid for display."""
    return upscale(make_grid(images, nrow), target)


def grid_columns(n: int, labels: Optional[Sequence[int]]) -> int:
    k = len(labels) if labels else 0
    if k and n % k == 0 and 2 <= k <= 12:
        return k                              # one column per class
    return math.ceil(math.sqrt(n))


def output_dir() -> Path:
    """A fresh folder for one request's files; folders older than OUTPUT_MAX_AGE_S are removed on the way."""
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


def progress_callback(progress, desc: str, offset: int = 0, grand_total: Optional[int] = None):
    """generate()'s (done, total) callback -> gr.Progress, at most ~50 updates per run; at the next network call,
    raises guard.ClientGone once the request's client has gone, and a gr.Error saying how long it ran once the
    request is past its wall time (limits.max_request_seconds(), counted from check_work)."""
    last = [-1]
    unit = t("progress.unit")       # read here: the callback may run where the request is not known

    def cb(done: int, total: int):
        tot = grand_total or total
        guard.check(f"{offset + done:,} of {tot:,} network calls")
        k = int(50 * (offset + done) / tot)
        if k != last[0] or done == total:
            last[0] = k
            progress((offset + done, tot), desc=desc, unit=unit)
    return cb


# ------------------------------------------------------------------------------------------ work budget
def sampling_pass(label: str, network_calls: int, n: int, labels: Optional[Sequence[int]], w: float,
                  doubled_calls: Optional[int] = None) -> limits.Pass:
    """One generate() run as the budget counts it (classifier-free guidance with w ∉ {0, 1} doubles the batch: at
    every call, or at `doubled_calls` of them with guidance on an interval, demo.guided_calls)."""
    doubles = labels is not None and w not in (0.0, 1.0)
    return limits.Pass(label, int(network_calls), int(n), 2 if doubles else 1, doubled_calls if doubles else None)


def check_work(ckpt: LoadedCheckpoint, passes: Sequence[limits.Pass], lower: str) -> None:
    """The request's work against the per-request budget, before any of it runs (limits.check_work, at the FLOPs
    the cache counted from the model's configuration); a gr.Error saying what it would cost and what to lower when
    it is over, offering only what fits (`lower`: the message key saying what to lower, its {max_images} filled
    in). Then the request waits for the lane its work takes (guard.enter_lane: a
    light slot, or the one heavy slot), and its wall-time clock starts once it has it (guard.start_clock)."""
    flop = get_cache().flop_per_image(ckpt)
    advice = msg(lower, max_images=limits.max_images_within(passes, flop))
    if "max_images" in placeholders(catalogue("en")[lower]) and limits.max_images_within(passes, flop) < 1:
        advice = one_image_advice(passes, flop, ckpt.diffusion_config.T)
    try:
        work = limits.check_work(passes, flop, ckpt.unet_config.image_size, advice)
    except limits.WorkLimitError as e:
        raise core_error(e) from None
    guard.enter_lane(work.flop)
    guard.start_clock(limits.max_request_seconds())


def one_image_advice(passes: Sequence[limits.Pass], flop_per_image: float, T: int):
    """What to lower when not even one image fits a request's settings: the network calls one image may take
    (max_calls_within, at the request's guidance), or, when not even one call fits, a smaller model."""
    calls = limits.max_calls_within(flop_per_image, max(p.batch_factor for p in passes))
    if calls < 1:
        return msg("work.lower_model", flop=limits.flop_text(flop_per_image))
    return msg("work.lower_one_image", calls=calls, T=T)


# ---------------------------------------------------------------------------------- shared widgets
def checkpoint_picker(tab: str, default: Optional[str] = None):
    """The checkpoint dropdown (bundled model or a finished run) and an upload box; (dropdown, file), with element
    ids "<tab>-checkpoint" and "<tab>-upload". default: the name selected first (checkpoints.default_name(): the
    MNIST showcase when it ships)."""
    dd = gr.Dropdown(choices=checkpoint_choices(), value=default or checkpoints.default_name(), label=L("ckpt.label"),
                     allow_custom_value=True, info=L("ckpt.info"), elem_id=f"{tab}-checkpoint")
    with gr.Accordion(L("ckpt.upload_open"), open=False):
        up = gr.File(label=L("ckpt.upload_label"), type="filepath", file_count="single", elem_id=f"{tab}-upload")
        gr.Markdown(L("ckpt.upload_info", mb=limits.MAX_UPLOAD_MB))
    return dd, up


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
    except (TypeError, ValueError, OverflowError):      # OverflowError: "inf"
        value = min(25, T)
    return gr.update(maximum=T, value=value, info=t("steps.info_T", T=T))


def guidance_update(checkpoint: Optional[str], upload: Any = None):
    """The guidance slider follows the model: for a model that cannot be guided (unconditional, or no null label)
    it is set to 1 and disabled, its info saying why; otherwise enabled with its usual info."""
    try:
        why = load_model(checkpoint, upload).guidance_unavailable_message
    except gr.Error:
        return gr.update()
    if why is not None:
        return gr.update(value=1.0, interactive=False, info=t("guidance.disabled", why=show(why)))
    return gr.update(interactive=True, info=t("sample.guidance_info", max=limits.MAX_GUIDANCE))


def follow_checkpoint(dd, up, classes=None, steps=None, guidance=None) -> list:
    """A checkpoint change (picked or uploaded) first makes the dropdown name the model in use (demo/picker.py),
    then re-reads its classes and T into the tab's widgets, and whether guidance applies to it. Returns the events
    after which the model changed, for a tab to chain more on."""
    changed = picker.wire(dd, up)
    for event in changed:
        if classes is not None:
            event.then(class_choices_update, [dd, up], [classes], **QUIET)
        if steps is not None:
            event.then(steps_update, [dd, up, steps], [steps], **QUIET)
        if guidance is not None:
            event.then(guidance_update, [dd, up], [guidance], **QUIET)
    return changed
