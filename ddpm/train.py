"""Training: the ε / x_0 / v objective with MSE or L1, timestep weighting, AdamW, warmup + cosine decay,
gradient clipping, EMA, mixed precision (`--amp`: the network in bf16/fp16, the rest fp32), label dropout
for classifier-free guidance, periodic sample grids and checkpoints, exact resume, and DistributedDataParallel
under torchrun.

    python -m ddpm.train --data digits --preset tiny --steps 2000 --out runs/digits
    torchrun --nproc_per_node=2 -m ddpm.train --data digits --steps 2000 --out runs/digits

One run is a `TrainRun` (its state) going through named phases: `TrainRun.setup` (data, model, optimizer,
resume), `train_step`, `log_window`, `save`, `sample_grid`, `finish`; `train()` is the short loop over them. A
`status` listener hears from the first second on (loading the data, from which step a resume goes on, every
step); the CLI draws its bar from it and takes --threads (ddpm/threads.py).

Files written to --out (rank 0 only): last.safetensors (resumable), model.safetensors (EMA weights to
share), metrics.jsonl (one JSON line per log), progress.json, config.json, summary.json,
samples/step_XXXXXX.png, samples/latest.png. Every file is replaced atomically (written to a temporary file,
then renamed) except metrics.jsonl, which is appended to: each line goes out in one write followed by a flush,
so a killed run can leave at most its last line cut short, and a resume drops that line.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.distributed as dist
from torch import nn

from .checkpoint import CheckpointError, atomic_write, export_checkpoint, load_train_state, save_checkpoint
from .data import DEFAULT_SPLIT_SEED, ImageDataset, hflip, load_dataset, save_image_grid, training_conditioning
from .device import Precision, pick_device, resolve_precision
from .diffusion import DiffusionConfig, GaussianDiffusion
from .messages import Message, MessageError, msg, render
from .run_files import append_line, check_writable, trim_metrics, write_json
from .sampling import generate
from .threads import add_threads_arg, set_threads
from .train_config import OptionSpec, TrainConfig, add_config_args, config_from_args
from .train_state import LossWindow, StopTraining, TrainProgress, TrainResult, TrainStatus, ema_update, \
    ignore_status, lr_at, stop_on_signals
from .unet import UNet, UNetConfig, count_parameters, preset_config
from .vlb_loss import check_resume_variance, timestep_sampler, training_losses

__all__ = ["OptionSpec", "StopTraining", "TrainConfig", "TrainProgress", "TrainResult", "TrainRun", "TrainStatus",
           "train", "lr_at", "ema_update", "main"]


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def data_columns(cfg: TrainConfig) -> dict:
    """load_dataset's image_column / label_column from the config ("" = detect, label "none" = no labels)."""
    label = cfg.label_column
    return dict(image_column=cfg.image_column or None,
                label_column="" if label.lower() == "none" else (label or None))


def build_model_config(cfg: TrainConfig, data: ImageDataset) -> UNetConfig:
    over = dict(image_size=cfg.image_size if data is None else data.image_size,
                in_channels=data.channels, dropout=cfg.dropout, learn_sigma=cfg.learn_sigma,
                num_classes=data.num_classes if training_conditioning(data, cfg.conditional) else 0)
    if cfg.base_channels:
        over["base_channels"] = cfg.base_channels
    return preset_config(cfg.preset, **over)


class LossDiverged(MessageError, FloatingPointError):
    """The loss became NaN or infinite: the run stops, and the message says what to change."""


@dataclass
class TrainRun:
    """The state of one run. `step` counts optimizer steps done; everything else is set once by setup()."""
    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    out: Path
    data: ImageDataset
    ucfg: UNetConfig
    dcfg: DiffusionConfig
    diffusion: GaussianDiffusion
    model: nn.Module
    ema: Optional[nn.Module]
    opt: torch.optim.Optimizer
    g_data: torch.Generator           # batch indices, the same on every rank
    g_noise: torch.Generator          # t, ε and label dropout, one per rank
    timesteps: object = None          # draws t: uniform, or importance-sampled for --loss vlb (ddpm.vlb_loss)
    step: int = 0
    net: Optional[nn.Module] = None   # what the step calls: the model, compiled and/or wrapped in DDP
    precision: Optional[Precision] = None   # the network's precision (--amp); the rest stays fp32
    precision_history: list = field(default_factory=list)   # [{"from_step", "precision"}], saved in the checkpoint
    scaler: Optional[torch.amp.GradScaler] = None
    started: float = 0.0
    start_step: int = 0
    window: LossWindow = field(default_factory=LossWindow)
    last_loss: float = float("nan")
    last_lr: float = 0.0
    stop_requested: bool = False      # set by a callback raising StopTraining; the loop ends before the next step
    stopped_early: bool = False
    report: Callable[[TrainStatus], None] = field(default=ignore_status, repr=False)   # see train(status=)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    # ---- set up / resume ---------------------------------------------------------------------------------
    @classmethod
    def setup(cls, cfg: TrainConfig, status: Optional[Callable[[TrainStatus], None]] = None) -> "TrainRun":
        """Validate, join the process group, load the data (less its held-out split), build the model, EMA and
        optimizer, resume when asked, and write config.json / a trimmed metrics.jsonl / progress.json.
        status (rank 0 only) hears of each phase: loading the data, the data loaded, resumed (from which step)."""
        cfg.validate()
        rank, local_rank, world = _dist_info()
        if world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "gloo"
            dist.init_process_group(backend)
        device = pick_device(cfg.device)
        if world > 1 and device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        precision = resolve_precision(cfg.amp, device, "train")   # refuses fp16 on a CPU before anything is written
        if precision.warning and rank == 0:
            warnings.warn(precision.warning, stacklevel=3)
        if cfg.batch_size % world:
            raise MessageError("train.batch_world", batch_size=cfg.batch_size, world=world)
        out = Path(cfg.out)
        if rank == 0:
            check_writable(out)

        report = status if (status is not None and rank == 0) else ignore_status
        report(TrainStatus("loading_data", 0, cfg.steps, msg("train.loading_data", data=cfg.data)))
        data = load_dataset(cfg.data, image_size=cfg.image_size, **data_columns(cfg))
        if cfg.holdout > 0:   # the held-out split (same split as diagnostics' real-vs-real floor) is never trained on
            data = data.split(cfg.holdout, seed=DEFAULT_SPLIT_SEED)[0]
        ucfg = build_model_config(cfg, data)
        dcfg = DiffusionConfig(schedule=cfg.schedule, T=cfg.T, objective=cfg.objective)
        torch.manual_seed(cfg.seed)
        model = UNet(ucfg).to(device)
        ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
        run = cls(cfg=cfg, rank=rank, world=world, device=device, out=out, data=data, ucfg=ucfg, dcfg=dcfg,
                  diffusion=GaussianDiffusion(dcfg), model=model, ema=ema,
                  opt=torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
                  g_data=torch.Generator().manual_seed(cfg.seed),
                  g_noise=torch.Generator().manual_seed(cfg.seed + 1 + rank),
                  timesteps=timestep_sampler(cfg.loss, cfg.T),
                  precision=precision, precision_history=[{"from_step": 0, "precision": precision.name}],
                  report=report)
        report(TrainStatus("data_loaded", 0, cfg.steps, msg("train.data", summary=run.data_summary())))
        resume_path = (out / "last.safetensors") if cfg.resume == "auto" else (Path(cfg.resume) if cfg.resume else None)
        if resume_path is not None and (cfg.resume != "auto" or resume_path.exists()):
            run.resume(resume_path)
        elif resume_path is not None:
            report(TrainStatus("resumed", 0, cfg.steps, msg("train.fresh_start", path=str(resume_path))))

        run.net = model
        if cfg.compile:
            run.net = torch.compile(model)
        if run.distributed:
            run.net = nn.parallel.DistributedDataParallel(
                run.net, device_ids=[device.index] if device.type == "cuda" else None)
        run.scaler = torch.amp.GradScaler("cuda", enabled=run.precision.name == "fp16" and device.type == "cuda")
        if run.is_main:
            write_json(out / "config.json", asdict(cfg))
            trim_metrics(out / "metrics.jsonl", run.step)
            run.write_progress("running")
        run.started = time.perf_counter()
        run.start_step = run.step
        return run

    def trained_seconds(self) -> float:
        """Seconds of training over every segment of the run: the earlier segments' (recorded in the checkpoint
        resumed from) plus this process's."""
        return getattr(self, "seconds_before", 0.0) + time.perf_counter() - self.started

    def resume(self, path: Path) -> None:
        """Load weights, EMA, optimizer, step and every generator from a resumable checkpoint: the run then
        continues bit for bit as if it had never stopped."""
        state = load_train_state(path)
        meta = state["meta"]
        check_resume_variance(meta["model"], self.ucfg.learn_sigma, path)
        if meta["model"] != self.ucfg.to_dict():
            diff = {k: (meta["model"].get(k), v) for k, v in self.ucfg.to_dict().items() if meta["model"].get(k) != v}
            raise CheckpointError("train.resume_model_differs", path=str(path), diff=diff)
        if meta["diffusion"] != self.dcfg.to_dict():
            raise CheckpointError("train.resume_diffusion_differs", path=str(path), saved=meta["diffusion"],
                                  now=self.dcfg.to_dict())
        self.model.load_state_dict(state["model"])
        if self.ema is not None:  # a run saved without EMA starts its EMA from the resumed weights, not the init
            self.ema.load_state_dict(state["ema"] or state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.timesteps.load_state_dict(state["tensors"])
        self.step = int(meta["step"])
        trained = meta.get("train", {})
        self.seconds_before = float(trained.get("trained_seconds") or 0.0)     # older checkpoints: not recorded
        self.precision_history = list(trained.get("precision_history") or
                                      [{"from_step": 0, "precision": trained.get("precision", "fp32")}])
        if self.precision_history[-1]["precision"] != self.precision.name:   # allowed, and said
            if self.is_main:
                warnings.warn(str(msg("train.resume_precision", step=self.step, now=self.precision.name,
                                      before=self.precision_history[-1]["precision"],
                                      reason=self.precision.reason)), stacklevel=4)
            self.precision_history.append({"from_step": self.step, "precision": self.precision.name})
        rng = state["rng"]
        self.g_data.set_state(rng["data"])
        torch.set_rng_state(rng.get(f"torch{self.rank}", rng["torch"]))
        if f"noise{self.rank}" in rng:
            self.g_noise.set_state(rng[f"noise{self.rank}"])
        if self.step >= self.cfg.steps:
            raise MessageError("train.already_done", step=self.step, steps=self.cfg.steps)
        self.report(TrainStatus("resumed", self.step, self.cfg.steps,
                                msg("train.resumed", path=str(path), step=self.step, total=self.cfg.steps)))

    # ---- one step ----------------------------------------------------------------------------------------
    def should_stop(self, *events: Optional[threading.Event]) -> bool:
        """A stop asked here (callback, signal, stop_event); under torchrun one rank's stop stops every rank
        at the same step."""
        stop = self.stop_requested or any(e is not None and e.is_set() for e in events)
        if self.distributed:
            flag = torch.tensor([float(stop)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def train_step(self) -> None:
        """One optimizer step on this rank's share of a global batch: x_t = q_sample(x_0, t, ε), the weighted
        loss, backward, clipping, AdamW, then the EMA; the loss goes into the log window."""
        cfg, device = self.cfg, self.device
        per_rank = cfg.batch_size // self.world
        idx = torch.randint(len(self.data.images), (cfg.batch_size,), generator=self.g_data)
        idx = idx[self.rank * per_rank:(self.rank + 1) * per_rank]
        x0 = self.data.images[idx].to(device, non_blocking=True)
        if cfg.hflip:                     # drawn only when on: a run without flips keeps its noise stream
            x0 = hflip(x0, torch.rand(per_rank, generator=self.g_noise) < 0.5)
        y = None
        if self.ucfg.num_classes:
            y = self.data.labels[idx].clone()
            y[torch.rand(per_rank, generator=self.g_noise) < cfg.label_dropout] = self.ucfg.num_classes  # null label
            y = y.to(device)
        t, importance = self.timesteps.sample(per_rank, self.g_noise)   # importance: 1/(T p_t) or None
        noise = torch.randn(x0.shape, generator=self.g_noise).to(device)
        self.last_lr = lr_at(self.step, cfg)
        for group in self.opt.param_groups:
            group["lr"] = self.last_lr
        net = functools.partial(self.precision.run, self.net)   # only the network runs in bf16/fp16
        terms = training_losses(self.diffusion, net, x0, t.to(device), y, noise, cfg.loss, cfg.weighting,
                                cfg.min_snr_gamma, importance)
        self.timesteps.update(t, terms.vlb)
        loss = terms.loss.mean()
        if not torch.isfinite(loss):
            raise LossDiverged("train.loss_diverged", loss=loss.item(), step=self.step, lr=cfg.lr)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.ema is not None:
            ema_update(self.ema, self.model, min(cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        self.window.add(loss.item(), terms.loss, t.cpu(), cfg.T)

    def due(self, every: int) -> bool:
        """Whether a periodic grid / checkpoint falls on this step (the final ones are written by finish())."""
        return bool(every) and self.step % every == 0 and self.step < self.cfg.steps

    # ---- log window --------------------------------------------------------------------------------------
    def log_window(self, sample_path: Optional[str]) -> TrainProgress:
        """Close the loss window into a TrainProgress, append it to metrics.jsonl and update progress.json."""
        cfg = self.cfg
        segment = time.perf_counter() - self.started
        rate = (self.step - self.start_step) / max(segment, 1e-9)          # this segment's pace predicts the rest
        self.last_loss = self.window.mean()
        p = TrainProgress(self.step, cfg.steps, self.last_loss, self.last_lr, self.trained_seconds(),
                          (cfg.steps - self.step) / max(rate, 1e-9), self.window.quartile_means(), sample_path,
                          self.data_summary())
        self.window = LossWindow()
        if self.is_main:
            append_line(self.out / "metrics.jsonl", json.dumps({k: v for k, v in asdict(p).items() if k != "data"}))
            self.write_progress("running", p)
        return p

    def data_summary(self) -> str:
        """What the trainer detected, for the user: the data, its split, and conditional or not."""
        return str(self.data_message())

    def data_message(self) -> Message:
        """data_summary as a Message (progress.json keeps it, so the app shows it in the page's language)."""
        return msg("data.summary_conditional" if self.ucfg.num_classes else "data.summary_unconditional",
                   data=self.data.describe())

    def write_progress(self, state: str, p: Optional[TrainProgress] = None) -> None:
        info = {"state": state, "step": self.step, "total": self.cfg.steps, "pid": os.getpid(), "time": time.time(),
                "data": self.data_summary(), "data_notes": [str(n) for n in self.data.notes],
                "data_message": self.data_message().as_dict(),
                "data_notes_messages": [n.as_dict() for n in self.data.notes]}
        if p is not None:
            info.update(loss=p.loss, lr=p.lr, elapsed=p.elapsed, eta=p.eta)
        atomic_write(self.out / "progress.json", lambda tmp: Path(tmp).write_text(json.dumps(info)))

    # ---- save --------------------------------------------------------------------------------------------
    def save(self, final: bool = False) -> None:
        """Called on every rank: each rank's own generators are gathered so that a resume is exact everywhere."""
        own = {f"noise{self.rank}": self.g_noise.get_state(), f"torch{self.rank}": torch.get_rng_state()}
        if self.distributed:
            everyone = [None] * self.world
            dist.all_gather_object(everyone, own)
            own = {k: v for d in everyone for k, v in d.items()}
        if not self.is_main:
            return
        rng = {"data": self.g_data.get_state(), "torch": torch.get_rng_state(), **own}
        meta_data = {"name": self.data.name, "source": self.cfg.data, "image_size": self.data.image_size,
                     "channels": self.data.channels, "holdout": self.cfg.holdout,
                     "split_seed": DEFAULT_SPLIT_SEED, "num_images": len(self.data.images),
                     **{k: v for k, v in data_columns(self.cfg).items() if v is not None}}
        save_checkpoint(self.out / "last.safetensors", model=self.model, ema_model=self.ema,
                        diffusion_config=self.dcfg, class_names=self.data.class_names, step=self.step,
                        data=meta_data, train={**asdict(self.cfg), "precision": self.precision.name,
                                               "precision_history": self.precision_history,
                                               "trained_seconds": self.trained_seconds()},
                        train_state={"optimizer": self.opt.state_dict(), "rng": rng,
                                     "tensors": self.timesteps.state_dict()})
        if final:
            export_checkpoint(self.out / "last.safetensors", self.out / "model.safetensors")

    # ---- sample grid -------------------------------------------------------------------------------------
    def sample_grid(self) -> Optional[str]:
        """A 25-step DDIM grid from the EMA weights (two rows per class), as samples/step_N.png and latest.png."""
        if not self.is_main:
            return None
        k = self.ucfg.num_classes
        res = generate(self.ema if self.ema is not None else self.model, self.diffusion, sampler="ddim",
                       steps=min(25, self.cfg.T), n=2 * k if k else 16, labels=list(range(k)) if k else None,
                       seed=self.cfg.seed)
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        for target in (path, self.out / "samples" / "latest.png"):
            atomic_write(target, lambda tmp: save_image_grid(res.images, tmp, nrow=k or None, scale=4))
        return str(path)

    # ---- finish ------------------------------------------------------------------------------------------
    def finish(self) -> TrainResult:
        """Compare the replicas (torchrun), save the final checkpoint and the shareable export, draw the final
        grid, write summary.json and leave the process group. After an early stop between two log lines the result
        reports the mean loss of the steps since the last line (metrics.jsonl keeps its log_every rhythm)."""
        if self.window.losses:
            self.last_loss = self.window.mean()
        identical = None
        if self.distributed:
            flat = torch.cat([p.detach().flatten().float() for p in self.model.parameters()])
            gathered = [torch.zeros_like(flat) for _ in range(self.world)]
            dist.all_gather(gathered, flat)
            identical = all(torch.equal(gathered[0], g) for g in gathered[1:])
        self.save(final=True)
        if self.is_main:
            final_grid = self.sample_grid()
            self.write_progress("stopped" if self.stopped_early else "finished")
            write_json(self.out / "summary.json",
                        {"step": self.step, "stopped_early": self.stopped_early, "replicas_identical": identical,
                         "seconds": self.trained_seconds(), "final_grid": final_grid})
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()
        return TrainResult(str(self.out / "last.safetensors"), str(self.out / "model.safetensors"), self.step,
                           self.last_loss, self.trained_seconds(), self.stopped_early,
                           count_parameters(self.model), identical)


def train(cfg: TrainConfig, callback: Optional[Callable[[TrainProgress], None]] = None,
          stop_event: Optional[threading.Event] = None,
          status: Optional[Callable[[TrainStatus], None]] = None) -> TrainResult:
    """Train to cfg.steps (or until a callback raises StopTraining, stop_event is set or SIGTERM/SIGINT
    arrives), then save. `callback` receives a TrainProgress at every log line; `status` a TrainStatus from the
    first second on (each setup phase with its message, then every optimizer step)."""
    run = TrainRun.setup(cfg, status)
    run.model.train()
    with stop_on_signals(run.is_main or run.distributed) as signalled:
        while run.step < cfg.steps:
            if run.should_stop(signalled, stop_event):
                run.stopped_early = True
                break
            run.train_step()
            run.report(TrainStatus("step", run.step, cfg.steps))
            sample_path = run.sample_grid() if run.due(cfg.sample_every) else None
            if run.due(cfg.save_every):
                run.save()
            if run.step % cfg.log_every == 0 or run.step == cfg.steps or sample_path:
                progress = run.log_window(sample_path)
                if callback is not None:
                    try:
                        callback(progress)
                    except StopTraining:
                        run.stop_requested = True
    return run.finish()


def _write_error(out: str, e: BaseException) -> None:
    """<out>/error.json: the error's Message (ddpm/messages.py) when it carries one, so that a caller (the app's job
    manager) can show it in its reader's language; nothing when the folder cannot be written."""
    message = getattr(e, "message", None)
    if isinstance(message, Message) and Path(out).is_dir():
        try:
            write_json(Path(out) / "error.json", {"message": message.as_dict(), "text": str(e)})
        except (OSError, TypeError, ValueError):
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_config_args(parser)
    add_threads_arg(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar (the setup and resume lines stay)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the messages: en or zh")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    rank = _dist_info()[0]
    bar = None
    if rank == 0 and not args.quiet:     # drawn at once: setup (data loading included) is reported as it happens
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, unit="step", desc="setup")

    resumed_at = [0]

    def on_status(s: TrainStatus) -> None:
        if s.message is not None:
            (functools.partial(bar.write, file=sys.stderr) if bar is not None else
             functools.partial(print, file=sys.stderr))(render(s.message, args.lang))
        if s.phase == "resumed":
            resumed_at[0] = s.step
        if bar is not None and s.phase == "step":
            if bar.desc.startswith("setup"):      # the first step: the rate and ETA count from here
                bar.reset()
                bar.initial = bar.n = resumed_at[0]
                bar.set_description("train", refresh=False)
            bar.update(s.step - bar.n)

    def on_log(p: TrainProgress) -> None:
        if bar is not None:
            bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.1e}")
    try:
        set_threads(args.threads)
        result = train(cfg, on_log, status=on_status)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError, FloatingPointError) as e:
        if bar is not None:
            bar.close()
        print(render(msg("cli.error", error=getattr(e, "message", str(e))), args.lang), file=sys.stderr)
        _write_error(cfg.out, e)
        return 2
    if bar is not None:
        bar.close()
    if rank == 0:
        lines = [finished_line(result), msg("train.files", checkpoint=str(result.checkpoint), model=str(result.model))]
        if result.replicas_identical is not None:
            lines.append(msg("train.replicas", identical=result.replicas_identical))
        print("\n".join(render(m, args.lang) for m in lines))
    return 0


def finished_line(result: TrainResult) -> Message:
    """"finished at step N: loss …" / "stopped at step N: last loss …" (the mean of the steps since the last log
    line), or, stopped before any step of this session, that there is no loss to report."""
    values = dict(step=result.step, loss=result.final_loss, seconds=result.seconds, parameters=result.parameters)
    if not result.stopped_early:
        return msg("train.finished", **values)
    return msg("train.stopped" if math.isfinite(result.final_loss) else "train.stopped_no_step", **values)


if __name__ == "__main__":
    sys.exit(main())
