"""Where the app finds the bundled model and keeps its runs, caches and outputs: the one place to change them.

Environment variables override the defaults (tests point them at temporary folders):
  DDPM_WORKBENCH_CHECKPOINT   the bundled checkpoint ("bundled"; set alone, the app offers only it)
  DDPM_WORKBENCH_SHOWCASE     the bundled MNIST model ("mnist", the default of the Sample / Compare /
                              Diagnostics tabs; empty = none)
  DDPM_WORKBENCH_COLOUR       the bundled colour model ("emoji", offered in every tab; empty = none)
  DDPM_WORKBENCH_RUNS         the folder of training runs started from the app
  DDPM_WORKBENCH_BENCH        the benchmark's quality-vs-steps results
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from ddpm.paths import bundled_file

ROOT = Path(__file__).resolve().parents[1]
_CHECKOUT = (ROOT / "ddpm").is_dir() and (ROOT / "app.py").is_file()   # else installed: runs go under the cwd

BUNDLED_CHECKPOINT = bundled_file("digits_tiny.safetensors")     # the fast one: Train tab defaults, tests
SHOWCASE_CHECKPOINT = bundled_file("mnist_tiny.safetensors")     # the MNIST model the other tabs open with
COLOUR_CHECKPOINT = bundled_file("emoji_tiny.safetensors")       # the colour model (emoji, 32×32 RGB)
RUNS_DIR = (ROOT if _CHECKOUT else Path.cwd()) / "runs" / "app"
BENCH_QUALITY = ROOT / "bench" / "results" / "quality_vs_steps.json"


def bundled_checkpoint() -> Path:
    env = os.environ.get("DDPM_WORKBENCH_CHECKPOINT")
    return Path(env) if env else BUNDLED_CHECKPOINT


def showcase_checkpoint() -> Optional[Path]:
    """The bundled MNIST model, the Sample / Compare / Diagnostics tabs' default: DDPM_WORKBENCH_SHOWCASE, else
    the shipped file; none when DDPM_WORKBENCH_CHECKPOINT pins the app to one checkpoint and names no showcase."""
    env = os.environ.get("DDPM_WORKBENCH_SHOWCASE")
    if env is not None:
        return Path(env) if env else None
    return None if os.environ.get("DDPM_WORKBENCH_CHECKPOINT") else SHOWCASE_CHECKPOINT


def colour_checkpoint() -> Optional[Path]:
    """The bundled colour model: DDPM_WORKBENCH_COLOUR, else the shipped file; none when DDPM_WORKBENCH_CHECKPOINT
    pins the app to one checkpoint and names no colour model."""
    env = os.environ.get("DDPM_WORKBENCH_COLOUR")
    if env is not None:
        return Path(env) if env else None
    return None if os.environ.get("DDPM_WORKBENCH_CHECKPOINT") else COLOUR_CHECKPOINT


def runs_dir() -> Path:
    return Path(os.environ.get("DDPM_WORKBENCH_RUNS") or RUNS_DIR)


def cache_dir(kind: str) -> Path:
    """runs/app/_cache/<kind>: app caches (e.g. quality measurements keyed by checkpoint hash)."""
    d = runs_dir() / "_cache" / kind
    d.mkdir(parents=True, exist_ok=True)
    return d


def bench_quality_file() -> Path:
    return Path(os.environ.get("DDPM_WORKBENCH_BENCH") or BENCH_QUALITY)


def output_root() -> Path:
    """Per-request output files (grids, .npz, reports) before gradio copies them to its own cache."""
    d = Path(tempfile.gettempdir()) / "ddpm-workbench-outputs"
    d.mkdir(parents=True, exist_ok=True)
    return d
