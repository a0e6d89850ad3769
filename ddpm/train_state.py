"""The small typed pieces of a training run, apart from the loop in ddpm/train.py: what a run reports (TrainStatus
from its first second, TrainProgress at every log line, TrainResult at the end), the learning-rate schedule, the
EMA update, the loss window and the signal handling that turns Ctrl-C / SIGTERM into a clean stop."""
from __future__ import annotations

import contextlib
import math
import signal
import threading
from dataclasses import dataclass, field
from typing import Iterator, Optional

import torch
from torch import nn

from .messages import Message
from .train_config import TrainConfig

STATUS_PHASES = ("loading_data", "data_loaded", "resumed", "step")


@dataclass(frozen=True)
class TrainStatus:
    """What the run is doing now, reported from its first second: loading the data, the data loaded (what it is,
    and whether the model trains class-conditionally), resumed (or, --resume auto, nothing to resume), then after
    every optimizer step. message: what to show the user (None for a plain step)."""
    phase: str                        # one of STATUS_PHASES
    step: int                         # optimizer steps done
    total: int                        # --steps
    message: Optional[Message] = None


@dataclass
class TrainProgress:
    step: int
    total: int
    loss: float                       # mean weighted loss since the last report
    lr: float
    elapsed: float                    # seconds of training, every segment of a resumed run included
    eta: float                        # seconds left, estimated
    loss_by_quartile: list            # mean loss for t in [0, T/4), [T/4, T/2), [T/2, 3T/4), [3T/4, T)
    sample_path: Optional[str] = None # set when a new sample grid was written
    data: str = ""                    # what was loaded, e.g. "mnist: 4,000 grey 28×28 images in 10 classes (...)"


@dataclass
class TrainResult:
    checkpoint: str                   # last.safetensors (resumable)
    model: str                        # model.safetensors (EMA weights, to share)
    step: int
    final_loss: float
    seconds: float
    stopped_early: bool
    parameters: int
    replicas_identical: Optional[bool] = None  # under torchrun: whether every process ended with the same weights


def ignore_status(status: TrainStatus) -> None:
    """The status listener of a run nobody watches."""


class StopTraining(Exception):
    """Raised from a callback (or set by SIGTERM/SIGINT) to end the run cleanly after saving."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr over warmup_steps, then cosine decay to lr·min_lr_ratio at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


@contextlib.contextmanager
def stop_on_signals(enabled: bool) -> Iterator[threading.Event]:
    """SIGTERM / SIGINT set the yielded event (the loop then saves and ends); the caller's handlers are put
    back afterwards, so its Ctrl-C works again. Only the main thread can install handlers."""
    flag = threading.Event()
    previous = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class LossWindow:
    """The losses since the last log line: the mean, and the mean per quarter of [0, T)."""
    losses: list = field(default_factory=list)
    by_quartile: list = field(default_factory=lambda: [[] for _ in range(4)])

    def add(self, loss: float, per_sample: torch.Tensor, t: torch.Tensor, T: int) -> None:
        self.losses.append(loss)
        q = (t * 4 // T).to(per_sample.device)
        for k in range(4):
            if (q == k).any():
                self.by_quartile[k].append(per_sample.detach()[q == k].mean().item())

    def mean(self) -> float:
        return sum(self.losses) / max(1, len(self.losses))

    def quartile_means(self) -> list:
        return [sum(w) / len(w) if w else None for w in self.by_quartile]
