"""The data set type and the image helpers every source shares: ImageDataset (images (N, C, H, W) float32 in
[-1, 1], labels, class names, the hold-out split), the pixel caps checked from image headers before any decode,
and decoding, resizing and channel conversion. ddpm/data.py (the loader) and ddpm/sources/* (one module per kind
of source) both import from here; nothing here imports them.
"""
from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .messages import Message, MessageError, msg

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")      # what PIL may open (by content, whatever the extension); others are skipped
IMAGE_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "I", "I;16", "I;16B", "I;16L", "F", "CMYK",
               "YCbCr")              # modes converted to grey / RGB (at most 4 bytes a pixel); others are skipped
# Costs bounded before any image is decoded, from what each header declares:
MAX_IMAGE_PIXELS = 4096 * 4096       # one image, width × height (16,777,216); resize to at most 4096×4096
MAX_TOTAL_PIXELS = 250_000_000       # a whole data set: every image decoded + resized to the image size
DEFAULT_HOLDOUT = 0.2               # share of every class held out of training: the metrics' unseen real images
DEFAULT_SPLIT_SEED = 0              # the seed that picks them (ImageDataset.split)


@dataclass(repr=False)
class ImageDataset:
    images: Tensor          # (N, C, H, W) float32 in [-1, 1]
    labels: Tensor          # (N,) long, index into class_names
    class_names: list[str]  # [] for an unconditional data set (a flat folder, a dataset without labels)
    name: str               # e.g. "digits" or the folder / zip name
    notes: list[Message] = field(default_factory=list)   # what the loader did that the user should see (skips,
    #                                                      resizes), rendered in the reader's language
    skipped: int = 0        # unreadable images left out

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-2])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def conditional(self) -> bool:
        """Whether the data carry classes a model can be conditioned on (two or more)."""
        return self.num_classes >= 2

    def describe(self) -> Message:
        """One line for the user, e.g. 'mnist: 5,000 grey 28×28 images in 10 classes' (str() of it; render(m, "zh")
        for 中文)."""
        kind = {1: msg("data.kind_grey"), 3: msg("data.kind_rgb")}.get(self.channels) or \
            msg("data.kind_channels", c=self.channels)
        what = (msg("data.in_classes", k=self.num_classes) if self.conditional else
                msg("data.in_one_folder", folder=self.class_names[0]) if self.num_classes == 1 else
                msg("data.no_classes"))
        return msg("data.describe", name=self.name, n=len(self), kind=kind, size=self.image_size, what=what)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, channels={self.channels}, "
                f"image_size={self.image_size}, classes={self.num_classes})")

    def split(self, holdout_fraction: float = DEFAULT_HOLDOUT, seed: int = DEFAULT_SPLIT_SEED) -> tuple["ImageDataset", "ImageDataset"]:
        """Deterministic stratified split -> (train, heldout): about holdout_fraction of every class is held
        out (at least one image of each class stays in train). Both keep the original order."""
        if not 0.0 < holdout_fraction < 1.0:
            raise MessageError("data.holdout_range", value=holdout_fraction)
        gen = torch.Generator().manual_seed(seed)
        held = []
        for c in range(max(self.num_classes, 1)):    # without classes every image is in one group
            idx = torch.nonzero(self.labels == c).flatten() if self.num_classes else torch.arange(len(self))
            n_hold = min(int(round(len(idx) * holdout_fraction)), max(len(idx) - 1, 0))
            held.append(idx[torch.randperm(len(idx), generator=gen)[:n_hold]])
        mask = torch.zeros(len(self), dtype=torch.bool)
        mask[torch.cat(held)] = True
        if not mask.any():
            raise MessageError("data.holdout_none", fraction=holdout_fraction, n=len(self))
        part = lambda m: ImageDataset(self.images[m], self.labels[m], list(self.class_names), self.name,
                                      list(self.notes), self.skipped)
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
        raise MessageError("data.record_unreadable", holdout=meta.get("holdout"), seed=meta.get("split_seed")) from e
    if not 0.0 < fraction < 1.0:
        raise MessageError("data.record_range", fraction=fraction)
    return fraction, seed


class ImageTooLarge(MessageError):
    """An image or a data set over the pixel caps; the message names it, the cap and what to do."""


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    mode: str               # PIL's mode, e.g. "L", "RGB", "P"


def open_image(fp: BinaryIO, name: str, source: str, formats: Optional[Sequence[str]] = IMAGE_FORMATS):
    """The image in fp, opened lazily (PIL has read its header only; no pixel is decoded yet), or ImageTooLarge
    if the header declares more than MAX_IMAGE_PIXELS. Anything else wrong (not one of `formats`, None: any PIL
    reads; a truncated header; a mode not in IMAGE_MODES) raises PIL's own error (OSError, SyntaxError ...), for
    the caller to skip and count the file. The caller closes the image."""
    from PIL import Image, UnidentifiedImageError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)     # our cap, below PIL's, decides
        try:
            im = Image.open(fp, formats=formats)
        except Image.DecompressionBombError as e:      # over twice PIL's cap: it says how many pixels, not the size
            found = re.search(r"\d+", str(e))
            raise _image_too_large(name, source, int(found.group()) if found else 2 * Image.MAX_IMAGE_PIXELS + 1)
    (w, h), mode = im.size, im.mode
    if w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise _image_too_large(name, source, w * h, (w, h))
    if mode not in IMAGE_MODES or w < 1 or h < 1:
        im.close()
        raise UnidentifiedImageError(f"mode {mode} is not read here" if w and h else f"it declares {w}×{h} pixels")
    return im


def _image_too_large(name: str, source: str, pixels: int, size: Optional[tuple[int, int]] = None) -> ImageTooLarge:
    side = math.isqrt(MAX_IMAGE_PIXELS)
    if size:
        return ImageTooLarge("image.too_large_size", source=source, name=name, w=size[0], h=size[1], pixels=pixels,
                             limit=MAX_IMAGE_PIXELS, side=side)
    return ImageTooLarge("image.too_large", source=source, name=name, pixels=pixels, limit=MAX_IMAGE_PIXELS, side=side)


def read_image_header(fp: BinaryIO, name: str, source: str,
                      formats: Optional[Sequence[str]] = IMAGE_FORMATS) -> ImageHeader:
    """Width, height and mode as the image in fp declares them, nothing decoded (see open_image)."""
    with open_image(fp, name, source, formats) as im:
        return ImageHeader(im.size[0], im.size[1], im.mode)


def decode_image(raw: bytes, channels: Optional[int], name: str, source: str,
                 formats: Optional[Sequence[str]] = IMAGE_FORMATS) -> np.ndarray:
    """(H, W, C) float32 in [-1, 1]: grey for channels=1 or a grey image, else RGB. The header is checked again
    (open_image) before a pixel is decoded; a file that fails to decode raises PIL's error."""
    with open_image(io.BytesIO(raw), name, source, formats) as im:
        mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if im.mode in ("L", "1", "LA", "I;16", "I") else "RGB")
        arr = np.asarray(im.convert(mode), dtype=np.float32) / 127.5 - 1.0
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def check_total_pixels(sizes: Sequence[tuple[int, int]], image_size: int, source: str,
                       limit: Optional[int] = None) -> None:
    """Refuse a data set whose images (w, h), decoded and resized to image_size, come to more than
    MAX_TOTAL_PIXELS (or `limit`): counted from what the headers declare, before any image is decoded."""
    limit = MAX_TOTAL_PIXELS if limit is None else limit
    n = len(sizes)
    total = sum(w * h for w, h in sizes) + n * image_size * image_size
    if total > limit:
        side = max(math.isqrt(limit // (2 * max(n, 1))), 1)
        raise ImageTooLarge("image.total_too_large", source=source, n=n, total=total, size=image_size, limit=limit,
                            side=side)


def resize(x: Tensor, size: int) -> Tensor:
    """(N, C, h, w) in [-1, 1] -> (N, C, size, size): bilinear, antialiased when shrinking, clamped."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = size < max(x.shape[-2:])
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink).clamp_(-1.0, 1.0)


def to_channels(x: Tensor, channels: int | None) -> Tensor:
    """(N, C, H, W) -> (N, channels, H, W): grey is replicated, RGB -> grey uses ITU-R 601 luma."""
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def center_square(x: Tensor) -> Tensor:
    """(1, C, h, w) -> (1, C, s, s), s = min(h, w): the centre square."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def fit(arr: np.ndarray, size: int) -> tuple[Tensor, bool]:
    """A decoded image (H, W, C) in [-1, 1] -> ((1, C, size, size), whether it had to be cropped or resized): the
    centre square, resized, when it is not already size × size."""
    x = torch.from_numpy(arr).permute(2, 0, 1)[None]
    if tuple(x.shape[-2:]) == (size, size):
        return x, False
    return resize(center_square(x), size), True
