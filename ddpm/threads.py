"""CPU threads for torch in the command-line tools (`--threads` of ddpm.sample, ddpm.train, ddpm.train_classifier).

    --threads N      N threads
    (left out)       OMP_NUM_THREADS where it is set (the app sets it for its training runs), else DEFAULT_THREADS
                     on a machine of at most SMALL_MACHINE_CORES cores, else torch's own choice (one per core)

Why one thread on a 2-core machine (bench/threads.py, bench/results/threads.json): such a machine is seldom idle
(a training run, the app, a browser), and with other processes holding the cores torch's two OpenMP threads wait
on each other at every operator. Measured on this project's shared 2-core machine (Intel Xeon, fp32, both cores
busy with other work throughout), two threads took 4.5-8.8× as long as one to sample the bundled models and 12×
as long to train. An idle 2-core machine was not available to measure; there two threads can be at most 2× faster,
so `--threads 2` is the choice for a 2-core machine known to be idle. Machines with more cores keep torch's default,
which was not measured here.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

import torch

from .messages import MessageError

SMALL_MACHINE_CORES = 2
DEFAULT_THREADS = 1           # on a machine of at most SMALL_MACHINE_CORES cores
THREADS_ENV = "OMP_NUM_THREADS"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        return os.cpu_count() or 1


def default_threads() -> Optional[int]:
    """The thread count used when --threads is left out; None = torch's own choice."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return DEFAULT_THREADS if usable_cores() <= SMALL_MACHINE_CORES else None


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None,
                        help=f"CPU threads for torch (when left out: {THREADS_ENV} if set, else {DEFAULT_THREADS} on a "
                             f"machine of {SMALL_MACHINE_CORES} cores or fewer, measured fastest there by "
                             "bench/threads.py, else one per core)")


def set_threads(threads: Optional[int]) -> int:
    """Set torch's intra-op threads to `threads` (None: default_threads()); returns the count now in use."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise MessageError("cli.threads_invalid", value=threads)
    n = threads if threads is not None else default_threads()
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()
