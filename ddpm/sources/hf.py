"""Hugging Face datasets (the `datasets` library): a Hub name, a dataset saved with save_to_disk, a local folder.

    hf:ylecun/mnist:train      a Hub dataset and split (needs the network; HF_DATASETS_OFFLINE=1 refuses it at once)
    hf:path/to/folder:train    a local folder datasets can read (an imagefolder, parquet / arrow files ...)
    path/to/saved              a Dataset or DatasetDict written by save_to_disk (split "train" unless named)

The image column is the first of type datasets.Image (else one named image / img / pixel_values), the label
column the first ClassLabel (else one named label / labels / class / target); either can be named. A dataset
without labels (or label_column="") trains unconditionally. Integer labels keep their values' order, string
labels are sorted; anything else is refused.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..messages import Message, MessageError, msg
from ..images import (MAX_TOTAL_PIXELS, ImageDataset, ImageTooLarge, check_total_pixels, decode_image, fit,
                      read_image_header, to_channels)

PREFIX = "hf:"
IMAGE_NAMES = ("image", "img", "images", "pixel_values", "picture")
LABEL_NAMES = ("label", "labels", "class", "target", "fine_label", "y")


class DatasetUnavailable(MessageError, RuntimeError):
    """A Hub dataset that cannot be had here (offline, no network, unknown name); the message says what to do."""


def is_saved_dataset(path: Path) -> bool:
    """A folder written by Dataset.save_to_disk or DatasetDict.save_to_disk."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def _parse(spec: str) -> tuple[str, Optional[str]]:
    """'hf:NAME[:SPLIT]' -> (NAME, SPLIT or None). NAME may itself be a path containing ':' only on Windows
    drives, so the split is taken from the right when it has no '/'."""
    body = spec[len(PREFIX):]
    name, _, split = body.rpartition(":")
    if not name or "/" in split or "\\" in split:
        return body, None
    return name, split or None


def _open(spec: str):
    import datasets
    if spec.lower().startswith(PREFIX):
        name, split = _parse(spec)
        if not name:
            raise MessageError("hf.no_name", spec=spec)
        local = Path(name).expanduser()
        if is_saved_dataset(local):
            return _pick_split(datasets.load_from_disk(str(local)), split, spec)
        offline = os.environ.get("HF_DATASETS_OFFLINE", "") not in ("", "0") or \
            os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        if not local.exists() and offline:
            raise DatasetUnavailable("hf.offline", spec=spec)
        try:
            return datasets.load_dataset(str(local) if local.exists() else name, split=split or "train")
        except (ConnectionError, OSError) as e:
            raise DatasetUnavailable("hf.hub_failed", spec=spec, kind=type(e).__name__,
                                     error=str(e).splitlines()[0] if str(e) else "") from e
        except ValueError as e:       # an unknown split, a bad config ...
            raise MessageError("hf.load_failed", spec=spec, error=str(e)) from e
    return _pick_split(datasets.load_from_disk(spec), None, spec)


def _pick_split(ds, split: Optional[str], spec: str):
    import datasets
    if isinstance(ds, datasets.DatasetDict):
        split = split or ("train" if "train" in ds else next(iter(ds)))
        if split not in ds:
            raise MessageError("hf.no_split", spec=spec, splits=sorted(ds), split=split)
        return ds[split]
    return ds


def _image_column(ds, name: Optional[str]) -> str:
    import datasets
    columns = list(ds.features)
    if name:
        if name not in columns:
            raise MessageError("hf.no_image_column_named", name=name, columns=columns)
        return name
    for col, feat in ds.features.items():
        if isinstance(feat, datasets.Image):
            return col
    for col in IMAGE_NAMES:
        if col in columns:
            return col
    raise MessageError("hf.no_image_column", columns=columns, names="/".join(IMAGE_NAMES))


def _label_column(ds, name: Optional[str]) -> Optional[str]:
    import datasets
    columns = list(ds.features)
    if name == "":
        return None
    if name:
        if name not in columns:
            raise MessageError("hf.no_label_column_named", name=name, columns=columns)
        return name
    for col, feat in ds.features.items():
        if isinstance(feat, datasets.ClassLabel):
            return col
    return next((c for c in LABEL_NAMES if c in columns), None)


def _labels(ds, column: str) -> tuple[torch.Tensor, list[str]]:
    import datasets
    feat = ds.features[column]
    if isinstance(feat, datasets.ClassLabel):
        return torch.as_tensor(np.asarray(ds[column]), dtype=torch.long), list(feat.names)
    dtype = getattr(feat, "dtype", type(feat).__name__)
    values = list(ds[column])
    if dtype in ("string", "large_string") or (dtype.startswith(("int", "uint")) if isinstance(dtype, str) else False):
        names = sorted(set(values))
        index = {v: i for i, v in enumerate(names)}
        return torch.tensor([index[v] for v in values], dtype=torch.long), [str(v) for v in names]
    raise MessageError("hf.label_dtype", column=column, dtype=str(dtype))


def _to_array(value, channels: Optional[int]) -> np.ndarray:
    """One cell of the image column (a PIL image, an array or nested lists) -> (H, W, C) float32 in [-1, 1]."""
    from PIL import Image
    if not isinstance(value, Image.Image):
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        value = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if value.mode in ("L", "1", "LA", "I", "I;16") else "RGB")
    arr = np.asarray(value.convert(mode), dtype=np.float32) / 127.5 - 1.0
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def _encoded(cell: dict):
    """A datasets.Image cell read with decode=False ({"bytes": ..., "path": ...}) as a binary stream."""
    return io.BytesIO(cell["bytes"]) if cell.get("bytes") else open(cell["path"], "rb")


def _decode_image_column(ds, column: str, spec: str, image_size: Optional[int], channels: Optional[int]):
    """-> (images (1, C, s, s) each, s, how many resized, unreadable rows): every header read first (the column
    cast to decode=False, so `datasets` decodes nothing), the pixel caps checked, then each image decoded."""
    import datasets
    cells = ds.cast_column(column, datasets.Image(decode=False))[column]
    headers, bad = [], []
    for i, cell in enumerate(cells):
        try:
            with _encoded(cell) as fp:
                headers.append((i, read_image_header(fp, f"row {i}", spec, formats=None)))
        except ImageTooLarge:
            raise
        except Exception as e:                     # not an image, a truncated header, a missing file ...
            bad.append(f"row {i} ({type(e).__name__})")
    size = image_size or (min(headers[0][1].width, headers[0][1].height) if headers else None)
    if headers:
        check_total_pixels([(h.width, h.height) for _, h in headers], size, spec, MAX_TOTAL_PIXELS)
    images, resized = [], 0
    for i, header in headers:
        try:
            with _encoded(cells[i]) as fp:
                arr = decode_image(fp.read(), channels, f"row {i}", spec, formats=None)
        except ImageTooLarge:                      # the file changed since its header was read
            raise
        except Exception as e:
            bad.append(f"row {i} ({type(e).__name__})")
            continue
        x, changed = fit(arr, size)
        resized += changed
        images.append(x)
    return images, size, resized, sorted(bad, key=lambda b: int(b.split()[1]))


def _convert_array_column(ds, column: str, spec: str, image_size: Optional[int], channels: Optional[int]):
    """As _decode_image_column for a column of arrays (or of images `datasets` has decoded): there is no header
    to read, so the pixels are counted as each array is converted."""
    images, sizes, size, total, resized, bad = [], [], image_size, 0, 0, []
    for i, value in enumerate(ds[column]):
        try:
            arr = _to_array(value, channels)
        except Exception as e:
            bad.append(f"row {i} ({type(e).__name__})")
            continue
        h, w = arr.shape[:2]
        size = size or min(h, w)
        sizes.append((w, h))
        total += w * h + size * size
        if total > MAX_TOTAL_PIXELS:
            check_total_pixels(sizes, size, spec, MAX_TOTAL_PIXELS)       # refuses, saying so
        x, changed = fit(arr, size)
        resized += changed
        images.append(x)
    return images, size, resized, bad


def load_hf(spec: str, image_size: Optional[int], channels: Optional[int], image_column: Optional[str] = None,
            label_column: Optional[str] = None) -> ImageDataset:
    """An ImageDataset from a Hugging Face dataset (see the module docstring for spec)."""
    try:
        import datasets  # noqa: F401
    except ImportError as e:
        raise DatasetUnavailable("hf.no_package") from e
    ds = _open(spec)
    if len(ds) == 0:
        raise MessageError("hf.no_rows", spec=spec)
    image_col, label_col = _image_column(ds, image_column), _label_column(ds, label_column)
    labels, class_names = _labels(ds, label_col) if label_col else (torch.zeros(len(ds), dtype=torch.long), [])
    from .folder import note
    notes: list[Message] = []
    if isinstance(ds.features[image_col], datasets.Image):
        images, size, resized, bad = _decode_image_column(ds, image_col, spec, image_size, channels)
    else:
        images, size, resized, bad = _convert_array_column(ds, image_col, spec, image_size, channels)
    keep = torch.ones(len(ds), dtype=torch.bool)
    for b in bad:
        keep[int(b.split()[1])] = False
    if not images:
        raise MessageError("hf.none_readable", n=len(ds), column=image_col, spec=spec)
    if bad:
        note(notes, msg("data.note_unreadable", n=len(bad), source=spec, examples=", ".join(bad[:3]),
                        more=" …" if len(bad) > 3 else ""))
    if resized and image_size is None:
        note(notes, msg("data.note_resized", n=resized, size=size))
    c = channels or max(x.shape[1] for x in images)
    name = _parse(spec)[0] if spec.lower().startswith(PREFIX) else spec
    return ImageDataset(torch.cat([to_channels(x, c) for x in images]), labels[keep], class_names,
                        Path(name.rstrip("/")).name or name, notes=notes, skipped=len(bad))
