"""The checkpoints the tabs offer: the bundled model, then every finished or stopped run under runs/app/.

Widgets and API callers name a checkpoint ("bundled" or a run id), never a server path, so a request can
only open files the app itself lists (or a file the caller uploaded).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .jobs import DONE_STATES, read_json, run_checkpoint, run_state
from .paths import bundled_checkpoint, runs_dir

BUNDLED = "bundled"


@dataclass(frozen=True)
class CheckpointEntry:
    name: str        # "bundled" or a run id: what the dropdowns and the API take
    label: str       # what the dropdowns show
    path: Path


def list_checkpoints() -> list[CheckpointEntry]:
    entries = []
    bundled = bundled_checkpoint()
    if bundled.exists():
        entries.append(CheckpointEntry(BUNDLED, f"bundled: {bundled.name}", bundled))
    root = runs_dir()
    runs = []
    if root.is_dir():
        for d in root.iterdir():
            if not d.is_dir() or d.name.startswith(("_", ".")):
                continue
            state = run_state(d)
            ckpt = run_checkpoint(d)
            if state in DONE_STATES and ckpt is not None:
                progress = read_json(d / "progress.json") or {}
                job = read_json(d / "job.json") or {}
                data = (job.get("request") or {}).get("data", "")
                label = f"run {d.name} ({state} at step {progress.get('step', '?')}" + (f", {data})" if data else ")")
                runs.append(CheckpointEntry(d.name, label, ckpt))
    entries += sorted(runs, key=lambda e: e.name, reverse=True)   # run ids start with the time: newest first
    return entries


def choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a gr.Dropdown."""
    return [(e.label, e.name) for e in list_checkpoints()]


def resolve(name: Optional[str]) -> Path:
    """The file behind a listed name; ValueError saying what exists for anything else."""
    entries = list_checkpoints()
    name = (name or BUNDLED).strip()
    for e in entries:
        if e.name == name or e.label == name:
            return e.path
    if not entries:
        raise ValueError("no checkpoint is available yet: upload a .safetensors file or train a model "
                         "in the Train tab")
    listed = ", ".join(e.name for e in entries)
    raise ValueError(f"unknown checkpoint {name!r}; choose one of: {listed} (or upload a .safetensors file)")
