"""Sample from a checkpoint.

    python -m ddpm.sample --ckpt digits --sampler ddim --steps 50 --eta 0 \
        --labels 3,3,7 --guidance-scale 2 --n 64 --seed 0 --out grid.png [--trajectory traj.gif]
    python -m ddpm.sample --sampler dpmpp_2m --steps 10 --labels all --n 20      # or unipc, dpmpp_2m_sde
    python -m ddpm.sample --sampler edm_heun --steps 19 --churn 40 --eps-scaling 1.005   # 19 network calls
    python -m ddpm.sample --sampler restart --steps 15 --restart-k 1 --restart-steps 2      # 15 network calls

Writes the grid (PNG), the raw samples beside it (grid.npz: images in [-1, 1], labels, x_T, settings),
and with --trajectory an image strip (.png: rows x_t and x̂_0) or an animation (.gif).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .messages import MessageError, msg, render
from .paths import BUNDLED_MODELS
from .checkpoint import CheckpointError, load_checkpoint
from .classifier import load_classifier
from .data import grid_columns, make_grid, save_image_grid
from .device import AMP_CHOICES, pick_device
from .samplers import CONVENTIONS, DEFAULT_STEPS, SAMPLERS, VARIANCES
from .recommended import guidance_text
from .sampling import Trajectory, generate
from .stochastic import RESTART_ODES, Churn, EpsScaling, RestartSpec
from .threads import add_threads_arg, set_threads


def parse_labels(text: str, class_names: list[str]) -> list[int] | None:
    """'3,3,7' -> [3, 3, 7]; class names are accepted too; '' -> None; 'all' -> every class."""
    if not text:
        return None
    if text == "all":
        return list(range(len(class_names)))
    out = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok in class_names and not tok.lstrip("-").isdigit():
            out.append(class_names.index(tok))
        else:
            try:
                out.append(int(tok))
            except ValueError:
                raise MessageError("sample.bad_label", label=repr(tok), names=", ".join(class_names)) from None
    return out


def trajectory_frames(traj: Trajectory, nrow: int) -> list[np.ndarray]:
    """One (H, W, 3) uint8 frame per captured step: the x_t grid beside the x̂_0 grid."""
    frames = []
    for k in range(len(traj.timesteps)):
        left = make_grid(traj.x_t[k].clamp(-1, 1), nrow=nrow)
        right = make_grid(traj.pred_xstart[k].clamp(-1, 1), nrow=nrow)
        gap = np.full((left.shape[0], 4, 3), 255, np.uint8)
        frames.append(np.concatenate([left, gap, right], axis=1))
    return frames


def save_trajectory(traj: Trajectory, path: Path, nrow: int, scale: int = 4) -> None:
    frames = [Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST)
              for f in trajectory_frames(traj, nrow)]
    if path.suffix.lower() == ".gif":
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=250, loop=0)
    else:  # a vertical strip: one row per captured step
        w, h = frames[0].size
        strip = Image.new("RGB", (w, h * len(frames)), "white")
        for i, f in enumerate(frames):
            strip.paste(f, (0, i * h))
        strip.save(path)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's options; every one shows its default in --help."""
    p = argparse.ArgumentParser(prog="python -m ddpm.sample", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ckpt", default="digits",
                   help=f"the checkpoint to sample from: a bundled model by name ({', '.join(BUNDLED_MODELS)}), our "
                        ".safetensors, a diffusers pipeline folder or .zip, a Hub id")
    p.add_argument("--weights", default="ema", choices=["ema", "raw"], help="EMA or raw weights")
    p.add_argument("--sampler", default=None, choices=list(SAMPLERS),
                   help="ddpm (all T steps), ddim, dpmpp_2m (DPM-Solver++(2M)), dpmpp_2m_sde, unipc (UniPC bh2), "
                        "edm_heun (EDM's Heun sampler with --churn), restart (Restart sampling); None: the model's "
                        "recommended setting (python -m ddpm.recommend CKPT shows it)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"network calls (None: the recommended setting's for its sampler, else {DEFAULT_STEPS}); DDPM "
                        "always runs all T; edm_heun and restart spend exactly this many (Heun: 2 per step, 1 on the "
                        "last)")
    p.add_argument("--eta", type=float, default=None, help="DDIM η in [0, 1] (None: the recommended setting's, else 0)")
    p.add_argument("--spacing", default=None, choices=["trailing", "linspace", "leading"],
                   help="timestep spacing (None: the convention's: ours trailing for ddim/edm_heun/restart and linspace "
                        "of S+1 points for the solvers; a diffusers model's timestep_spacing for all of them)")
    p.add_argument("--convention", default="model", choices=["model", *CONVENTIONS],
                   help="whose sampling defaults: model (a diffusers pipeline's own scheduler config, ours for ours), "
                        "workbench (this product's), diffusers (as diffusers' schedulers from_config)")
    p.add_argument("--churn", type=float, default=0.0, help="edm_heun: S_churn (0: deterministic Heun; EDM used 40-80)")
    p.add_argument("--churn-window", type=float, nargs=2, default=None, metavar=("S_TMIN", "S_TMAX"),
                   help="edm_heun: churn only where S_TMIN <= s <= S_TMAX, s = sigma/alpha (None: every step)")
    p.add_argument("--s-noise", type=float, default=1.0, help="edm_heun: S_noise in [1, 1.1]")
    p.add_argument("--restart-interval", type=int, nargs=2, default=None, metavar=("T_MIN", "T_MAX"),
                   help="restart: re-noise from timestep T_MIN to T_MAX (None: the levels nearest s = 0.1 and 2)")
    p.add_argument("--restart-k", type=int, default=1, help="restart: K, how many restarts")
    p.add_argument("--restart-steps", type=int, default=2, help="restart: ODE steps of each restart")
    p.add_argument("--restart-ode", default="heun", choices=list(RESTART_ODES),
                   help="restart: the ODE step (heun: 2 calls, euler = DDIM: 1)")
    p.add_argument("--eps-scaling", type=float, default=1.0,
                   help="any sampler: divide the predicted noise by lambda_t = B + K t/T (Ning et al. 2024; 1 = off)")
    p.add_argument("--eps-scaling-slope", type=float, default=0.0, help="K of --eps-scaling")
    p.add_argument("--order", type=int, default=2, choices=[1, 2], help="solver order of dpmpp_2m / unipc")
    p.add_argument("--karras", action="store_true", help="Karras σ spacing for dpmpp_2m / unipc")
    p.add_argument("--variance", default=None, choices=list(VARIANCES),
                   help="DDPM's reverse variance: β̃_t, β_t or the network's learned one (None: the model's own: "
                        "learned_range for a model trained with --learn-sigma, else fixed_small for ours, a diffusers "
                        "model's variance_type)")
    clip = p.add_mutually_exclusive_group()
    clip.add_argument("--no-clip", dest="clip", action="store_false", default=None,
                      help="do not clamp x̂_0 (None: the model's own; ours clamp to [-1, 1], a diffusers model "
                           "follows its clip_sample / clip_sample_range)")
    clip.add_argument("--clip", dest="clip", action="store_true", help="clamp x̂_0 to the data range")
    p.add_argument("--labels", default="", help="comma-separated classes (indices or names), cycled over n; "
                                                 "'all' for every class; empty = unconditional")
    p.add_argument("--guidance-scale", "--guidance", dest="guidance", type=float, default=None,
                   help="classifier-free guidance scale w: 0 unconditional, 1 conditional, >1 stronger (None: the "
                        "model's recommended setting's)")
    p.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("S_LO", "S_HI"),
                   help="classifier-free guidance only where S_LO < s <= S_HI, s = sigma/alpha (Kynkäänniemi et al. "
                        "2024: 0.28 5.42); 0 inf: every step (None: the recommended setting's when the guidance "
                        "scale is too, else every step)")
    p.add_argument("--classifier", default="", help="a classifier from `python -m ddpm.train_classifier`")
    p.add_argument("--classifier-scale", type=float, default=0.0, help="classifier guidance scale s")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="seed of x_T and of the step noise")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the initial noise x_T")
    p.add_argument("--noise-temperature", type=float, default=1.0, help="scale of the per-step noise")
    p.add_argument("--max-batch", type=int, default=256, help="images per forward pass (the memory bound)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    add_threads_arg(p)
    p.add_argument("--amp", default="auto", choices=AMP_CHOICES,
                   help="network precision: auto (fp32 on every CPU, so the same seed gives the same images on any "
                        "CPU; bf16/fp16 on a GPU), off (fp32), bf16 (fast where the CPU computes it natively), fp16 "
                        "(GPU only); the sampler's arithmetic stays fp32; the .npz records what ran")
    p.add_argument("--out", default="samples.png", help="the grid image; the .npz is written beside it")
    p.add_argument("--trajectory", default="", help="also write the trajectory (.png strip or .gif)")
    p.add_argument("--frames", type=int, default=10, help="trajectory frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def stochastic_options(a: argparse.Namespace) -> tuple:
    """(Churn or None, RestartSpec or None, EpsScaling or None) from the flags; a sampler's options given to another
    sampler are passed on, so that generate() refuses them with its message."""
    churn = restart = None
    if a.sampler == "edm_heun" or (a.churn, a.churn_window, a.s_noise) != (0.0, None, 1.0):
        lo, hi = a.churn_window or (0.0, float("inf"))
        churn = Churn(a.churn, lo, hi, a.s_noise)
    if a.sampler == "restart" or (a.restart_interval, a.restart_k, a.restart_steps, a.restart_ode) != (None, 1, 2, "heun"):
        t_min, t_max = a.restart_interval or (None, None)
        restart = RestartSpec(t_min, t_max, a.restart_k, a.restart_steps, a.restart_ode)
    eps = EpsScaling(a.eps_scaling, a.eps_scaling_slope)
    return churn, restart, None if eps.off else eps


def start_from_recommended(a: argparse.Namespace, ck) -> None:
    """Fill the sampler, steps, η and guidance the command line left out from the model's recommended setting
    (ddpm.recommended; steps and η only when the sampler is the recommended one, the guidance interval only with
    the recommended guidance scale), and say so on stderr."""
    rec = ck.recommended
    same = a.sampler in (None, rec.sampler)
    taken = a.sampler is None or a.guidance is None or (same and (a.steps is None or a.eta is None))
    a.sampler = a.sampler or rec.sampler
    a.steps = a.steps if a.steps is not None else (rec.steps if same else None)
    a.eta = a.eta if a.eta is not None else (rec.eta if same else 0.0)
    if a.guidance is None:
        a.guidance = rec.guidance_scale
        a.guidance_interval = a.guidance_interval or rec.guidance_interval
    if taken and not a.quiet:
        shown = msg("recommended.describe", sampler=a.sampler, steps=a.steps or "T",
                    eta=f"{a.eta:g}" if a.sampler == "ddim" else "—", w=guidance_text(a.guidance, a.guidance_interval),
                    source=msg(f"recommended.source_{rec.source}", why=rec.why))
        print(render(msg("recommended.using", setting=shown)), file=sys.stderr)


DEPRECATED_FLAGS = {"--guidance": "--guidance-scale"}   # old spelling -> the one name every CLI and the app use


def main(argv=None) -> int:
    p = build_parser()
    args = sys.argv[1:] if argv is None else list(argv)
    a = p.parse_args(args)
    for old, new in DEPRECATED_FLAGS.items():
        if any(x == old or x.startswith(old + "=") for x in args):
            print(render(msg("sample.deprecated_flag", old=old, new=new)), file=sys.stderr)
    bars = []     # the bar lives in the CLI (drawn from the first step on); generate() only reports (done, total)

    def progress(done: int, total: int) -> None:
        if a.quiet:
            return
        if not bars:
            from tqdm import tqdm
            bars.append(tqdm(total=total, unit="step", file=sys.stderr, desc=a.sampler))
        bars[0].n = done
        bars[0].refresh()
    try:
        set_threads(a.threads)
        dev = pick_device(a.device)
        ck = load_checkpoint(a.ckpt, device=dev, weights=a.weights)
        start_from_recommended(a, ck)
        labels = parse_labels(a.labels, ck.class_names)
        clf = load_classifier(a.classifier, dev) if a.classifier else None
        churn, restart, eps_scaling = stochastic_options(a)
        res = generate(ck.model, ck.diffusion, sampler=a.sampler, steps=a.steps, eta=a.eta, variance=a.variance,
                       spacing=a.spacing, clip_denoised=a.clip, order=a.order, karras=a.karras, n=a.n,
                       labels=labels, guidance_scale=a.guidance, classifier=clf, classifier_scale=a.classifier_scale,
                       seed=a.seed, temperature=a.temperature, noise_temperature=a.noise_temperature,
                       trajectory_frames=a.frames if a.trajectory else 0, max_batch=a.max_batch, callback=progress,
                       amp=a.amp, churn=churn, restart=restart, eps_scaling=eps_scaling,
                       convention=None if a.convention == "model" else a.convention,
                       guidance_interval=a.guidance_interval)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(render(msg("recommended.error", error=getattr(e, "message", str(e)))), file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    out = Path(a.out)
    nrow = grid_columns(a.n, len(labels) if labels else None)    # near-square; a class keeps its columns
    save_image_grid(res.images, out, nrow=nrow, scale=4)
    np.savez_compressed(out.with_suffix(".npz"), images=res.images.numpy(),
                        labels=res.labels.numpy() if res.labels is not None else np.array([]),
                        x_T=res.x_T.numpy(), settings=json.dumps(res.settings))
    if a.trajectory and res.trajectory is not None:
        save_trajectory(res.trajectory, Path(a.trajectory), nrow=nrow)
    extra = out.with_suffix(".npz").name + (", " + a.trajectory if a.trajectory else "")
    print(render(msg("sample.wrote", n=a.n, calls=res.network_calls, precision=res.settings["precision"],
                     seconds=res.seconds, out=str(out), extra=extra)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
