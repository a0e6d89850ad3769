"""Per-request limits of the app, in one place: the UI shows them (info= texts in demo/locales/) and the
handlers enforce them.

They bound what one request can cost on a shared CPU Space; the CLI and the Python API have their own,
much wider, limits.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional, Sequence

from ddpm.messages import Message, MessageError, msg


def _env_number(name: str, default: float) -> float:
    """A limit the host may change through the environment (a positive number), else the default."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number; set it to a positive number or unset it") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={raw!r} must be a positive number; unset it for the default {default:g}")
    return value


# The queue: requests that run at once (more wait their turn); on a 2-core CPU Space each gets one core
CONCURRENCY_LIMIT = int(_env_number("DDPM_WORKBENCH_CONCURRENCY", 2))
QUEUE_MAX_SIZE = 64

# Sampling (Sample and Compare tabs)
MAX_IMAGES = 64                  # images per Sample request
MAX_COMPARE_IMAGES = 16          # images per Compare request (DDPM runs all T steps for each)
MAX_DOCTOR_IMAGES = 200          # images per candidate sampler of the sampler doctor (5 candidates, equal calls)
MAX_GUIDANCE = 10.0              # classifier-free guidance scale w in [0, MAX_GUIDANCE]
MAX_TEMPERATURE = 2.0            # x_T and step-noise temperatures in [0, MAX_TEMPERATURE]
MAX_SEED = 2**31 - 1
TRAJECTORY_FRAMES = 10           # x_t / x̂_0 frames kept for the "how a sample forms" slider
# The Sample tab's first view and its widgets' starting values: the setting at which the bundled MNIST model meets
# issue 10's targets in its diagnostics report (checkpoints/README.md: DDIM-50, η = 0.5, guidance w = 1.25)
DEFAULT_SAMPLE = dict(sampler="DDIM", steps=50, eta=0.5, n=16, seed=0, guidance=1.25, temperature=1.0)

# The work one request may do (Sample, Compare, the quick quality measurement, Diagnostics), checked before
# it starts: Σ network calls per image × images (× 2 under guidance) × the model's FLOPs per image per call,
# counted from its configuration (demo/model_cache.py flop_per_image: convolutions, linear layers, and each
# attention layer's 2·2·L²·C + its projections, built on the meta device, never run on data).
# The bundled 16×16 model costs 0.12 GFLOP per image per call, so 8 TFLOP is DDPM over all 1,000 steps for 64
# images: ~50 s on an idle 2-core CPU (ENVIRONMENT.md: ~75 ms per call on 100 images), minutes on a busy one.
WORK_LIMIT_TFLOP = 8.0           # DDPM_WORKBENCH_WORK_TFLOP overrides
MAX_NETWORK_CALLS = 5_000        # sequential network calls per request, whatever the batch (DDPM_WORKBENCH_MAX_CALLS)
# The wall time one request may run once its work starts (DDPM_WORKBENCH_MAX_SECONDS): the stop for work the
# budget priced wrong (a CPU slower than counted, a kernel far below its peak); the sampling loop's callback
# raises at the next network call past it. 8 TFLOP take ~50 s idle and a few minutes on a busy 2-core Space.
MAX_REQUEST_SECONDS = 300
# Request lanes (demo/guard.py Lanes): a small request is never stuck behind big ones. Up to ADMITTED_REQUESTS
# compute requests enter their handlers at once (gradio's concurrency group), check their values and price their
# work; the work then waits for a lane. Of the CONCURRENCY_LIMIT requests that compute at once, at most HEAVY_SLOTS
# are heavy (work over LIGHT_WORK_TFLOP), so the other slots stay free for light ones: on a 2-core Space one heavy
# and one light request run side by side, a core each. A request's wall time counts from when its work starts.
LIGHT_WORK_TFLOP = 0.4           # DDIM-50 for 64 images of the bundled digits model: 50 × 64 × 124 MFLOP = 0.40
#                                  TFLOP, a few seconds on one core (DDPM_WORKBENCH_LIGHT_TFLOP)
HEAVY_SLOTS = 1
MAX_HEAVY_WAITING = 4            # heavy requests that may wait for the heavy slot; one more is refused as busy
MAX_WAIT_SECONDS = 600           # the longest a request waits for its lane, then it is refused as busy; counted in
#                                  no budget, and a client that leaves frees its place (DDPM_WORKBENCH_MAX_WAIT_SECONDS)
ADMITTED_REQUESTS = CONCURRENCY_LIMIT + MAX_HEAVY_WAITING + 10   # in their handlers at once; more wait in the queue
MODEL_CACHE_MB = 512             # loaded models kept in memory: parameters + buffers + schedule tables
#                                  (DDPM_WORKBENCH_MODEL_CACHE_MB); a model larger than this is refused

# Uploads
MAX_UPLOAD_MB = 50               # a checkpoint or a training .zip
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20

# Training (Train tab); one job at a time for the whole app
MAX_TRAIN_STEPS = 20_000
MAX_BATCH_SIZE = 512
MAX_T = 1000                     # diffusion steps of a model trained from the app
MIN_T = 10
IMAGE_SIZES = (8, 16, 20, 24, 28, 32, 40, 48, 56, 64)   # divisible by 4 for the presets' three levels
TRAIN_WORK_SIZE = 16             # MAX_TRAIN_STEPS × MAX_BATCH_SIZE holds at this size; larger images get
#                                  proportionally fewer steps × batch (the cost grows with the pixel count)
MAX_BASE_CHANNELS = 128          # 0 = the preset's own width
LR_RANGE = (1e-5, 1e-2)
MAX_NET_DROPOUT = 0.5            # the network's dropout in the Train tab (DDPM used 0.1 on CIFAR-10)
MAX_TRAIN_HOURS = 3.0            # a run expected to take longer on this machine is refused before it starts, with
#                                  what to change (demo/train_estimate.py; DDPM_WORKBENCH_MAX_TRAIN_HOURS overrides)
MIN_SAMPLE_EVERY = 50            # a sample grid costs a 25-step DDIM run: not more often than this
TRAIN_PRESETS = ("tiny", "small")  # base/large are too slow for a CPU Space

# Sample quality vs steps (Compare tab), the quick on-the-spot measurement
QUICK_QUALITY_N = 64             # images per setting: enough to rank settings, not a publishable FID
QUICK_QUALITY_STEPS = (5, 10, 25, 50)
QUICK_QUALITY_ETAS = (0.0, 1.0)
QUICK_QUALITY_MAX_DDPM_T = 200   # DDPM over all T steps joins the quick set only up to this T (the benchmark has it)


def max_train_steps(image_size: int, batch_size: int) -> int:
    """Steps allowed for a batch at an image size: at most MAX_TRAIN_STEPS, and steps × batch × pixels at most
    what MAX_TRAIN_STEPS × MAX_BATCH_SIZE cost at TRAIN_WORK_SIZE² (a 64×64 run gets 16× fewer image-steps)."""
    budget = MAX_TRAIN_STEPS * MAX_BATCH_SIZE * TRAIN_WORK_SIZE ** 2
    return max(1, min(MAX_TRAIN_STEPS, budget // (max(1, int(batch_size)) * int(image_size) ** 2)))


def work_limit_flop() -> float:
    return _env_number("DDPM_WORKBENCH_WORK_TFLOP", WORK_LIMIT_TFLOP) * 1e12


def max_network_calls() -> int:
    return int(_env_number("DDPM_WORKBENCH_MAX_CALLS", MAX_NETWORK_CALLS))


def max_request_seconds() -> float:
    return _env_number("DDPM_WORKBENCH_MAX_SECONDS", MAX_REQUEST_SECONDS)


def max_train_hours() -> float:
    return _env_number("DDPM_WORKBENCH_MAX_TRAIN_HOURS", MAX_TRAIN_HOURS)


def light_work_flop() -> float:
    return _env_number("DDPM_WORKBENCH_LIGHT_TFLOP", LIGHT_WORK_TFLOP) * 1e12


def max_wait_seconds() -> float:
    return _env_number("DDPM_WORKBENCH_MAX_WAIT_SECONDS", MAX_WAIT_SECONDS)


def model_cache_bytes() -> int:
    return int(_env_number("DDPM_WORKBENCH_MODEL_CACHE_MB", MODEL_CACHE_MB) * 2**20)


# ------------------------------------------------------------------------------------------- work budget
class WorkLimitError(MessageError):
    """A request over the work budget; the message says what it would cost and what to lower."""


@dataclass(frozen=True)
class Pass:
    """One sampling run inside a request: `network_calls` sequential calls, each on `images` images."""
    label: str | Message           # "DDPM, 1,000 steps" (msg("work.pass", ...)), or a sampler's name
    network_calls: int             # calls per image (the sampler's steps)
    images: int
    batch_factor: int = 1          # 2 when classifier-free guidance doubles the batch
    doubled_calls: Optional[int] = None   # of the calls, those that run the doubled batch (guidance on an interval
                                          # only); None: every call does

    @property
    def calls_per_image(self) -> int:
        """Network evaluations one image costs: every call once, the doubled ones twice."""
        doubled = self.network_calls if self.doubled_calls is None else self.doubled_calls
        return self.network_calls + (self.batch_factor - 1) * doubled

    @property
    def image_calls(self) -> int:
        return self.calls_per_image * self.images


@dataclass(frozen=True)
class Work:
    """work = Σ network calls × images × batch factor × FLOPs per image-call (the model's cost at its H×W pixels,
    counted from its configuration: demo/model_cache.py flop_per_image)."""
    passes: tuple[Pass, ...]
    flop_per_image: float          # one network call on one image
    image_size: int

    @property
    def network_calls(self) -> int:
        return sum(p.network_calls for p in self.passes)

    @property
    def image_calls(self) -> int:
        return sum(p.image_calls for p in self.passes)

    @property
    def flop(self) -> float:
        return self.image_calls * self.flop_per_image

    def describe(self) -> Message:
        """e.g. 'DDIM, 20 steps: 20 network calls × 8 images × 2 (guidance doubles the batch), at 2 GFLOP per 28×28
        image per call = 640 GFLOP' (str() of it)."""
        parts = [msg("work.pass_cost" if p.batch_factor == 1 else "work.pass_cost_doubled"
                     if p.doubled_calls is None or p.doubled_calls >= p.network_calls else "work.pass_cost_interval",
                     label=p.label, calls=p.network_calls, images=p.images, doubled=p.doubled_calls)
                 for p in self.passes]
        joined = parts[0]
        for part in parts[1:]:
            joined = msg("work.plus", a=joined, b=part)
        return msg("work.describe", passes=joined, flop=flop_text(self.flop_per_image), size=self.image_size,
                   total=flop_text(self.flop))


def flop_text(x: float) -> str:
    """1.23e9 -> "1.23 GFLOP", as the budget's messages write a cost."""
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} FLOP"


def check_work(passes: Sequence[Pass], flop_per_image: float, image_size: int, lower: str | Message) -> Work:
    """Refuse a request before it starts when its work is over the budget (WorkLimitError saying what it
    would cost, the limit, and `lower`: which of the request's settings to lower, a message key whose
    {max_images} is how many images would fit with the other settings unchanged, or a Message); returns the Work."""
    work = Work(tuple(passes), float(flop_per_image), int(image_size))
    if not isinstance(lower, Message):
        lower = msg(lower, max_images=max_images_within(passes, flop_per_image))
    calls, max_calls = work.network_calls, max_network_calls()
    if calls > max_calls:
        raise WorkLimitError("work.too_many_calls", calls=calls, work=work.describe(), max_calls=max_calls,
                             lower=lower)
    limit = work_limit_flop()
    if work.flop > limit:
        raise WorkLimitError("work.too_much", work=work.describe(), limit=flop_text(limit), lower=lower)
    return work


def max_images_within(passes: Sequence[Pass], flop_per_image: float) -> int:
    """How many images N (same settings otherwise) fit the budget: N · Σ calls per image · FLOPs ≤ the
    limit; 0 when not even one does, or when the calls in a row are over their cap (which no N changes)."""
    per_image = sum(p.calls_per_image for p in passes) * flop_per_image
    if sum(p.network_calls for p in passes) > max_network_calls() or per_image <= 0:
        return 0
    return int(work_limit_flop() // per_image)


def max_calls_within(flop_per_image: float, batch_factor: int = 1) -> int:
    """How many network calls one image may take (calls × batch factor × FLOPs ≤ the limit, and at most the
    calls in a row allowed): the steps to suggest when not even one image fits a request's settings."""
    per_call = flop_per_image * batch_factor
    return min(max_network_calls(), int(work_limit_flop() // per_call)) if per_call > 0 else 0
