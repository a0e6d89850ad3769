"""The offline feature network for sample-quality metrics (FID, Inception Score, precision/recall).

Published FIDs use Inception-v3 pool features (2048-d) of images resized to 299x299. That network needs
torchvision and a weights download, and on 16x16 grey digits it measures mostly resizing artefacts. The
workbench therefore ships a small CNN trained on the data set itself, offline, in under two minutes on
two CPU cores, and every number computed with it says so (`FeatureExtractor.describe()`): its name, the
SHA-256 prefix of its weights file and its test accuracy. Numbers from different feature networks are
not comparable, nor are numbers at different n (see diagnostics/metrics.py).

Architecture (`FeatureNet`, width w, D = num_features, K = num_classes), input x (N, C, S, S) in [-1, 1]:

    [conv3x3 - GroupNorm - ReLU] x2 (w)      (N, w, S, S)
    avg-pool 2                               (N, w, S/2, S/2)
    [conv3x3 - GroupNorm - ReLU] x2 (2w)     (N, 2w, S/2, S/2)
    avg-pool 2                               (N, 2w, S/4, S/4)
    conv3x3 - GroupNorm - ReLU (4w)          (N, 4w, S/4, S/4)
    global average pool                      (N, 4w)
    linear 4w -> D              = features   (N, D)      <- pre-activation: the FID embedding
    ReLU, linear D -> K         = logits     (N, K)      <- softmax: p(y|x) for IS and conditional accuracy

Features are taken *before* the ReLU: FID models them as a Gaussian, and post-ReLU features pile up at
exactly 0 (half-rectified, and a dead unit is a zero-variance dimension that makes the covariance
singular). GroupNorm instead of BatchNorm makes an image's features independent of the other images in
its batch, even if someone forgets eval mode; `FeatureExtractor` still forces `.eval()` and
`torch.no_grad()` on every call (the "FID computed with Inception in train mode" bug, lucidrains #234).

Files are safetensors (no pickle) with a JSON header: format, config, data set, image size, class names,
test accuracy, split and the command that trained it. Train the shipped one with

    python -m diagnostics.features --data digits --image-size 16 --steps 400 --seed 0 \\
        --out checkpoints/features_digits.safetensors
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ddpm.data import DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED
from ddpm.messages import MessageError, msg, render
from ddpm.paths import bundled_file

FORMAT = "ddpm-workbench-features"
FORMAT_VERSION = 1
HEADER_KEY = "ddpm_features"
DEFAULT_FEATURE_NET = bundled_file("features_digits.safetensors")
SHIPPED_FEATURE_NETS = {"digits": "features_digits.safetensors", "mnist": "features_mnist.safetensors",
                        "emoji": "features_emoji.safetensors"}
MAX_FILE_BYTES = 64 * 2**20          # a feature network is small; refuse anything bigger before reading it
TRAIN_COMMAND = ("python -m diagnostics.features --data digits --image-size 16 --steps 400 --seed 0 "
                 "--out checkpoints/features_digits.safetensors")

__all__ = [
    "FORMAT", "DEFAULT_FEATURE_NET", "SHIPPED_FEATURE_NETS", "default_feature_net", "FeatureNetError", "FeatureNetConfig", "FeatureNet", "FeatureExtractor",
    "train_feature_net", "save_feature_net", "load_feature_net",
    "file_sha256",
]


class FeatureNetError(MessageError):
    """A file that cannot be used as a feature network; the message (a key and values) says why and what to do."""


class FeatureNetMissing(MessageError, FileNotFoundError):
    """A feature network path that is not there."""


def default_feature_net(data_name: Optional[str] = None) -> Path:
    """The shipped feature network for a checkpoint's data set (meta["data"]["name"]): the one trained on that data
    set when it ships (digits, mnist), else the digits one (the quality check then says what does not fit)."""
    name = SHIPPED_FEATURE_NETS.get(str(data_name or "digits").lower())
    return bundled_file(name) if name and bundled_file(name).is_file() else DEFAULT_FEATURE_NET


# ----------------------------------------------------------------------------------------------- network
@dataclass(frozen=True)
class FeatureNetConfig:
    image_size: int = 16
    in_channels: int = 1
    num_classes: int = 10
    width: int = 16
    num_features: int = 64

    def __post_init__(self) -> None:
        for name in ("image_size", "in_channels", "num_classes", "width", "num_features"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise MessageError("features.config_positive", name=name, value=v)
        if self.image_size < 4:
            raise MessageError("features.config_size", size=self.image_size)
        if self.num_classes < 2:
            raise MessageError("features.config_classes", k=self.num_classes)


def _groups(channels: int) -> int:
    """Largest group count <= 8 that divides channels."""
    return max(g for g in range(1, 9) if channels % g == 0)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                         nn.GroupNorm(_groups(cout), cout), nn.ReLU(inplace=True))


class FeatureNet(nn.Module):
    """Small CNN classifier for clean images in [-1, 1]; features() is the D-dim pre-ReLU penultimate layer."""

    def __init__(self, config: FeatureNetConfig):
        super().__init__()
        self.config = config
        w, c = config.width, config.in_channels
        self.body = nn.Sequential(
            _block(c, w), _block(w, w), nn.AvgPool2d(2),
            _block(w, 2 * w), _block(2 * w, 2 * w), nn.AvgPool2d(2),
            _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.embed = nn.Linear(4 * w, config.num_features)
        self.classifier = nn.Linear(config.num_features, config.num_classes)

    @property
    def num_features(self) -> int:     # torchmetrics' FID reads this attribute from custom feature modules
        return self.config.num_features

    def features(self, x: Tensor) -> Tensor:
        """(N, C, S, S) in [-1, 1] -> (N, D) pre-activation features."""
        return self.embed(self.body(x))

    def logits_from_features(self, f: Tensor) -> Tensor:
        """(N, D) -> (N, K)."""
        return self.classifier(F.relu(f))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, S, S) in [-1, 1] -> logits (N, K)."""
        return self.logits_from_features(self.features(x))


# ----------------------------------------------------------------------------------------------- training
def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Shift every image by its own integer (dy, dx) in [-max_shift, max_shift]^2, replicating the border.

    x: (N, C, H, W) -> (N, C, H, W).
    """
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (max_shift,) * 4, mode="replicate")                       # (N, C, H+2m, W+2m)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (torch.arange(h)[None] + dy[:, None])[:, :, None]                # (N, H, 1)
    cols = (torch.arange(w)[None] + dx[:, None])[:, None, :]                # (N, 1, W)
    out = xp.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def evaluate_accuracy(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of net (put in eval mode) on images (N, C, H, W) with labels (N,)."""
    net.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        correct += int((net(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
    return correct / max(len(images), 1)


def train_feature_net(train, test, steps: int = 400, seed: int = 0, *, width: int = 16, num_features: int = 64,
                      batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4, max_shift: int = 1,
                      log_every: int = 0, log=print) -> tuple[FeatureNet, float]:
    """Train a FeatureNet on `train` (an ImageDataset) and return (net in eval mode, accuracy on `test`).

    AdamW with a one-cycle learning rate (warm-up then cosine decay to ~0), cross-entropy, and light
    augmentation: every training image is shifted by a random integer offset in [-max_shift, max_shift]
    pixels (border replicated), so the features do not hinge on exact pixel alignment of generated images.
    Deterministic for a given seed on a given machine; the global torch RNG is left untouched.
    """
    if steps < 1:
        raise MessageError("features.steps", steps=steps)
    if train.num_classes < 2:
        raise MessageError("features.too_few_classes", name=train.name, k=train.num_classes)
    config = FeatureNetConfig(image_size=train.image_size, in_channels=train.channels,
                              num_classes=train.num_classes, width=width, num_features=num_features)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(config)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    images, labels = train.images.float(), train.labels.long()
    n = len(images)
    perm, pos = torch.randperm(n, generator=gen), 0
    net.train()
    for step in range(1, steps + 1):
        if pos + batch_size > n:                        # reshuffle once per epoch
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        x = random_shift(images[idx], max_shift, gen)   # (B, C, S, S)
        loss = F.cross_entropy(net(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == steps):
            log(f"step {step}/{steps}  loss {loss.item():.4f}")
    acc = evaluate_accuracy(net, test.images.float(), test.labels.long())
    net.eval()
    return net, acc


# ----------------------------------------------------------------------------------------------- files
def file_sha256(path: str | os.PathLike) -> str:
    """Full hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_feature_net(net: FeatureNet, path: str | os.PathLike, meta: dict[str, Any]) -> str:
    """Write net's weights and a JSON header atomically to path (safetensors); return the SHA-256 prefix.

    meta should hold: dataset, class_names, test_accuracy, split {holdout_fraction, seed}, command; the
    format, version, config and image size are added here.
    """
    from safetensors.torch import save_file
    from ddpm.checkpoint import atomic_write

    cfg = net.config
    class_names = [str(c) for c in meta.get("class_names", [str(i) for i in range(cfg.num_classes)])]
    if len(class_names) != cfg.num_classes:
        raise MessageError("features.meta_names", n=len(class_names), k=cfg.num_classes)
    header = dict(meta)
    header.update(format=FORMAT, version=FORMAT_VERSION, config=asdict(cfg), image_size=cfg.image_size,
                  class_names=class_names)
    tensors = {k: v.detach().cpu().contiguous().float() for k, v in net.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={HEADER_KEY: json.dumps(header)}))
    os.chmod(path, 0o644)                     # the temporary file behind atomic_write is private (0600)
    return file_sha256(path)[:12]


def _read_header(path: Path) -> dict:
    from safetensors import safe_open

    if not path.exists():
        hint = (msg("features.hint_train", command=TRAIN_COMMAND) if path.resolve() == DEFAULT_FEATURE_NET
                else msg("features.hint_path"))
        raise FeatureNetMissing("features.not_found", path=str(path), hint=hint)
    if path.is_dir():
        raise FeatureNetError("features.folder", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise FeatureNetError("features.empty", name=path.name, command=TRAIN_COMMAND)
    if size > MAX_FILE_BYTES:
        raise FeatureNetError("features.too_big", name=path.name, mb=size / 2**20, limit_mb=MAX_FILE_BYTES / 2**20)
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise FeatureNetError("features.pickle", name=path.name, command=TRAIN_COMMAND)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(HEADER_KEY)
    except Exception as e:  # safetensors raises its own error types for bad or truncated headers
        raise FeatureNetError("features.not_safetensors", name=path.name, error=str(e), command=TRAIN_COMMAND) from None
    if raw is None:
        raise FeatureNetError("features.not_ours", name=path.name, header=HEADER_KEY)
    try:
        header = json.loads(raw)
    except json.JSONDecodeError:
        raise FeatureNetError("features.header_json", name=path.name, header=HEADER_KEY) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else None
        raise FeatureNetError("features.format", name=path.name, got=got, expected=FORMAT)
    if int(header.get("version", 0)) > FORMAT_VERSION:
        raise FeatureNetError("features.newer", name=path.name, version=header["version"], reads=FORMAT_VERSION)
    return header


def load_feature_net(path: str | os.PathLike = DEFAULT_FEATURE_NET, device: str | torch.device = "cpu",
                     batch_size: int = 256) -> "FeatureExtractor":
    """Load and validate a feature network file -> FeatureExtractor (eval mode, gradients off).

    Never unpickles: the file is safetensors. Refused with FeatureNetError (a ValueError) when it is not
    ours, truncated, damaged, or its weights do not match its config or are not finite.
    """
    from safetensors import safe_open

    path = Path(path)
    header = _read_header(path)
    try:
        config = FeatureNetConfig(**header["config"])
        class_names = [str(c) for c in header["class_names"]]
    except (KeyError, TypeError, ValueError) as e:
        raise FeatureNetError("features.config_invalid", name=path.name, error=str(e)) from None
    if len(class_names) != config.num_classes:
        raise FeatureNetError("features.class_names", name=path.name, n=len(class_names), k=config.num_classes)
    net = FeatureNet(config)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise FeatureNetError("features.weights_unreadable", name=path.name, error=str(e),
                              command=TRAIN_COMMAND) from None
    expected = net.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise FeatureNetError("features.weights_mismatch", name=path.name, missing=missing[:3],
                              unexpected=unexpected[:3])
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise FeatureNetError("features.tensor_shape", name=path.name, tensor=k, shape=tuple(v.shape),
                                  expected=tuple(expected[k].shape))
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FeatureNetError("features.tensor_nan", name=path.name, tensor=k)
    net.load_state_dict(tensors, strict=True)
    net.to(device).eval().requires_grad_(False)
    split = header.get("split") or {}
    return FeatureExtractor(
        net=net, name=str(header.get("name") or f"{header.get('dataset', 'custom')}-cnn-{config.num_features}")[:80],
        sha256=file_sha256(path)[:12], test_accuracy=float(header.get("test_accuracy", float("nan"))),
        dataset=str(header.get("dataset", "unknown")), image_size=config.image_size,
        in_channels=config.in_channels, num_classes=config.num_classes, class_names=class_names,
        holdout_fraction=float(split.get("holdout_fraction", float("nan"))), split_seed=split.get("seed"),
        path=str(path), meta=header, batch_size=batch_size, device=str(device))


# ----------------------------------------------------------------------------------------------- extractors
def _as_batch(images, in_channels: int, image_size: int, who: str) -> tuple[Tensor, Optional[str]]:
    """Images as float32 (N, C, S, S) in [-1, 1] for a network that takes in_channels x image_size^2.

    Accepts a torch tensor or numpy array, (N, C, H, W) or (N, H, W) (grey); uint8 is mapped from
    [0, 255]. Other sizes are resized bilinearly (antialiased when shrinking) and a note is returned.
    """
    x = torch.as_tensor(images) if not isinstance(images, Tensor) else images
    x = x.detach().cpu()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise MessageError("features.images_ndim", who=who, shape=tuple(x.shape))
    if x.dtype == torch.uint8:
        x = x.float() / 127.5 - 1.0
    x = x.float()
    if len(x) and not torch.isfinite(x).all():
        raise MessageError("features.images_nan", who=who)
    if len(x) and (x.min() >= 0.0 and x.max() > 2.0):
        raise MessageError("features.images_255", who=who, max=x.max().item())
    if x.shape[1] != in_channels:
        raise MessageError("features.images_channels", who=who, want=in_channels, got=x.shape[1])
    note = None
    if tuple(x.shape[-2:]) != (image_size, image_size):
        note = (f"images of {x.shape[-2]}x{x.shape[-1]} were resized (bilinear) to the feature network's "
                f"{image_size}x{image_size}")
        shrink = image_size < max(x.shape[-2:])
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=shrink)
    return x, note


class Embedder:
    """features() and probs() of a feature extractor whose embed(images) returns both at once."""

    def features(self, images) -> np.ndarray:
        """images (N, C, H, W) in [-1, 1] -> (N, D) float64 features (FeatureNet: pre-ReLU penultimate layer)."""
        return self.embed(images)[0]

    def probs(self, images) -> np.ndarray:
        """images (N, C, H, W) in [-1, 1] -> (N, K) float64 class probabilities p(y|x)."""
        return self.embed(images)[1]


@dataclass
class FeatureExtractor(Embedder):
    """A frozen FeatureNet with its provenance; features() and probs() take images in [-1, 1].

    The net is always evaluated in eval mode under torch.no_grad(): every call re-applies .eval(), so a
    caller that put it in train mode cannot change the numbers.
    """
    net: FeatureNet
    name: str                         # e.g. "digits-cnn-64"
    sha256: str                       # first 12 hex digits of the weights file's SHA-256
    test_accuracy: float              # on the held-out split recorded in the file
    dataset: str
    image_size: int
    in_channels: int
    num_classes: int
    class_names: list[str]
    holdout_fraction: float = DEFAULT_HOLDOUT
    split_seed: Optional[int] = DEFAULT_SPLIT_SEED
    path: Optional[str] = None
    meta: dict = field(default_factory=dict, repr=False)
    batch_size: int = 256
    device: str = "cpu"
    last_note: Optional[str] = None   # e.g. that the last images were resized; shown in QualityMetrics.notes

    def __post_init__(self) -> None:
        self.net.eval().requires_grad_(False)

    @property
    def num_features(self) -> int:
        return self.net.config.num_features

    def describe(self, lang: str = "en") -> str:
        """e.g. 'digits-cnn-64 (sha256 1a2b3c4d5e6f…, test accuracy 98.9% on the held-out 20% of digits)', in the
        reader's language (the message metrics.network_message builds for any extractor)."""
        if math.isfinite(self.holdout_fraction):
            m = msg("quality.network", name=self.name, sha=self.sha256, acc=self.test_accuracy,
                    frac=self.holdout_fraction, data=str(self.dataset))
        else:
            m = msg("quality.network_heldout", name=self.name, sha=self.sha256, acc=self.test_accuracy,
                    data=str(self.dataset))
        return render(m, lang)

    def embed(self, images) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W) in [-1, 1] -> (features (N, D), probs (N, K)), both float64, in one pass."""
        x, self.last_note = _as_batch(images, self.in_channels, self.image_size, self.name)
        self.net.eval()                                   # guard: never in train mode (lucidrains #234)
        feats, probs = [], []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                f = self.net.features(x[i:i + self.batch_size].to(self.device))    # (B, D)
                feats.append(f.double().cpu())
                probs.append(self.net.logits_from_features(f).double().softmax(1).cpu())  # (B, K)
        if not feats:
            return np.zeros((0, self.num_features)), np.zeros((0, self.num_classes))
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()


# ----------------------------------------------------------------------------------------------- CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    from ddpm.data import load_dataset

    p = argparse.ArgumentParser(
        prog="python -m diagnostics.features",
        description="Train the offline feature network used for FID / IS / precision-recall and write it as "
                    "safetensors. Trains on the train part of a deterministic stratified split and reports the "
                    "accuracy on the held-out part.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="digits", help="'digits', 'mnist', ... or an image folder / .zip")
    p.add_argument("--image-size", type=int, default=16, help="images are resized to this square size")
    p.add_argument("--channels", type=int, choices=(1, 3), default=None, help="1 grey, 3 RGB (default: automatic)")
    p.add_argument("--steps", type=int, default=400, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, batches and augmentation")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (one-cycle schedule)")
    p.add_argument("--width", type=int, default=16, help="channels of the first conv block (then 2x, 4x)")
    p.add_argument("--num-features", type=int, default=64, help="dimension D of the feature layer")
    p.add_argument("--max-shift", type=int, default=1, help="random shift augmentation, in pixels")
    p.add_argument("--holdout-fraction", type=float, default=DEFAULT_HOLDOUT, help="held-out part of the split")
    p.add_argument("--split-seed", type=int, default=DEFAULT_SPLIT_SEED, help="seed of the stratified split")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default="checkpoints/features_digits.safetensors", help="output .safetensors file")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the printed text: en or zh (中文)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    try:
        data = load_dataset(a.data, image_size=a.image_size, channels=a.channels)
        train, held = data.split(holdout_fraction=a.holdout_fraction, seed=a.split_seed)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(render(msg("cli.error", error=getattr(e, "message", str(e))), a.lang), file=sys.stderr)
        return 2
    print(render(msg("features.cli_data", name=data.name, train=len(train), held=len(held), c=data.channels,
                     size=data.image_size, k=data.num_classes, threads=torch.get_num_threads()), a.lang))
    t0, c0 = time.perf_counter(), time.process_time()       # wall and CPU time (the CPU may be shared)
    net, acc = train_feature_net(train, held, steps=a.steps, seed=a.seed, width=a.width,
                                 num_features=a.num_features, batch_size=a.batch_size, lr=a.lr,
                                 max_shift=a.max_shift, log_every=max(a.steps // 10, 1))
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    command = "python -m diagnostics.features " + " ".join(shlex.quote(s) for s in
                                                            (argv if argv is not None else sys.argv[1:]))
    meta = dict(dataset=data.name, class_names=list(data.class_names), test_accuracy=acc,
                n_train=len(train), n_test=len(held),
                split=dict(holdout_fraction=a.holdout_fraction, seed=a.split_seed),
                train=dict(steps=a.steps, seed=a.seed, batch_size=a.batch_size, lr=a.lr, max_shift=a.max_shift,
                           seconds=round(seconds, 1), cpu_seconds=round(cpu_seconds, 1),
                           threads=torch.get_num_threads(), torch=torch.__version__),
                command=command)
    sha = save_feature_net(net, a.out, meta)
    size = os.path.getsize(a.out)
    print(render(msg("features.cli_accuracy", acc=acc, held=len(held), seconds=seconds, cpu=cpu_seconds), a.lang))
    print(render(msg("features.cli_wrote", out=a.out, kib=size / 1024, sha=sha), a.lang))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
