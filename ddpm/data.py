"""Data sets for the trainer, as plain tensors: images (N, C, H, W) float32 in [-1, 1], labels (N,) long.

Sources: "digits" (scikit-learn's embedded 8x8 digits, no download), an image folder or .zip laid out as
<root>/<class_name>/<image>.png, and "mnist" / "fashion_mnist" / "cifar10" through torchvision when it
is importable (it is optional). Also the helpers that turn samples into a PNG grid for the CLI and app.
"""
from __future__ import annotations

import io
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .safezip import checked_members, read_member

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MAX_MEMBER_BYTES = 50 * 2**20        # a single zip member larger than this is refused
MAX_ZIP_MEMBERS = 200_000
MAX_TOTAL_PIXELS = 1_000_000_000     # decoded + resized pixels over a whole folder / zip
DEFAULT_HOLDOUT = 0.2               # share of every class held out of training: the metrics' unseen real images
DEFAULT_SPLIT_SEED = 0              # the seed that picks them (ImageDataset.split)
_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_LAYOUT = ("expected <root>/<class_name>/<image>.png (one subfolder per class holding PNG/JPEG files; "
           "a .zip may wrap them in one top-level folder)")


@dataclass(repr=False)
class ImageDataset:
    images: Tensor          # (N, C, H, W) float32 in [-1, 1]
    labels: Tensor          # (N,) long, index into class_names
    class_names: list[str]
    name: str               # e.g. "digits" or the folder / zip name

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, channels={self.channels}, "
                f"image_size={self.image_size}, classes={self.num_classes})")

    def split(self, holdout_fraction: float = DEFAULT_HOLDOUT, seed: int = DEFAULT_SPLIT_SEED) -> tuple["ImageDataset", "ImageDataset"]:
        """Deterministic stratified split -> (train, heldout): about holdout_fraction of every class is held
        out (at least one image of each class stays in train). Both keep the original order."""
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
        gen = torch.Generator().manual_seed(seed)
        held = []
        for c in range(self.num_classes):
            idx = torch.nonzero(self.labels == c).flatten()
            n_hold = min(int(round(len(idx) * holdout_fraction)), max(len(idx) - 1, 0))
            held.append(idx[torch.randperm(len(idx), generator=gen)[:n_hold]])
        mask = torch.zeros(len(self), dtype=torch.bool)
        mask[torch.cat(held)] = True
        if not mask.any():
            raise ValueError(f"holdout_fraction={holdout_fraction} holds out no images of {len(self)}; raise it")
        part = lambda m: ImageDataset(self.images[m], self.labels[m], list(self.class_names), self.name)
        return part(~mask), part(mask)

    def split_as_recorded(self, data_meta: Optional[Mapping] = None) -> tuple["ImageDataset", "ImageDataset"]:
        """(train, heldout) cut by the rule a checkpoint's data record names (see `recorded_holdout`)."""
        fraction, seed = recorded_holdout(data_meta)
        return self.split(fraction, seed=seed)


def recorded_holdout(data_meta: Optional[Mapping] = None) -> tuple[float, int]:
    """(fraction, seed) of the held-out split named by a checkpoint's data record, meta["data"] =
    {"holdout": fraction, "split_seed": seed, ...} as ddpm.train writes it. A record that names none (an older
    checkpoint) or holdout 0 (trained on every image) gets the default rule, DEFAULT_HOLDOUT of every class with
    DEFAULT_SPLIT_SEED, so that it can still be evaluated; whether the model saw those images is the caller's
    to say (diagnostics.checks.split_real_data does)."""
    meta = data_meta or {}
    try:
        fraction = float(meta.get("holdout") or DEFAULT_HOLDOUT)
        seed = int(meta.get("split_seed") or DEFAULT_SPLIT_SEED)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the checkpoint's data record has an unreadable hold-out ({meta.get('holdout')!r}, seed "
                         f"{meta.get('split_seed')!r}): expected a fraction in (0, 1) and an integer seed") from e
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the checkpoint's data record holds out {fraction!r} of every class; a hold-out must be "
                         "in (0, 1) (0 = none); retrain, or fix the file's data record")
    return fraction, seed


def _resize(x: Tensor, size: int) -> Tensor:
    """(N, C, h, w) in [-1, 1] -> (N, C, size, size): bilinear, antialiased when shrinking, clamped."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = size < max(x.shape[-2:])
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink).clamp_(-1.0, 1.0)


def _to_channels(x: Tensor, channels: int | None) -> Tensor:
    """(N, C, H, W) -> (N, channels, H, W): grey is replicated, RGB -> grey uses ITU-R 601 luma."""
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _load_digits(image_size: int, channels: int | None) -> ImageDataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    images = torch.from_numpy(d.images).float()[:, None] / 16.0 * 2.0 - 1.0   # (1797, 1, 8, 8)
    images = _to_channels(_resize(images, image_size), channels)
    return ImageDataset(images, torch.from_numpy(d.target).long(), [str(t) for t in d.target_names], "digits")


def _load_torchvision(name: str, root: str | None, image_size: int | None,
                      channels: int | None) -> ImageDataset:
    try:
        from torchvision import datasets
    except Exception as e:  # missing, or a build that does not match torch (RuntimeError / ImportError)
        raise RuntimeError(
            f"data set {name!r} needs torchvision, which is not importable here ({type(e).__name__}: {e}). "
            "On a machine with a CUDA build of torch, install the torchvision release that matches that torch "
            "from the same index, e.g. `pip install torchvision==<matching version> --index-url "
            "https://download.pytorch.org/whl/<cuda tag>` (see https://pytorch.org/get-started/locally/). "
            "Without torchvision, use the built-in 'digits' data set or an image folder / .zip "
            "(<root>/<class_name>/<image>.png).") from e
    ds = getattr(datasets, _TORCHVISION[name])(root=root or "data/", train=True, download=True)
    data = torch.as_tensor(np.asarray(ds.data))                     # (N, H, W) or (N, H, W, 3) uint8
    data = data[:, None] if data.ndim == 3 else data.permute(0, 3, 1, 2)
    images = data.float() / 127.5 - 1.0
    if image_size is not None:
        images = _resize(images, image_size)
    labels = torch.as_tensor(np.asarray(ds.targets)).long()
    return ImageDataset(_to_channels(images, channels).contiguous(), labels, list(ds.classes), name)


Member = tuple[tuple[str, ...], Callable[[], bytes]]   # (path parts relative to the root, read bytes)


def _folder_members(root: Path) -> list[Member]:
    return [(p.relative_to(root).parts, p.read_bytes) for p in sorted(root.rglob("*")) if p.is_file()]


def _zip_members(zf: zipfile.ZipFile, source: Path) -> list[Member]:
    """Members read in memory only, after safezip's checks (no traversal, no symlinks, none over the limit)."""
    checked = checked_members(zf, str(source), MAX_MEMBER_BYTES, MAX_ZIP_MEMBERS)
    return [(parts, lambda info=info: read_member(zf, info, MAX_MEMBER_BYTES, str(source))) for parts, info in checked]


def _load_tree(members: list[Member], source: Path, image_size: int | None,
               channels: int | None) -> ImageDataset:
    """Decode <class>/<image> members (class folders at the root, or inside one wrapping folder)."""
    from PIL import Image
    junk = lambda parts: any(p.startswith(".") or p == "__MACOSX" for p in parts)
    found = sorted(((p, r) for p, r in members if not junk(p) and p[-1].lower().endswith(IMAGE_EXTENSIONS)),
                   key=lambda m: m[0])
    if found and len({p[0] for p, _ in found}) == 1 and all(len(p) >= 3 for p, _ in found):
        found = [(p[1:], r) for p, r in found]                       # strip one wrapping folder
    found = [(p, r) for p, r in found if len(p) >= 2]                 # images at the root have no class
    if len(members) > len(found):
        warnings.warn(f"skipped {len(members) - len(found)} file(s) in {source} that are not PNG/JPEG "
                      f"images inside a class folder; {_LAYOUT}", stacklevel=3)
    if not found:
        raise ValueError(f"no images found in {source}: {_LAYOUT}")
    images, labels, bad, total, size = [], [], [], 0, image_size
    for parts, read in found:
        try:
            im = Image.open(io.BytesIO(read()))
        except Exception as e:
            bad.append(f"{'/'.join(parts)} ({e})")
            continue
        w, h = im.size
        if size is None:
            if w != h:
                raise ValueError(f"{'/'.join(parts)} is {w}x{h}, not square; pass image_size=N to resize to NxN")
            size = w
        elif image_size is None and (w, h) != (size, size):
            raise ValueError(f"images in {source} have mixed sizes ({size}x{size} and {w}x{h} at "
                             f"{'/'.join(parts)}); pass image_size=N to resize them all to NxN")
        total += w * h + size * size
        if total > MAX_TOTAL_PIXELS:
            raise ValueError(f"{source} decodes to more than {MAX_TOTAL_PIXELS:,} pixels; "
                             "downscale the images, use a subset or a smaller image_size")
        mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if im.mode in ("L", "1", "LA") else "RGB")
        try:
            arr = np.asarray(im.convert(mode), dtype=np.float32) / 127.5 - 1.0
        except Exception as e:
            bad.append(f"{'/'.join(parts)} ({e})")
            continue
        x = torch.from_numpy(arr).reshape(h, w, -1).permute(2, 0, 1)[None]
        images.append(_resize(x, size))
        labels.append(parts[0])
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s) in {source}: {', '.join(bad[:3])}"
                      + (" ..." if len(bad) > 3 else ""), stacklevel=3)
    if not images:
        raise ValueError(f"none of the images in {source} could be read; {_LAYOUT}")
    c = channels or max(x.shape[1] for x in images)
    class_names = sorted(set(labels))                                  # classes with readable images
    labels = torch.tensor([class_names.index(c_) for c_ in labels], dtype=torch.long)
    return ImageDataset(torch.cat([_to_channels(x, c) for x in images]), labels, class_names, source.stem)


def load_dataset(name: str = "digits", image_size: int | None = None, root: str | None = None,
                 channels: int | None = None) -> ImageDataset:
    """Load a data set as images (N, C, H, W) float32 in [-1, 1] and labels (N,) long.

    name: "digits" (1,797 images, default image_size 16; 8 is native), "mnist" / "fashion_mnist" /
    "cifar10" (torchvision train split, downloaded to root, default "data/"), or a path to a folder or
    .zip laid out as <root>/<class_name>/<image>.png (default image_size: the images' own square size).
    channels: 1 (grey) or 3 (RGB); default 1 for grey sources, else 3.
    """
    if image_size is not None and (type(image_size) is not int or image_size < 1):
        raise ValueError(f"image_size must be a positive integer or None, got {image_size!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grey), 3 (RGB) or None (automatic), got {channels!r}")
    key = str(name).strip().lower().replace("-", "_")
    if key == "digits":
        return _load_digits(image_size or 16, channels)
    if key in _TORCHVISION:
        return _load_torchvision(key, root, image_size, channels)
    path = Path(str(name)).expanduser()
    if path.is_dir():
        return _load_tree(_folder_members(path), path, image_size, channels)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is a file but not a .zip; pass a folder or .zip, {_LAYOUT}")
        with zipfile.ZipFile(path) as zf:
            return _load_tree(_zip_members(zf, path), path, image_size, channels)
    if any(s in str(name) for s in ("/", "\\", ".")) or str(name).startswith("~"):
        raise FileNotFoundError(f"data set path {str(name)!r} does not exist; pass an existing folder or .zip "
                                f"({_LAYOUT}) or one of {DATASETS}")
    raise ValueError(f"unknown data set {name!r}; choose from {DATASETS} or a folder or .zip path")


def to_uint8(images: Tensor) -> Tensor:
    """(N, C, H, W) (or (C, H, W)) float in [-1, 1] -> (N, H, W, C) uint8 in [0, 255], on the CPU."""
    x = images.detach().to("cpu", torch.float32)
    x = x[None] if x.ndim == 3 else x
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 1, pad_value: int = 128) -> np.ndarray:
    """(N, C, H, W) float in [-1, 1] -> (H', W', 3) uint8 grid, nrow images per row (default ceil(sqrt(N))).

    Grey images are replicated to 3 channels; the padding is mid-grey so black backgrounds stay apart.
    """
    x = to_uint8(images).numpy()
    n, h, w, c = x.shape
    if n == 0:
        raise ValueError("make_grid needs at least one image")
    if c == 1:
        x = np.repeat(x, 3, axis=3)
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, 3), pad_value, np.uint8)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[top:top + h, left:left + w] = x[i, :, :, :3]
    return grid


def save_image_grid(images: Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write make_grid(images, nrow) as a PNG, upscaled by the integer `scale` (nearest). Returns the path."""
    from PIL import Image
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, format="PNG")
    return path
