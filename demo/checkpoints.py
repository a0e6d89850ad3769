"""The checkpoints the tabs offer: the bundled model, then the runs under runs/app/ this app instance may use
(its own ended runs, a failed one included when it saved a checkpoint, and other instances' finished or
stopped runs; see demo/runs.listed_runs).

Widgets and API callers name a checkpoint ("bundled" or a run id), never a server path, so a request can
only open files the app itself lists (or a file the caller uploaded).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ddpm.formats.base import clip
from ddpm.messages import MessageError

from .i18n import t
from .runs import UPLOADED, checkpoint_step, listed_runs
from .paths import bundled_checkpoint, colour_checkpoint, runs_dir, showcase_checkpoint

BUNDLED = "bundled"      # the digits model (fast; the Train tab's and the tests' model)
SHOWCASE = "mnist"       # the MNIST model, when shipped: the default of the Sample, Compare and Diagnostics tabs
COLOUR = "emoji"         # the colour model (emoji, 32×32 RGB), when shipped: offered in every tab
UPLOAD = "upload"        # the dropdowns' value while an uploaded checkpoint is in use (demo/picker.py)


@dataclass(frozen=True)
class CheckpointEntry:
    name: str        # "bundled" or a run id: what the dropdowns and the API take
    label: str       # what the dropdowns show
    path: Path


def list_checkpoints() -> list[CheckpointEntry]:
    entries = []
    showcase = showcase_checkpoint()
    if showcase is not None and showcase.exists():
        entries.append(CheckpointEntry(SHOWCASE, t("ckpt.showcase_label", name=showcase.name), showcase))
    colour = colour_checkpoint()
    if colour is not None and colour.exists():
        entries.append(CheckpointEntry(COLOUR, t("ckpt.colour_label", name=colour.name), colour))
    bundled = bundled_checkpoint()
    if bundled.exists():
        entries.append(CheckpointEntry(BUNDLED, t("ckpt.bundled_label", name=bundled.name), bundled))
    runs = []
    for r in listed_runs(runs_dir()):
        saved = t("ckpt.saved_at", step=checkpoint_step(r.checkpoint)) if r.state == "failed" else ""
        label = t("ckpt.run_label_data" if r.data else "ckpt.run_label", run=r.run_id, state=t(f"state.{r.state}"),
                  step=r.step, saved=saved, data=data_name(r.data))
        runs.append(CheckpointEntry(r.run_id, label, r.checkpoint))
    entries += sorted(runs, key=lambda e: e.name, reverse=True)   # run ids start with the time: newest first
    return entries


def data_name(data: str) -> str:
    """A run's data as its job.json records it ("digits", "mnist", or an uploaded .zip), in the page's language."""
    return t("ckpt.data_uploaded") if data == UPLOADED else data


def default_name() -> str:
    """The checkpoint the tabs open with: the MNIST showcase when it ships, else the bundled digits model."""
    return SHOWCASE if any(e.name == SHOWCASE for e in list_checkpoints()) else BUNDLED


def choices() -> list[tuple[str, str]]:
    """(label, name) pairs for a gr.Dropdown."""
    return [(e.label, e.name) for e in list_checkpoints()]


def resolve(name: Optional[str]) -> Path:
    """The file behind a listed name; a ValueError (MessageError) saying what exists for anything else."""
    entries = list_checkpoints()
    name = str(name or default_name()).strip()      # an API caller may send anything (a list, 10 MB of text)
    for e in entries:
        if e.name == name or e.label == name:       # a label in the language it was listed in
            return e.path
    if not entries:
        raise MessageError("ckpt.none_yet")
    listed = ", ".join(e.name for e in entries)
    raise MessageError("ckpt.unknown", name=clip(name), listed=listed)
