"""Run folders on disk (runs/app/<run_id>/), as every app instance reads them: job.json (who started it, with
which settings), the trainer's progress.json and metrics.jsonl, and its checkpoints.

    list_runs(runs_dir)             # RunInfo per folder, newest first; a dead trainer that never said so: "failed"
    listed_runs(runs_dir, instance) # the ones whose checkpoints this instance offers in its dropdowns
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DONE_STATES = ("finished", "stopped")
UPLOADED = "uploaded .zip"         # what job.json records as the data of a run on an uploaded .zip


def instance_id() -> str:
    """This app instance's id (DDPM_WORKBENCH_INSTANCE, else one per process)."""
    return os.environ.get("DDPM_WORKBENCH_INSTANCE") or f"pid-{os.getpid()}"


def pid_runs_trainer(pid: int, run_dir: Path) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():                         # guard against a recycled pid
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            return False
        return b"ddpm.train" in args and str(run_dir).encode() in args
    return True


def read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """metrics.jsonl rows (step, loss, lr, elapsed, eta, loss_by_quartile, sample_path); a half-written
    last line is skipped."""
    rows = []
    try:
        with open(Path(run_dir) / "metrics.jsonl") as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass
    return rows


def run_checkpoint(run_dir: Path) -> Optional[Path]:
    """The file to sample from: the exported EMA model.safetensors, unless the resumable last.safetensors is
    further on (a run resumed after a stop, then killed)."""
    found = [run_dir / n for n in ("model.safetensors", "last.safetensors") if (run_dir / n).exists()]
    if (len(found) == 2 and _mtime(found[1]) > _mtime(found[0])       # read the headers only when it may be so
            and checkpoint_step(found[1]) > checkpoint_step(found[0])):
        return found[1]
    return found[0] if found else None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def checkpoint_step(path: Path) -> int:
    """The training step a checkpoint file was saved at (from its header), -1 if it cannot be read."""
    from ddpm import CheckpointError, read_metadata
    try:
        return int(read_metadata(path, max_bytes=None).get("step", 0))
    except (OSError, CheckpointError, TypeError, ValueError):
        return -1


def run_state(run_dir: Path) -> Optional[str]:
    """The trainer's own word on a run that is no longer ours to watch: finished | stopped | running | None."""
    progress = read_json(run_dir / "progress.json")
    return progress.get("state") if progress else None


@dataclass(frozen=True)
class RunInfo:
    """One run folder as read from disk."""
    run_id: str
    run_dir: Path
    instance: Optional[str]             # the app instance that started it (None: written before instances)
    state: str                          # running | finished | stopped | failed
    step: int
    total: int
    checkpoint: Optional[Path]
    data: str                           # "digits", "uploaded .zip", ...

    def owned_by(self, instance: str) -> bool:
        return self.instance is None or self.instance == instance

    @property
    def resumable(self) -> bool:
        return self.state in ("stopped", "failed") and self.step < self.total


def read_run(run_dir: Path) -> Optional[RunInfo]:
    """A run folder's job.json + progress.json, with a dead trainer that never said it ended read as failed."""
    info = read_json(run_dir / "job.json")
    if not info:
        return None
    progress = read_json(run_dir / "progress.json") or {}
    request = info.get("request") or {}
    state = progress.get("state")
    if state not in DONE_STATES:
        state = "running" if pid_runs_trainer(int(info.get("pid", -1)), run_dir.resolve()) else "failed"
    return RunInfo(run_id=run_dir.name, run_dir=run_dir, instance=info.get("instance"), state=state,
                   step=int(progress.get("step", 0)), total=int(progress.get("total", request.get("steps", 0))),
                   checkpoint=run_checkpoint(run_dir), data=str(request.get("data", "")))


def list_runs(runs_dir: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under runs_dir, newest first (run ids start with the time)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [read_run(d) for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))]
    return sorted((r for r in runs if r is not None), key=lambda r: r.run_id, reverse=True)


def listed_runs(runs_dir: str | os.PathLike, instance: Optional[str] = None) -> list[RunInfo]:
    """The runs whose checkpoints this instance offers: its own ended runs (a failed one too, if it saved a
    checkpoint) and other instances' finished or stopped runs; never a run still training."""
    instance = instance or instance_id()
    return [r for r in list_runs(runs_dir) if r.checkpoint is not None and r.state != "running"
            and (r.owned_by(instance) or r.state in DONE_STATES)]


