"""Bits per dimension of a model on real images, from the variational bound (ddpm.likelihood), on the training
split and on the held-out split, and the report section that shows both, their gap and the per-timestep terms.

    from diagnostics.likelihood import bits_per_dim, likelihood_on_splits
    res = bits_per_dim(ck.model, ck.diffusion, images, labels, stride=10)     # a VLBResult, bits/dim per image
    both = likelihood_on_splits(ck.model, ck.diffusion, train, heldout, n=256, stride=10)
    both.train.bpd, both.heldout.bpd, both.gap, both.gap_se

Or `python -m diagnostics likelihood CKPT [--stride S] [--n N]`; the report's section (a check with a verdict) is
diagnostics.checks.likelihood. A class-conditional model is scored on
−log p(x | y) with each image's own label (the unconditional null label where the data's classes do not match).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import Tensor

from ddpm import GaussianDiffusion
from ddpm.messages import MessageError, msg, render
from ddpm.likelihood import VARIANCES, VLBResult, interpolation_bound, vlb_terms

from .fid import class_matched_pairs

BATCH_SEED_STEP = 7919          # batch k of a split draws its noise from seed + k·7919 (no two batches share noise)


def _check_shape(model, images: Tensor) -> None:
    cfg = getattr(model, "config", None)
    channels, size = getattr(cfg, "in_channels", None), getattr(cfg, "image_size", None)
    if channels is None or size is None:
        return
    want = (channels, size, size)
    if images.ndim != 4 or tuple(images.shape[1:]) != want:
        got = ("×".join(str(s) for s in images.shape[1:]) if images.ndim == 4 else
               msg("likelihood.tensor_ndim", ndim=images.ndim))
        raise MessageError("likelihood.image_shape", got=got, c=want[0], size=want[1])


def conditions_on(model, labels: Optional[Tensor], n: int) -> bool:
    """Whether the model is scored as p(x | y): it is class-conditional and the n labels are its classes."""
    k = getattr(getattr(model, "config", None), "num_classes", 0)
    return bool(k and labels is not None and len(labels) == n and n and 0 <= int(labels.min())
                and int(labels.max()) < k)


def _labels_for(model, labels: Optional[Tensor], n: int) -> Optional[Tensor]:
    k = getattr(getattr(model, "config", None), "num_classes", 0)
    if not k:
        return None
    if not conditions_on(model, labels, n):
        return torch.full((n,), k, dtype=torch.long)        # the null label: the unconditional model
    return labels.long()


def _merge(parts: list[VLBResult]) -> VLBResult:
    first = parts[0]
    total = torch.cat([p.total for p in parts])
    terms = torch.cat([p.terms for p in parts])
    return VLBResult(total, torch.cat([p.prior for p in parts]), torch.cat([p.decoder for p in parts]),
                     first.timesteps, terms, first.weights, interpolation_bound(first.timesteps, terms.mean(0)),
                     first.stride, first.clip_denoised, first.variance, first.notes)


@torch.no_grad()
def bits_per_dim(model, diffusion: GaussianDiffusion, images: Tensor, labels: Optional[Tensor] = None, *,
                 stride: int = 1, seed: int = 0, batch: int = 256, variance: Optional[str] = None,
                 clip_denoised: bool = True, callback: Optional[Callable[[int, int], None]] = None) -> VLBResult:
    """The bound in bits/dim for every image (quantised to 8 bits first): images (N, C, H, W) in [−1, 1] of the
    model's size and channel count (else ValueError); labels (N,) for a conditional model (else the null label).
    stride: every stride-th KL timestep (1 to T−1). callback(done, total) counts network passes.
    variance: the reverse variance (None: the model's own, learned_range for a model trained with --learn-sigma)."""
    _check_shape(model, images)
    if len(images) < 1:
        raise MessageError("likelihood.no_images")
    device = next(model.parameters()).device
    y_all = _labels_for(model, labels, len(images))
    was_training = model.training
    model.eval()
    parts, batches = [], math.ceil(len(images) / batch)
    try:
        for k in range(batches):
            x = images[k * batch:(k + 1) * batch].to(device)
            y = None if y_all is None else y_all[k * batch:(k + 1) * batch].to(device)
            fn = (lambda x_t, t, y=y: model(x_t, t, y).float())
            step_cb = None
            if callback is not None:
                step_cb = (lambda done, total, k=k: callback(k * total + done, batches * total))
            parts.append(vlb_terms(fn, diffusion, x.float(), stride=stride, seed=seed + BATCH_SEED_STEP * k,
                                   variance=variance, clip_denoised=clip_denoised, callback=step_cb))
    finally:
        model.train(was_training)
    return parts[0] if len(parts) == 1 else _merge(parts)


@dataclass
class SplitBits:
    """The bound on one split of the data, averaged over its images (bits/dim)."""
    split: str                     # "training" | "held-out"
    n: int
    bpd: float                     # mean bound: prior + Σ KL + decoder
    standard_error: float          # of the mean, over the images
    prior: float                   # mean L_T
    kl: float                      # mean Σ_{t≥1} L_{t−1} (interpolated with a stride)
    decoder: float                 # mean L_0
    timesteps: list[int]           # evaluated t (0 = the decoder)
    terms: list[float]             # mean term at each evaluated t
    interpolation_bound: float     # stated bound on the error from the stride

    @classmethod
    def from_result(cls, split: str, r: VLBResult) -> "SplitBits":
        mean_terms = r.terms.mean(0)
        kl = float(mean_terms[1:] @ torch.tensor(r.weights[1:], dtype=torch.float64))
        return cls(split, int(r.total.numel()), r.mean, r.standard_error, float(r.prior.mean()), kl,
                   float(r.decoder.mean()), list(r.timesteps), mean_terms.tolist(), r.interpolation_bound)


@dataclass
class LikelihoodResult:
    train: SplitBits
    heldout: Optional[SplitBits]
    gap: Optional[float]           # held-out − training bits/dim
    gap_se: Optional[float]        # standard error of the gap; paired: image i of both splits gets the same noise
    stride: int
    seed: int
    variance: str
    clip_denoised: bool
    conditional: bool              # scored as −log p(x | y) with the images' labels
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def likelihood_on_splits(model, diffusion: GaussianDiffusion, train, heldout=None, *, n: int = 256, stride: int = 10,
                         seed: int = 0, variance: Optional[str] = None, clip_denoised: bool = True,
                         callback: Optional[Callable[[int, int], None]] = None) -> LikelihoodResult:
    """Bits/dim on n training images and n held-out images (ImageDataset or (images, labels)), drawn as pairs of
    the same class (diagnostics.fid.class_matched_pairs, seeded by `seed`); the i-th image of each split gets the
    same timesteps and noise, so the gap is a paired difference over the same class mix."""
    start = time.perf_counter()
    as_pair = lambda d: (d.images, d.labels) if hasattr(d, "images") else (d[0], d[1])
    x_tr, y_tr = as_pair(train)
    n = int(n)
    if n < 2:
        raise MessageError("likelihood.n_small", n=n)
    if heldout is not None:       # pairs of the same class: the gap compares like with like
        x_he, y_he = as_pair(heldout)
        np_labels = lambda y: None if y is None else y.numpy()
        i_tr, i_he = (torch.from_numpy(i) for i in class_matched_pairs(
            np_labels(y_tr), np_labels(y_he), n, seed, len(x_tr), len(x_he)))
        x_tr, y_tr = x_tr[i_tr], None if y_tr is None else y_tr[i_tr]
        x_he, y_he = x_he[i_he], None if y_he is None else y_he[i_he]
    n = min(n, len(x_tr))
    sub = lambda x, y: (x[:n], None if y is None else y[:n])
    cb = (lambda split_i: None if callback is None else
          (lambda done, total: callback(split_i * total + done, (2 if heldout is not None else 1) * total)))
    r_tr = bits_per_dim(model, diffusion, *sub(x_tr, y_tr), stride=stride, seed=seed, variance=variance,
                        clip_denoised=clip_denoised, callback=cb(0))
    conditional = conditions_on(model, None if y_tr is None else y_tr[:n], n)
    notes = list(r_tr.notes)
    held = gap = gap_se = None
    if heldout is not None:
        r_he = bits_per_dim(model, diffusion, *sub(x_he, y_he), stride=stride, seed=seed, variance=variance,
                            clip_denoised=clip_denoised, callback=cb(1))
        held = SplitBits.from_result("held-out", r_he)
        d = (r_he.total - r_tr.total).double()
        gap, gap_se = float(d.mean()), float(d.std() / math.sqrt(len(d)))
    return LikelihoodResult(SplitBits.from_result("training", r_tr), held, gap, gap_se, stride, seed, r_tr.variance,
                            clip_denoised, conditional, time.perf_counter() - start, notes)


# ------------------------------------------------------------------------------------------------------ CLI
def add_cli(sub) -> None:
    """The `likelihood` subcommand of `python -m diagnostics`."""
    p = sub.add_parser("likelihood", help="bits/dim from the variational bound on the training and held-out splits")
    p.add_argument("checkpoint", help="a .safetensors checkpoint written by python -m ddpm.train")
    p.add_argument("--n", type=int, default=256, help="images per split (default 256)")
    p.add_argument("--stride", type=int, default=32,
                   help="evaluate every t up to STRIDE, then every STRIDE-th t (1 = all T; default 32, ≈ 64 passes "
                        "per image at T=1000); the error bound from the stride is printed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variance", choices=VARIANCES, default=None,
                   help="the reverse variance σ_t² of p(x_{t−1}|x_t): β̃_t, β_t or the network's learned one "
                        "(default: the model's own, learned_range for a model trained with --learn-sigma, else "
                        "fixed_small)")
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | mps | auto")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the printed text: en or zh (中文)")


def cli(args, progress: Optional[Callable[[int, int], None]] = None) -> str:
    """Run the `likelihood` subcommand; returns the text to print (ValueError/CheckpointError for bad input)."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from ddpm import load_checkpoint, pick_device
    from ddpm.checkpoint import atomic_write
    from ddpm.data import load_dataset, recorded_holdout

    ck = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    data = dict(ck.meta.get("data") or {})
    source = data.get("source") or data.get("name")
    if not source:
        raise MessageError("likelihood.no_data_record", name=Path(args.checkpoint).name)
    real = load_dataset(str(source), image_size=data.get("image_size") or ck.unet_config.image_size,
                        channels=data.get("channels") or ck.unet_config.in_channels)
    fraction, split_seed = recorded_holdout(data)
    train, held = real.split(fraction, seed=split_seed)
    seen = not data.get("holdout")
    r = likelihood_on_splits(ck.model, ck.diffusion, train, None if seen else held, n=args.n, stride=args.stride,
                             seed=args.seed, variance=args.variance, callback=progress)
    lang = getattr(args, "lang", "en")
    lines = [render(msg("likelihood.cli_title", name=Path(args.checkpoint).name, given=" | y" if r.conditional else "",
                        variance=r.variance), lang), ""]
    head = ("", render(msg("likelihood.cli_training"), lang))
    rows = [head + (() if r.heldout is None else (render(msg("likelihood.cli_heldout"), lang),))]
    for key, attr in (("likelihood.cli_prior", "prior"), ("likelihood.cli_kl", "kl"),
                      ("likelihood.cli_decoder", "decoder"), ("likelihood.cli_total", "bpd"),
                      ("likelihood.cli_se", "standard_error")):
        rows.append((render(msg(key), lang), f"{getattr(r.train, attr):.4f}") + (() if r.heldout is None else
                                                                            (f"{getattr(r.heldout, attr):.4f}",)))
    lines += ["  ".join(f"{c:>18}" for c in row) for row in rows]
    lines.append("")
    if r.heldout is not None:
        lines.append(render(msg("likelihood.cli_gap", gap=r.gap, se=r.gap_se, n=r.train.n), lang))
    else:
        lines.append(render(msg("likelihood.cli_no_heldout"), lang))
    lines.append(render(msg("likelihood.cli_stride", stride=r.stride, evaluated=len(r.train.timesteps),
                            T=ck.diffusion.T, bound=r.train.interpolation_bound), lang))
    if args.json:
        payload = {"checkpoint": str(args.checkpoint), "train": asdict(r.train),
                   "heldout": None if r.heldout is None else asdict(r.heldout), "gap": r.gap, "gap_se": r.gap_se,
                   "stride": r.stride, "seed": r.seed, "variance": r.variance, "conditional": r.conditional,
                   "seconds": r.seconds}
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1), encoding="utf-8"))
        lines.append(f"JSON: {args.json}")
    return "\n".join(lines)
