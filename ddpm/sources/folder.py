"""Image folders and .zip files: <root>/<class_name>/<image> (class-conditional) or <root>/<image> (flat).

Layouts (a .zip may wrap either in one top-level folder):

    root/cat/001.png, root/dog/002.jpg, ...   ->  class_names = ["cat", "dog"], labels = the folder
    root/001.png, root/002.png, ...           ->  class_names = [] (unconditional), labels all 0

Every image is decoded in memory (a .zip is never unpacked to disk), converted to grey or RGB and resized to
image_size (default: the first image's size; an image of another size or shape is centre-cropped to a square
and resized, and counted). Unreadable files are skipped and counted; both counts land in ImageDataset.notes
(and as a UserWarning) so that a caller can show them.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
import torch

from ..data import IMAGE_EXTENSIONS, MAX_TOTAL_PIXELS, ImageDataset, _resize, _to_channels
from ..safezip import checked_members, read_member

MAX_MEMBER_BYTES = 50 * 2**20        # a single zip member larger than this is refused
MAX_ZIP_MEMBERS = 200_000
LAYOUT = ("expected <root>/<class_name>/<image>.png (one subfolder per class: class-conditional) or "
          "<root>/<image>.png (a flat folder: unconditional), PNG or JPEG; a .zip may wrap either in one "
          "top-level folder")

Member = tuple[tuple[str, ...], Callable[[], bytes]]   # (path parts relative to the root, read bytes)


def _folder_members(root: Path) -> list[Member]:
    return [(p.relative_to(root).parts, p.read_bytes) for p in sorted(root.rglob("*")) if p.is_file()]


def _zip_members(zf: zipfile.ZipFile, source: Path) -> list[Member]:
    """Members read in memory only, after safezip's checks (no traversal, no symlinks, none over the limit)."""
    checked = checked_members(zf, str(source), MAX_MEMBER_BYTES, MAX_ZIP_MEMBERS)
    return [(parts, lambda info=info: read_member(zf, info, MAX_MEMBER_BYTES, str(source))) for parts, info in checked]


def note(notes: list[str], message: str) -> None:
    """Record a message for the caller (ImageDataset.notes) and raise it as a UserWarning for the log."""
    notes.append(message)
    warnings.warn(message, stacklevel=4)


def _layout(members: list[Member], source: Path, notes: list[str]) -> tuple[list[Member], bool]:
    """-> (image members with paths relative to the layout root, has_classes)."""
    junk = lambda parts: any(p.startswith(".") or p == "__MACOSX" for p in parts)
    found = sorted(((p, r) for p, r in members if not junk(p) and p[-1].lower().endswith(IMAGE_EXTENSIONS)),
                   key=lambda m: m[0])
    if not found:
        kinds = sorted({PurePosixPath(p[-1]).suffix.lower() or "(none)" for p, _ in members if not junk(p)})
        what = f"its {len(members)} file(s) have the extension(s) {', '.join(kinds)}" if members else "it is empty"
        raise ValueError(f"no images found in {source} ({what}): {LAYOUT}")
    if len({p[0] for p, _ in found}) == 1 and all(len(p) >= 2 for p, _ in found) and any(len(p) >= 3 for p, _ in found):
        found = [(p[1:], r) for p, r in found]                       # strip one wrapping folder
    in_folders = [(p, r) for p, r in found if len(p) >= 2]
    if not in_folders:
        return found, False                                           # flat: every image at the root
    if len(in_folders) < len(found):
        note(notes, f"skipped {len(found) - len(in_folders)} image(s) at the top of {source.name} that are not "
                    "inside a class folder (with class folders, every image must be in one)")
    skipped = len(members) - len(found)
    if skipped:
        note(notes, f"skipped {skipped} file(s) in {source.name} that are not PNG/JPEG images")
    return in_folders, True


def _square(x: torch.Tensor) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, s, s), s = min(h, w): the centre square."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def load_tree(members: list[Member], source: Path, image_size: int | None, channels: int | None) -> ImageDataset:
    """Decode the images of a folder / zip (see the module docstring for the layouts)."""
    from PIL import Image
    notes: list[str] = []
    found, has_classes = _layout(members, source, notes)
    images, labels, bad, resized, total, size = [], [], [], 0, 0, image_size
    for parts, read in found:
        name = "/".join(parts)
        raw = read()                               # an unsafe zip member is refused here, not skipped
        try:
            with Image.open(io.BytesIO(raw)) as im:
                w, h = im.size
                mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if im.mode in ("L", "1", "LA", "I;16", "I") else "RGB")
                arr = np.asarray(im.convert(mode), dtype=np.float32) / 127.5 - 1.0
        except Exception as e:                     # truncated, not an image, an unsupported mode ...
            bad.append(f"{name} ({type(e).__name__})")
            continue
        size = size or min(w, h)
        total += w * h + size * size
        if total > MAX_TOTAL_PIXELS:
            raise ValueError(f"{source} decodes to more than {MAX_TOTAL_PIXELS:,} pixels; "
                             "downscale the images, use a subset or a smaller image size")
        x = torch.from_numpy(arr).reshape(h, w, -1).permute(2, 0, 1)[None]
        if (w, h) != (size, size):
            resized += 1
            x = _resize(_square(x), size)
        images.append(x)
        labels.append(parts[0] if has_classes else "")
    if not images:
        raise ValueError(f"none of the images in {source} could be read ({len(found)} tried, e.g. {bad[0]}); "
                         "check that they are valid PNG/JPEG files")
    if bad:
        note(notes, f"skipped {len(bad)} unreadable image(s) in {source.name}: {', '.join(bad[:3])}"
                    + (" ..." if len(bad) > 3 else ""))
    if resized and image_size is None:
        note(notes, f"resized {resized} image(s) of another size or shape to {size}×{size} (the first image's size; "
                    "non-square ones centre-cropped)")
    c = channels or max(x.shape[1] for x in images)
    class_names = sorted(set(labels)) if has_classes else []
    label_t = torch.tensor([class_names.index(l) if has_classes else 0 for l in labels], dtype=torch.long)
    return ImageDataset(torch.cat([_to_channels(x, c) for x in images]), label_t, class_names, source.stem,
                        notes=notes, skipped=len(bad))


def load_path(path: Path, image_size: int | None, channels: int | None) -> ImageDataset:
    """A folder or a .zip (read in memory; nothing is extracted or kept)."""
    if path.is_dir():
        return load_tree(_folder_members(path), path, image_size, channels)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is a file but not a .zip; pass a folder or .zip, {LAYOUT}")
    with zipfile.ZipFile(path) as zf:
        return load_tree(_zip_members(zf, path), path, image_size, channels)
