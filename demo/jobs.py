"""The one training-job manager the app shares: at most one `python -m ddpm.train` child process at a time.

Training runs as a child process running the very command a user would type, so a crash, an
out-of-memory kill or a Stop never takes the app down. Everything about a run lives in its folder
(runs/app/<run_id>/: job.json, the trainer's progress.json, metrics.jsonl, samples/latest.png,
last.safetensors, model.safetensors, train.log), not in a browser session: a page refresh, a second
visitor or a restarted app (which adopts a still-running child) all see the same run.

    jobs = TrainingJobs(Path("runs/app"))
    jobs.start(TrainRequest(steps=500))
    jobs.status()          # JobStatus(state="running", step=120, total=500, ...)
    jobs.stop()            # SIGTERM: the trainer saves last.safetensors + model.safetensors and exits
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from .paths import ROOT

ACTIVE_STATES = ("starting", "running", "stopping")
DONE_STATES = ("finished", "stopped")


class JobBusyError(RuntimeError):
    """A second Start while a run is training."""


class NoJobRunningError(RuntimeError):
    """A Stop with nothing to stop."""


@dataclass(frozen=True)
class TrainRequest:
    """The settings of one run; each becomes a `python -m ddpm.train` flag."""
    data: str = "digits"          # "digits" or the path of a .zip of class folders
    preset: str = "tiny"
    schedule: str = "linear"
    objective: str = "eps"
    weighting: str = "min_snr"
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    label_dropout: float = 0.1
    sample_every: int = 250       # 0 = a grid only at the end
    image_size: int = 16
    base_channels: int = 0        # 0 = the preset's
    T: int = 1000
    seed: int = 0

    def cli_args(self) -> list[str]:
        log_every = max(1, min(25, self.steps // 100))   # enough points for a live curve, even on short runs
        args = ["--data", self.data, "--preset", self.preset, "--schedule", self.schedule,
                "--objective", self.objective, "--weighting", self.weighting, "--steps", str(self.steps),
                "--batch-size", str(self.batch_size), "--lr", repr(float(self.lr)),
                "--label-dropout", repr(float(self.label_dropout)), "--sample-every", str(self.sample_every),
                "--image-size", str(self.image_size), "--T", str(self.T), "--seed", str(self.seed),
                "--log-every", str(log_every), "--warmup-steps", str(min(100, max(1, self.steps // 10)))]
        if self.base_channels:
            args += ["--base-channels", str(self.base_channels)]
        return args


@dataclass
class JobStatus:
    state: str                          # idle | starting | running | stopping | finished | stopped | failed
    run_id: Optional[str] = None
    started_at: Optional[float] = None  # epoch seconds
    step: int = 0
    total: int = 0
    loss: Optional[float] = None        # mean loss over the last logging window
    eta: Optional[float] = None         # seconds left, estimated by the trainer
    elapsed: Optional[float] = None     # seconds of training so far
    run_dir: Optional[str] = None
    checkpoint: Optional[str] = None    # model.safetensors (or last.safetensors) once one exists
    sample_path: Optional[str] = None   # samples/latest.png once one exists
    message: str = ""                   # why a run failed, or what is happening
    settings: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict:
        d = asdict(self)
        d["started"] = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
                        if self.started_at else None)
        return d


@dataclass
class _Job:
    run_id: str
    run_dir: Path
    started_at: float
    pid: int
    request: dict
    proc: Optional[subprocess.Popen] = None    # None for a run adopted after an app restart
    stop_requested: bool = False
    data_copy: Optional[Path] = None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return _pid_runs_trainer(self.pid, self.run_dir)

    def returncode(self) -> Optional[int]:
        return self.proc.poll() if self.proc is not None else None


def _pid_runs_trainer(pid: int, run_dir: Path) -> bool:
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
    """The file to sample from: the exported EMA model.safetensors, else the resumable last.safetensors."""
    for name in ("model.safetensors", "last.safetensors"):
        if (run_dir / name).exists():
            return run_dir / name
    return None


def run_state(run_dir: Path) -> Optional[str]:
    """The trainer's own word on a run that is no longer ours to watch: finished | stopped | running | None."""
    progress = read_json(run_dir / "progress.json")
    return progress.get("state") if progress else None


def training_threads() -> int:
    """CPU threads for the trainer: all cores but one, so the app keeps a core to answer requests
    (DDPM_WORKBENCH_TRAIN_THREADS overrides)."""
    env = os.environ.get("DDPM_WORKBENCH_TRAIN_THREADS")
    return max(1, int(env)) if env else max(1, (os.cpu_count() or 1) - 1)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class TrainingJobs:
    def __init__(self, runs_dir: str | os.PathLike, python: str = sys.executable, cwd: Path = ROOT):
        self.runs_dir = Path(runs_dir)
        self.python = python
        self.cwd = Path(cwd)
        self._lock = threading.RLock()
        self._job: Optional[_Job] = None
        self._looked_on_disk = False

    # ------------------------------------------------------------------------------------------- actions
    def start(self, request: TrainRequest, upload: Optional[str | os.PathLike] = None) -> JobStatus:
        """Start a run; `upload` (a .zip) is copied into the run folder and deleted once the trainer has
        read it. Raises JobBusyError while another run trains."""
        with self._lock:
            current = self._current()
            if current is not None and current.alive():
                st = self.status()
                raise JobBusyError(
                    f"run {current.run_id} (started {_clock(current.started_at)}) is training "
                    f"(step {st.step:,}/{st.total:,}); only one training job runs at a time. "
                    "Wait for it to finish or stop it first.")
            run_id = new_run_id()
            run_dir = (self.runs_dir / run_id).resolve()
            run_dir.mkdir(parents=True)
            data_copy = None
            if upload is not None:
                data_copy = run_dir / "data.zip"
                shutil.copyfile(upload, data_copy)
                request = TrainRequest(**{**asdict(request), "data": str(data_copy)})
            cmd = [self.python, "-m", "ddpm.train", *request.cli_args(), "--out", str(run_dir), "--quiet"]
            threads = str(training_threads())
            env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                       PYTHONPATH=os.pathsep.join(filter(None, [str(self.cwd), os.environ.get("PYTHONPATH")])))
            started = time.time()
            with open(run_dir / "train.log", "wb") as log:
                proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            request_dict = asdict(request)
            if upload is not None:
                request_dict["data"] = "uploaded .zip"
            (run_dir / "job.json").write_text(json.dumps(
                {"run_id": run_id, "started_at": started, "pid": proc.pid, "request": request_dict,
                 "command": cmd}, indent=2))
            job = _Job(run_id, run_dir, started, proc.pid, request_dict, proc, data_copy=data_copy)
            self._job = job
            threading.Thread(target=self._watch, args=(job,), daemon=True, name=f"train-{run_id}").start()
            return self.status()

    def stop(self) -> JobStatus:
        """Ask the running trainer to stop (SIGTERM): it saves its checkpoint and exits as "stopped"."""
        with self._lock:
            job = self._current()
            if job is None or not job.alive():
                raise NoJobRunningError("no training is running, so there is nothing to stop")
            if not job.stop_requested:
                job.stop_requested = True
                threading.Thread(target=self._terminate, args=(job,), daemon=True).start()
            return self.status()

    def wait(self, timeout: float = 600, poll: float = 0.2) -> JobStatus:
        """Block until the current run has ended (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.status()
            if not st.active:
                return st
            time.sleep(poll)
        raise TimeoutError(f"training still {self.status().state} after {timeout:.0f}s")

    def shutdown(self, timeout: float = 20) -> None:
        """On app exit: stop a run we started, so it saves instead of dying with us."""
        job = self._job
        if job is not None and job.proc is not None and job.alive():
            self._signal(job, signal.SIGTERM)
            try:
                job.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass

    # ------------------------------------------------------------------------------------------- status
    def status(self) -> JobStatus:
        with self._lock:
            job = self._current()
        if job is None:
            return JobStatus("idle", message="no training run yet")
        progress = read_json(job.run_dir / "progress.json") or {}
        alive = job.alive()
        ckpt = run_checkpoint(job.run_dir)
        sample = job.run_dir / "samples" / "latest.png"
        st = JobStatus(
            state="", run_id=job.run_id, started_at=job.started_at, step=int(progress.get("step", 0)),
            total=int(progress.get("total", job.request.get("steps", 0))), loss=progress.get("loss"),
            eta=progress.get("eta"), elapsed=progress.get("elapsed"), run_dir=str(job.run_dir),
            checkpoint=str(ckpt) if ckpt else None, sample_path=str(sample) if sample.exists() else None,
            settings=dict(job.request))
        if st.loss is None:
            rows = read_metrics(job.run_dir)
            if rows:
                st.loss, st.elapsed = rows[-1].get("loss"), rows[-1].get("elapsed")
        if alive:
            if job.stop_requested:
                st.state, st.message = "stopping", "stopping: the trainer saves its checkpoint, then exits"
            elif not progress:
                st.state, st.message = "starting", "starting: loading the data and building the model"
            else:
                st.state = "running"
        elif progress.get("state") in DONE_STATES:
            st.state = progress["state"]
            st.eta = 0.0
            st.message = (f"{st.state} at step {st.step:,}; checkpoint {Path(ckpt).name if ckpt else '(none)'} "
                          "is listed in the other tabs")
        else:
            st.state = "failed"
            st.message = self._failure_reason(job, ckpt)
        return st

    def history(self) -> list[dict]:
        job = self._current()
        return read_metrics(job.run_dir) if job is not None else []

    # ------------------------------------------------------------------------------------------- internals
    def _current(self) -> Optional[_Job]:
        if self._job is None and not self._looked_on_disk:
            self._looked_on_disk = True
            self._job = self._latest_on_disk()
        return self._job

    def _latest_on_disk(self) -> Optional[_Job]:
        """After an app restart: the newest run folder, adopted if its trainer is still running."""
        if not self.runs_dir.is_dir():
            return None
        best = None
        for d in self.runs_dir.iterdir():
            info = read_json(d / "job.json") if d.is_dir() and not d.name.startswith(("_", ".")) else None
            if info and (best is None or info.get("started_at", 0) > best[1].get("started_at", 0)):
                best = (d, info)
        if best is None:
            return None
        d, info = best
        return _Job(info.get("run_id", d.name), d.resolve(), float(info.get("started_at", 0)),
                    int(info.get("pid", -1)), dict(info.get("request", {})))

    def _watch(self, job: _Job) -> None:
        """Delete the uploaded data once the trainer has read it (it writes progress.json after loading
        the data), and in any case when it exits."""
        while job.alive() and not (job.run_dir / "progress.json").exists():
            time.sleep(0.2)
        self._drop_data(job)
        if job.proc is not None:
            job.proc.wait()
        self._drop_data(job)

    @staticmethod
    def _drop_data(job: _Job) -> None:
        if job.data_copy is not None:
            try:
                job.data_copy.unlink(missing_ok=True)
            except OSError:
                pass

    def _terminate(self, job: _Job, grace: float = 300) -> None:
        # The trainer installs its SIGTERM handler before it first writes progress.json; a signal before
        # that would kill it without a checkpoint, so wait for the file (or for the process to end).
        deadline = time.monotonic() + 120
        while job.alive() and not (job.run_dir / "progress.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._signal(job, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while job.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if job.alive():                      # a trainer stuck in I/O: give up on the clean exit
            self._signal(job, signal.SIGKILL)

    @staticmethod
    def _signal(job: _Job, sig: int) -> None:
        if job.alive():
            try:
                os.kill(job.pid, sig)
            except OSError:
                pass

    @staticmethod
    def _failure_reason(job: _Job, ckpt: Optional[Path]) -> str:
        lines = []
        try:
            lines = (job.run_dir / "train.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            pass
        errors = [ln for ln in lines if ln.startswith("error:")]
        reason = errors[-1] if errors else (" | ".join(lines[-3:]) if lines else "")
        code = job.returncode()
        if not reason:
            reason = ("the training process ended without finishing (the app restarted or it was killed)"
                      if code is None else f"the training process exited with code {code}")
        kept = f"; its last checkpoint ({ckpt.name}) is kept in {job.run_dir}" if ckpt else ""
        return f"training failed: {reason}{kept}"


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))
