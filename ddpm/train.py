"""Training: the ε / x_0 / v objective with MSE or L1, timestep weighting, AdamW, warmup + cosine decay,
gradient clipping, EMA, mixed precision on CUDA, label dropout for classifier-free guidance, periodic
sample grids and checkpoints, exact resume, and DistributedDataParallel under torchrun.

    python -m ddpm.train --data digits --preset tiny --steps 2000 --out runs/digits
    torchrun --nproc_per_node=2 -m ddpm.train --data digits --steps 2000 --out runs/digits

Files written to --out (rank 0 only): last.safetensors (resumable), model.safetensors (EMA weights to
share), metrics.jsonl (one JSON line per log), progress.json, samples/step_XXXXXX.png, samples/latest.png.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.distributed as dist
from torch import nn

from .checkpoint import CheckpointError, atomic_write, export_checkpoint, load_train_state, save_checkpoint
from .data import DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED, ImageDataset, load_dataset, save_image_grid
from .device import pick_device
from .diffusion import LOSSES, OBJECTIVES, WEIGHTINGS, DiffusionConfig, GaussianDiffusion
from .schedules import SCHEDULES
from .sampling import generate
from .unet import PRESETS, UNet, UNetConfig, count_parameters, preset_config


@dataclass
class TrainConfig:
    data: str = "digits"              # digits | mnist | fashion_mnist | cifar10 | a folder or .zip of class folders
    image_size: int = 16              # images are resized to this (digits are 8×8 natively)
    preset: str = "tiny"              # U-Net size: tiny | small | base | large
    base_channels: int = 0            # 0 = the preset's
    dropout: float = 0.0              # dropout in residual blocks
    conditional: bool = True          # class-conditional (with a null label for guidance) or unconditional
    schedule: str = "linear"          # noise schedule
    T: int = 1000                     # diffusion steps
    objective: str = "eps"            # eps | x0 | v
    loss: str = "mse"                 # mse | l1
    weighting: str = "min_snr"        # simple | snr | min_snr | importance (min_snr won bench/recipes.py)
    min_snr_gamma: float = 5.0        # γ of min-SNR weighting
    steps: int = 2000                 # optimizer steps
    batch_size: int = 128             # global batch (split over torchrun processes)
    lr: float = 2e-3                  # peak learning rate
    weight_decay: float = 0.0         # AdamW weight decay
    warmup_steps: int = 100           # linear warmup, then cosine decay
    min_lr_ratio: float = 0.1         # the cosine decays to lr · min_lr_ratio
    grad_clip: float = 1.0            # max gradient norm (0 = off)
    ema_decay: float = 0.999          # EMA of the weights (0 = off)
    label_dropout: float = 0.1        # share of labels replaced by the null label (classifier-free guidance)
    amp: str = "auto"                 # auto (bf16/fp16 on CUDA, off on CPU) | off | bf16 | fp16
    compile: bool = False             # torch.compile the model
    seed: int = 0
    log_every: int = 25
    sample_every: int = 500           # a sample grid every N steps (0 = only at the end)
    save_every: int = 500             # a resumable checkpoint every N steps
    out: str = "runs/digits"
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    resume: str = ""                  # "" | "auto" (out/last.safetensors) | a checkpoint path
    holdout: float = DEFAULT_HOLDOUT  # share of each class kept out of training (the metrics' held-out split)

    def validate(self) -> None:
        def choice(kind, v, options):
            if v not in options:
                raise ValueError(f"unknown {kind} {v!r}; choose from {sorted(options)}")
        choice("preset", self.preset, PRESETS)
        choice("schedule", self.schedule, SCHEDULES)
        choice("objective", self.objective, OBJECTIVES)
        choice("loss", self.loss, LOSSES)
        choice("weighting", self.weighting, WEIGHTINGS)
        choice("amp", self.amp, ("auto", "off", "bf16", "fp16"))
        for name, lo in (("steps", 1), ("batch_size", 1), ("T", 2), ("log_every", 1), ("image_size", 4)):
            if getattr(self, name) < lo:
                raise ValueError(f"{name} must be >= {lo} (got {getattr(self, name)})")
        if not (0 < self.lr < 1):
            raise ValueError(f"lr must be in (0, 1) (got {self.lr}); 1e-4..2e-3 is usual")
        if not (0 <= self.ema_decay < 1):
            raise ValueError(f"ema_decay must be in [0, 1) (got {self.ema_decay}); 0.999 is usual")
        if not (0 <= self.holdout < 1):
            raise ValueError(f"holdout must be in [0, 1) (got {self.holdout}); 0 trains on every image")
        if not (0 <= self.label_dropout < 1):
            raise ValueError(f"label_dropout must be in [0, 1) (got {self.label_dropout}); 0.1 is usual")


@dataclass
class TrainProgress:
    step: int
    total: int
    loss: float                       # mean weighted loss since the last report
    lr: float
    elapsed: float                    # seconds in this process
    eta: float                        # seconds left, estimated
    loss_by_quartile: list            # mean loss for t in [0, T/4), [T/4, T/2), [T/2, 3T/4), [3T/4, T)
    sample_path: Optional[str] = None # set when a new sample grid was written


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


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"cannot write to output folder {str(out)!r} ({e.strerror}); "
                              "choose another --out") from None


def _trim_metrics(path: Path, step: int) -> None:
    """Keep only the log lines up to `step`: a fresh run (step 0) in an old folder must not append to the old
    loss curve, and a run resumed from an earlier checkpoint must not log the same steps twice."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut short by a killed run
            pass
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in kept)))


def build_model_config(cfg: TrainConfig, data: ImageDataset) -> UNetConfig:
    over = dict(image_size=cfg.image_size if data is None else data.image_size,
                in_channels=data.channels, dropout=cfg.dropout,
                num_classes=data.num_classes if cfg.conditional else 0)
    if cfg.base_channels:
        over["base_channels"] = cfg.base_channels
    return preset_config(cfg.preset, **over)


def train(cfg: TrainConfig, callback: Optional[Callable[[TrainProgress], None]] = None,
          stop_event: Optional[threading.Event] = None) -> TrainResult:
    cfg.validate()
    rank, local_rank, world = _dist_info()
    distributed = world > 1
    if distributed and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and cfg.device in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend)
    device = pick_device(cfg.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the number of processes ({world})")
    out = Path(cfg.out)
    is_main = rank == 0
    if is_main:
        _check_writable(out)

    data = load_dataset(cfg.data, image_size=cfg.image_size)
    if cfg.holdout > 0:   # the held-out split (same split as diagnostics' real-vs-real floor) is never trained on
        data = data.split(cfg.holdout, seed=DEFAULT_SPLIT_SEED)[0]
    ucfg = build_model_config(cfg, data)
    dcfg = DiffusionConfig(schedule=cfg.schedule, T=cfg.T, objective=cfg.objective)
    diffusion = GaussianDiffusion(dcfg)
    torch.manual_seed(cfg.seed)
    model = UNet(ucfg).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g_data = torch.Generator().manual_seed(cfg.seed)              # batch indices, the same on every rank
    g_noise = torch.Generator().manual_seed(cfg.seed + 1 + rank)  # t, ε and label dropout, per rank
    step = 0

    resume_path = (out / "last.safetensors") if cfg.resume == "auto" else (Path(cfg.resume) if cfg.resume else None)
    if resume_path is not None and (cfg.resume != "auto" or resume_path.exists()):
        state = load_train_state(resume_path)
        meta = state["meta"]
        if meta["model"] != ucfg.to_dict():
            diff = {k: (meta["model"].get(k), v) for k, v in ucfg.to_dict().items() if meta["model"].get(k) != v}
            raise CheckpointError(f"cannot resume from {resume_path}: its model differs from this run's "
                                  f"(checkpoint vs now: {diff}); use the same data, image size and preset")
        if meta["diffusion"] != dcfg.to_dict():
            raise CheckpointError(f"cannot resume from {resume_path}: it was trained with {meta['diffusion']}, "
                                  f"this run asks for {dcfg.to_dict()}")
        model.load_state_dict(state["model"])
        if ema is not None:  # a run saved without EMA starts its EMA from the resumed weights, not the init
            ema.load_state_dict(state["ema"] or state["model"])
        opt.load_state_dict(state["optimizer"])
        step = int(meta["step"])
        rng = state["rng"]
        g_data.set_state(rng["data"])
        torch.set_rng_state(rng.get(f"torch{rank}", rng["torch"]))
        if f"noise{rank}" in rng:
            g_noise.set_state(rng[f"noise{rank}"])
        if step >= cfg.steps:
            raise ValueError(f"the checkpoint is already at step {step} >= --steps {cfg.steps}; "
                             "raise --steps to train further")

    net: nn.Module = model
    if cfg.compile:
        net = torch.compile(model)
    if distributed:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    amp_dtype = None
    if device.type == "cuda" and cfg.amp != "off":
        amp_dtype = torch.bfloat16 if (cfg.amp == "bf16" or (cfg.amp == "auto" and torch.cuda.is_bf16_supported())) \
            else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    stop_flag = threading.Event()
    previous_handlers = {}   # put back when the loop ends, so the caller's Ctrl-C works again
    if is_main or distributed:
        def _on_signal(signum, frame):
            stop_flag.set()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous_handlers[sig] = signal.signal(sig, _on_signal)

    images, labels = data.images, data.labels
    per_rank = cfg.batch_size // world
    null_label = ucfg.num_classes
    meta_data = {"name": data.name, "source": cfg.data, "image_size": data.image_size, "channels": data.channels,
                 "holdout": cfg.holdout, "split_seed": DEFAULT_SPLIT_SEED,
                 "num_images": len(images)}
    started = time.perf_counter()
    start_step = step
    window, window_q = [], [[] for _ in range(4)]
    last_loss = float("nan")
    stopped_early = False

    def save(final: bool = False) -> None:
        """Called on every rank: each rank's own generators are gathered so that a resume is exact everywhere."""
        own = {f"noise{rank}": g_noise.get_state(), f"torch{rank}": torch.get_rng_state()}
        if distributed:
            everyone = [None] * world
            dist.all_gather_object(everyone, own)
            own = {k: v for d in everyone for k, v in d.items()}
        if not is_main:
            return
        rng = {"data": g_data.get_state(), "torch": torch.get_rng_state(), **own}
        save_checkpoint(out / "last.safetensors", model=model, ema_model=ema, diffusion_config=dcfg,
                        class_names=data.class_names, step=step, data=meta_data, train=asdict(cfg),
                        train_state={"optimizer": opt.state_dict(), "rng": rng})
        if final:
            export_checkpoint(out / "last.safetensors", out / "model.safetensors")

    def sample_grid() -> Optional[str]:
        if not is_main:
            return None
        src = ema if ema is not None else model
        n = 2 * ucfg.num_classes if ucfg.num_classes else 16
        labels_ = list(range(ucfg.num_classes)) if ucfg.num_classes else None
        res = generate(src, diffusion, sampler="ddim", steps=min(25, cfg.T), n=n, labels=labels_, seed=cfg.seed)
        (out / "samples").mkdir(exist_ok=True)
        path = out / "samples" / f"step_{step:06d}.png"
        nrow = ucfg.num_classes or None
        save_image_grid(res.images, path, nrow=nrow, scale=4)
        atomic_write(out / "samples" / "latest.png", lambda tmp: save_image_grid(res.images, tmp, nrow=nrow, scale=4))
        return str(path)

    def write_progress(state: str, p: Optional[TrainProgress]) -> None:
        if not is_main:
            return
        info = {"state": state, "step": step, "total": cfg.steps, "pid": os.getpid(), "time": time.time()}
        if p is not None:
            info.update(loss=p.loss, lr=p.lr, elapsed=p.elapsed, eta=p.eta)
        atomic_write(out / "progress.json", lambda tmp: Path(tmp).write_text(json.dumps(info)))

    if is_main:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        _trim_metrics(out / "metrics.jsonl", step)
        write_progress("running", None)
    model.train()
    stop_requested = False   # set by a callback raising StopTraining; the loop ends before the next step
    try:
        while step < cfg.steps:
            stop = stop_requested or stop_flag.is_set() or (stop_event is not None and stop_event.is_set())
            if distributed:  # one rank's stop (a callback, a signal) stops every rank at the same step
                flag = torch.tensor([float(stop)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop = bool(flag.item())
            if stop:
                stopped_early = True
                break
            idx = torch.randint(len(images), (cfg.batch_size,), generator=g_data)[rank * per_rank:(rank + 1) * per_rank]
            x0 = images[idx].to(device, non_blocking=True)
            y = None
            if ucfg.num_classes:
                y = labels[idx].clone()
                drop = torch.rand(per_rank, generator=g_noise) < cfg.label_dropout
                y[drop] = null_label
                y = y.to(device)
            t = torch.randint(cfg.T, (per_rank,), generator=g_noise).to(device)
            noise = torch.randn(x0.shape, generator=g_noise).to(device)
            lr = lr_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                per_sample = diffusion.training_losses(net, x0, t, y, noise, cfg.loss, cfg.weighting, cfg.min_snr_gamma)
            loss = per_sample.mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower --lr "
                                         f"(now {cfg.lr}) or keep --grad-clip on")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            if ema is not None:
                ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1

            window.append(loss.item())
            q = (t * 4 // cfg.T).cpu()
            for k in range(4):
                if (q == k).any():
                    window_q[k].append(per_sample.detach()[q.to(per_sample.device) == k].mean().item())
            sample_path = None
            if is_main and cfg.sample_every and step % cfg.sample_every == 0 and step < cfg.steps:
                sample_path = sample_grid()
            if cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps:
                save()
            if step % cfg.log_every == 0 or step == cfg.steps or sample_path:
                elapsed = time.perf_counter() - started
                rate = (step - start_step) / max(elapsed, 1e-9)
                last_loss = sum(window) / max(1, len(window))
                p = TrainProgress(step, cfg.steps, last_loss, lr, elapsed, (cfg.steps - step) / max(rate, 1e-9),
                                  [sum(w) / len(w) if w else None for w in window_q], sample_path)
                window, window_q = [], [[] for _ in range(4)]
                if is_main:
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(asdict(p)) + "\n")
                    write_progress("running", p)
                if callback is not None:
                    try:
                        callback(p)
                    except StopTraining:
                        stop_requested = True
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)

    identical = None
    if distributed:
        flat = torch.cat([p.detach().flatten().float() for p in model.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        identical = all(torch.equal(gathered[0], g) for g in gathered[1:])
    save(final=True)
    if is_main:
        final_grid = sample_grid()
        write_progress("stopped" if stopped_early else "finished", None)
        summary = {"step": step, "stopped_early": stopped_early, "replicas_identical": identical,
                   "seconds": time.perf_counter() - started, "final_grid": final_grid}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return TrainResult(str(out / "last.safetensors"), str(out / "model.safetensors"), step, last_loss,
                       time.perf_counter() - started, stopped_early, count_parameters(model), identical)


def _field_comments(cls) -> dict[str, str]:
    """The `# comment` after each field of a dataclass, for --help (argparse prints no default without a help)."""
    import inspect
    import re
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    field_line = re.compile(r"^\s+(\w+)\s*:[^#\n]*#\s*(.*)$", re.M)   # `name: type = default  # comment`
    return {m.group(1): m.group(2).strip().replace("%", "%%") for m in field_line.finditer(source)}


def _add_config_args(parser: argparse.ArgumentParser, cls) -> None:
    comments = _field_comments(cls)
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        help_ = comments.get(f.name, f.name.replace("_", " "))
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_)
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            parser.add_argument(flag, type=typ, default=f.default, help=help_)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_config_args(parser, TrainConfig)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    quiet = args.__dict__.pop("quiet")
    cfg = TrainConfig(**vars(args))
    rank = _dist_info()[0]
    bar = None
    if rank == 0 and not quiet:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, unit="step")

    def report(p: TrainProgress) -> None:
        if bar is not None:
            bar.n = p.step
            bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.1e}")
            bar.refresh()
    try:
        result = train(cfg, report)
    except (ValueError, FileNotFoundError, PermissionError, RuntimeError) as e:
        if bar is not None:
            bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    if bar is not None:
        bar.close()
    if rank == 0:
        verb = "stopped" if result.stopped_early else "finished"
        print(f"{verb} at step {result.step}: loss {result.final_loss:.4f}, {result.seconds:.0f}s, "
              f"{result.parameters:,} parameters\n  resumable: {result.checkpoint}\n  to share:  {result.model}"
              + (f"\n  replicas identical: {result.replicas_identical}" if result.replicas_identical is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
