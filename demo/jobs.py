"""The one training-job manager the app shares: at most one `python -m ddpm.train` child process at a time.

Training runs as a child process running the very command a user would type, so a crash, an
out-of-memory kill or a Stop never takes the app down. Everything about a run lives in its folder
(runs/app/<run_id>/: job.json, the trainer's progress.json, metrics.jsonl, samples/latest.png,
last.safetensors, model.safetensors, train.log), not in a browser session: a page refresh, a second
visitor or a restarted app (which adopts a still-running child) all see the same run.

Each app instance has an id (DDPM_WORKBENCH_INSTANCE; app.py sets it from its port), written into every run's
job.json: two apps on one checkout never show, adopt, stop or resume each other's runs, and each lists as
checkpoints only its own ended runs and the other's finished or stopped ones. A run that died (killed, out of
memory) keeps its last checkpoint listed, and any stopped or failed run of this instance can be resumed
(`python -m ddpm.train --resume auto` in the same folder).

    jobs = TrainingJobs(Path("runs/app"))
    with jobs.reserve(500) as slot:   # the one slot is decided first; then the upload is read and checked
        jobs.start(TrainRequest(steps=500), reservation=slot)
    jobs.status()          # JobStatus(state="running", step=120, total=500, ...)
    jobs.stop()            # SIGTERM: the trainer saves last.safetensors + model.safetensors and exits
    jobs.resume(run_id)    # the same settings, from the run's last.safetensors
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
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from ddpm.formats.base import clip
from ddpm.messages import Message, MessageError, msg, replace_text
from ddpm.train_config import TrainConfig

from .paths import ROOT
from .runs import (DONE_STATES, UPLOADED, RunInfo, pid_runs_trainer, checkpoint_step,  # noqa: F401
                   instance_id, list_runs, listed_runs, read_json, read_metrics, read_run, run_checkpoint, run_state)

ACTIVE_STATES = ("starting", "running", "stopping")
RESUMED = "--- resumed"             # the line a resume writes into train.log; a failure's reason is read after it


class JobBusyError(MessageError, RuntimeError):
    """A second Start while a run is training."""


class NoJobRunningError(MessageError, RuntimeError):
    """A Stop with nothing to stop."""


class CannotResumeError(MessageError, RuntimeError):
    """A Resume of a run that is not ours, not ended, already complete, or unknown."""


# The app's training defaults are the trainer's (ddpm.train_config.TrainConfig), except where it deliberately
# differs: a live sample grid every 250 steps (the CLI's 500) so that a run can be watched forming.
APP_DEFAULTS = {"sample_every": 250}


def app_default(name: str):
    return APP_DEFAULTS.get(name, TrainConfig.option_spec(name).default)


@dataclass(frozen=True)
class TrainRequest:
    """The settings of one run: TrainConfig options (same names, defaults `app_default`), each passed to
    `python -m ddpm.train` as that option's flag."""
    data: str = "digits"          # "digits", "mnist" or the path of a .zip (class folders, or flat)
    preset: str = app_default("preset")
    schedule: str = app_default("schedule")
    objective: str = app_default("objective")
    weighting: str = app_default("weighting")
    steps: int = app_default("steps")
    batch_size: int = app_default("batch_size")
    lr: float = app_default("lr")
    label_dropout: float = app_default("label_dropout")
    sample_every: int = app_default("sample_every")
    image_size: int = app_default("image_size")
    base_channels: int = app_default("base_channels")
    T: int = app_default("T")
    seed: int = app_default("seed")
    amp: str = app_default("amp")
    conditional: bool = app_default("conditional")   # False: --no-conditional (a flat zip trains unconditionally)
    learn_sigma: bool = app_default("learn_sigma")   # True: --learn-sigma (Improved DDPM's learned variance)
    dropout: float = app_default("dropout")          # the network's dropout (--dropout)
    hflip: bool = app_default("hflip")               # True: --hflip (random left-right mirrors)

    def cli_args(self) -> list[str]:
        args = []
        for name, value in asdict(self).items():
            spec = TrainConfig.option_spec(name)
            if spec.type is bool:
                args.append(spec.flag if value else "--no-" + spec.flag[2:])
            else:
                args += [spec.flag, repr(float(value)) if spec.type is float else str(value)]
        log_every = max(1, min(25, self.steps // 100))   # enough points for a live curve, even on short runs
        return args + ["--log-every", str(log_every), "--warmup-steps", str(min(100, max(1, self.steps // 10)))]


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
    message: Optional[Message] = None   # why a run failed, or what is happening (rendered where it is shown)
    settings: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict:
        """What the page and the API show: file names, never server paths."""
        d = asdict(self)
        d.pop("run_dir")
        d["message"] = str(self.message) if self.message else ""
        d["checkpoint"] = Path(self.checkpoint).name if self.checkpoint else None
        d["sample_path"] = Path(self.sample_path).name if self.sample_path else None
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
        return pid_runs_trainer(self.pid, self.run_dir)

    def returncode(self) -> Optional[int]:
        return self.proc.poll() if self.proc is not None else None


@dataclass(frozen=True)
class Reservation:
    """The one training slot, held while a start or a resume is prepared (its upload read and checked)."""
    run_id: str                         # the run it will start (or resume)
    started_at: float                   # epoch seconds
    step: int                           # 0 for a new run; where a resumed run goes on from
    total: int


def training_threads() -> int:
    """CPU threads for the trainer: all cores but one, so the app keeps a core to answer requests
    (DDPM_WORKBENCH_TRAIN_THREADS overrides)."""
    env = os.environ.get("DDPM_WORKBENCH_TRAIN_THREADS")
    return max(1, int(env)) if env else max(1, (os.cpu_count() or 1) - 1)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class TrainingJobs:
    def __init__(self, runs_dir: str | os.PathLike, python: str = sys.executable, cwd: Path = ROOT,
                 instance: Optional[str] = None):
        self.runs_dir = Path(runs_dir)
        self.instance = instance or instance_id()
        self.python = python
        self.cwd = Path(cwd)
        self._lock = threading.RLock()
        self._job: Optional[_Job] = None
        self._reservation: Optional[Reservation] = None
        self._looked_on_disk = False

    # ------------------------------------------------------------------------------------------- actions
    @contextmanager
    def reserve(self, steps: int, run: Optional[RunInfo] = None) -> Iterator[Reservation]:
        """Hold the one training slot while a start (or the resume of `run`) is prepared, so that the upload is
        read only by the one request that may train: JobBusyError at once, before anything is read, while a run
        trains or another request holds the slot (two at the same moment: one gets it). Released when the block
        ends; a run started inside it (start / resume with `reservation=`) holds the slot from then on."""
        with self._lock:
            self._refuse_if_busy()
            slot = self._reservation = (Reservation(new_run_id(), time.time(), 0, int(steps)) if run is None else
                                        Reservation(run.run_id, time.time(), run.step, run.total))
        try:
            yield slot
        finally:
            with self._lock:
                if self._reservation is slot:
                    self._reservation = None

    def start(self, request: TrainRequest, upload: Optional[str | os.PathLike] = None,
              reservation: Optional[Reservation] = None) -> JobStatus:
        """Start a run (as `reservation`'s run id when it holds the slot); `upload` (a .zip) is copied into the
        run folder and deleted once the trainer has read it. Raises JobBusyError while another run trains or
        another request holds the slot."""
        with self._lock:
            self._refuse_if_busy(reservation)
            run_id = reservation.run_id if reservation is not None else new_run_id()
            run_dir = (self.runs_dir / run_id).resolve()
            run_dir.mkdir(parents=True)
            self._spawn(run_id, run_dir, request, upload, started=time.time())
            return self.status()

    def resume(self, run_id: str, upload: Optional[str | os.PathLike] = None,
               reservation: Optional[Reservation] = None) -> JobStatus:
        """Go on training a stopped or failed run of this instance from its last.safetensors, with its own
        settings, in its own folder (`--resume auto`). A run on an uploaded .zip needs that .zip again
        (`upload`): the app deletes uploaded data once the trainer has read it."""
        with self._lock:
            self._refuse_if_busy(reservation)
            run = self.resumable_run(run_id)
            info = read_json(run.run_dir / "job.json") or {}
            request = {k: v for k, v in (info.get("request") or {}).items() if k in TrainRequest.__dataclass_fields__}
            if request.get("data") == UPLOADED and upload is None:
                raise CannotResumeError("job.resume_needs_zip", run=run_id)
            try:
                req = TrainRequest(**{**request, "data": request.get("data") if upload is None else "digits"})
            except TypeError as e:
                raise CannotResumeError("job.resume_bad_settings", run=run_id, error=str(e)) from None
            last = run.run_dir / "last.safetensors"
            self._spawn(run.run_id, run.run_dir.resolve(), req, upload, started=float(info.get("started_at", time.time())),
                        resume_from=max(0, checkpoint_step(last)) if last.exists() else 0)
            return self.status()

    def resumable_run(self, run_id: str) -> RunInfo:
        """The run `run_id` if this instance may resume it, else CannotResumeError saying why."""
        name = str(run_id or "").strip()
        run = read_run(self.runs_dir / name) if name and "/" not in name and not name.startswith(".") else None
        if run is None or not run.owned_by(self.instance):
            mine = ", ".join(r.run_id for r in self.resumable_runs()) or "—"
            raise CannotResumeError("job.resume_unknown", name=clip(name), runs=mine)
        if not run.resumable:
            why = (msg("job.why_training") if run.state == "running" else
                   msg("job.why_complete", total=run.total) if run.step >= run.total else
                   msg("job.why_state", state=msg(f"state.{run.state}")))
            raise CannotResumeError("job.cannot_resume", run=name, why=why)
        return run

    def resumable_runs(self) -> list[RunInfo]:
        """This instance's stopped or failed runs that have steps left, newest first."""
        return [r for r in list_runs(self.runs_dir) if r.owned_by(self.instance) and r.resumable]

    def _refuse_if_busy(self, reservation: Optional[Reservation] = None) -> None:
        """JobBusyError while a run trains, or while a request other than `reservation`'s holds the slot."""
        held = self._reservation
        if held is not None and held is not reservation:
            raise _busy(held.run_id, held.started_at, held.step, held.total)
        current = self._current()
        if current is not None and current.alive():
            st = self.status()
            raise _busy(current.run_id, current.started_at, st.step, st.total)

    def _spawn(self, run_id: str, run_dir: Path, request: TrainRequest, upload: Optional[str | os.PathLike],
               started: float, resume_from: Optional[int] = None) -> None:
        data_copy = None
        if upload is not None:
            data_copy = run_dir / "data.zip"
            shutil.copyfile(upload, data_copy)
            request = TrainRequest(**{**asdict(request), "data": str(data_copy)})
        cmd = [self.python, "-m", "ddpm.train", *request.cli_args(), "--out", str(run_dir), "--quiet"]
        if resume_from is not None:
            cmd += ["--resume", "auto"]
        threads = str(training_threads())
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(self.cwd), os.environ.get("PYTHONPATH")])))
        if resume_from is not None:
            (run_dir / "progress.json").unlink(missing_ok=True)   # "starting" until the trainer writes its own
            (run_dir / "error.json").unlink(missing_ok=True)      # the last attempt's error is not this one's
        with open(run_dir / "train.log", "ab") as log:
            if resume_from is not None:
                log.write(f"{RESUMED} from step {resume_from} at {_clock(time.time())}\n".encode())
                log.flush()
            proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        request_dict = asdict(request)
        if upload is not None:
            request_dict["data"] = UPLOADED
        job_info = {"run_id": run_id, "instance": self.instance, "started_at": started, "pid": proc.pid,
                    "request": request_dict, "command": cmd}
        if resume_from is not None:
            job_info.update(resumed_at=time.time(), resumed_from_step=resume_from)
        tmp = run_dir / ".job.json.tmp"
        tmp.write_text(json.dumps(job_info, indent=2))
        os.replace(tmp, run_dir / "job.json")
        job = _Job(run_id, run_dir, started, proc.pid, request_dict, proc, data_copy=data_copy)
        self._job = job
        threading.Thread(target=self._watch, args=(job,), daemon=True, name=f"train-{run_id}").start()

    def stop(self) -> JobStatus:
        """Ask the running trainer to stop (SIGTERM): it saves its checkpoint and exits as "stopped"."""
        with self._lock:
            job = self._current()
            if job is None or not job.alive():
                raise NoJobRunningError("job.nothing_to_stop")
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
            return JobStatus("idle", message=msg("job.none_yet"))
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
                st.state, st.message = "stopping", msg("job.stopping")
            elif not progress:
                st.state, st.message = "starting", msg("job.starting")
            else:
                st.state = "running"
        elif progress.get("state") in DONE_STATES:
            st.state = progress["state"]
            st.eta = 0.0
            st.message = msg(f"job.ended_{st.state}", step=st.step, checkpoint=Path(ckpt).name if ckpt else "—")
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
        """After an app restart: this instance's newest run folder, adopted if its trainer is still running.
        Another instance's runs are never adopted (nor shown, nor stopped)."""
        if not self.runs_dir.is_dir():
            return None
        best = None
        for d in self.runs_dir.iterdir():
            info = read_json(d / "job.json") if d.is_dir() and not d.name.startswith(("_", ".")) else None
            if info and info.get("instance") not in (None, self.instance):
                continue
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
    def _failure_reason(job: _Job, ckpt: Optional[Path]) -> Message:
        """Why a run failed: the trainer's own error (its Message, from error.json), else the last error line of its
        log, else how its process ended; and whether Resume has a checkpoint to go on from."""
        kept = msg("job.failed_kept", checkpoint=ckpt.name, run=job.run_id) if ckpt else msg("job.failed_none")
        said = read_json(job.run_dir / "error.json") or {}
        if isinstance(said.get("message"), dict):
            try:
                reason = Message.from_dict(said["message"])
            except (KeyError, TypeError):
                reason = None
            if reason is not None:          # no server paths: the run's folder by its id, the checkout as "."
                reason = replace_text(replace_text(reason, str(job.run_dir), f"‹run {job.run_id}›"), str(ROOT), ".")
                return msg("job.failed", reason=reason, kept=kept)
        lines = []
        try:
            text = (job.run_dir / "train.log").read_text(errors="replace")
            lines = text.rsplit(RESUMED, 1)[-1].strip().splitlines()[1 if RESUMED in text else 0:]
        except OSError:
            pass
        errors = [ln for ln in lines if ln.startswith("error:")]
        reason = errors[-1] if errors else (" | ".join(lines[-3:]) if lines else "")
        code = job.returncode()
        if not reason:
            return msg("job.failed", reason=msg("job.ended_unfinished") if code is None else
                       msg("job.exit_code", code=code), kept=kept)
        reason = reason.replace(str(job.run_dir), f"‹run {job.run_id}›").replace(str(ROOT), ".")  # no server paths
        return msg("job.failed", reason=msg("note.core", msg=reason), kept=kept)   # the log's English line


def _busy(run_id: str, started_at: float, step: int, total: int) -> JobBusyError:
    return JobBusyError("job.busy", run=run_id, started=_clock(started_at), step=step, total=total)


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))
