"""How long a training request will take on this machine, said before it starts (and a request over
limits.MAX_TRAIN_HOURS refused with what to change).

The estimate is measured, not assumed: the request's own network (its preset, image size, width, channels,
classes, learned variance) is built once and one optimiser step (forward, ε-prediction loss, backward, AdamW) is
timed at two small batches (MEASURED_BATCHES: 8 and 32 images), in the precision the run will train in, each the
second of two steps (the first pays for allocation). A step costs a fixed part (per-layer overhead, the optimiser)
plus a part per image, so the line through the two points gives

    seconds per step ≈ overhead + per image × batch,    run ≈ steps × seconds per step.

(Measured on the 2-core dev machine, tiny preset, 16×16 and 28×28, bf16: this predicts a batch of 256 within 35 %;
scaling the 8-image step alone in proportion was 1.5–3× too long.) A batch of 8 or less is timed as it is; a step of
over SLOW_STEP_S at 8 images is compute-bound already and is scaled in proportion, sparing a second, longer step.

Not counted: loading the data (seconds), the sample grids (a 25-step DDIM run every `sample_every` steps, under 1 %
of a run at the defaults) and checkpoint writes. The trainer runs as its own process with jobs.training_threads()
threads, the measurement in the app's process with its threads (one each on a 2-core machine); a busy machine
slows both alike. Measurements are kept per network configuration and precision for the life of the process.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Optional

import torch

from ddpm.device import pick_device, resolve_precision
from ddpm.unet import UNet, UNetConfig, preset_config

from . import limits

MEASURED_BATCHES = (8, 32)       # images in the two timed steps (the request's batch when it is 8 or less)
SLOW_STEP_S = 1.0                # a step slower than this at 8 images: scaled in proportion, no second step
CHANNELS = {"digits": 1, "mnist": 1, "emoji": 3}   # an uploaded .zip is counted as RGB (its first and last layer)
CLASSES = 10                     # label embedding rows of a conditional model: a negligible part of its cost


@dataclass(frozen=True)
class StepTiming:
    """What one optimiser step of a network costs: overhead_s + per_image_s × batch seconds."""
    overhead_s: float            # the part that does not grow with the batch (0 when one batch was timed)
    per_image_s: float           # the part per image
    batches: tuple               # the batches timed
    precision: str               # fp32 | bf16: what the run will train in

    @classmethod
    def from_steps(cls, timed: dict, precision: str) -> "StepTiming":
        """{batch: seconds} of one or two timed steps -> the line through them (through 0 for one)."""
        (b1, s1), *rest = sorted(timed.items())
        if not rest:
            return cls(0.0, s1 / b1, (b1,), precision)
        b2, s2 = rest[-1]
        per_image = max((s2 - s1) / (b2 - b1), 0.0) or s2 / b2       # a noisy pair that slopes down: proportional
        return cls(max(s1 - per_image * b1, 0.0), per_image, (b1, b2), precision)

    def step_seconds(self, batch: int) -> float:
        return self.overhead_s + self.per_image_s * batch


@dataclass(frozen=True)
class TrainingEstimate:
    """steps × timing.step_seconds(batch_size): the expected wall time of a run."""
    steps: int
    batch_size: int
    timing: StepTiming

    @property
    def seconds_per_step(self) -> float:
        return self.timing.step_seconds(self.batch_size)

    @property
    def seconds(self) -> float:
        return self.steps * self.seconds_per_step

    def max_steps(self, limit_s: float) -> int:
        """The most steps at this batch that fit limit_s (at least 1)."""
        return max(1, int(limit_s // self.seconds_per_step)) if self.seconds_per_step > 0 else self.steps

    def max_batch(self, limit_s: float) -> int:
        """The largest batch that fits limit_s at these steps (0 when not even a batch of one does)."""
        if self.timing.per_image_s <= 0:
            return self.batch_size
        return max(0, int((limit_s / self.steps - self.timing.overhead_s) // self.timing.per_image_s))


def max_train_seconds() -> float:
    return limits.max_train_hours() * 3600.0


def network_config(data: str, preset: str, image_size: int, base_channels: int, conditional: bool,
                   learn_sigma: bool) -> UNetConfig:
    """The network a request trains, as ddpm.train.build_model_config builds it (channels and classes from the data
    set: CHANNELS, CLASSES)."""
    over = dict(image_size=int(image_size), in_channels=CHANNELS.get(data, 3), learn_sigma=bool(learn_sigma),
                num_classes=CLASSES if conditional else 0)
    if base_channels:
        over["base_channels"] = int(base_channels)
    return preset_config(preset, **over)


_TIMINGS: dict[tuple, StepTiming] = {}
_LOCK = threading.Lock()


def measure_step(cfg: UNetConfig, amp: str = "auto", batch_size: int = MEASURED_BATCHES[-1]) -> StepTiming:
    """Optimiser steps of a fresh network of `cfg` on random images, timed at MEASURED_BATCHES (only `batch_size`
    when it is no larger than the first), in the precision `amp` resolves to for training on this machine; kept per
    (cfg, precision, batches)."""
    precision = resolve_precision(amp, pick_device("auto"), "train")
    batches = (int(batch_size),) if batch_size <= MEASURED_BATCHES[0] else MEASURED_BATCHES
    key = (cfg, precision.name, precision.device_type, batches)
    with _LOCK:                   # one measurement at a time: two at once would each time the other's load
        if key in _TIMINGS:
            return _TIMINGS[key]
        device = torch.device(precision.device_type)
        torch.manual_seed(0)
        model = UNet(cfg).to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        timed: dict[int, float] = {}
        for batch in batches:
            timed[batch] = _timed_step(model, opt, cfg, batch, precision)
            if timed[batch] > SLOW_STEP_S:
                break
        _TIMINGS[key] = timing = StepTiming.from_steps(timed, precision.name)
        return timing


def _timed_step(model: UNet, opt, cfg: UNetConfig, batch: int, precision, T: int = 1000) -> float:
    """Seconds of the second of two optimiser steps on `batch` random images."""
    device = next(model.parameters()).device
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)   # (B, C, H, W)
    t = torch.randint(0, T, (batch,), device=device)
    y = torch.randint(0, cfg.num_classes, (batch,), device=device) if cfg.num_classes else None
    seconds = math.inf
    for _ in range(2):
        started = time.perf_counter()
        with precision.autocast():
            out = model(x, t, y)
        loss = (out.float()[:, :cfg.in_channels] - x).pow(2).mean()      # as ε-prediction's MSE
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return seconds


def estimate(data: str, preset: str, image_size: int, base_channels: int, conditional: bool, learn_sigma: bool,
             steps: int, batch_size: int, amp: str = "auto", timing: Optional[StepTiming] = None) -> TrainingEstimate:
    """The expected wall time of a run (timing: a given measurement, else one of the request's network)."""
    if timing is None:
        cfg = network_config(data, preset, image_size, base_channels, conditional, learn_sigma)
        timing = measure_step(cfg, amp, int(batch_size))
    return TrainingEstimate(int(steps), int(batch_size), timing)
